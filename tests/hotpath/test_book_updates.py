"""Unit tests of the book's updates: deltas, batches, snapshots, truncation.

Each runs on the compiled book and the reference book (fixture ``book``, see
conftest.py for its starting levels).
"""

import math

import numpy as np
import pytest

from cryptobot.core.errors import BookError, ValidationError
from cryptobot.hotpath.book import OrderBook


def test_book_constructor_rejects_empty_symbol(book_class):
    with pytest.raises(ValidationError, match="'symbol' must be a non-empty string"):
        book_class("", 2, 3)


@pytest.mark.parametrize("precision", [-1, 19])
def test_book_constructor_rejects_precision_out_of_range(book_class, precision):
    with pytest.raises(ValidationError, match=rf"'price_precision' out of range \[0, 18\], was {precision}"):
        book_class("BTCUSDT", precision, 3)
    with pytest.raises(ValidationError, match=rf"'size_precision' out of range \[0, 18\], was {precision}"):
        book_class("BTCUSDT", 2, precision)


def test_book_attributes_readonly():
    book = OrderBook("BTCUSDT", 2, 3)
    for name in ("symbol", "price_precision", "size_precision", "sequence", "ts_event", "snapshots"):
        with pytest.raises(AttributeError):
            setattr(book, name, 1)


def test_delta_inserts_new_best_levels(book):
    book.apply_delta(True, 100.25, 0.5)
    book.apply_delta(False, 100.3, 0.7)
    assert book.best_bid() == 100.25
    assert book.best_bid_size() == 0.5
    assert book.best_ask() == 100.3
    assert book.best_ask_size() == 0.7
    assert book.bid_count == 4
    assert book.ask_count == 4
    book.check_integrity()


def test_delta_inserts_deep_level_in_order(book):
    book.apply_delta(True, 99.25, 7.0)
    book.apply_delta(False, 101.75, 8.0)
    bids, asks = book.top_raw(10)
    assert bids.tolist() == [[10000, 1000], [9950, 2000], [9925, 7000], [9900, 3000]]
    assert asks.tolist() == [[10050, 1500], [10100, 2500], [10175, 8000], [10200, 4000]]
    book.check_integrity()


def test_delta_replaces_size_of_existing_level(book):
    book.apply_delta(False, 101.0, 0.25)
    assert book.top_raw(3)[1].tolist() == [[10050, 1500], [10100, 250], [10200, 4000]]
    assert book.ask_count == 3


def test_delta_size_zero_removes_level(book):
    book.apply_delta(True, 100.0, 0.0)
    assert book.best_bid() == 99.5
    assert book.bid_count == 2
    assert book.absent_removals == 0
    book.check_integrity()


def test_delta_removing_absent_level_counts_and_changes_nothing(book, state_of):
    before = state_of(book)
    book.apply_delta(True, 98.0, 0.0)
    book.apply_delta(False, 100.0, 0.0)
    after = state_of(book)
    assert after[:4] == before[:4]
    assert book.absent_removals == 2


def test_delta_rounds_float_noise_onto_grid(book):
    # 0.1 + 0.2 is 0.30000000000000004: on the grid within float noise.
    book.apply_delta(True, 99.7, 0.1 + 0.2)
    assert book.top_raw(2)[0].tolist() == [[10000, 1000], [9970, 300]]


@pytest.mark.parametrize(
    ("price", "size", "message"),
    [
        (math.nan, 1.0, r"'price' must be a finite number > 0, was nan"),
        (math.inf, 1.0, r"'price' must be a finite number > 0, was inf"),
        (-99.0, 1.0, r"'price' must be a finite number > 0, was -99.0"),
        (0.0, 1.0, r"'price' must be a finite number > 0, was 0.0"),
        (99.0, math.nan, r"'size' must be a finite number >= 0, was nan"),
        (99.0, -math.inf, r"'size' must be a finite number >= 0, was -inf"),
        (99.0, -1.0, r"'size' must be a finite number >= 0, was -1.0"),
        (99.005, 1.0, r"'price' must be a multiple of the tick 0.01 \(price_precision 2\), was 99.005"),
        (99.0, 1.0001, r"'size' must be a multiple of the lot 0.001 \(size_precision 3\), was 1.0001"),
        (1e300, 1.0, r"'price' out of range \[0, 90071992547409.92\] for a float at price_precision 2, was 1e\+300"),
    ],
)
def test_delta_rejects_invalid_value(book, state_of, price, size, message):
    before = state_of(book)
    with pytest.raises(BookError, match=message):
        book.apply_delta(True, price, size)
    assert state_of(book) == before


@pytest.mark.parametrize(
    ("is_bid", "price", "message"),
    [
        (True, 100.5, r"Cannot apply bid at 100.5: it would cross the best ask 100.5 of BTCUSDT"),
        (True, 103.0, r"Cannot apply bid at 103.0: it would cross the best ask 100.5 of BTCUSDT"),
        (False, 100.0, r"Cannot apply ask at 100.0: it would cross the best bid 100.0 of BTCUSDT"),
        (False, 98.0, r"Cannot apply ask at 98.0: it would cross the best bid 100.0 of BTCUSDT"),
    ],
)
def test_delta_rejects_crossing_level(book, state_of, is_bid, price, message):
    before = state_of(book)
    with pytest.raises(BookError, match=message):
        book.apply_delta(is_bid, price, 1.0)
    assert state_of(book) == before


def test_delta_raw_uses_ticks_and_lots(book):
    book.apply_delta_raw(True, 10010, 1234)
    assert book.best_bid() == 100.1
    assert book.best_bid_size() == 1.234


@pytest.mark.parametrize(
    ("price", "size", "message"),
    [(0, 1, r"'price' must be > 0 ticks, was 0"), (10, -1, r"'size' must be >= 0 lots, was -1")],
)
def test_delta_raw_rejects_invalid_value(book, state_of, price, size, message):
    before = state_of(book)
    with pytest.raises(BookError, match=message):
        book.apply_delta_raw(False, price, size)
    assert state_of(book) == before


def test_delta_thousands_of_levels_stay_sorted(book_class):
    book = book_class("ETHUSDT", 2, 3)
    rng = np.random.default_rng(7)
    bid_ticks = rng.permutation(np.arange(100_000, 105_000))
    ask_ticks = rng.permutation(np.arange(105_001, 110_001))
    for bid, ask in zip(bid_ticks.tolist(), ask_ticks.tolist()):
        book.apply_delta_raw(True, bid, 1)
        book.apply_delta_raw(False, ask, 2)
    book.check_integrity()
    assert book.bid_count == 5_000
    assert book.ask_count == 5_000
    assert book.best_bid() == 1049.99
    assert book.best_ask() == 1050.01
    bids, asks = book.top_raw(5_000)
    assert bids[:, 0].tolist() == list(range(104_999, 99_999, -1))
    assert asks[:, 0].tolist() == list(range(105_001, 110_001))


def test_deltas_apply_rows_in_order(book):
    book.apply_deltas(
        np.array([[100.25, 1.0], [100.25, 3.0], [99.0, 0.0]]),
        np.array([[100.75, 1.0]]),
        sequence=11,
        ts_event=2_000,
    )
    bids, asks = book.top_raw(5)
    assert bids.tolist() == [[10025, 3000], [10000, 1000], [9950, 2000]]
    assert asks.tolist() == [[10050, 1500], [10075, 1000], [10100, 2500], [10200, 4000]]
    assert book.sequence == 11
    assert book.ts_event == 2_000


def test_deltas_may_cross_midway(book):
    # The bid at 100.5 crosses until the ask at 100.5 is removed later in the batch.
    book.apply_deltas(np.array([[100.5, 1.0]]), np.array([[100.5, 0.0]]), sequence=11)
    assert book.best_bid() == 100.5
    assert book.best_ask() == 101.0
    book.check_integrity()


def test_deltas_crossing_at_end_rolls_back(book, state_of):
    before = state_of(book)
    with pytest.raises(BookError, match=r"the book would be crossed \(best bid 101.0 >= best ask 101.0\)"):
        book.apply_deltas(
            np.array([[100.0, 0.0], [101.0, 1.0], [97.0, 0.0]]),
            np.array([[100.5, 0.0], [101.0, 9.0], [103.0, 0.0]]),
            sequence=11,
            ts_event=2_000,
        )
    assert state_of(book) == before
    book.check_integrity()


def test_deltas_invalid_row_rejected_naming_it(book, state_of):
    before = state_of(book)
    with pytest.raises(BookError, match=r"'asks' row 2: 'size' must be a finite number >= 0, was nan"):
        book.apply_deltas(np.array([[99.75, 1.0]]), np.array([[101.5, 1.0], [101.0, 0.0], [103.0, math.nan]]))
    assert state_of(book) == before


def test_deltas_older_sequence_rejected(book, state_of):
    before = state_of(book)
    with pytest.raises(BookError, match=r"'sequence' 9 is older than the book's 10"):
        book.apply_deltas(np.array([[99.75, 1.0]]), np.empty((0, 2)), sequence=9)
    assert state_of(book) == before


def test_deltas_without_sequence_keep_it(book):
    book.apply_deltas([[99.75, 1.0]], [])
    assert book.sequence == 10
    assert book.ts_event == 1_000
    assert book.bid_count == 4


def test_deltas_accept_non_contiguous_arrays(book):
    wide = np.array([[99.75, 0.0, 1.0], [99.25, 0.0, 2.0]])
    book.apply_deltas(wide[:, ::2], np.asfortranarray(np.array([[101.5, 1.0], [102.5, 2.0]])))
    assert book.top_raw(10)[0][:, 0].tolist() == [10000, 9975, 9950, 9925, 9900]
    assert book.top_raw(10)[1][:, 0].tolist() == [10050, 10100, 10150, 10200, 10250]


@pytest.mark.parametrize(
    ("bids", "exception", "message"),
    [
        (np.array([99.75, 1.0]), ValidationError, r"'bids' must be an \(n, 2\) array of \(price, size\) rows, was shape \(2,\)"),
        (np.array([["99.75", "1"]]), ValidationError, r"'bids' must hold numbers, was dtype <U5"),
        (None, ValidationError, r"'bids' must be an \(n, 2\) array of \(price, size\) rows, was None"),
    ],
)
def test_deltas_reject_malformed_array(book, bids, exception, message):
    with pytest.raises(exception, match=message):
        book.apply_deltas(bids, [])


def test_deltas_raw_apply_int_rows(book):
    book.apply_deltas_raw(
        np.array([[10010, 500]], dtype=np.int64), np.array([[10050, 0], [10060, 700]], dtype=np.int64), sequence=12
    )
    assert book.best_bid() == 100.1
    assert book.best_ask() == 100.6
    assert book.sequence == 12


def test_deltas_raw_reject_float_rows(book):
    with pytest.raises(ValidationError, match=r"'asks' must hold integer ticks and lots for a \*_raw method, was dtype float64"):
        book.apply_deltas_raw([], np.array([[100.6, 1.0]]))


def test_deltas_raw_reject_invalid_row(book, state_of):
    before = state_of(book)
    with pytest.raises(BookError, match=r"'bids' row 1: 'price' must be > 0 ticks, was -5"):
        book.apply_deltas_raw(np.array([[9990, 1], [-5, 1]]), [])
    assert state_of(book) == before


def test_snapshot_sorts_and_replaces_book(book):
    book.apply_snapshot(
        np.array([[50.0, 1.0], [52.0, 2.0], [51.0, 0.0], [49.5, 4.0]]),
        np.array([[55.0, 5.0], [53.0, 3.0]]),
        sequence=20,
        ts_event=3_000,
    )
    bids, asks = book.top_raw(10)
    assert bids.tolist() == [[5200, 2000], [5000, 1000], [4950, 4000]]
    assert asks.tolist() == [[5300, 3000], [5500, 5000]]
    assert book.sequence == 20
    assert book.ts_event == 3_000
    assert book.snapshots == 2
    book.check_integrity()


def test_snapshot_same_sequence_accepted(book):
    book.apply_snapshot([[1.0, 1.0]], [[2.0, 1.0]], sequence=10)
    assert book.best_bid() == 1.0


@pytest.mark.parametrize(
    ("bids", "asks", "sequence", "message"),
    [
        ([[50.0, 1.0]], [[55.0, 1.0]], 9, r"Cannot apply snapshot to BTCUSDT: 'sequence' 9 is older than the book's 10"),
        ([[50.0, 1.0], [50.0, 2.0]], [], 11, r"Cannot apply snapshot: 'bids' lists the price 50.0 twice"),
        ([[50.0, 1.0]], [[49.0, 1.0]], 11, r"it is crossed \(best bid 50.0 >= best ask 49.0\)"),
        ([[50.0, 1.0]], [[55.0, 1.0], [56.0, -1.0]], 11, r"'asks' row 1: 'size' must be a finite number >= 0, was -1.0"),
    ],
)
def test_snapshot_rejects_invalid(book, state_of, bids, asks, sequence, message):
    before = state_of(book)
    with pytest.raises(BookError, match=message):
        book.apply_snapshot(bids, asks, sequence)
    assert state_of(book) == before


def test_snapshot_raw_uses_ticks_and_lots(book_class):
    book = book_class("BTCUSDT", 2, 3)
    book.apply_snapshot_raw(np.array([[9_900, 1], [9_950, 2]]), np.array([[10_000, 3]]), sequence=1)
    assert book.top_raw(5)[0].tolist() == [[9_950, 2], [9_900, 1]]
    assert book.best_ask() == 100.0


def test_truncate_keeps_best_levels(book):
    book.truncate(2)
    bids, asks = book.top_raw(10)
    assert bids.tolist() == [[10000, 1000], [9950, 2000]]
    assert asks.tolist() == [[10050, 1500], [10100, 2500]]
    book.truncate(5)
    assert book.bid_count == 2
    book.truncate(0)
    assert book.bid_count == 0
    assert book.ask_count == 0
    book.check_integrity()


def test_truncate_rejects_negative_depth(book):
    with pytest.raises(ValidationError, match=r"'depth' must be >= 0, was -1"):
        book.truncate(-1)
