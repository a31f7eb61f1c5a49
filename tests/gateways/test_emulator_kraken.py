"""Kraken WebSocket v1 of the emulator against the recorded session."""

from __future__ import annotations

import asyncio
import zlib
from decimal import Decimal

import orjson
import pytest

from cryptobot.gateways.emulator import ExchangeEmulator, VenueRecordings
from cryptobot.gateways.emulator.config import load_tape
from cryptobot.gateways.emulator.testing import WsClient

KRAKEN = VenueRecordings(
    tapes=(("cryptofeed/KRAKEN.ws.48.0", "cryptofeed/KRAKEN.ws.49.0", "cryptofeed/KRAKEN.ws.50.0"),),
    reference="cryptofeed/KRAKEN.0")
PAIRS = ["WAVES/EUR", "XMR/USD", "KSM/XBT", "GRT/ETH", "SC/EUR", "ETH/CHF", "OCEAN/XBT", "OMG/USD", "XBT/CHF", "ADA/XBT"]


@pytest.fixture(scope="module")
def recording(sample_data):
    return load_tape(sample_data, KRAKEN.tapes[0])


def _emulator(sample_data, **settings) -> ExchangeEmulator:
    return ExchangeEmulator(sample_data, venues=["kraken"], recordings={"kraken": KRAKEN}, **settings)


def checksum(asks, bids) -> int:
    """Kraken's CRC32, written here from the documented rule."""
    text = ""
    for price, volume in list(asks) + list(bids):
        text += price.replace(".", "").lstrip("0") + volume.replace(".", "").lstrip("0")
    return zlib.crc32(text.encode())


class DepthBook:
    """A client book of one pair truncated to its subscribed depth, kept as received strings."""

    def __init__(self, depth: int, snapshot: dict):
        self.depth = depth
        self.sides = {"a": {Decimal(l[0]): (l[0], l[1]) for l in snapshot["as"]},
                      "b": {Decimal(l[0]): (l[0], l[1]) for l in snapshot["bs"]}}

    def apply(self, side: str, levels) -> None:
        book = self.sides[side]
        for level in levels:
            if Decimal(level[1]) == 0:
                book.pop(Decimal(level[0]), None)
            else:
                book[Decimal(level[0])] = (level[0], level[1])
        keep = sorted(book, reverse=(side == "b"))[: self.depth]
        self.sides[side] = {key: book[key] for key in keep}

    def top(self, count: int):
        asks = [self.sides["a"][k] for k in sorted(self.sides["a"])[:count]]
        bids = [self.sides["b"][k] for k in sorted(self.sides["b"], reverse=True)[:count]]
        return asks, bids


def replay_recording(recording, depth: int = 1000) -> dict[str, DepthBook]:
    books: dict[str, DepthBook] = {}
    for frame in recording.frames:
        if frame.kind == "book_snapshot":
            books[frame.symbol] = DepthBook(depth, orjson.loads(frame.text)[1])
        elif frame.kind == "book_update":
            for payload in orjson.loads(frame.text)[1:-2]:
                for side in ("a", "b"):
                    if side in payload:
                        books[frame.symbol].apply(side, payload[side])
    return books


async def test_v1_frames_equal_recording(sample_data, recording):
    data_frames = [f.text.encode() for f in recording.frames if f.symbol]
    acks = {f.text.encode() for f in recording.frames if f.kind == "subscriptionStatus"}
    async with _emulator(sample_data, pace="fast", start_delay=0.2) as emulator:
        client = await WsClient.connect(emulator.url("kraken", "v1"))
        for _, request in recording.sent:
            client.send(request)
        await client.wait_for(1 + len(acks) + len(data_frames), timeout=20)
        await client.close()
    status = orjson.loads(client.frames[0])
    assert (status["event"], status["status"], status["version"]) == ("systemStatus", "online", "1.8.3")
    assert set(client.frames[1:1 + len(acks)]) == acks
    assert client.frames[1 + len(acks):] == data_frames


async def test_v1_depth10_checksums_verify(sample_data, recording):
    async with _emulator(sample_data, pace="fast", start_delay=0.1) as emulator:
        client = await WsClient.connect(emulator.url("kraken", "v1"))
        client.send({"event": "subscribe", "pair": PAIRS, "subscription": {"name": "book", "depth": 10}})
        await client.wait_until(lambda c: emulator.venue("kraken").tapes[0].state == "finished")
        # Every frame sent before the pong has arrived once the pong has.
        client.send({"event": "ping", "reqid": 424242})
        await client.wait_until(lambda c: c.frames[-1] == b'{"event":"pong","reqid":424242}')
        await client.close()
    books: dict[str, DepthBook] = {}
    updates = mismatches = republished = 0
    for message in client.json():
        if not isinstance(message, list):
            continue
        pair = message[-1]
        assert message[-2] == "book-10"
        if "as" in message[1]:
            books[pair] = DepthBook(10, message[1])
            continue
        for payload in message[1:-2]:
            for side in ("a", "b"):
                if side in payload:
                    republished += sum(1 for level in payload[side] if len(level) == 4 and level[3] == "r")
                    books[pair].apply(side, payload[side])
        updates += 1
        mismatches += checksum(*books[pair].top(10)) != int(message[-3]["c"])
    expected = replay_recording(recording)
    assert updates > 1000
    assert mismatches == 0
    assert republished > 0
    assert all(books[pair].top(10) == expected[pair].top(10) for pair in PAIRS)


async def test_v1_resubscribe_gets_current_book(sample_data, recording):
    expected = replay_recording(recording)["XBT/CHF"]
    async with _emulator(sample_data, pace="fast") as emulator:
        first = await WsClient.connect(emulator.url("kraken", "v1"))
        first.send({"event": "subscribe", "pair": ["XBT/CHF"], "subscription": {"name": "book", "depth": 1000}})
        await first.wait_until(lambda c: emulator.venue("kraken").tapes[0].state == "finished")
        second = await WsClient.connect(emulator.url("kraken", "v1"))
        second.send({"event": "subscribe", "pair": ["XBT/CHF"], "reqid": 3,
                     "subscription": {"name": "book", "depth": 25}})
        await second.wait_for(3)
        await first.close()
        await second.close()
    ack, snapshot = second.json(1)[:2]
    assert ack["status"] == "subscribed"
    assert ack["reqid"] == 3
    assert ack["channelName"] == "book-25"
    assert snapshot[0] == ack["channelID"]
    assert [tuple(l[:2]) for l in snapshot[1]["as"]] == expected.top(25)[0]
    assert [tuple(l[:2]) for l in snapshot[1]["bs"]] == expected.top(25)[1]


@pytest.mark.parametrize("request_body, expected", [
    ({"event": "subscribe", "pair": ["FOO/BAR"], "subscription": {"name": "ticker"}},
     {"errorMessage": "Currency pair not supported FOO/BAR", "event": "subscriptionStatus", "pair": "FOO/BAR",
      "status": "error", "subscription": {"name": "ticker"}}),
    ({"event": "subscribe", "pair": ["XBT/CHF"], "subscription": {"name": "book", "depth": 42}},
     {"errorMessage": "Subscription depth not supported", "event": "subscriptionStatus", "pair": "XBT/CHF",
      "status": "error", "subscription": {"name": "book", "depth": 42}}),
    ({"event": "subscribe", "pair": ["XBT/CHF"], "subscription": {"name": "trades"}},
     {"errorMessage": "Subscription name invalid", "event": "subscriptionStatus", "pair": "XBT/CHF",
      "status": "error", "subscription": {"name": "trades"}}),
    ({"event": "unsubscribe", "pair": ["XBT/CHF"], "subscription": {"name": "trade"}},
     {"errorMessage": "Subscription Not Found", "event": "subscriptionStatus", "pair": "XBT/CHF",
      "status": "error", "subscription": {"name": "trade"}}),
    (b"{broken", {"errorMessage": "Malformed request", "event": "error"}),
    ({"event": "fly"}, {"errorMessage": "Event(s) not found", "event": "error"}),
])
async def test_v1_errors(sample_data, request_body, expected):
    async with _emulator(sample_data) as emulator:
        client = await WsClient.connect(emulator.url("kraken", "v1"))
        client.send(request_body)
        await client.wait_for(2)
        await client.close()
    assert client.json(1)[0] == expected


async def test_v1_ping_pong(sample_data):
    async with _emulator(sample_data) as emulator:
        client = await WsClient.connect(emulator.url("kraken", "v1"))
        client.send({"event": "ping", "reqid": 42})
        await client.wait_for(2)
        await client.close()
    assert client.frames[1] == b'{"event":"pong","reqid":42}'


async def test_v1_unsubscribe_acknowledged(sample_data, recording):
    async with _emulator(sample_data) as emulator:
        client = await WsClient.connect(emulator.url("kraken", "v1"))
        client.send({"event": "subscribe", "pair": ["SC/EUR"], "subscription": {"name": "trade"}})
        client.send({"event": "unsubscribe", "pair": ["SC/EUR"], "subscription": {"name": "trade"}})
        await client.wait_for(3)
        await client.close()
    assert client.json(2)[0] == {"channelID": recording.channel_ids[("trade", "SC/EUR")], "channelName": "trade",
                                 "event": "subscriptionStatus", "pair": "SC/EUR", "status": "unsubscribed",
                                 "subscription": {"name": "trade"}}


async def test_v1_heartbeat_when_idle(sample_data):
    async with _emulator(sample_data, heartbeat_interval=0.05) as emulator:
        client = await WsClient.connect(emulator.url("kraken", "v1"))
        # XBT/USD is listed in AssetPairs but not recorded: subscribed and silent.
        client.send({"event": "subscribe", "pair": ["XBT/USD"], "subscription": {"name": "ticker"}})
        await asyncio.sleep(0.4)
        await client.close()
    beats = [frame for frame in client.frames if frame == b'{"event":"heartbeat"}']
    assert len(beats) >= 4
