"""Kraken WebSocket v2 of the emulator: the translation of the v1 recording is self-consistent."""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timezone
from decimal import Decimal

import aiohttp
import orjson
import pytest

from cryptobot.gateways.emulator import ExchangeEmulator, VenueRecordings
from cryptobot.gateways.emulator.config import load_tape
from cryptobot.gateways.emulator.testing import WsClient

KRAKEN = VenueRecordings(
    tapes=(("cryptofeed/KRAKEN.ws.48.0", "cryptofeed/KRAKEN.ws.49.0", "cryptofeed/KRAKEN.ws.50.0"),),
    reference="cryptofeed/KRAKEN.0")
V2_SYMBOLS = {"WAVES/EUR": "WAVES/EUR", "XMR/USD": "XMR/USD", "KSM/XBT": "KSM/BTC", "GRT/ETH": "GRT/ETH",
              "SC/EUR": "SC/EUR", "ETH/CHF": "ETH/CHF", "OCEAN/XBT": "OCEAN/BTC", "OMG/USD": "OMG/USD",
              "XBT/CHF": "BTC/CHF", "ADA/XBT": "ADA/BTC"}


@pytest.fixture(scope="module")
def recording(sample_data):
    return load_tape(sample_data, KRAKEN.tapes[0])


def _emulator(sample_data, **settings) -> ExchangeEmulator:
    return ExchangeEmulator(sample_data, venues=["kraken"], recordings={"kraken": KRAKEN}, **settings)


async def _asset_pairs(emulator) -> dict[str, tuple[int, int]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{emulator.url('kraken', 'rest')}/0/public/AssetPairs") as response:
            body = await response.json()
    return {entry["wsname"]: (entry["pair_decimals"], entry["lot_decimals"])
            for entry in body["result"].values() if "wsname" in entry}


async def _finish(emulator, client: WsClient) -> None:
    """Wait for the end of the replay, then for a pong: every frame sent before it has arrived."""
    await client.wait_until(lambda c: emulator.venue("kraken").tapes[0].state == "finished")
    client.send({"method": "ping", "req_id": 424242})
    await client.wait_until(lambda c: b'"req_id":424242' in c.frames[-1])
    await client.close()


def v2_checksum(asks, bids, price_places: int, qty_places: int) -> int:
    """The v2 rule from Kraken's guide: format at the pair's precisions, drop '.', strip leading zeros."""
    text = ""
    for price, qty in list(asks) + list(bids):
        text += f"{price:.{price_places}f}".replace(".", "").lstrip("0")
        text += f"{qty:.{qty_places}f}".replace(".", "").lstrip("0")
    return zlib.crc32(text.encode())


class V2Book:
    def __init__(self, depth: int):
        self.depth = depth
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    def apply(self, levels, side: dict, descending: bool) -> None:
        for level in levels:
            if level["qty"] == 0:
                side.pop(level["price"], None)
            else:
                side[level["price"]] = level["qty"]
        for key in sorted(side, reverse=not descending)[: max(len(side) - self.depth, 0)]:
            del side[key]

    def top(self, count: int):
        asks = [(p, self.asks[p]) for p in sorted(self.asks)[:count]]
        bids = [(p, self.bids[p]) for p in sorted(self.bids, reverse=True)[:count]]
        return asks, bids


def _decimal_messages(client: WsClient) -> list:
    """Parse with exact decimals, as a feed computing checksums must."""
    return [json.loads(frame, parse_float=Decimal) for frame in client.frames]


async def test_v2_book_checksums_verify(sample_data, recording):
    async with _emulator(sample_data, pace="fast", start_delay=0.1) as emulator:
        precisions = await _asset_pairs(emulator)
        client = await WsClient.connect(emulator.url("kraken", "v2"))
        client.send({"method": "subscribe", "params": {"channel": "book", "symbol": list(V2_SYMBOLS.values()),
                                                       "depth": 10}, "req_id": 1})
        await _finish(emulator, client)
    by_symbol = {v2: precisions[v1] for v1, v2 in V2_SYMBOLS.items()}
    books: dict[str, V2Book] = {}
    updates = mismatches = 0
    for message in _decimal_messages(client):
        if message.get("channel") != "book":
            continue
        data = message["data"][0]
        if message["type"] == "snapshot":
            books[data["symbol"]] = V2Book(10)
        book = books[data["symbol"]]
        book.apply(data["bids"], book.bids, descending=True)
        book.apply(data["asks"], book.asks, descending=False)
        places = by_symbol[data["symbol"]]
        mismatches += v2_checksum(*book.top(10), *places) != data["checksum"]
        updates += message["type"] == "update"
    assert len(books) == 10
    assert updates > 1000
    assert mismatches == 0
    # The same book as the recorded v1 stream: compare the final top 10 by value.
    for pair, symbol in V2_SYMBOLS.items():
        final = {}
        for frame in recording.frames:
            if frame.symbol == pair and frame.kind in ("book_snapshot", "book_update"):
                for payload in orjson.loads(frame.text)[1:-2]:
                    for key in ("as", "bs", "a", "b"):
                        for price, volume, *_ in payload.get(key, []):
                            side = final.setdefault(key[0], {})
                            if Decimal(volume) == 0:
                                side.pop(Decimal(price), None)
                            else:
                                side[Decimal(price)] = Decimal(volume)
        expected_asks = [(p, final["a"][p]) for p in sorted(final["a"])[:10]]
        expected_bids = [(p, final["b"][p]) for p in sorted(final["b"], reverse=True)[:10]]
        assert books[symbol].top(10) == (expected_asks, expected_bids)


async def test_v2_trades_translated(sample_data, recording):
    expected = []
    for frame in recording.frames:
        if frame.kind == "trade":
            for price, volume, stamp, side, order_type, _ in orjson.loads(frame.text)[1]:
                whole, _, micros = stamp.partition(".")
                moment = datetime.fromtimestamp(int(whole), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
                expected.append((V2_SYMBOLS[frame.symbol], "buy" if side == "b" else "sell", Decimal(price),
                                 Decimal(volume), "limit" if order_type == "l" else "market", f"{moment}.{micros}Z"))
    async with _emulator(sample_data, pace="fast", start_delay=0.1) as emulator:
        client = await WsClient.connect(emulator.url("kraken", "v2"))
        client.send({"method": "subscribe", "params": {"channel": "trade", "symbol": ["XMR/USD", "SC/EUR"]}})
        await _finish(emulator, client)
    trades = [item for m in _decimal_messages(client) if m.get("channel") == "trade" for item in m["data"]]
    got = [(t["symbol"], t["side"], t["price"], t["qty"], t["ord_type"], t["timestamp"]) for t in trades]
    assert got == expected
    sc_eur = [t["trade_id"] for t in trades if t["symbol"] == "SC/EUR"]
    assert sc_eur == list(range(1, sum(1 for e in expected if e[0] == "SC/EUR") + 1))


async def test_v2_ticker_translated(sample_data, recording):
    last = {}
    for frame in recording.frames:
        if frame.kind == "ticker" and frame.symbol == "XMR/USD":
            last = orjson.loads(frame.text)[1]
    async with _emulator(sample_data, pace="fast", start_delay=0.1) as emulator:
        client = await WsClient.connect(emulator.url("kraken", "v2"))
        client.send({"method": "subscribe", "params": {"channel": "ticker", "symbol": ["XMR/USD"]}})
        await _finish(emulator, client)
    tickers = [m for m in _decimal_messages(client) if m.get("channel") == "ticker"]
    assert tickers[0]["type"] == "snapshot"
    assert all(m["type"] == "update" for m in tickers[1:])
    final = tickers[-1]["data"][0]
    change = Decimal(last["c"][0]) - Decimal(last["o"][1])
    assert final["bid"] == Decimal(last["b"][0])
    assert final["ask_qty"] == Decimal(last["a"][2])
    assert final["last"] == Decimal(last["c"][0])
    assert final["volume"] == Decimal(last["v"][1])
    assert final["change"] == change
    assert final["change_pct"] == (change * 100 / Decimal(last["o"][1])).quantize(Decimal("0.01"))


async def test_v2_acknowledgements_and_errors(sample_data):
    async with _emulator(sample_data) as emulator:
        client = await WsClient.connect(emulator.url("kraken", "v2"))
        client.send({"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/CHF", "XBT/CHF"],
                                                       "depth": 25}, "req_id": 7})
        client.send({"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/CHF"], "depth": 42}})
        client.send({"method": "ping", "req_id": 99})
        client.send(b"{nope")
        await client.wait_for(6)
        await client.close()
    status, ack, error, depth_error, pong, malformed = client.json()
    assert status["channel"] == "status"
    assert status["data"][0]["api_version"] == "v2"
    assert ack["result"] == {"channel": "book", "depth": 25, "snapshot": True, "symbol": "BTC/CHF"}
    assert (ack["method"], ack["success"], ack["req_id"]) == ("subscribe", True, 7)
    assert set(ack) >= {"time_in", "time_out"}
    assert (error["success"], error["error"], error["symbol"]) == (False, "Currency pair not supported XBT/CHF", "XBT/CHF")
    assert depth_error["error"] == "Subscription depth not supported"
    assert (pong["method"], pong["req_id"]) == ("pong", 99)
    assert (malformed["success"], malformed["error"]) == (False, "Malformed request")


async def test_v2_instrument_precisions(sample_data):
    async with _emulator(sample_data) as emulator:
        precisions = await _asset_pairs(emulator)
        client = await WsClient.connect(emulator.url("kraken", "v2"))
        client.send({"method": "subscribe", "params": {"channel": "instrument"}})
        await client.wait_for(3)
        await client.close()
    pairs = {p["symbol"]: p for p in client.json(2)[0]["data"]["pairs"]}
    assert (pairs["BTC/CHF"]["price_precision"], pairs["BTC/CHF"]["qty_precision"]) == precisions["XBT/CHF"]
