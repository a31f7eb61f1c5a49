"""Shared pieces of the feed tests: recordings, an engine with a feed, plain reference books."""

from __future__ import annotations

import asyncio
import gzip
import heapq
import time
from contextlib import asynccontextmanager

import orjson

from cryptobot.actors.feed import spawn_market_data
from cryptobot.core.actor import ask
from cryptobot.core.engine import Engine
from cryptobot.gateways.emulator import ExchangeEmulator, VenueRecordings
from cryptobot.gateways.feeds.config import FeedConfig, emulator_urls

SPOT_BTC = VenueRecordings(
    tapes=(("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz"),),
    reference="cryptofeed/BINANCE.0")
SPOT_SMALL = VenueRecordings(tapes=(("cryptofeed/BINANCE.ws.1.0", "cryptofeed/BINANCE.http.0.0"),),
                             reference="cryptofeed/BINANCE.0")
USDM_TWO = VenueRecordings(tapes=(("hftbacktest/usdm/btcusdt_20240808.gz",), ("hftbacktest/usdm/ethusdt_20240808.gz",)),
                           reference="cryptofeed/BINANCE_FUTURES.0")
KRAKEN_ALL = VenueRecordings(tapes=(("cryptofeed/KRAKEN.ws.50.0", "cryptofeed/KRAKEN.ws.48.0", "cryptofeed/KRAKEN.ws.49.0"),),
                             reference="cryptofeed/KRAKEN.0")
KRAKEN_SYMBOLS = ("WAVES/EUR", "XMR/USD", "KSM/BTC", "GRT/ETH", "SC/EUR", "ETH/CHF", "OCEAN/BTC", "OMG/USD", "BTC/CHF",
                  "ADA/BTC")


async def wait_until(predicate, timeout: float = 20.0, step: float = 0.02) -> None:
    """Await until ``predicate()`` (sync or async) is true; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s")
        await asyncio.sleep(step)


@asynccontextmanager
async def market_data(emulator: ExchangeEmulator, exchange: str, symbols, recorder=None, **settings):
    """An engine running the feed of ``exchange`` against ``emulator``; yields (engine, feed, books)."""
    version = settings.get("kraken_version", 2)
    config = FeedConfig(exchange, tuple(symbols), **emulator_urls(emulator, exchange, version), **settings)
    engine = Engine()
    try:
        feed, books = await spawn_market_data(engine, config, recorder=recorder)
        yield engine, feed, books
    finally:
        await engine.shutdown()


async def status(ref) -> dict:
    return await ask(ref, "status")


def read_frames(path):
    """Yield the stream payloads of an hftbacktest capture, and the snapshot body as ``("snapshot", body)``."""
    with gzip.open(path, "rt") as handle:
        for line in handle:
            message = orjson.loads(line.partition(" ")[2])
            if "stream" in message:
                yield message["stream"], message["data"]
            elif "lastUpdateId" in message:
                yield "snapshot", message


class PlainBinanceBook:
    """A dict book of one symbol rebuilt from a recording by Binance's documented sync rules."""

    def __init__(self, snapshot: dict):
        self.bids = {float(p): float(q) for p, q in snapshot["bids"] if float(q)}
        self.asks = {float(p): float(q) for p, q in snapshot["asks"] if float(q)}
        self.last = snapshot["lastUpdateId"]

    def apply(self, data: dict) -> bool:
        if data["u"] <= self.last:
            return False
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            for price, quantity in levels:
                if float(quantity) == 0:
                    side.pop(float(price), None)
                else:
                    side[float(price)] = float(quantity)
        self.last = data["u"]
        return True

    def top(self, count: int) -> tuple[list, list]:
        bids = [[p, self.bids[p]] for p in heapq.nlargest(count, self.bids)]
        asks = [[p, self.asks[p]] for p in heapq.nsmallest(count, self.asks)]
        return bids, asks


def binance_reference(path_list, symbol: str):
    """Replay a capture's depth frames from its snapshot; return ({u: top 20}, bookTickers, trades)."""
    book = None
    pending = []
    tops: dict[int, tuple[list, list]] = {}
    tickers: list[dict] = []
    trades: list[dict] = []
    for path in path_list:
        for stream, data in read_frames(path):
            if stream == "snapshot":
                book = PlainBinanceBook(data)
                for event in pending:
                    if book.apply(event):
                        tops[book.last] = book.top(20)
                continue
            if data.get("s") != symbol:
                continue
            kind = data.get("e", "bookTicker")
            if kind == "depthUpdate":
                if book is None:
                    pending.append(data)
                elif book.apply(data):
                    tops[book.last] = book.top(20)
            elif kind == "bookTicker":
                tickers.append(data)
            elif kind == "trade":
                trades.append(data)
    return tops, tickers, trades
