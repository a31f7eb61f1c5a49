"""Kraken v1 and v2 feeds: checksums on the clean replay, resync after a bad checksum."""

from __future__ import annotations

import orjson
import pytest

from cryptobot.core.actor import ask
from cryptobot.gateways.emulator import ExchangeEmulator
from cryptobot.gateways.feeds.symbols import kraken_unified
from cryptobot.gateways.recordings import load_f2
from cryptobot.tests.gateways.feed_support import KRAKEN_ALL, KRAKEN_SYMBOLS, market_data, status, wait_until

BOOK_FILE = "cryptofeed/KRAKEN.ws.50.0"


def _recorded_updates(sample_data) -> dict[str, int]:
    counts: dict[str, int] = {}
    for frame in load_f2([sample_data / BOOK_FILE]).frames:
        if frame.kind == "book_update":
            symbol = kraken_unified(frame.symbol)
            counts[symbol] = counts.get(symbol, 0) + 1
    return counts


def _final_book(sample_data, pair: str, depth: int) -> tuple[list, list]:
    """Rebuild one pair's depth-1000 book from the recording with plain dicts; return its best ``depth`` levels.

    The recording is Kraken's depth-1000 stream, truncated to 1000 levels after
    each message; a depth-N subscriber's book is the top N of that book.
    """
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    for frame in load_f2([sample_data / BOOK_FILE]).frames:
        if frame.symbol != pair or frame.kind not in ("book_snapshot", "book_update"):
            continue
        message = orjson.loads(frame.text)
        for part in message[1:-2]:
            for key, side in (("as", asks), ("bs", bids), ("a", asks), ("b", bids)):
                for level in part.get(key, ()):
                    if float(level[1]) == 0:
                        side.pop(float(level[0]), None)
                    else:
                        side[float(level[0])] = float(level[1])
        for side, keep in ((bids, sorted(bids, reverse=True)[:1000]), (asks, sorted(asks)[:1000])):
            for price in set(side) - set(keep):
                del side[price]
    return ([[p, bids[p]] for p in sorted(bids, reverse=True)[:depth]], [[p, asks[p]] for p in sorted(asks)[:depth]])


@pytest.mark.parametrize("version", [1, 2])
async def test_feed_kraken_checksums_verify(sample_data, version):
    expected = _recorded_updates(sample_data)
    async with ExchangeEmulator(sample_data, venues=["kraken"], recordings={"kraken": KRAKEN_ALL}, pace="fast",
                                start_delay=0.2) as emulator:
        async with market_data(emulator, "kraken", KRAKEN_SYMBOLS, kraken_version=version, depth=1000) as (
                engine, feed, books):
            actors = {s: engine._cells[ref.name].actor for s, ref in books.items()}
            await wait_until(lambda: emulator.venues["kraken"].tapes[0].state == "finished")
            await wait_until(lambda: sum(a.sync.verified + a.sync.checksum_failures for a in actors.values())
                             >= (sum(expected.values()) if version == 1 else 4000), timeout=10)
            counters = {s: await status(ref) for s, ref in books.items()}
            feed_status = await status(feed)
    for symbol, count in expected.items():
        assert counters[symbol]["checksum_failures"] == 0, symbol
        assert counters[symbol]["resyncs"] == 0, symbol
        if version == 1:
            assert counters[symbol]["checksums_verified"] == count, symbol
    assert feed_status["malformed"] == 0


@pytest.mark.parametrize("version", [1, 2])
async def test_feed_kraken_bad_checksum_resyncs_pair(sample_data, version):
    async with ExchangeEmulator(sample_data, venues=["kraken"], recordings={"kraken": KRAKEN_ALL}, pace="recorded",
                                speed=8.0, start_delay=0.3) as emulator:
        emulator.inject_fault("bad_checksum", venue="kraken", symbol="XBT/CHF")
        async with market_data(emulator, "kraken", KRAKEN_SYMBOLS, kraken_version=version, depth=25) as (
                engine, feed, books):
            victim = engine._cells[books["BTC/CHF"].name].actor
            await wait_until(lambda: victim.sync.checksum_failures == 1 and victim.ready and victim.sync.verified > 5,
                             timeout=20)
            await wait_until(lambda: emulator.venues["kraken"].tapes[0].state == "finished", timeout=20)
            counters = {s: await status(ref) for s, ref in books.items()}
            book = await ask(books["BTC/CHF"], "orderbook", depth=25)
    assert counters["BTC/CHF"]["resync_reasons"] == {"checksum": 1}
    assert counters["BTC/CHF"]["snapshots"] == 2
    others = {s: c["resyncs"] for s, c in counters.items() if s != "BTC/CHF"}
    assert set(others.values()) == {0}
    bids, asks = _final_book(sample_data, "XBT/CHF", 25)
    assert book["bids"] == bids
    assert book["asks"] == asks
