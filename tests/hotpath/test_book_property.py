"""Property tests: the compiled book and the reference book agree after every step.

Streams mix valid updates with adversarial ones (crossing levels, removals of
absent levels, NaN, infinities, off-grid and out-of-range values, stale
sequences, duplicate and crossed snapshots).  After each step both books must
have accepted it, or both rejected it with the same error.  Then they must
agree on every query, and a rejected step must have left both unchanged.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryptobot.core.errors import CryptobotError
from cryptobot.hotpath.book import OrderBook
from cryptobot.hotpath.reference_book import ReferenceBook

PRICE_PRECISION = 2
SIZE_PRECISION = 3

# Bid prices fall on 99.00..100.60 and ask prices on 99.40..101.00, so levels
# collide often and an update crosses the book now and then.
BID_TICKS = (9_900, 10_060)
ASK_TICKS = (9_940, 10_100)

bad_prices = st.sampled_from([math.nan, math.inf, -math.inf, -100.0, 0.0, 100.005, 1e300, 1e-9])
bad_sizes = st.sampled_from([math.nan, math.inf, -1.0, 0.0005, 1e300])
bad_ticks = st.integers(-5, 0)
bad_lots = st.just(-1)


def mostly(good, bad, one_in: int):
    """Draw from ``bad`` once in ``one_in`` draws on average, else from ``good``."""
    return st.integers(1, one_in).flatmap(lambda draw: bad if draw == 1 else good)


def ticks(is_bid: bool):
    return st.integers(*(BID_TICKS if is_bid else ASK_TICKS))


lots = st.one_of(st.just(0), st.integers(1, 5_000))


def price(is_bid: bool, one_in: int):
    return mostly(ticks(is_bid).map(lambda t: t / 10**PRICE_PRECISION), bad_prices, one_in)


def size(one_in: int):
    return mostly(lots.map(lambda lot: lot / 10**SIZE_PRECISION), bad_sizes, one_in)


def rows(is_bid: bool, raw: bool):
    # A batch row is bad once in 60 draws, so most batches are valid.
    if raw:
        row = st.tuples(mostly(ticks(is_bid), bad_ticks, 60), mostly(lots, bad_lots, 60))
    else:
        row = st.tuples(price(is_bid, 60), size(60))
    return st.lists(row, max_size=12)


def batch(kind: str, raw: bool, offsets):
    return st.tuples(st.just(kind), rows(True, raw), rows(False, raw), offsets)


operations = st.one_of(
    st.booleans().flatmap(lambda is_bid: st.tuples(st.just("delta"), st.just(is_bid), price(is_bid, 6), size(6))),
    st.booleans().flatmap(
        lambda is_bid: st.tuples(
            st.just("delta_raw"), st.just(is_bid), mostly(ticks(is_bid), bad_ticks, 6), mostly(lots, bad_lots, 6)
        )
    ),
    batch("deltas", False, st.integers(-1, 3)),
    batch("deltas_raw", True, st.integers(-1, 3)),
    batch("snapshot", False, st.integers(-1, 3)),
    batch("snapshot_raw", True, st.integers(-1, 3)),
    # A level within two ticks of the other side's best price: crossing,
    # locking (equal prices also count as crossed) or just missing the touch.
    st.tuples(st.just("near_touch"), st.booleans(), st.integers(-2, 2), size(12)),
    st.tuples(st.just("truncate"), st.integers(0, 15)),
)


def as_array(rows, dtype) -> np.ndarray:
    return np.array(rows, dtype=dtype).reshape(-1, 2)


def apply(book, operation) -> str | None:
    """Apply one operation; return the error text, or None if the book accepted it."""
    kind = operation[0]
    try:
        if kind == "delta":
            book.apply_delta(*operation[1:])
        elif kind == "delta_raw":
            book.apply_delta_raw(*operation[1:])
        elif kind == "near_touch":
            _, is_bid, offset, size = operation
            touch = book.best_ask() if is_bid else book.best_bid()
            touch_ticks = round((100.0 if touch is None else touch) * 10**PRICE_PRECISION)
            book.apply_delta(is_bid, (touch_ticks + offset) / 10**PRICE_PRECISION, size)
        elif kind in ("deltas", "deltas_raw"):
            _, bids, asks, offset = operation
            dtype = np.int64 if kind == "deltas_raw" else np.float64
            method = book.apply_deltas_raw if kind == "deltas_raw" else book.apply_deltas
            method(as_array(bids, dtype), as_array(asks, dtype), sequence=book.sequence + offset, ts_event=offset)
        elif kind in ("snapshot", "snapshot_raw"):
            _, bids, asks, offset = operation
            dtype = np.int64 if kind == "snapshot_raw" else np.float64
            method = book.apply_snapshot_raw if kind == "snapshot_raw" else book.apply_snapshot
            method(as_array(bids, dtype), as_array(asks, dtype), book.sequence + offset, 7)
        else:
            book.truncate(operation[1])
    except CryptobotError as error:
        return f"{type(error).__name__}: {error}"
    return None


def state(book) -> tuple:
    bids, asks = book.top_raw(1_000_000)
    return bids.tolist(), asks.tolist(), book.sequence, book.ts_event, book.snapshots, book.absent_removals


def assert_books_agree(compiled: OrderBook, reference: ReferenceBook) -> None:
    compiled.check_integrity()
    reference.check_integrity()
    assert state(compiled) == state(reference)
    for query in ("best_bid", "best_ask", "best_bid_size", "best_ask_size", "spread", "mid", "checksum_kraken"):
        assert getattr(compiled, query)() == getattr(reference, query)(), query
    assert (compiled.bid_count, compiled.ask_count) == (reference.bid_count, reference.ask_count)
    for depth in (0, 1, 7, 1_000):
        for ours, theirs in zip(compiled.top(depth), reference.top(depth)):
            np.testing.assert_array_equal(ours, theirs)
    for is_bid in (True, False):
        for bps in (0.0, 1.0, 10.0, 99.5, 250.0):
            assert compiled.depth_within(is_bid, bps) == reference.depth_within(is_bid, bps), (is_bid, bps)
    for levels in (1, 3, 50):
        assert compiled.imbalance(levels) == reference.imbalance(levels), levels
    for side in ("buy", "sell"):
        for size in (0.0, 0.001, 1.5, 7.25, 1e6):
            assert compiled.cost_to_take(side, size) == reference.cost_to_take(side, size), (side, size)
    ours = np.full((5, 2), -1.0), np.full((3, 2), -1.0)
    theirs = np.full((5, 2), -1.0), np.full((3, 2), -1.0)
    assert compiled.top_into(*ours) == reference.top_into(*theirs)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, min_size=1, max_size=40))
def test_books_agree_on_random_streams(stream):
    compiled = OrderBook("BTCUSDT", PRICE_PRECISION, SIZE_PRECISION)
    reference = ReferenceBook("BTCUSDT", PRICE_PRECISION, SIZE_PRECISION)
    for operation in stream:
        before = state(compiled)
        error = apply(compiled, operation)
        assert apply(reference, operation) == error, operation
        if error is not None:
            assert state(compiled) == before, operation
        assert_books_agree(compiled, reference)


def random_rows(rng, count, low, high, zero_share) -> np.ndarray:
    ticks = rng.integers(low, high, count)
    lots = rng.integers(1, 10_000, count)
    lots[rng.random(count) < zero_share] = 0
    return np.column_stack([ticks / 10**PRICE_PRECISION, lots / 10**SIZE_PRECISION])


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_books_agree_on_huge_batches(seed):
    # Thousands of levels a side, then batches of thousands of rows of which
    # some would leave the book crossed and must roll back whole.
    rng = np.random.default_rng(seed)
    compiled = OrderBook("BTCUSDT", PRICE_PRECISION, SIZE_PRECISION)
    reference = ReferenceBook("BTCUSDT", PRICE_PRECISION, SIZE_PRECISION)
    bid_ticks = rng.permutation(np.arange(500_000, 504_000))
    ask_ticks = rng.permutation(np.arange(504_001, 508_000))
    snapshot = (
        np.column_stack([bid_ticks / 100, rng.integers(1, 10_000, bid_ticks.size) / 1000]),
        np.column_stack([ask_ticks / 100, rng.integers(1, 10_000, ask_ticks.size) / 1000]),
    )
    for book in (compiled, reference):
        book.apply_snapshot(*snapshot, sequence=1)
    assert_books_agree(compiled, reference)

    for _ in range(4):
        reach = int(rng.integers(0, 60))
        bids = random_rows(rng, 3_000, 500_000, 504_000 + reach, 0.4)
        asks = random_rows(rng, 3_000, 504_001 - reach, 508_000, 0.4)
        before = state(compiled)
        error = apply(compiled, ("deltas", bids.tolist(), asks.tolist(), 1))
        assert apply(reference, ("deltas", bids.tolist(), asks.tolist(), 1)) == error
        if error is not None:
            assert state(compiled) == before
        assert_books_agree(compiled, reference)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.3, 0.7, 0.95]))
def test_books_agree_when_deep_levels_churn(seed, removal_share):
    # Removing levels below the top leaves empty slots that later inserts
    # reuse and that compaction clears; heavy removal shares reach compaction.
    rng = np.random.default_rng(seed)
    compiled = OrderBook("BTCUSDT", PRICE_PRECISION, SIZE_PRECISION)
    reference = ReferenceBook("BTCUSDT", PRICE_PRECISION, SIZE_PRECISION)
    bid_ticks = np.arange(9_000, 9_600)
    ask_ticks = np.arange(9_601, 10_200)
    for book in (compiled, reference):
        book.apply_snapshot_raw(
            np.column_stack([bid_ticks, np.full(bid_ticks.size, 5)]),
            np.column_stack([ask_ticks, np.full(ask_ticks.size, 7)]),
            sequence=1,
        )
    for _ in range(8):
        rows = []
        for is_bid, ticks in ((True, bid_ticks), (False, ask_ticks)):
            chosen = rng.choice(ticks[:-3] if is_bid else ticks[3:], 150, replace=False)
            lots = rng.integers(1, 50, chosen.size)
            lots[rng.random(chosen.size) < removal_share] = 0
            rows.append(np.column_stack([chosen, lots]))
        for book in (compiled, reference):
            book.apply_deltas_raw(*rows)
        assert_books_agree(compiled, reference)
        depth = int(rng.integers(100, 700))
        compiled.truncate(depth)
        reference.truncate(depth)
        assert_books_agree(compiled, reference)
