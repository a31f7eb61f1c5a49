"""Binance REST endpoints of the emulator: depth, exchangeInfo, weights, 429 and 418."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import aiohttp
import orjson
import pytest

from cryptobot.gateways.emulator import ExchangeEmulator, VenueRecordings
from cryptobot.gateways.emulator.config import load_tape

SPOT_SMALL = VenueRecordings(tapes=(("cryptofeed/BINANCE.ws.1.0", "cryptofeed/BINANCE.http.0.0"),),
                             reference="cryptofeed/BINANCE.0")
USDM_SMALL = VenueRecordings(tapes=(("cryptofeed/BINANCE_FUTURES.ws.1.0", "cryptofeed/BINANCE_FUTURES.http.0.0"),),
                             reference="cryptofeed/BINANCE_FUTURES.0")


async def _get(url: str):
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            return response.status, response.headers, await response.json(content_type=None)


@pytest.fixture
async def emulator(sample_data, request):
    settings = getattr(request, "param", {})
    emulator = ExchangeEmulator(sample_data, venues=["binance", "binance_usdm"],
                                recordings={"binance": SPOT_SMALL, "binance_usdm": USDM_SMALL}, **settings)
    await emulator.start()
    yield emulator
    await emulator.stop()


async def test_depth_returns_top_levels(emulator, sample_data):
    snapshot = load_tape(sample_data, SPOT_SMALL.tapes[0]).snapshots["NKNUSDT"]
    status, _, body = await _get(f"{emulator.url('binance', 'rest')}/api/v3/depth?symbol=NKNUSDT&limit=5")
    assert status == 200
    assert list(body) == ["lastUpdateId", "bids", "asks"]
    assert body["lastUpdateId"] == snapshot.last_update_id
    assert body["bids"] == [list(level) for level in snapshot.bids[:5]]
    assert body["asks"] == [list(level) for level in snapshot.asks[:5]]


async def test_depth_default_limit_spot(emulator):
    _, _, body = await _get(f"{emulator.url('binance', 'rest')}/api/v3/depth?symbol=NKNUSDT")
    assert len(body["bids"]) == 100
    prices = [Decimal(p) for p, _ in body["bids"]]
    assert prices == sorted(prices, reverse=True)


async def test_depth_futures_carries_times(emulator, sample_data):
    snapshot = load_tape(sample_data, USDM_SMALL.tapes[0]).snapshots["SUSHIUSDT"]
    _, _, body = await _get(f"{emulator.url('binance_usdm', 'rest')}/fapi/v1/depth?symbol=SUSHIUSDT&limit=10")
    assert list(body) == ["lastUpdateId", "E", "T", "bids", "asks"]
    assert (body["E"], body["T"]) == (snapshot.event_time, snapshot.transaction_time)
    assert len(body["asks"]) == 10


@pytest.mark.parametrize("venue, query, code", [
    ("binance", "symbol=NKNUSDT&limit=abc", -1100),
    ("binance", "symbol=NKNUSDT&limit=0", -1130),
    ("binance", "limit=5", -1102),
    ("binance", "symbol=nknusdt", -1100),
    ("binance", "symbol=ETHUSDT", -1121),
    ("binance", "symbol=NKNUSDT&verbose=1", -1104),
    ("binance_usdm", "symbol=SUSHIUSDT&limit=7", -4021),
])
async def test_depth_rejects_bad_parameters(emulator, venue, query, code):
    path = "/fapi/v1/depth" if venue == "binance_usdm" else "/api/v3/depth"
    status, _, body = await _get(f"{emulator.url(venue, 'rest')}{path}?{query}")
    assert status == 400
    assert body["code"] == code
    assert isinstance(body["msg"], str) and body["msg"]


async def test_weight_header_accumulates(emulator):
    rest = emulator.url("binance", "rest")
    _, first, _ = await _get(f"{rest}/api/v3/depth?symbol=NKNUSDT&limit=1000")
    _, second, _ = await _get(f"{rest}/api/v3/depth?symbol=NKNUSDT&limit=100")
    _, futures, _ = await _get(f"{rest}/fapi/v1/depth?symbol=SUSHIUSDT&limit=1000")
    assert first["X-MBX-USED-WEIGHT-1M"] == "10"
    assert second["X-MBX-USED-WEIGHT-1M"] == "11"
    assert futures["X-MBX-USED-WEIGHT-1M"] == "20"


@pytest.mark.parametrize("emulator", [{"weight_schedule": "current"}], indirect=True)
async def test_weight_schedule_current(emulator):
    _, headers, _ = await _get(f"{emulator.url('binance', 'rest')}/api/v3/depth?symbol=NKNUSDT&limit=1000")
    assert headers["X-MBX-USED-WEIGHT-1M"] == "50"


@pytest.mark.parametrize("emulator", [{"weight_limit": 15, "ban_after": 2, "ban_seconds": 30}], indirect=True)
async def test_rate_limit_429_then_418(emulator):
    url = f"{emulator.url('binance', 'rest')}/api/v3/depth?symbol=NKNUSDT&limit=1000"
    statuses, bodies, headers = [], [], []
    for _ in range(5):
        status, header, body = await _get(url)
        statuses.append(status)
        bodies.append(body)
        headers.append(header)
    status, _, _ = await _get(f"{emulator.url('binance', 'rest')}/api/v3/ping")
    assert statuses == [200, 429, 429, 418, 418]
    assert status == 418
    assert bodies[1]["code"] == -1003
    assert "current limit is 15 request weight per 1 MINUTE" in bodies[1]["msg"]
    assert 1 <= int(headers[1]["Retry-After"]) <= 60
    assert "IP banned until" in bodies[3]["msg"]
    assert 29 <= int(headers[3]["Retry-After"]) <= 30


@pytest.mark.parametrize("emulator", [{"weight_limit": 10, "weight_window": 0.5}], indirect=True)
async def test_weight_window_resets(emulator):
    url = f"{emulator.url('binance', 'rest')}/api/v3/depth?symbol=NKNUSDT&limit=1000"
    # Start right after a window boundary so both requests share one window.
    await asyncio.sleep(0.5 - time.time() % 0.5 + 0.01)
    first, _, _ = await _get(url)
    second, _, _ = await _get(url)
    await asyncio.sleep(0.5 - time.time() % 0.5 + 0.01)
    third, headers, _ = await _get(url)
    assert (first, second, third) == (200, 429, 200)
    assert headers["X-MBX-USED-WEIGHT-1M"] == "10"


async def test_exchange_info_filters_symbols(emulator):
    rest = emulator.url("binance", "rest")
    status, headers, one = await _get(f"{rest}/api/v3/exchangeInfo?symbol=NKNUSDT")
    _, _, two = await _get(f"{rest}/api/v3/exchangeInfo?symbols=" + '["NKNUSDT","BTCUSDT"]')
    assert status == 200
    assert headers["X-MBX-USED-WEIGHT-1M"] == "10"
    assert [s["symbol"] for s in one["symbols"]] == ["NKNUSDT"]
    assert sorted(s["symbol"] for s in two["symbols"]) == ["BTCUSDT", "NKNUSDT"]
    assert abs(one["serverTime"] - time.time() * 1000) < 5000


@pytest.mark.parametrize("query, code", [("symbol=NOPEUSDT", -1121), ("symbol=NKNUSDT&symbols=[]", -1128),
                                         ("symbols=NKNUSDT", -1100)])
async def test_exchange_info_rejects(emulator, query, code):
    status, _, body = await _get(f"{emulator.url('binance', 'rest')}/api/v3/exchangeInfo?{query}")
    assert status == 400
    assert body["code"] == code


async def test_exchange_info_futures_weight(emulator):
    status, headers, body = await _get(f"{emulator.url('binance_usdm', 'rest')}/fapi/v1/exchangeInfo")
    assert status == 200
    assert headers["X-MBX-USED-WEIGHT-1M"] == "1"
    assert any(s["symbol"] == "SUSHIUSDT" for s in body["symbols"])


async def test_ping_and_time(emulator):
    rest = emulator.url("binance", "rest")
    _, _, pong = await _get(f"{rest}/api/v3/ping")
    _, _, server = await _get(f"{rest}/fapi/v1/time")
    assert pong == {}
    assert abs(server["serverTime"] - time.time() * 1000) < 5000


def _max_decimals(values) -> int:
    best = 0
    for value in values:
        digits = value.rstrip("0").partition(".")[2]
        best = max(best, len(digits))
    return best


async def test_missing_reference_symbol_synthesized(sample_data, tmp_path):
    reference = orjson.loads((sample_data / "cryptofeed/BINANCE.0").read_text().split(": ", 1)[1].splitlines()[0])
    reference["symbols"] = [s for s in reference["symbols"] if s["symbol"] != "NKNUSDT"]
    path = tmp_path / "exchangeInfo.json"
    path.write_bytes(orjson.dumps(reference))
    recordings = VenueRecordings(tapes=SPOT_SMALL.tapes, reference=str(path))
    snapshot = load_tape(sample_data, SPOT_SMALL.tapes[0]).snapshots["NKNUSDT"]
    levels = snapshot.bids + snapshot.asks
    expected_tick = f"{Decimal(1).scaleb(-_max_decimals(p for p, _ in levels)):.8f}"
    expected_step = f"{Decimal(1).scaleb(-_max_decimals(q for _, q in levels)):.8f}"
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": recordings}) as emulator:
        _, _, body = await _get(f"{emulator.url('binance', 'rest')}/api/v3/exchangeInfo?symbol=NKNUSDT")
    entry = body["symbols"][0]
    filters = {f["filterType"]: f for f in entry["filters"]}
    assert (entry["baseAsset"], entry["quoteAsset"], entry["status"]) == ("NKN", "USDT", "TRADING")
    assert entry["emulatorSynthesized"] is True
    assert filters["PRICE_FILTER"]["tickSize"] == expected_tick
    assert filters["LOT_SIZE"]["stepSize"] == expected_step
