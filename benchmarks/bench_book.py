"""Benchmarks of the compiled order book against the reference book and cryptofeed's C book.

Run with ``make bench`` (or ``python -m pytest benchmarks --benchmark-only``);
the session ends with a table of median ns per operation and each figure's
ratio to the reference book measured in the same run.  cryptofeed's
``order_book.OrderBook`` (the ``bench`` extra) joins where it is installed.

Data: the real Binance spot BTCUSDT capture.  The book starts from the REST
snapshot plus the first file's diffs (untimed), about 1,300 bids and 2,300
asks, and the timed rounds replay the second file's 3,044 diffs, after which
the book has about 2,000 bids and 3,000 asks.  Everything is decoded into
Python floats and numpy arrays before timing.
"""

from __future__ import annotations

import gzip
from decimal import Decimal
from itertools import repeat

import numpy as np
import orjson
import pytest

from cryptobot.hotpath.book import OrderBook
from cryptobot.hotpath.reference_book import ReferenceBook

try:
    import order_book as cryptofeed_book
except ImportError:  # the optional ``bench`` extra
    cryptofeed_book = None

SPOT_FILES = ("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz")
KRAKEN_CAPTURE = "cryptofeed/KRAKEN.ws.50.0"
PRICE_PRECISION = 2
SIZE_PRECISION = 8
TOP_OF_BOOK_EVERY = 10
QUERY_CALLS = 10_000
CHECKSUM_CALLS = 1_000

IMPLEMENTATIONS = ["compiled", "reference", "cryptofeed"]


def rows(levels) -> np.ndarray:
    return np.array([(float(price), float(size)) for price, size in levels], dtype=np.float64).reshape(-1, 2)


class SpotStream:
    """The spot capture split into an untimed warm-up and the timed diffs."""

    def __init__(self, folder):
        snapshot = None
        events = []  # (file index, u, bids, asks)
        for index, name in enumerate(SPOT_FILES):
            with gzip.open(folder / name, "rb") as file:
                for line in file.read().splitlines():
                    if b"@depth" not in line and b"lastUpdateId" not in line:
                        continue
                    frame = orjson.loads(line[line.index(b" ") + 1 :])
                    if "lastUpdateId" in frame:
                        snapshot = frame
                    else:
                        data = frame["data"]
                        events.append((index, data["u"], data["b"], data["a"]))
        # The capture is gap-free (the tests check it), so every diff past the
        # snapshot applies in order.
        events = [event for event in events if event[1] > snapshot["lastUpdateId"]]

        warm = OrderBook("BTCUSDT", PRICE_PRECISION, SIZE_PRECISION)
        warm.apply_snapshot(rows(snapshot["bids"]), rows(snapshot["asks"]), snapshot["lastUpdateId"])
        for index, update_id, bids, asks in events:
            if index == 0:
                warm.apply_deltas(rows(bids), rows(asks), sequence=update_id)
        self.start_bids, self.start_asks = warm.top_raw(1_000_000)

        timed = [event for event in events if event[0] == 1]
        self.batches = [(rows(bids), rows(asks)) for _, _, bids, asks in timed]
        self.raw_batches = [
            (np.rint(b * [10**PRICE_PRECISION, 10**SIZE_PRECISION]).astype(np.int64),
             np.rint(a * [10**PRICE_PRECISION, 10**SIZE_PRECISION]).astype(np.int64))
            for b, a in self.batches
        ]
        # One (is_bid, price, size) per delta, removals of each event first:
        # level by level, an event that moves the top would otherwise cross
        # the book midway, which the books reject.
        deltas = []
        for _, _, bids, asks in timed:
            event = [(True, float(p), float(q)) for p, q in bids] + [(False, float(p), float(q)) for p, q in asks]
            event.sort(key=lambda delta: delta[2] != 0.0)
            deltas.extend(event)
        # The whole stream as one batch per side: rows keep their order within
        # a side, and the sides never interact, so the final book is the same.
        self.whole_stream = (
            np.concatenate([bids for bids, _ in self.batches]),
            np.concatenate([asks for _, asks in self.batches]),
        )
        self.delta_count = len(deltas)
        self.row_count = sum(len(b) + len(a) for b, a in self.batches)
        self.chunks = [deltas[i : i + TOP_OF_BOOK_EVERY] for i in range(0, len(deltas), TOP_OF_BOOK_EVERY)]

    def fresh_book(self, implementation: str):
        if implementation == "cryptofeed":
            book = cryptofeed_book.OrderBook()
            for price, size in self.start_bids.tolist():
                book.bids[price / 10**PRICE_PRECISION] = size / 10**SIZE_PRECISION
            for price, size in self.start_asks.tolist():
                book.asks[price / 10**PRICE_PRECISION] = size / 10**SIZE_PRECISION
            return book
        book_class = OrderBook if implementation == "compiled" else ReferenceBook
        book = book_class("BTCUSDT", PRICE_PRECISION, SIZE_PRECISION)
        book.apply_snapshot_raw(self.start_bids, self.start_asks, 0)
        return book


@pytest.fixture(scope="module")
def spot(sample_data):
    return SpotStream(sample_data)


def require(implementation: str) -> None:
    if implementation == "cryptofeed" and cryptofeed_book is None:
        pytest.skip("cryptofeed's order_book is not installed: pip install '.[bench]'")


def replay_deltas(book, chunks, read_top=True):
    apply_delta = book.apply_delta
    best_bid = book.best_bid
    best_ask = book.best_ask
    for chunk in chunks:
        for is_bid, price, size in chunk:
            apply_delta(is_bid, price, size)
        if read_top:
            best_bid()
            best_ask()
    return book


def replay_deltas_cryptofeed(book, chunks, read_top=True):
    bids = book.bids
    asks = book.asks
    for chunk in chunks:
        for is_bid, price, size in chunk:
            side = bids if is_bid else asks
            if size:
                side[price] = size
            elif price in side:
                del side[price]
        if read_top:
            bids.index(0)
            asks.index(0)
    return book


@pytest.mark.parametrize("read_top", [True, False], ids=["top_every_10", "no_reads"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_bench_replay_one_delta_per_call(benchmark, spot, record_median, implementation, read_top):
    # cryptofeed's book sorts its keys again on the first ordered read after
    # a change, so it is measured with and without the top-of-book reads.
    require(implementation)
    replay = replay_deltas_cryptofeed if implementation == "cryptofeed" else replay_deltas
    rounds = 5 if implementation == "reference" else 15
    book = benchmark.pedantic(
        replay,
        setup=lambda: ((spot.fresh_book(implementation), spot.chunks, read_top), {}),
        rounds=rounds,
        warmup_rounds=1,
    )
    group = "replay, top every 10 deltas" if read_top else "replay, no top reads"
    record_median(benchmark, group, implementation, spot.delta_count)

    expected = spot.fresh_book("compiled")
    for bids, asks in spot.batches:
        expected.apply_deltas(bids, asks)
    if implementation == "cryptofeed":
        assert (book.bids.index(0)[0], book.asks.index(0)[0]) == (expected.best_bid(), expected.best_ask())
    else:
        assert book.bid_count == expected.bid_count
        np.testing.assert_array_equal(book.top_raw(100_000)[1], expected.top_raw(100_000)[1])


def apply_batches(book, batches):
    apply_deltas = book.apply_deltas
    for bids, asks in batches:
        apply_deltas(bids, asks)
    return book


def apply_raw_batches(book, batches):
    apply_deltas_raw = book.apply_deltas_raw
    for bids, asks in batches:
        apply_deltas_raw(bids, asks)
    return book


@pytest.mark.parametrize("implementation", ["compiled", "compiled_raw", "reference"])
def test_bench_batch_per_event(benchmark, spot, record_median, implementation):
    if implementation == "compiled_raw":
        target, batches, book_kind = apply_raw_batches, spot.raw_batches, "compiled"
    else:
        target, batches, book_kind = apply_batches, spot.batches, implementation
    rounds = 5 if implementation == "reference" else 30
    book = benchmark.pedantic(
        target, setup=lambda: ((spot.fresh_book(book_kind), batches), {}), rounds=rounds, warmup_rounds=1
    )
    record_median(benchmark, "batch per event (numpy)", implementation, spot.row_count)
    assert book.bid_count > 1_500


def apply_whole_stream(book, bids, asks):
    book.apply_deltas(bids, asks)
    return book


@pytest.mark.parametrize("implementation", ["compiled", "reference"])
def test_bench_batch_whole_stream(benchmark, spot, record_median, implementation):
    rounds = 3 if implementation == "reference" else 30
    book = benchmark.pedantic(
        apply_whole_stream,
        setup=lambda: ((spot.fresh_book(implementation), *spot.whole_stream), {}),
        rounds=rounds,
        warmup_rounds=1,
    )
    record_median(benchmark, "batch, whole stream at once", implementation, spot.row_count)
    assert book.bid_count > 1_500


def read_best(book):
    best_bid = book.best_bid
    best_ask = book.best_ask
    for _ in repeat(None, QUERY_CALLS):
        best_bid()
        best_ask()


def read_best_cryptofeed(book):
    bids_index = book.bids.index
    asks_index = book.asks.index
    for _ in repeat(None, QUERY_CALLS):
        bids_index(0)
        asks_index(0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_bench_best_bid_ask(benchmark, spot, record_median, implementation):
    require(implementation)
    book = spot.fresh_book(implementation)
    benchmark.pedantic(
        read_best_cryptofeed if implementation == "cryptofeed" else read_best, args=(book,), rounds=30, warmup_rounds=2
    )
    record_median(benchmark, "best bid or ask (one call)", implementation, 2 * QUERY_CALLS)


def kraken_book_levels(folder, pair="XBT/CHF"):
    """Rebuild one pair of the Kraken capture; return its (ticks, lots) sides and precisions."""
    book = None
    with open(folder / KRAKEN_CAPTURE, "rb") as file:
        for line in file:
            if not line[:1].isdigit():
                continue
            message = orjson.loads(line[line.index(b": ") + 2 :])
            if not isinstance(message, list) or message[-1] != pair:
                continue
            payloads = message[1:-2]
            as_rows = lambda levels: np.array(  # noqa: E731
                [(int(p.replace(".", "")), int(v.replace(".", ""))) for p, v, *_ in levels], dtype=np.int64
            ).reshape(-1, 2)
            if "as" in payloads[0]:
                first = payloads[0]["as"][0]
                book = OrderBook(pair, len(first[0].partition(".")[2]), len(first[1].partition(".")[2]))
                book.apply_snapshot_raw(as_rows(payloads[0]["bs"]), as_rows(payloads[0]["as"]), 0)
            else:
                asks = [level for payload in payloads for level in payload.get("a", [])]
                bids = [level for payload in payloads for level in payload.get("b", [])]
                book.apply_deltas_raw(as_rows(bids), as_rows(asks))
                book.truncate(1000)
                assert book.checksum_kraken() == int(payloads[-1]["c"])
    bids, asks = book.top_raw(1000)
    return bids, asks, book.price_precision, book.size_precision


def checksum_loop(book):
    checksum = book.checksum if cryptofeed_book is not None and isinstance(book, cryptofeed_book.OrderBook) else book.checksum_kraken
    for _ in repeat(None, CHECKSUM_CALLS):
        checksum()
    return checksum()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_bench_checksum_kraken(benchmark, sample_data, record_median, implementation):
    require(implementation)
    bids, asks, price_precision, size_precision = kraken_book_levels(sample_data)
    if implementation == "cryptofeed":
        # cryptofeed formats the Decimal keys it is given, as its Kraken feed does.
        book = cryptofeed_book.OrderBook(checksum_format="KRAKEN")
        for side, levels in ((book.bids, bids), (book.asks, asks)):
            for price, size in levels.tolist():
                side[Decimal(price).scaleb(-price_precision)] = Decimal(size).scaleb(-size_precision)
    else:
        book_class = OrderBook if implementation == "compiled" else ReferenceBook
        book = book_class("XBT/CHF", price_precision, size_precision)
        book.apply_snapshot_raw(bids, asks, 0)
    checksum = benchmark.pedantic(checksum_loop, args=(book,), rounds=30, warmup_rounds=2)
    record_median(benchmark, "Kraken checksum", implementation, CHECKSUM_CALLS)

    expected = OrderBook("XBT/CHF", price_precision, size_precision)
    expected.apply_snapshot_raw(bids, asks, 0)
    assert checksum == expected.checksum_kraken()
