"""C-level interface of the Binance diff-depth sequencer."""

from libc.stdint cimport int64_t

from cryptobot.hotpath.book cimport OrderBook


cpdef enum SyncStatus:
    APPLIED = 1     # the event was applied to the book
    STALE = 2       # the event was older than the book and was dropped


cdef class BinanceSequencer:
    cdef readonly OrderBook book
    """The book the events are applied to."""
    cdef readonly bint futures
    """True for USD-M and COIN-M futures streams (chained by ``pu``), False for spot."""
    cdef readonly int64_t applied
    """Events applied."""
    cdef readonly int64_t stale
    """Events dropped as older than the book."""
    cdef readonly int64_t gaps
    """Events rejected with SequenceGap."""
    cdef int64_t _joined_snapshot     # book.snapshots when the first event after it was applied

    # Return APPLIED (the event fits the book) or STALE; raise SequenceGap.
    # Changes nothing.
    cdef int check_c(self, int64_t first_id, int64_t last_id, int64_t prev_id) except -1
    cdef int apply_c(
        self, int64_t first_id, int64_t last_id, int64_t prev_id,
        const double* bids, Py_ssize_t n_bids, const double* asks, Py_ssize_t n_asks, int64_t ts_event,
    ) except -1
    cdef int apply_raw_c(
        self, int64_t first_id, int64_t last_id, int64_t prev_id,
        const int64_t* bids, Py_ssize_t n_bids, const int64_t* asks, Py_ssize_t n_asks, int64_t ts_event,
    ) except -1
    cdef int _raise_gap(self, int64_t first_id, int64_t last_id, int64_t prev_id, bint first_after_snapshot) except -1
