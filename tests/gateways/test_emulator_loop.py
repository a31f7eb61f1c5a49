"""Loop mode and time rebasing: ids and times keep increasing, clients resync after the cut."""

from __future__ import annotations

import time

import aiohttp
import orjson
from picows import WSCloseCode

from cryptobot.gateways.emulator import ExchangeEmulator, VenueRecordings
from cryptobot.gateways.emulator.config import load_tape
from cryptobot.gateways.emulator.testing import WsClient

SPOT_SMALL = VenueRecordings(tapes=(("cryptofeed/BINANCE.ws.1.0", "cryptofeed/BINANCE.http.0.0"),),
                             reference="cryptofeed/BINANCE.0")
KRAKEN_TRADES = VenueRecordings(tapes=(("cryptofeed/KRAKEN.ws.48.0",),), reference="cryptofeed/KRAKEN.0")
STREAMS = "nknusdt@depth@100ms/nknusdt@trade/nknusdt@aggTrade/nknusdt@kline_1m/nknusdt@bookTicker"


def _spans(recording):
    """Loop offsets computed here from the recording: (update id span, trade id span, time span ms)."""
    update_ids = [s.last_update_id for s in recording.snapshots.values()]
    trade_ids, times = [], []
    for frame in recording.frames:
        data = orjson.loads(frame.payload)
        times.append(data.get("E", times[-1] if times else 0))
        update_ids += [data[k] for k in ("U", "u") if k in data and frame.kind in ("depthUpdate", "bookTicker")]
        trade_ids += [data[k] for k in ("a", "f", "l") if frame.kind == "aggTrade"]
        if frame.kind == "kline":
            trade_ids += [v for v in (data["k"]["f"], data["k"]["L"]) if v >= 0]
    minute = 60_000
    time_span = ((max(times) - min(times) + minute - 1) // minute + 1) * minute
    return max(update_ids) - min(update_ids) + 1, max(trade_ids) - min(trade_ids) + 1, time_span


async def test_loop_restarts_with_moved_ids(sample_data):
    recording = load_tape(sample_data, SPOT_SMALL.tapes[0])
    expected = [f.payload.encode() for f in recording.frames if f.symbol == "NKNUSDT"]
    id_span, trade_span, time_span = _spans(recording)
    snapshot_id = recording.snapshots["NKNUSDT"].last_update_id
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_SMALL},
                                pace="fast", loop=True) as emulator:
        first = await WsClient.connect(f"{emulator.url('binance')}/ws/" + STREAMS.replace("/", "/"))
        assert await first.wait_closed(timeout=5)
        async with aiohttp.ClientSession() as session:
            url = f"{emulator.url('binance', 'rest')}/api/v3/depth?symbol=NKNUSDT&limit=5"
            async with session.get(url) as response:
                resync = await response.json()
        second = await WsClient.connect(f"{emulator.url('binance')}/ws/" + STREAMS)
        await second.wait_for(len(expected), timeout=5)
        await second.close()
    assert first.frames == expected
    assert first.close_code == WSCloseCode.GOING_AWAY
    assert resync["lastUpdateId"] == snapshot_id + id_span
    loop_one = second.json()[: len(expected)]
    loop_zero = first.json()
    for old, new in zip(loop_zero, loop_one):
        if "E" in old:
            assert new["E"] == old["E"] + time_span
        if old.get("e") == "depthUpdate":
            assert (new["U"], new["u"]) == (old["U"] + id_span, old["u"] + id_span)
        if old.get("e") == "aggTrade":
            assert new["a"] == old["a"] + trade_span
        if old.get("e") == "kline":
            assert new["k"]["t"] == old["k"]["t"] + time_span
    first_max = max(m["u"] for m in loop_zero if "u" in m)
    assert min(m["U"] for m in loop_one if "U" in m) > first_max


async def test_rebase_moves_first_event_to_now(sample_data):
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_SMALL},
                                pace="fast", rebase_time=True) as emulator:
        started_ms = time.time() * 1000
        client = await WsClient.connect(f"{emulator.url('binance')}/ws/" + STREAMS)
        await client.wait_for(10)
        await client.close()
    messages = client.json()
    klines = [m for m in messages if m.get("e") == "kline"]
    assert started_ms - 61_000 <= messages[0]["E"] <= started_ms + 5_000
    assert all(m["k"]["t"] % 60_000 == 0 for m in klines)


async def test_kraken_loop_moves_trade_times(sample_data):
    recording = load_tape(sample_data, KRAKEN_TRADES.tapes[0])
    recorded = [orjson.loads(f.text) for f in recording.frames if f.kind == "trade" and f.symbol == "SC/EUR"]
    async with ExchangeEmulator(sample_data, venues=["kraken"], recordings={"kraken": KRAKEN_TRADES},
                                pace="fast", loop=True, start_delay=0.05) as emulator:
        first = await WsClient.connect(emulator.url("kraken", "v1"))
        first.send({"event": "subscribe", "pair": ["SC/EUR"], "subscription": {"name": "trade"}})
        assert await first.wait_closed(timeout=5)
        second = await WsClient.connect(emulator.url("kraken", "v1"))
        second.send({"event": "subscribe", "pair": ["SC/EUR"], "subscription": {"name": "trade"}})
        await second.wait_for(2 + len(recorded), timeout=5)
        await second.close()
    replayed = [m for m in second.json() if isinstance(m, list)]
    shifts = {float(new[1][0][2]) - float(old[1][0][2]) for old, new in zip(recorded, replayed)}
    assert len(replayed) == len(recorded)
    assert len({round(s) for s in shifts}) == 1
    assert round(shifts.pop()) % 60 == 0
