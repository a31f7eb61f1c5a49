"""Unit tests of the book's queries, with expectations computed by hand.

The ``book`` fixture (conftest.py) contains
bids 100.00 x 1.000, 99.50 x 2.000, 99.00 x 3.000 and
asks 100.50 x 1.500, 101.00 x 2.500, 102.00 x 4.000.
"""

import zlib

import numpy as np
import pytest

from cryptobot.core.errors import BookError, ValidationError


def test_queries_on_empty_book_return_none(book_class):
    book = book_class("BTCUSDT", 2, 3)
    assert book.best_bid() is None
    assert book.best_ask() is None
    assert book.best_bid_size() is None
    assert book.best_ask_size() is None
    assert book.spread() is None
    assert book.mid() is None
    assert book.imbalance(5) is None
    assert book.depth_within(True, 100.0) == 0.0
    assert book.cost_to_take("buy", 1.0) == (None, 0.0, 0.0)
    assert book.top(5)[0].shape == (0, 2)
    assert book.bid_count == 0


def test_spread_and_mid_need_both_sides(book):
    book.apply_deltas([], [[100.5, 0.0], [101.0, 0.0], [102.0, 0.0]])
    assert book.best_bid() == 100.0
    assert book.spread() is None
    assert book.mid() is None


def test_best_levels(book):
    assert book.best_bid() == 100.0
    assert book.best_bid_size() == 1.0
    assert book.best_ask() == 100.5
    assert book.best_ask_size() == 1.5
    assert book.bid_count == 3
    assert book.ask_count == 3


def test_spread_and_mid(book):
    assert book.spread() == 0.5
    assert book.mid() == 100.25


def test_top_returns_best_first(book):
    bids, asks = book.top(2)
    np.testing.assert_array_equal(bids, [[100.0, 1.0], [99.5, 2.0]])
    np.testing.assert_array_equal(asks, [[100.5, 1.5], [101.0, 2.5]])
    assert bids.dtype == np.float64


def test_top_clamps_to_level_count(book):
    bids, asks = book.top(10)
    assert bids.shape == (3, 2)
    assert asks.shape == (3, 2)
    assert book.top(0)[0].shape == (0, 2)


def test_top_rejects_negative_depth(book):
    with pytest.raises(ValidationError, match=r"'depth' must be >= 0, was -2"):
        book.top(-2)


def test_top_into_fills_caller_arrays(book):
    out_bids = np.full((5, 2), -1.0)
    out_asks = np.full((2, 2), -1.0)
    assert book.top_into(out_bids, out_asks) == (3, 2)
    np.testing.assert_array_equal(out_bids, [[100.0, 1.0], [99.5, 2.0], [99.0, 3.0], [-1.0, -1.0], [-1.0, -1.0]])
    np.testing.assert_array_equal(out_asks, [[100.5, 1.5], [101.0, 2.5]])


@pytest.mark.parametrize(
    ("out", "shown"),
    [
        (np.zeros((3, 2), dtype=np.float32), r"float32 array of shape \(3, 2\)"),
        (np.zeros((3, 3)), r"float64 array of shape \(3, 3\)"),
        (np.zeros((2, 3))[:, :2], r"float64 array of shape \(2, 2\)"),
        ([[0.0, 0.0]], "list"),
    ],
)
def test_top_into_rejects_unsuitable_array(book, out, shown):
    with pytest.raises(ValidationError, match=rf"'out_asks' must be a writable C-contiguous float64 array of shape \(n, 2\), was {shown}"):
        book.top_into(np.zeros((3, 2)), out)


def test_top_into_rejects_read_only_array(book):
    out = np.zeros((3, 2))
    out.flags.writeable = False
    with pytest.raises(ValidationError, match="'out_bids' must be a writable"):
        book.top_into(out, np.zeros((3, 2)))


def test_depth_within_band(book):
    # 60 bp of 100.00 is 0.60: bids down to 99.40 -> 1.0 + 2.0.
    assert book.depth_within(True, 60.0) == 3.0
    # 100 bp of 100.50 is 1.005: asks up to 101.505 -> 1.5 + 2.5.
    assert book.depth_within(False, 100.0) == 4.0
    # 150 bp of 100.50 is 1.5075: 102.00 is 1.50 away, inside.
    assert book.depth_within(False, 150.0) == 8.0
    assert book.depth_within(True, 0.0) == 1.0


def test_depth_within_band_edge_included(book):
    # 50 bp of 100.00 is exactly 0.50, the distance of 99.50.
    assert book.depth_within(True, 50.0) == 3.0


@pytest.mark.parametrize("bps", [-1.0, float("nan"), float("inf")])
def test_depth_within_rejects_invalid_band(book, bps):
    with pytest.raises(ValidationError, match=r"'bps' must be a finite number >= 0, was"):
        book.depth_within(True, bps)


def test_cost_to_take_buy_walks_asks(book):
    # 1.5 @ 100.50 + 2.0 @ 101.00 = 150.75 + 202.00 = 352.75 for 3.5.
    average, cost, filled = book.cost_to_take("buy", 3.5)
    assert cost == pytest.approx(352.75, rel=1e-15)
    assert filled == 3.5
    assert average == pytest.approx(352.75 / 3.5, rel=1e-15)


def test_cost_to_take_sell_walks_bids(book):
    # 1.0 @ 100.00 + 0.5 @ 99.50 = 149.75 for 1.5.
    assert book.cost_to_take("sell", 1.5) == pytest.approx((149.75 / 1.5, 149.75, 1.5), rel=1e-15)


def test_cost_to_take_partial_when_side_short(book):
    # All asks: 150.75 + 252.50 + 408.00 = 811.25 for 8.0.
    average, cost, filled = book.cost_to_take("buy", 100.0)
    assert filled == 8.0
    assert cost == pytest.approx(811.25, rel=1e-15)
    assert average == pytest.approx(811.25 / 8.0, rel=1e-15)


def test_cost_to_take_zero_size(book):
    assert book.cost_to_take("sell", 0.0) == (None, 0.0, 0.0)


def test_cost_to_take_rejects_unknown_side(book):
    with pytest.raises(ValidationError, match=r"'side' must be 'buy' or 'sell', was 'bid'"):
        book.cost_to_take("bid", 1.0)


def test_cost_to_take_rejects_off_grid_size(book):
    with pytest.raises(BookError, match=r"'size' must be a multiple of the lot 0.001 \(size_precision 3\), was 0.0005"):
        book.cost_to_take("buy", 0.0005)


def test_imbalance_over_top_levels(book):
    # Top 2: bids 1.0 + 2.0 = 3.0, asks 1.5 + 2.5 = 4.0 -> (3 - 4) / 7.
    assert book.imbalance(2) == (3.0 - 4.0) / 7.0
    # All: bids 6.0, asks 8.0 -> -2 / 14.
    assert book.imbalance(10) == (6.0 - 8.0) / 14.0


def test_imbalance_one_side_empty(book):
    book.apply_deltas([], [[100.5, 0.0], [101.0, 0.0], [102.0, 0.0]])
    assert book.imbalance(3) == 1.0


def test_imbalance_rejects_zero_levels(book):
    with pytest.raises(ValidationError, match=r"'levels' must be >= 1, was 0"):
        book.imbalance(0)


def test_checksum_kraken_of_small_book(book_class):
    # Kraken v1 style: prices with 5 decimals, volumes with 8.
    book = book_class("XBT/CHF", 5, 8)
    book.apply_snapshot(
        [[51990.0, 0.5], [51980.12345, 0.00100000]],
        [[52000.0, 1.25], [52010.5, 0.02]],
        sequence=0,
    )
    # asks ascending then bids descending; price then volume, no '.', no leading zeros.
    text = "5200000000" "125000000" "5201050000" "2000000" "5199000000" "50000000" "5198012345" "100000"
    assert book.checksum_kraken() == zlib.crc32(text.encode())


def test_checksum_kraken_covers_ten_levels(book_class):
    book = book_class("SC/EUR", 6, 8)
    book.apply_snapshot_raw(
        [[40_000 - i, 100 + i] for i in range(15)], [[40_001 + i, 200 + i] for i in range(15)], sequence=0
    )
    asks = "".join(f"{40_001 + i}{200 + i}" for i in range(10))
    bids = "".join(f"{40_000 - i}{100 + i}" for i in range(10))
    assert book.checksum_kraken() == zlib.crc32((asks + bids).encode())


def test_checksum_kraken_of_empty_book(book_class):
    assert book_class("SC/EUR", 6, 8).checksum_kraken() == 0


def test_check_integrity_detects_crossed_reference_book():
    from cryptobot.hotpath.reference_book import ReferenceBook

    book = ReferenceBook("BTCUSDT", 2, 3)
    book.apply_snapshot([[100.0, 1.0]], [[101.0, 1.0]], sequence=1)
    book._asks[9_000] = 5
    with pytest.raises(BookError, match="Book BTCUSDT is crossed"):
        book.check_integrity()
