"""Each injectable fault does what it says, from Python and over the control endpoint."""

from __future__ import annotations

import asyncio
import time
import zlib

import aiohttp
import orjson
import pytest

from cryptobot.core.errors import ValidationError
from cryptobot.gateways.emulator import ExchangeEmulator, VenueRecordings
from cryptobot.gateways.emulator.testing import WsClient

SPOT_SMALL = VenueRecordings(tapes=(("cryptofeed/BINANCE.ws.1.0", "cryptofeed/BINANCE.http.0.0"),),
                             reference="cryptofeed/BINANCE.0")
KRAKEN_BOOK = VenueRecordings(tapes=(("cryptofeed/KRAKEN.ws.50.0",),), reference="cryptofeed/KRAKEN.0")
DEPTH = "nknusdt@depth@100ms"


@pytest.fixture
async def emulator(sample_data, request):
    settings = {"pace": "recorded", "speed": 4.0, **getattr(request, "param", {})}
    emulator = ExchangeEmulator(sample_data, venues=["binance", "kraken"],
                                recordings={"binance": SPOT_SMALL, "kraken": KRAKEN_BOOK}, **settings)
    await emulator.start()
    yield emulator
    await emulator.stop()


def _gaps(client: WsClient) -> int:
    events = [orjson.loads(frame) for frame in client.frames]
    return sum(1 for a, b in zip(events, events[1:]) if b["U"] != a["u"] + 1)


async def test_drop_cuts_without_close_frame(emulator):
    client = await WsClient.connect(f"{emulator.url('binance')}/ws/{DEPTH}")
    await client.wait_for(1)
    fault = emulator.inject_fault("drop", venue="binance")
    assert await client.wait_closed(timeout=2)
    assert client.close_code is None
    assert fault.kind == "drop"


async def test_skip_update_one_connection(emulator):
    victim = await WsClient.connect(f"{emulator.url('binance')}/ws/{DEPTH}")
    witness = await WsClient.connect(f"{emulator.url('binance')}/ws/{DEPTH}")
    await victim.wait_for(2)
    target = emulator.connections("binance")[0]["id"]
    emulator.inject_fault("skip_update", connection=target, symbol="NKNUSDT")
    await witness.wait_for(len(victim.frames) + 8)
    await victim.wait_for(len(witness.frames) - 1)
    await victim.close()
    await witness.close()
    assert _gaps(victim) == 1
    assert _gaps(witness) == 0
    assert len([frame for frame in witness.frames if frame not in set(victim.frames)]) == 1


async def test_skip_update_every_connection(emulator):
    first = await WsClient.connect(f"{emulator.url('binance')}/ws/{DEPTH}")
    second = await WsClient.connect(f"{emulator.url('binance')}/ws/{DEPTH}")
    await first.wait_for(2)
    emulator.inject_fault("skip_update", venue="binance")
    await first.wait_for(len(first.frames) + 6)
    await second.wait_for(len(first.frames))
    await first.close()
    await second.close()
    assert _gaps(first) == 1
    assert _gaps(second) == 1
    assert emulator.pending_faults() == []


async def test_malformed_frame_then_stream_continues(emulator):
    client = await WsClient.connect(f"{emulator.url('binance')}/ws/{DEPTH}")
    await client.wait_for(1)
    emulator.inject_fault("malformed", venue="binance")
    count = len(client.frames)
    await client.wait_for(count + 3)
    await client.close()
    broken = []
    for frame in client.frames:
        try:
            orjson.loads(frame)
        except orjson.JSONDecodeError:
            broken.append(frame)
    assert len(broken) == 1
    assert client.disconnected_at is not None


async def test_unknown_message_types(emulator):
    raw = await WsClient.connect(f"{emulator.url('binance')}/ws/{DEPTH}")
    combined = await WsClient.connect(f"{emulator.url('binance')}/stream?streams={DEPTH}")
    kraken = await WsClient.connect(emulator.url("kraken", "v1"))
    await kraken.wait_for(1)
    emulator.inject_fault("unknown_message", count=2)
    for client in (raw, combined, kraken):
        await client.wait_until(lambda c: sum(b"emulator" in f for f in c.frames) == 2, timeout=2)
        await client.close()
    assert [orjson.loads(f)["e"] for f in raw.frames if b"emulator" in f] == ["emulatorUnknownEvent"] * 2
    assert orjson.loads(next(f for f in combined.frames if b"emulator" in f))["data"]["e"] == "emulatorUnknownEvent"
    assert orjson.loads(next(f for f in kraken.frames if b"emulator" in f)) == {"event": "emulatorUnknownEvent"}


@pytest.mark.parametrize("emulator", [{"ping_interval": 0.05, "pong_timeout": 5}], indirect=True)
async def test_stall_silences_without_closing(emulator):
    client = await WsClient.connect(f"{emulator.url('binance')}/ws/{DEPTH}")
    await client.wait_for(1)
    emulator.inject_fault("stall", venue="binance", seconds=0.6)
    frames, pings = len(client.frames), client.pings
    await asyncio.sleep(0.5)
    during = (len(client.frames) - frames, client.pings - pings)
    await client.wait_for(frames + 1, timeout=3)
    await client.close()
    assert during == (0, 0)
    assert len(client.frames) > frames
    assert client.close_code is None


def _kraken_checksum(book) -> int:
    asks = [book["a"][k] for k in sorted(book["a"])[:10]]
    bids = [book["b"][k] for k in sorted(book["b"], reverse=True)[:10]]
    text = "".join(p.replace(".", "").lstrip("0") + v.replace(".", "").lstrip("0") for p, v in asks + bids)
    return zlib.crc32(text.encode())


@pytest.mark.parametrize("emulator", [{"pace": "fast", "start_delay": 0.1}], indirect=True)
async def test_bad_checksum_kraken(emulator):
    client = await WsClient.connect(emulator.url("kraken", "v1"))
    client.send({"event": "subscribe", "pair": ["XBT/CHF"], "subscription": {"name": "book", "depth": 1000}})
    await client.wait_for(2)
    emulator.inject_fault("bad_checksum", connection=emulator.connections("kraken")[0]["id"], count=2)
    await client.wait_until(lambda c: emulator.venue("kraken").tapes[0].state == "finished")
    client.send({"event": "ping", "reqid": 9})
    await client.wait_until(lambda c: c.frames[-1] == b'{"event":"pong","reqid":9}')
    await client.close()
    book, wrong, updates = {}, 0, 0
    for message in client.json():
        if not isinstance(message, list):
            continue
        if "as" in message[1]:
            book = {"a": {float(l[0]): (l[0], l[1]) for l in message[1]["as"]},
                    "b": {float(l[0]): (l[0], l[1]) for l in message[1]["bs"]}}
            continue
        for payload in message[1:-2]:
            for side in ("a", "b"):
                for level in payload.get(side, []):
                    if float(level[1]) == 0:
                        book[side].pop(float(level[0]), None)
                    else:
                        book[side][float(level[0])] = (level[0], level[1])
        updates += 1
        wrong += _kraken_checksum(book) != int(message[-3]["c"])
    assert updates > 100
    assert wrong == 2


async def _rest(url: str):
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with session.get(url) as response:
            return response.status, response.headers, await response.json(content_type=None), time.monotonic() - started


@pytest.mark.parametrize("status, code", [(429, -1003), (418, -1003), (500, -1000), (503, -1008)])
async def test_rest_status_fault(emulator, status, code):
    url = f"{emulator.url('binance', 'rest')}/api/v3/depth?symbol=NKNUSDT&limit=5"
    emulator.inject_fault("rest_status", venue="binance", status=status, path="/api/v3/depth")
    got, headers, body, _ = await _rest(url)
    after, _, _, _ = await _rest(url)
    assert (got, body["code"]) == (status, code)
    assert after == 200
    assert ("Retry-After" in headers) == (status in (429, 418))


async def test_rest_status_fault_kraken_shape(emulator):
    emulator.inject_fault("rest_status", venue="kraken", status=503)
    status, _, body, _ = await _rest(f"{emulator.url('kraken', 'rest')}/0/public/Time")
    assert (status, body) == (503, {"error": ["EService:Unavailable"]})


async def test_rest_delay_fault(emulator):
    emulator.inject_fault("rest_delay", seconds=0.3, count=1)
    _, _, _, slow = await _rest(f"{emulator.url('binance', 'rest')}/api/v3/ping")
    _, _, _, fast = await _rest(f"{emulator.url('binance', 'rest')}/api/v3/ping")
    assert slow >= 0.3
    assert fast < 0.3


async def test_control_endpoint_drives_faults(emulator):
    client = await WsClient.connect(f"{emulator.url('binance')}/ws/{DEPTH}")
    control = emulator.url("binance", "control")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{control}/connections") as response:
            listed = (await response.json())["connections"]
        async with session.post(f"{control}/faults", json={"kind": "rest_status", "status": 500}) as response:
            armed = response.status, await response.json()
        async with session.get(f"{control}/faults") as response:
            pending = (await response.json())["faults"]
        async with session.delete(f"{control}/faults") as response:
            cleared = (await response.json())["faults"]
        async with session.post(f"{control}/faults", json={"kind": "drop", "connection": listed[0]["id"]}) as response:
            dropped = response.status, await response.json()
        async with session.post(f"{control}/faults", json={"kind": "explode"}) as response:
            invalid = response.status, await response.json()
    assert await client.wait_closed(timeout=2)
    assert listed[0]["subscriptions"] == [DEPTH]
    assert armed[0] == 201
    assert [f["kind"] for f in pending] == ["rest_status"]
    assert cleared == []
    assert dropped == (201, {"fault": dropped[1]["fault"], "connections": [listed[0]["id"]]})
    assert invalid[0] == 400
    assert invalid[1]["error"]["code"] == "invalid_request"
    assert "kind" in invalid[1]["error"]["details"]


@pytest.mark.parametrize("spec, field", [({"kind": "rest_status", "status": 200}, "status"),
                                         ({"kind": "skip_update", "count": 0}, "count"),
                                         ({"kind": "drop", "venue": "ftx"}, "venue"),
                                         ({"kind": "drop", "connection": 10**9}, "connection"),
                                         ({"kind": "rest_delay"}, "seconds")])
async def test_invalid_faults_rejected(emulator, spec, field):
    with pytest.raises(ValidationError) as info:
        emulator.inject(spec)
    assert field in info.value.details
