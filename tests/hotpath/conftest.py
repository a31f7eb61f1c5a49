"""Fixtures of the order-book tests: both books behind one factory."""

from __future__ import annotations

import numpy as np
import pytest

from cryptobot.hotpath.book import OrderBook
from cryptobot.hotpath.reference_book import ReferenceBook


@pytest.fixture(params=[OrderBook, ReferenceBook], ids=["compiled", "reference"])
def book_class(request):
    """Each test using it runs on the compiled book and on the reference book."""
    return request.param


@pytest.fixture
def book(book_class):
    """A BTCUSDT-like book (ticks of 0.01, lots of 0.001) with three levels a side.

    bids 100.00 x 1.000, 99.50 x 2.000, 99.00 x 3.000
    asks 100.50 x 1.500, 101.00 x 2.500, 102.00 x 4.000
    """
    book = book_class("BTCUSDT", 2, 3)
    book.apply_snapshot(
        np.array([[99.0, 3.0], [100.0, 1.0], [99.5, 2.0]]),
        np.array([[102.0, 4.0], [100.5, 1.5], [101.0, 2.5]]),
        sequence=10,
        ts_event=1_000,
    )
    return book


def book_state(book) -> tuple:
    """Everything a rejected update must leave unchanged."""
    bids, asks = book.top_raw(1_000_000)
    return (
        bids.tolist(), asks.tolist(), book.sequence, book.ts_event, book.absent_removals, book.snapshots,
    )


@pytest.fixture
def state_of():
    """The function ``book_state``, for tests that compare a book before and after."""
    return book_state
