"""Binance streams of the emulator, checked as a feed sees them over a real socket."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp
import orjson
import pytest
from picows import WSError

from cryptobot.gateways.emulator import ExchangeEmulator, VenueRecordings
from cryptobot.gateways.emulator.config import load_tape
from cryptobot.gateways.emulator.testing import WsClient

SPOT_BTC = VenueRecordings(
    tapes=(("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz"),),
    reference="cryptofeed/BINANCE.0")
SPOT_SMALL = VenueRecordings(tapes=(("cryptofeed/BINANCE.ws.1.0", "cryptofeed/BINANCE.http.0.0"),),
                             reference="cryptofeed/BINANCE.0")
USDM_SMALL = VenueRecordings(tapes=(("cryptofeed/BINANCE_FUTURES.ws.1.0", "cryptofeed/BINANCE_FUTURES.http.0.0"),),
                             reference="cryptofeed/BINANCE_FUTURES.0")
BTC_STREAMS = "btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@trade"


@pytest.fixture(scope="module")
def spot_recording(sample_data):
    return load_tape(sample_data, SPOT_BTC.tapes[0])


async def _get_json(url: str):
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            return response.status, await response.json(content_type=None)


class PlainBook:
    """A dict book written for the tests, synced by Binance's documented rules."""

    def __init__(self, snapshot: dict, futures: bool):
        self.bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"]}
        self.asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"]}
        self.last = snapshot["lastUpdateId"]
        self.futures = futures
        self.applied = 0
        self.gaps = 0

    def apply(self, data: dict) -> bool:
        if data["u"] <= self.last:
            return False
        if self.applied == 0:
            joins = data["U"] <= self.last + 1 <= data["u"] or (self.futures and data.get("pu") == self.last)
        else:
            joins = data["pu"] == self.last if self.futures else data["U"] == self.last + 1
        self.gaps += not joins
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            for price, qty in levels:
                if Decimal(qty) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = Decimal(qty)
        self.last = data["u"]
        self.applied += 1
        return True

    def best(self):
        bid, ask = max(self.bids), min(self.asks)
        return bid, self.bids[bid], ask, self.asks[ask]

    def top(self, count: int):
        bids = [(p, self.bids[p]) for p in sorted(self.bids, reverse=True)[:count]]
        asks = [(p, self.asks[p]) for p in sorted(self.asks)[:count]]
        return bids, asks


def _levels(snapshot: dict, count: int):
    return ([(Decimal(p), Decimal(q)) for p, q in snapshot["bids"][:count]],
            [(Decimal(p), Decimal(q)) for p, q in snapshot["asks"][:count]])


async def test_combined_frames_equal_recording(sample_data, spot_recording):
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_BTC},
                                pace="fast") as emulator:
        client = await WsClient.connect(f"{emulator.url('binance')}/stream?streams={BTC_STREAMS}")
        frames = await client.wait_for(len(spot_recording.frames), timeout=30)
        await client.close()
    assert len(frames) == len(spot_recording.frames)
    assert frames == [frame.text.encode() for frame in spot_recording.frames]


async def test_raw_stream_frames_equal_payloads(sample_data, spot_recording):
    expected = [frame.payload.encode() for frame in spot_recording.frames if frame.channel == "btcusdt@trade"]
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_BTC},
                                pace="fast") as emulator:
        client = await WsClient.connect(f"{emulator.url('binance')}/ws/btcusdt@trade")
        frames = await client.wait_for(len(expected), timeout=30)
        await client.close()
    assert len(expected) == 9757 + 10147
    assert frames == expected


async def test_stream_rebuilds_book_ticker(sample_data):
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_BTC},
                                pace="fast") as emulator:
        client = await WsClient.connect(f"{emulator.url('binance')}/stream?streams={BTC_STREAMS}")
        status, snapshot = await _get_json(f"{emulator.url('binance', 'rest')}/api/v3/depth?symbol=BTCUSDT&limit=1000")
        # The first 40,000 frames (about 2.5 minutes of market) are enough to meet hundreds of tickers.
        await client.wait_for(40_000, timeout=30)
        await client.close()
    assert status == 200
    book = PlainBook(snapshot, futures=False)
    messages = client.json()
    tickers = {m["data"]["u"]: m["data"] for m in messages if m["stream"] == "btcusdt@bookTicker"}
    matches = mismatches = 0
    for message in messages:
        if message["stream"] == "btcusdt@depth@100ms" and book.apply(message["data"]):
            ticker = tickers.get(book.last)
            if ticker is not None:
                same = book.best() == tuple(Decimal(ticker[k]) for k in "bBaA")
                matches += same
                mismatches += not same
    assert book.gaps == 0
    assert mismatches == 0
    assert matches > 300


async def test_mid_stream_snapshot_joins_without_gaps(sample_data):
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_BTC},
                                pace="recorded", speed=40) as emulator:
        rest = emulator.url("binance", "rest")
        early = await WsClient.connect(f"{emulator.url('binance')}/ws/btcusdt@trade")
        await early.wait_for(200)
        late = await WsClient.connect(f"{emulator.url('binance')}/ws/btcusdt@depth@100ms")
        await late.wait_for(3)
        _, first = await _get_json(f"{rest}/api/v3/depth?symbol=BTCUSDT&limit=1000")
        await asyncio.sleep(0.4)
        _, second = await _get_json(f"{rest}/api/v3/depth?symbol=BTCUSDT&limit=20")
        await late.wait_until(lambda c: any(orjson.loads(f)["u"] >= second["lastUpdateId"] for f in c.frames[-5:]))
        await early.close()
        await late.close()
    book = PlainBook(first, futures=False)
    converged = False
    for data in late.json():
        book.apply(data)
        if book.last == second["lastUpdateId"]:
            converged = book.top(20) == _levels(second, 20)
    assert first["lastUpdateId"] > 50093239218
    assert book.applied > 0
    assert book.gaps == 0
    assert converged


async def test_derived_futures_depth_chains(sample_data):
    # The capture holds @depth@100ms; @depth@500ms merges the diffs of each 500 ms window.
    recording = load_tape(sample_data, USDM_SMALL.tapes[0])
    windows = {orjson.loads(f.payload)["E"] // 500 for f in recording.frames
               if f.kind == "depthUpdate" and f.symbol == "SUSHIUSDT"}
    rest = None
    async with ExchangeEmulator(sample_data, venues=["binance_usdm"], recordings={"binance_usdm": USDM_SMALL},
                                pace="fast", start_delay=0.1) as emulator:
        rest = f"{emulator.url('binance_usdm', 'rest')}/fapi/v1/depth?symbol=SUSHIUSDT"
        client = await WsClient.connect(f"{emulator.url('binance_usdm')}/ws/sushiusdt@depth@500ms")
        _, first = await _get_json(rest + "&limit=1000")
        await client.wait_for(len(windows), timeout=10)
        _, final = await _get_json(rest + "&limit=50")
        await client.close()
    events = client.json()
    assert first["lastUpdateId"] == recording.snapshots["SUSHIUSDT"].last_update_id
    assert len(events) == len(windows)
    assert all(b["pu"] == a["u"] for a, b in zip(events, events[1:]))
    assert all(a["E"] // 500 < b["E"] // 500 for a, b in zip(events, events[1:]))
    book = PlainBook(first, futures=True)
    for data in events:
        book.apply(data)
    assert book.gaps == 0
    assert book.last == final["lastUpdateId"]
    assert book.top(50) == _levels(final, 50)


@pytest.fixture
async def small_spot(sample_data):
    emulator = ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_SMALL}, pace="recorded")
    await emulator.start()
    yield emulator
    await emulator.stop()


def _replies(client: WsClient) -> list[dict]:
    return [m for m in client.json() if isinstance(m, dict) and ("id" in m or "error" in m)]


async def test_subscribe_list_unsubscribe(small_spot):
    client = await WsClient.connect(f"{small_spot.url('binance')}/ws")
    client.send({"method": "SUBSCRIBE", "params": ["nknusdt@bookTicker", "nknusdt@depth@100ms"], "id": 1})
    await client.wait_for(1)
    assert client.frames[0] == b'{"result":null,"id":1}'
    client.send({"method": "LIST_SUBSCRIPTIONS", "id": 2})
    client.send({"method": "UNSUBSCRIBE", "params": ["nknusdt@depth@100ms"], "id": 3})
    client.send({"method": "LIST_SUBSCRIPTIONS", "id": 4})
    await client.wait_until(lambda c: len(_replies(c)) == 4)
    await client.close()
    replies = _replies(client)
    assert replies[1] == {"result": ["nknusdt@bookTicker", "nknusdt@depth@100ms"], "id": 2}
    assert replies[2] == {"result": None, "id": 3}
    assert replies[3] == {"result": ["nknusdt@bookTicker"], "id": 4}


async def test_subscribed_stream_delivers_raw_payloads(small_spot, sample_data):
    recording = load_tape(sample_data, SPOT_SMALL.tapes[0])
    expected = [f.payload.encode() for f in recording.frames if f.channel == "nknusdt@depth@100ms"][:3]
    client = await WsClient.connect(f"{small_spot.url('binance')}/ws")
    client.send({"method": "SUBSCRIBE", "params": ["nknusdt@depth@100ms"], "id": 7})
    await client.wait_for(4, timeout=5)
    await client.close()
    assert client.frames[1:4] == expected


@pytest.mark.parametrize("request_body, expected", [
    (b"{not json", {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 2"}}),
    ({"method": "SUBSCRIBE", "params": ["nknusdt@bookTicker"], "id": "x-y"},
     {"error": {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}}),
    ({"method": "SUBSCRIBE", "params": ["nknusdt@nonsense"], "id": 5},
     {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 5}),
    ({"method": "SET_PROPERTY", "params": ["verbose", True], "id": 6},
     {"error": {"code": 0, "msg": "Unknown property"}, "id": 6}),
    ({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 7},
     {"error": {"code": 1, "msg": "Invalid value type: expected Boolean"}, "id": 7}),
    ({"method": "SUBSCRIBE", "params": [], "id": 8, "extra": 1},
     {"error": {"code": 2, "msg": "Invalid request: too many parameters"}}),
])
async def test_request_errors_shaped_as_binance(small_spot, request_body, expected):
    client = await WsClient.connect(f"{small_spot.url('binance')}/ws")
    client.send(request_body)
    await client.wait_for(1)
    await client.close()
    assert client.json()[0] == expected


async def test_unknown_method_error(small_spot):
    client = await WsClient.connect(f"{small_spot.url('binance')}/ws")
    client.send({"method": "SUBSCRIPE", "params": [], "id": 9})
    await client.wait_for(1)
    await client.close()
    reply = client.json()[0]
    assert reply["error"]["code"] == 2
    assert reply["error"]["msg"].startswith("Invalid request: unknown variant `SUBSCRIPE`, expected one of `SUBSCRIBE`")
    assert reply["id"] == 9


async def test_combined_property_switches_shape(small_spot):
    client = await WsClient.connect(f"{small_spot.url('binance')}/ws")
    client.send({"method": "GET_PROPERTY", "params": ["combined"], "id": 1})
    client.send({"method": "SET_PROPERTY", "params": ["combined", True], "id": 2})
    client.send({"method": "GET_PROPERTY", "params": ["combined"], "id": 3})
    client.send({"method": "SUBSCRIBE", "params": ["nknusdt@depth@100ms"], "id": 4})
    await client.wait_for(5, timeout=5)
    await client.close()
    messages = client.json()
    assert messages[:4] == [{"result": False, "id": 1}, {"result": None, "id": 2}, {"result": True, "id": 3},
                            {"result": None, "id": 4}]
    assert messages[4]["stream"] == "nknusdt@depth@100ms"


async def test_url_with_invalid_stream_rejected(small_spot):
    with pytest.raises(WSError):
        await WsClient.connect(f"{small_spot.url('binance')}/stream?streams=nknusdt@bogus")


async def test_quiet_stream_accepted(small_spot):
    client = await WsClient.connect(f"{small_spot.url('binance')}/ws/ethusdt@trade")
    await asyncio.sleep(0.2)
    await client.close()
    assert client.frames == []
    assert client.close_code is None
