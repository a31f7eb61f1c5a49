"""L2 price-level order book of one instrument, in fixed point.

Prices are stored as int64 ticks and sizes as int64 lots, each side in a
sorted C array with the best level at the end.  A search gallops down from
the top, so updates near the top of the book touch only the last few entries
however deep the book is.  A removal below the top leaves an empty slot
instead of shifting the levels above it, and an insert shifts levels only as
far as a nearby empty slot (book_side.pxi has the rules).  No Python object
exists per level, and an update allocates nothing unless a side outgrows its
array.

Empty sides: the Python queries return ``None`` where the answer needs a level
that is missing (``best_bid()`` of an empty book, ``mid()`` without both sides)
and ``0.0`` for sums (``depth_within``).  The C-level ``*_raw_c`` queries
return 0, which no valid price or size in the book can be.
"""

cimport cython
cimport numpy as cnp
from libc.math cimport fabs, isfinite
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, qsort, realloc
from libc.string cimport memcpy, memmove

import numpy as np

from cryptobot.core.errors import BookError, ValidationError
from cryptobot.core.types import BUY, SELL

from cryptobot.hotpath.crc32 cimport crc32_update

cnp.import_array()

include "book_side.pxi"
include "book_units.pxi"
include "book_queries.pxi"
include "book_batch.pxi"

cdef enum:
    MAX_PRECISION = 18


cdef class OrderBook:
    """L2 order book of one instrument: price levels with their total size.

    Parameters
    ----------
    symbol
        The instrument, for messages and monitoring.
    price_precision
        Decimals of the price tick, in [0, 18] (Binance tickSize 0.01 -> 2).
    size_precision
        Decimals of the size step, in [0, 18] (stepSize 0.00001 -> 5; Kraken
        v1 volumes -> 8).

    Raises
    ------
    ValidationError
        If ``symbol`` is empty or a precision is out of range.

    Notes
    -----
    Every update method either applies completely or raises
    :class:`~cryptobot.core.errors.BookError` and leaves the book unchanged.
    A book is crossed when its best bid is at or above its best ask; no update
    may leave it so.

    Warnings
    --------
    Not thread-safe: one actor owns a book.
    """

    def __cinit__(self, str symbol not None, int price_precision, int size_precision):
        if not symbol:
            raise ValidationError("'symbol' must be a non-empty string, was ''", {"symbol": symbol})
        for name, value in (("price_precision", price_precision), ("size_precision", size_precision)):
            if not 0 <= value <= MAX_PRECISION:
                raise ValidationError(f"'{name}' out of range [0, {MAX_PRECISION}], was {value}", {name: value})
        self.symbol = symbol
        self.price_precision = price_precision
        self.size_precision = size_precision
        self.price_scale = 10.0 ** price_precision
        self.size_scale = 10.0 ** size_precision

    def __dealloc__(self):
        _side_free(&self.bids)
        _side_free(&self.asks)
        free(self._scratch)
        free(self._undo)

    def __repr__(self):
        return (
            f"OrderBook({self.symbol!r}, bids={self.bids.levels}, asks={self.asks.levels}, "
            f"best_bid={self.best_bid()!r}, best_ask={self.best_ask()!r}, sequence={self.sequence})"
        )

    # ------------------------------------------------------------------
    # Single-level updates

    def apply_delta(self, bint is_bid, double price, double size):
        """Set the size of one price level; size 0 removes the level.

        Parameters
        ----------
        is_bid
            True for the bid side, False for the ask side.
        price
            Price on the tick grid, > 0.
        size
            New total size of the level, on the lot grid, >= 0.

        Raises
        ------
        BookError
            If ``price`` or ``size`` is NaN, infinite, negative (a zero price
            too) or off its grid, or if a new level would cross the book.

        Notes
        -----
        Removing a level that is not in the book changes nothing and counts in
        ``absent_removals``.  One exchange event that moves the top of the book
        can cross it midway when applied level by level; apply such an event
        with :meth:`apply_deltas`, or apply its removals first.

        Runtime complexity: O(log d) to find the level d places from the top;
        an insert then shifts at most d levels (fewer when an empty slot is
        near), and a removal is O(1) amortized.
        """
        self.apply_delta_c(is_bid, price, size)

    def apply_delta_raw(self, bint is_bid, int64_t price_ticks, int64_t size_lots):
        """Set the size of one price level given in ticks and lots; see :meth:`apply_delta`.

        Raises
        ------
        BookError
            If ``price_ticks`` <= 0, ``size_lots`` < 0, or a new level would
            cross the book.

        Notes
        -----
        Runtime complexity: as :meth:`apply_delta`.
        """
        self.apply_delta_raw_c(is_bid, price_ticks, size_lots)

    cdef int apply_delta_c(self, bint is_bid, double price, double size) except -1:
        cdef int64_t price_ticks = 0, size_lots = 0
        cdef int code

        if not (_to_units_fast(price, self.price_scale, &price_ticks) and price_ticks > 0):
            code = _to_units(price, self.price_scale, True, &price_ticks)
            return _raise_conversion(code, True, price, self.price_precision, "")
        if not _to_units_fast(size, self.size_scale, &size_lots):
            code = _to_units(size, self.size_scale, False, &size_lots)
            return _raise_conversion(code, False, size, self.size_precision, "")
        return self.apply_delta_raw_c(is_bid, price_ticks, size_lots)

    cdef int apply_delta_raw_c(self, bint is_bid, int64_t price_ticks, int64_t size_lots) except -1:
        cdef BookSide* side
        cdef Py_ssize_t hint

        if price_ticks <= 0 or size_lots < 0:
            return _check_raw_row(price_ticks, size_lots, "")
        if is_bid:
            side = &self.bids
            if size_lots != 0 and self.asks.slots != 0 and price_ticks >= -self.asks.keys[self.asks.slots - 1]:
                return _raise_cross(self, True, price_ticks)
        else:
            side = &self.asks
            if size_lots != 0 and self.bids.slots != 0 and price_ticks <= self.bids.keys[self.bids.slots - 1]:
                return _raise_cross(self, False, price_ticks)
            price_ticks = -price_ticks
        if side.slots == side.capacity:
            _side_reserve(side, side.slots + 1)
        hint = side.slots
        if _side_set(side, price_ticks, size_lots, &hint) == 0 and size_lots == 0:
            self.absent_removals += 1
        return 0

    # ------------------------------------------------------------------
    # Batches

    def apply_deltas(self, bids, asks, sequence=None, ts_event=None):
        """Apply the level changes of one exchange event, all or nothing.

        Parameters
        ----------
        bids, asks
            float64 arrays of shape (n, 2) holding (price, size) rows, applied
            in order; size 0 removes the level.  Other array-likes are converted.
        sequence
            The event's update id (Binance ``u``), stored as :attr:`sequence`;
            None keeps the current one.
        ts_event
            The event's exchange time in ns, stored as :attr:`ts_event`; None
            keeps the current one.

        Raises
        ------
        BookError
            If a row is invalid (as in :meth:`apply_delta`, the message names
            the row), ``sequence`` is below the book's, or the book would be
            crossed after the whole batch.  Nothing is applied then.
        ValidationError
            If an array does not have shape (n, 2) or does not hold numbers.

        Notes
        -----
        The book is checked for crossing once, after all rows, since an event
        may cross it midway.  Runtime complexity: k times that of
        :meth:`apply_delta` for k rows.
        """
        cdef cnp.ndarray bid_rows = as_level_array(bids, "bids", False)
        cdef cnp.ndarray ask_rows = as_level_array(asks, "asks", False)

        self.apply_deltas_c(
            <const double*> cnp.PyArray_DATA(bid_rows), cnp.PyArray_DIMS(bid_rows)[0],
            <const double*> cnp.PyArray_DATA(ask_rows), cnp.PyArray_DIMS(ask_rows)[0],
            self.sequence if sequence is None else sequence,
            self.ts_event if ts_event is None else ts_event,
        )

    def apply_deltas_raw(self, bids, asks, sequence=None, ts_event=None):
        """Apply (price_ticks, size_lots) int64 rows atomically; see :meth:`apply_deltas`.

        Notes
        -----
        Runtime complexity: as :meth:`apply_deltas`.
        """
        cdef cnp.ndarray bid_rows = as_level_array(bids, "bids", True)
        cdef cnp.ndarray ask_rows = as_level_array(asks, "asks", True)

        self.apply_deltas_raw_c(
            <const int64_t*> cnp.PyArray_DATA(bid_rows), cnp.PyArray_DIMS(bid_rows)[0],
            <const int64_t*> cnp.PyArray_DATA(ask_rows), cnp.PyArray_DIMS(ask_rows)[0],
            self.sequence if sequence is None else sequence,
            self.ts_event if ts_event is None else ts_event,
        )

    cdef int apply_deltas_c(
        self, const double* bids, Py_ssize_t n_bids, const double* asks, Py_ssize_t n_asks,
        int64_t sequence, int64_t ts_event,
    ) except -1:
        _reserve_scratch(self, n_bids + n_asks)
        _convert_rows(self, bids, n_bids, self._scratch, "bids")
        _convert_rows(self, asks, n_asks, self._scratch + n_bids, "asks")
        return _apply_batch(self, self._scratch, n_bids, self._scratch + n_bids, n_asks, sequence, ts_event)

    cdef int apply_deltas_raw_c(
        self, const int64_t* bids, Py_ssize_t n_bids, const int64_t* asks, Py_ssize_t n_asks,
        int64_t sequence, int64_t ts_event,
    ) except -1:
        cdef Py_ssize_t i

        for i in range(n_bids):
            if bids[2 * i] <= 0 or bids[2 * i + 1] < 0:
                _check_raw_row(bids[2 * i], bids[2 * i + 1], f"'bids' row {i}: ")
        for i in range(n_asks):
            if asks[2 * i] <= 0 or asks[2 * i + 1] < 0:
                _check_raw_row(asks[2 * i], asks[2 * i + 1], f"'asks' row {i}: ")
        return _apply_batch(self, <const LevelRow*> bids, n_bids, <const LevelRow*> asks, n_asks, sequence, ts_event)

    # ------------------------------------------------------------------
    # Snapshots

    def apply_snapshot(self, bids, asks, int64_t sequence, int64_t ts_event=0):
        """Replace the whole book with a snapshot.

        Parameters
        ----------
        bids, asks
            float64 arrays of shape (n, 2) holding (price, size) rows in any
            order; rows of size 0 describe no level and are skipped.
        sequence
            The snapshot's update id (Binance ``lastUpdateId``; 0 where the
            exchange has none).
        ts_event
            The snapshot's exchange time in ns.

        Raises
        ------
        BookError
            If a row is invalid, a side lists a price twice, the snapshot is
            crossed, or ``sequence`` is older than the book's.  The book is
            unchanged then.
        ValidationError
            If an array does not have shape (n, 2) or does not hold numbers.

        Notes
        -----
        Runtime complexity: O(n log n) for n rows.
        """
        cdef cnp.ndarray bid_rows = as_level_array(bids, "bids", False)
        cdef cnp.ndarray ask_rows = as_level_array(asks, "asks", False)

        self.apply_snapshot_c(
            <const double*> cnp.PyArray_DATA(bid_rows), cnp.PyArray_DIMS(bid_rows)[0],
            <const double*> cnp.PyArray_DATA(ask_rows), cnp.PyArray_DIMS(ask_rows)[0],
            sequence, ts_event,
        )

    def apply_snapshot_raw(self, bids, asks, int64_t sequence, int64_t ts_event=0):
        """Replace the book with (price_ticks, size_lots) int64 rows; see :meth:`apply_snapshot`.

        Notes
        -----
        Runtime complexity: O(n log n) for n rows.
        """
        cdef cnp.ndarray bid_rows = as_level_array(bids, "bids", True)
        cdef cnp.ndarray ask_rows = as_level_array(asks, "asks", True)

        self.apply_snapshot_raw_c(
            <const int64_t*> cnp.PyArray_DATA(bid_rows), cnp.PyArray_DIMS(bid_rows)[0],
            <const int64_t*> cnp.PyArray_DATA(ask_rows), cnp.PyArray_DIMS(ask_rows)[0],
            sequence, ts_event,
        )

    cdef int apply_snapshot_c(
        self, const double* bids, Py_ssize_t n_bids, const double* asks, Py_ssize_t n_asks,
        int64_t sequence, int64_t ts_event,
    ) except -1:
        _reserve_scratch(self, n_bids + n_asks)
        _convert_rows(self, bids, n_bids, self._scratch, "bids")
        _convert_rows(self, asks, n_asks, self._scratch + n_bids, "asks")
        return _replace_levels(self, self._scratch, n_bids, self._scratch + n_bids, n_asks, sequence, ts_event)

    cdef int apply_snapshot_raw_c(
        self, const int64_t* bids, Py_ssize_t n_bids, const int64_t* asks, Py_ssize_t n_asks,
        int64_t sequence, int64_t ts_event,
    ) except -1:
        cdef Py_ssize_t i

        for i in range(n_bids):
            _check_raw_row(bids[2 * i], bids[2 * i + 1], f"'bids' row {i}: ")
        for i in range(n_asks):
            _check_raw_row(asks[2 * i], asks[2 * i + 1], f"'asks' row {i}: ")
        _reserve_scratch(self, n_bids + n_asks)
        memcpy(self._scratch, bids, n_bids * sizeof(LevelRow))
        memcpy(self._scratch + n_bids, asks, n_asks * sizeof(LevelRow))
        return _replace_levels(self, self._scratch, n_bids, self._scratch + n_bids, n_asks, sequence, ts_event)

    # ------------------------------------------------------------------
    # Maintenance

    def truncate(self, Py_ssize_t depth):
        """Keep only the best ``depth`` levels of each side.

        Feeds call it after each update where the exchange limits the book to
        the subscribed depth (Kraken), so levels that fell out of that depth do
        not linger.

        Raises
        ------
        ValidationError
            If ``depth`` is negative.

        Notes
        -----
        Runtime complexity: O(depth) when a side has more levels than ``depth``,
        else O(1).
        """
        if depth < 0:
            raise ValidationError(f"'depth' must be >= 0, was {depth}", {"depth": depth})
        self.truncate_c(depth)

    cdef void truncate_c(self, Py_ssize_t depth) noexcept:
        _side_keep_best(&self.bids, depth)
        _side_keep_best(&self.asks, depth)

    def checksum_kraken(self):
        """Return Kraken's CRC32 checksum of the top 10 levels of each side.

        The checksummed text is, for the 10 best asks (price ascending) then
        the 10 best bids (price descending), the price and then the size of
        each level as their decimal digits without the point and without
        leading zeros, which in fixed point are the digits of the ticks and
        lots.  It equals Kraken's checksum when ``price_precision`` and
        ``size_precision`` are the decimals Kraken formats the pair with: the
        string decimals in WebSocket v1 (volumes always 8), the pair's price
        and quantity precisions in v2.

        Returns
        -------
        int
            The unsigned CRC32, as Kraken sends it in ``"c"`` / ``checksum``.

        Notes
        -----
        Runtime complexity: O(1): 20 levels, plus any empty slots between them.
        """
        return self.checksum_kraken_c()

    cdef uint32_t checksum_kraken_c(self) noexcept:
        cdef unsigned char text[KRAKEN_CHECKSUM_BUFFER]
        cdef Py_ssize_t length = 0

        length = _write_top_digits(&self.asks, False, text, length)
        length = _write_top_digits(&self.bids, True, text, length)
        return crc32_update(0, text, length)

    def check_integrity(self):
        """Verify every structural invariant of the book.

        Raises
        ------
        BookError
            Naming the first broken invariant: a side not strictly sorted, a
            size below 0, an empty top slot, a wrong level count, too many
            empty slots, or a crossed book.

        Notes
        -----
        Runtime complexity: O(n) in the number of levels.
        """
        _check_side("bids", &self.bids, self.price_scale)
        _check_side("asks", &self.asks, self.price_scale)
        best_bid = self.best_bid_raw_c()
        best_ask = self.best_ask_raw_c()
        if best_bid and best_ask and best_bid >= best_ask:
            raise BookError(
                f"Book {self.symbol} is crossed: best bid {best_bid / self.price_scale!r} >= "
                f"best ask {best_ask / self.price_scale!r}"
            )

    # ------------------------------------------------------------------
    # C-level top of book; 0 for an empty side

    cdef int64_t best_bid_raw_c(self) noexcept:
        return self.bids.keys[self.bids.slots - 1] if self.bids.slots else 0

    cdef int64_t best_ask_raw_c(self) noexcept:
        return -self.asks.keys[self.asks.slots - 1] if self.asks.slots else 0

    cdef int64_t best_bid_size_raw_c(self) noexcept:
        return self.bids.sizes[self.bids.slots - 1] if self.bids.slots else 0

    cdef int64_t best_ask_size_raw_c(self) noexcept:
        return self.asks.sizes[self.asks.slots - 1] if self.asks.slots else 0

    # ------------------------------------------------------------------
    # Queries

    @property
    def bid_count(self):
        """Number of bid levels."""
        return self.bids.levels

    @property
    def ask_count(self):
        """Number of ask levels."""
        return self.asks.levels

    def best_bid(self):
        """Return the best bid price, or None if there is no bid.

        Notes
        -----
        Runtime complexity: O(1).
        """
        if self.bids.slots == 0:
            return None
        return self.bids.keys[self.bids.slots - 1] / self.price_scale

    def best_ask(self):
        """Return the best ask price, or None if there is no ask.

        Notes
        -----
        Runtime complexity: O(1).
        """
        if self.asks.slots == 0:
            return None
        return -self.asks.keys[self.asks.slots - 1] / self.price_scale

    def best_bid_size(self):
        """Return the size at the best bid, or None if there is no bid.

        Notes
        -----
        Runtime complexity: O(1).
        """
        if self.bids.slots == 0:
            return None
        return self.bids.sizes[self.bids.slots - 1] / self.size_scale

    def best_ask_size(self):
        """Return the size at the best ask, or None if there is no ask.

        Notes
        -----
        Runtime complexity: O(1).
        """
        if self.asks.slots == 0:
            return None
        return self.asks.sizes[self.asks.slots - 1] / self.size_scale

    def spread(self):
        """Return best ask minus best bid, or None unless both sides have levels.

        Notes
        -----
        Runtime complexity: O(1).
        """
        if self.bids.slots == 0 or self.asks.slots == 0:
            return None
        return (self.best_ask_raw_c() - self.best_bid_raw_c()) / self.price_scale

    def mid(self):
        """Return the mean of the best bid and ask, or None unless both sides have levels.

        Notes
        -----
        Runtime complexity: O(1).
        """
        if self.bids.slots == 0 or self.asks.slots == 0:
            return None
        return (<double> self.best_bid_raw_c() + <double> self.best_ask_raw_c()) / (2.0 * self.price_scale)

    def top(self, Py_ssize_t depth=10):
        """Return the best ``depth`` levels of each side as new arrays.

        Returns
        -------
        tuple of numpy.ndarray
            ``(bids, asks)``, float64 arrays of shape (k, 2) holding (price,
            size) rows best first; k is ``depth`` or the side's level count if
            smaller.

        Raises
        ------
        ValidationError
            If ``depth`` is negative.

        Notes
        -----
        Allocates two arrays; :meth:`top_into` fills arrays the caller owns.
        Runtime complexity: O(depth).
        """
        _check_depth(depth)
        return (
            _top_rows(&self.bids, True, depth, self.price_scale, self.size_scale),
            _top_rows(&self.asks, False, depth, self.price_scale, self.size_scale),
        )

    def top_into(self, out_bids, out_asks):
        """Write the best levels into arrays the caller owns, allocating nothing.

        Parameters
        ----------
        out_bids, out_asks
            Writable C-contiguous float64 arrays of shape (n, 2); row i gets
            the (price, size) of the i-th best level.  Rows past the side's
            level count are left as they were.

        Returns
        -------
        tuple of int
            ``(bid_rows, ask_rows)``: how many rows of each array were written.

        Raises
        ------
        ValidationError
            If an array is not a writable C-contiguous float64 (n, 2) array.

        Notes
        -----
        Runtime complexity: O(n).
        """
        _check_output(out_bids, "out_bids")
        _check_output(out_asks, "out_asks")
        return (
            _fill_top(
                &self.bids, True, <double*> cnp.PyArray_DATA(<cnp.ndarray> out_bids),
                cnp.PyArray_DIMS(<cnp.ndarray> out_bids)[0], self.price_scale, self.size_scale,
            ),
            _fill_top(
                &self.asks, False, <double*> cnp.PyArray_DATA(<cnp.ndarray> out_asks),
                cnp.PyArray_DIMS(<cnp.ndarray> out_asks)[0], self.price_scale, self.size_scale,
            ),
        )

    def top_raw(self, Py_ssize_t depth=10):
        """Return the best ``depth`` levels as int64 (price_ticks, size_lots) arrays, best first.

        Raises
        ------
        ValidationError
            If ``depth`` is negative.

        Notes
        -----
        The exact fixed-point values, as :meth:`top` returns their floats.
        Runtime complexity: O(depth).
        """
        _check_depth(depth)
        return _top_rows_raw(&self.bids, True, depth), _top_rows_raw(&self.asks, False, depth)

    def depth_within(self, bint is_bid, double bps):
        """Return the total size of one side within ``bps`` basis points of its best price.

        The band runs from the side's best price to ``bps`` / 10,000 of that
        price away from it, both ends included: bids priced at or above
        ``best_bid * (1 - bps / 10000)``, asks at or below
        ``best_ask * (1 + bps / 10000)``.

        Parameters
        ----------
        is_bid
            True for the bid side, False for the ask side.
        bps
            Width of the band in basis points (1 bp = 0.01 %), >= 0; 0 gives
            the size at the best price.

        Returns
        -------
        float
            The summed size; 0.0 for an empty side.

        Raises
        ------
        ValidationError
            If ``bps`` is negative or not finite.

        Notes
        -----
        Runtime complexity: O(k) for the k levels inside the band.
        """
        if not (isfinite(bps) and bps >= 0.0):
            raise ValidationError(f"'bps' must be a finite number >= 0, was {bps!r}", {"bps": bps})
        return _sum_sizes_within(&self.bids if is_bid else &self.asks, bps) / self.size_scale

    def cost_to_take(self, str side not None, double size):
        """Walk the book to price a market order of ``size``.

        Parameters
        ----------
        side
            ``"buy"`` takes the asks from the best up; ``"sell"`` takes the
            bids from the best down.
        size
            The size to take, on the lot grid, >= 0.

        Returns
        -------
        tuple
            ``(average_price, cost, filled)``: the size-weighted average price
            (None if nothing is filled), the total price times size of the
            fills, and the size filled, which is less than ``size`` when the
            side holds less.

        Raises
        ------
        ValidationError
            If ``side`` is neither ``"buy"`` nor ``"sell"``.
        BookError
            If ``size`` is negative, not finite or off the lot grid.

        Notes
        -----
        Runtime complexity: O(k) for the k levels the order takes.
        """
        cdef int64_t requested = 0, filled
        cdef double cost = 0.0
        cdef int code

        if side != BUY and side != SELL:
            raise ValidationError(f"'side' must be 'buy' or 'sell', was {side!r}", {"side": side})
        code = _to_units(size, self.size_scale, False, &requested)
        if code != CONVERTED:
            _raise_conversion(code, False, size, self.size_precision, "")
        if side == BUY:
            filled = _walk_side(&self.asks, False, requested, &cost)
        else:
            filled = _walk_side(&self.bids, True, requested, &cost)
        if filled == 0:
            return None, 0.0, 0.0
        return (
            cost / filled / self.price_scale,
            cost / (self.price_scale * self.size_scale),
            filled / self.size_scale,
        )

    def imbalance(self, Py_ssize_t levels=10):
        """Return (bid size - ask size) / (bid size + ask size) over the top ``levels`` of each side.

        Returns
        -------
        float or None
            A value in [-1, 1]: 1 with asks empty, -1 with bids empty; None
            when both sides are empty.

        Raises
        ------
        ValidationError
            If ``levels`` < 1.

        Notes
        -----
        Runtime complexity: O(levels).
        """
        cdef double bid_size, ask_size

        if levels < 1:
            raise ValidationError(f"'levels' must be >= 1, was {levels}", {"levels": levels})
        bid_size = _sum_top_sizes(&self.bids, levels)
        ask_size = _sum_top_sizes(&self.asks, levels)
        if bid_size + ask_size == 0.0:
            return None
        return (bid_size - ask_size) / (bid_size + ask_size)
