"""Unit tests of BinanceSequencer: Binance's diff-depth rules on hand-made ids."""

import numpy as np
import pytest

from cryptobot.core.errors import BookError, SequenceGap
from cryptobot.hotpath.book import OrderBook
from cryptobot.hotpath.sequencer import BinanceSequencer, SyncStatus

APPLIED = SyncStatus.APPLIED
STALE = SyncStatus.STALE

NO_ROWS = np.empty((0, 2))


def synced_book(last_update_id=100):
    book = OrderBook("BTCUSDT", 2, 3)
    book.apply_snapshot([[100.0, 1.0]], [[101.0, 1.0]], sequence=last_update_id)
    return book


def bid(price, size=1.0):
    return np.array([[price, size]])


def test_sequencer_rejects_book_without_snapshot():
    sequencer = BinanceSequencer(OrderBook("BTCUSDT", 2, 3))
    with pytest.raises(BookError, match="the book has no snapshot yet"):
        sequencer.apply(1, 2, -1, NO_ROWS, NO_ROWS)


def test_sequencer_rejects_first_id_above_last_id():
    sequencer = BinanceSequencer(synced_book())
    with pytest.raises(BookError, match=r"'U' 105 is above 'u' 104"):
        sequencer.apply(105, 104, -1, NO_ROWS, NO_ROWS)


def test_sequencer_status_values():
    assert int(APPLIED) == 1
    assert int(STALE) == 2


def test_spot_drops_stale_events():
    book = synced_book(100)
    sequencer = BinanceSequencer(book)
    assert sequencer.apply(90, 99, -1, bid(99.0), NO_ROWS) == STALE
    assert sequencer.apply(95, 100, -1, bid(99.0), NO_ROWS) == STALE
    assert book.bid_count == 1
    assert sequencer.stale == 2
    assert sequencer.applied == 0


def test_spot_first_event_straddles_snapshot():
    book = synced_book(100)
    sequencer = BinanceSequencer(book)
    assert sequencer.apply(95, 105, -1, bid(99.0), NO_ROWS) == APPLIED
    assert book.sequence == 105
    assert book.bid_count == 2


def test_spot_first_event_may_start_right_after_snapshot():
    sequencer = BinanceSequencer(synced_book(100))
    assert sequencer.apply(101, 101, -1, NO_ROWS, NO_ROWS) == APPLIED


def test_spot_first_event_past_snapshot_is_gap():
    book = synced_book(100)
    sequencer = BinanceSequencer(book)
    with pytest.raises(SequenceGap, match=r"U=102 u=110 pu=-1 .* must have U <= 101 <= u") as caught:
        sequencer.apply(102, 110, -1, bid(99.0), NO_ROWS)
    assert caught.value.expected == 101
    assert caught.value.received == 102
    assert book.bid_count == 1
    assert book.sequence == 100
    assert sequencer.gaps == 1


def test_spot_next_event_must_follow_previous():
    book = synced_book(100)
    sequencer = BinanceSequencer(book)
    sequencer.apply(99, 105, -1, NO_ROWS, NO_ROWS)
    assert sequencer.apply(106, 108, -1, bid(99.0), NO_ROWS) == APPLIED
    assert sequencer.apply(109, 109, -1, NO_ROWS, NO_ROWS) == APPLIED
    assert book.sequence == 109
    assert sequencer.applied == 3


def test_spot_overlapping_next_event_is_gap():
    # After the first event only U == previous u + 1 continues the chain.
    book = synced_book(100)
    sequencer = BinanceSequencer(book)
    sequencer.apply(99, 105, -1, NO_ROWS, NO_ROWS)
    with pytest.raises(SequenceGap, match=r"the next event must have U == 106"):
        sequencer.apply(104, 109, -1, NO_ROWS, NO_ROWS)
    assert book.sequence == 105


def test_spot_skipped_event_is_gap_until_new_snapshot():
    book = synced_book(100)
    sequencer = BinanceSequencer(book)
    sequencer.apply(99, 105, -1, NO_ROWS, NO_ROWS)
    with pytest.raises(SequenceGap, match=r"the next event must have U == 106"):
        sequencer.apply(107, 108, -1, NO_ROWS, NO_ROWS)
    with pytest.raises(SequenceGap):
        sequencer.apply(109, 110, -1, NO_ROWS, NO_ROWS)
    assert sequencer.gaps == 2

    book.apply_snapshot([[100.0, 1.0]], [[101.0, 1.0]], sequence=109)
    assert sequencer.apply(109, 110, -1, bid(99.5), NO_ROWS) == APPLIED
    assert book.sequence == 110


def test_futures_first_event_straddles_snapshot():
    book = synced_book(100)
    sequencer = BinanceSequencer(book, futures=True)
    assert sequencer.apply(98, 103, 97, bid(99.0), NO_ROWS) == APPLIED
    assert book.sequence == 103


def test_futures_first_event_joins_by_prev_id():
    # Futures ids are not dense: the first event may start past 101 but chain by pu.
    sequencer = BinanceSequencer(synced_book(100), futures=True)
    assert sequencer.apply(104, 107, 100, NO_ROWS, NO_ROWS) == APPLIED


def test_futures_first_event_neither_rule_is_gap():
    sequencer = BinanceSequencer(synced_book(100), futures=True)
    with pytest.raises(SequenceGap, match=r"must have U <= 100 <= u or pu == 100"):
        sequencer.apply(101, 107, 99, NO_ROWS, NO_ROWS)


def test_futures_next_event_chains_by_prev_id():
    book = synced_book(100)
    sequencer = BinanceSequencer(book, futures=True)
    sequencer.apply(98, 103, 97, NO_ROWS, NO_ROWS)
    assert sequencer.apply(110, 120, 103, bid(99.0), NO_ROWS) == APPLIED
    with pytest.raises(SequenceGap, match=r"the next event must have pu == 120") as caught:
        sequencer.apply(125, 130, 121, NO_ROWS, NO_ROWS)
    assert caught.value.expected == 121
    assert book.sequence == 120


def test_sequencer_does_not_advance_when_book_rejects():
    book = synced_book(100)
    sequencer = BinanceSequencer(book)
    with pytest.raises(BookError, match="would be crossed"):
        sequencer.apply(101, 102, -1, bid(101.0), NO_ROWS)
    assert book.sequence == 100
    assert sequencer.applied == 0
    # The first-event rule still applies to the next try.
    assert sequencer.apply(99, 102, -1, bid(100.5), NO_ROWS) == APPLIED


def test_sequencer_apply_raw_takes_ticks():
    book = synced_book(100)
    sequencer = BinanceSequencer(book)
    assert sequencer.apply_raw(101, 101, -1, np.array([[10_050, 2_000]]), np.empty((0, 2), np.int64), 7) == APPLIED
    assert book.best_bid() == 100.5
    assert book.ts_event == 7
