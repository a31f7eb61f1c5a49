"""C-level interface of the L2 order book, for Cython feed handlers.

A feed handler that parses exchange messages in Cython can ``cimport``
:class:`OrderBook` and call the ``*_c`` methods below without going through
Python.  The ``*_raw_c`` methods take prices in ticks and sizes in lots
(``round(value * 10**precision)``), so a decoder that parses decimal strings
straight into integers never touches floats.
"""

cimport cython
cimport numpy as cnp
from libc.stdint cimport int64_t, uint32_t


cdef struct BookSide:
    # One side of the book as two parallel arrays sorted ascending by key,
    # so the best level is always in the last slot.  The key is the price in
    # ticks for bids and the negated price in ticks for asks, which lets both
    # sides share one search, insert and remove path.  A slot of size 0 is
    # empty: it keeps its key for the search but holds no level (see
    # book_side.pxi for when empty slots appear and go).
    int64_t* keys
    int64_t* sizes          # size in lots; 0 in an empty slot
    Py_ssize_t slots        # slots in use, empty ones included
    Py_ssize_t levels       # slots holding a level
    Py_ssize_t capacity


cdef struct LevelRow:
    # One (price, size) row of a batch; the layout of an int64 (n, 2) array row.
    int64_t price
    int64_t size


cdef struct UndoRecord:
    # What a batch changed, so a rejected batch can be rolled back.
    int64_t key
    int64_t size            # the size before the change; 0 if the level was absent
    bint is_bid


# Return ``levels`` as a C-contiguous (n, 2) float64 array (int64 if ``raw``),
# without a copy when it already is one; raise ValidationError naming ``name``.
cdef cnp.ndarray as_level_array(object levels, str name, bint raw)


@cython.final
cdef class OrderBook:
    cdef readonly str symbol
    """The instrument's symbol, as given to the constructor."""
    cdef readonly int price_precision
    """Decimals of the price tick: prices are stored as ``round(price * 10**price_precision)`` ticks."""
    cdef readonly int size_precision
    """Decimals of the size step: sizes are stored as ``round(size * 10**size_precision)`` lots."""
    cdef readonly int64_t sequence
    """Exchange update id of the last snapshot or batch applied (Binance ``lastUpdateId`` / ``u``); 0 before any."""
    cdef readonly int64_t ts_event
    """Exchange time of the last snapshot or batch applied, int64 ns since the epoch; 0 before any."""
    cdef readonly int64_t snapshots
    """Number of snapshots applied since construction."""
    cdef readonly int64_t absent_removals
    """Number of removals of levels that were not in the book (each ignored)."""

    cdef BookSide bids
    cdef BookSide asks
    cdef double price_scale         # 10**price_precision
    cdef double size_scale          # 10**size_precision
    cdef LevelRow* _scratch         # converted rows of the batch being applied
    cdef Py_ssize_t _scratch_capacity
    cdef UndoRecord* _undo          # changes of the batch being applied
    cdef Py_ssize_t _undo_capacity

    # Single level; size 0 removes.  Raises BookError, the book unchanged.
    cdef int apply_delta_c(self, bint is_bid, double price, double size) except -1
    cdef int apply_delta_raw_c(self, bint is_bid, int64_t price_ticks, int64_t size_lots) except -1

    # Atomic batches of (price, size) rows; ``sequence`` must not be below the
    # book's sequence (pass ``self.sequence`` to keep it).
    cdef int apply_deltas_c(
        self, const double* bids, Py_ssize_t n_bids, const double* asks, Py_ssize_t n_asks,
        int64_t sequence, int64_t ts_event,
    ) except -1
    cdef int apply_deltas_raw_c(
        self, const int64_t* bids, Py_ssize_t n_bids, const int64_t* asks, Py_ssize_t n_asks,
        int64_t sequence, int64_t ts_event,
    ) except -1

    # Replace the whole book; rows in any order.
    cdef int apply_snapshot_c(
        self, const double* bids, Py_ssize_t n_bids, const double* asks, Py_ssize_t n_asks,
        int64_t sequence, int64_t ts_event,
    ) except -1
    cdef int apply_snapshot_raw_c(
        self, const int64_t* bids, Py_ssize_t n_bids, const int64_t* asks, Py_ssize_t n_asks,
        int64_t sequence, int64_t ts_event,
    ) except -1

    cdef void truncate_c(self, Py_ssize_t depth) noexcept

    # Best prices in ticks and sizes in lots; 0 when the side is empty.
    cdef int64_t best_bid_raw_c(self) noexcept
    cdef int64_t best_ask_raw_c(self) noexcept
    cdef int64_t best_bid_size_raw_c(self) noexcept
    cdef int64_t best_ask_size_raw_c(self) noexcept

    cdef uint32_t checksum_kraken_c(self) noexcept
