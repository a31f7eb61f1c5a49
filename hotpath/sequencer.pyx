"""Binance diff-depth sequencing: which events a book built from a snapshot may apply.

Binance's depth stream carries, per event, the first and last update ids it
covers (``U``, ``u``) and, on futures, the last id of the previous event
(``pu``).  A book starts from a REST snapshot whose ``lastUpdateId`` it
stores as its :attr:`~cryptobot.hotpath.book.OrderBook.sequence`; then:

- an event with ``u <= sequence`` is stale (already in the book) and dropped;
- the first event after the snapshot must straddle it: on spot
  ``U <= sequence + 1 <= u``; on futures ``U <= sequence <= u`` or
  ``pu == sequence`` (futures ids are not dense, so the straddling event may
  start past ``sequence + 1``);
- every later event must follow the previous one: on spot
  ``U == previous u + 1``, on futures ``pu == previous u``.

An event that breaks the chain raises :class:`~cryptobot.core.errors.SequenceGap`
and is not applied; the book then needs a new snapshot, and until one is
applied every later event raises too, since the chain stays broken.
"""

from libc.stdint cimport int64_t

cimport numpy as cnp

from cryptobot.core.errors import BookError, SequenceGap

from cryptobot.hotpath.book cimport OrderBook, as_level_array

cnp.import_array()

# The Python enum members, looked up once: building them per call costs more
# than applying a small event.
_STATUS = {APPLIED: SyncStatus.APPLIED, STALE: SyncStatus.STALE}


cdef class BinanceSequencer:
    """Apply Binance diff-depth events to a book in update-id order.

    Parameters
    ----------
    book
        The book, to which the feed applies the REST snapshot first.
    futures
        True for USD-M and COIN-M streams, False for spot.

    Notes
    -----
    The sequencer keeps no copy of the update ids: it reads the book's
    ``sequence`` and ``snapshots``, so applying a new snapshot to the book
    restarts the sequence by itself.
    """

    def __cinit__(self, OrderBook book not None, bint futures=False):
        self.book = book
        self.futures = futures
        self._joined_snapshot = -1

    def apply(self, int64_t first_id, int64_t last_id, int64_t prev_id, bids, asks, int64_t ts_event=0):
        """Apply one depth event if it continues the book's sequence.

        Parameters
        ----------
        first_id, last_id, prev_id
            The event's ``U``, ``u`` and ``pu`` (-1 on spot, which has no ``pu``).
        bids, asks
            float64 (n, 2) arrays of (price, size) rows, as for
            :meth:`OrderBook.apply_deltas`.
        ts_event
            The event's exchange time in ns.

        Returns
        -------
        SyncStatus
            ``APPLIED``, or ``STALE`` for an event the book already holds.

        Raises
        ------
        SequenceGap
            If the event does not continue the sequence (the book is unchanged
            and needs a new snapshot).
        BookError
            If the book has no snapshot, ``first_id > last_id``, or the book
            rejects the levels; the sequence does not advance then.

        Notes
        -----
        Runtime complexity: O(1) plus that of :meth:`OrderBook.apply_deltas`.
        """
        cdef cnp.ndarray bid_rows = as_level_array(bids, "bids", False)
        cdef cnp.ndarray ask_rows = as_level_array(asks, "asks", False)

        return _STATUS[self.apply_c(
            first_id, last_id, prev_id,
            <const double*> cnp.PyArray_DATA(bid_rows), cnp.PyArray_DIMS(bid_rows)[0],
            <const double*> cnp.PyArray_DATA(ask_rows), cnp.PyArray_DIMS(ask_rows)[0],
            ts_event,
        )]

    def apply_raw(self, int64_t first_id, int64_t last_id, int64_t prev_id, bids, asks, int64_t ts_event=0):
        """Apply one depth event of int64 (price_ticks, size_lots) rows; see :meth:`apply`.

        Notes
        -----
        Runtime complexity: O(1) plus that of :meth:`OrderBook.apply_deltas_raw`.
        """
        cdef cnp.ndarray bid_rows = as_level_array(bids, "bids", True)
        cdef cnp.ndarray ask_rows = as_level_array(asks, "asks", True)

        return _STATUS[self.apply_raw_c(
            first_id, last_id, prev_id,
            <const int64_t*> cnp.PyArray_DATA(bid_rows), cnp.PyArray_DIMS(bid_rows)[0],
            <const int64_t*> cnp.PyArray_DATA(ask_rows), cnp.PyArray_DIMS(ask_rows)[0],
            ts_event,
        )]

    cdef int apply_c(
        self, int64_t first_id, int64_t last_id, int64_t prev_id,
        const double* bids, Py_ssize_t n_bids, const double* asks, Py_ssize_t n_asks, int64_t ts_event,
    ) except -1:
        if self.check_c(first_id, last_id, prev_id) == STALE:
            self.stale += 1
            return STALE
        self.book.apply_deltas_c(bids, n_bids, asks, n_asks, last_id, ts_event)
        self._joined_snapshot = self.book.snapshots
        self.applied += 1
        return APPLIED

    cdef int apply_raw_c(
        self, int64_t first_id, int64_t last_id, int64_t prev_id,
        const int64_t* bids, Py_ssize_t n_bids, const int64_t* asks, Py_ssize_t n_asks, int64_t ts_event,
    ) except -1:
        if self.check_c(first_id, last_id, prev_id) == STALE:
            self.stale += 1
            return STALE
        self.book.apply_deltas_raw_c(bids, n_bids, asks, n_asks, last_id, ts_event)
        self._joined_snapshot = self.book.snapshots
        self.applied += 1
        return APPLIED

    cdef int check_c(self, int64_t first_id, int64_t last_id, int64_t prev_id) except -1:
        cdef int64_t last = self.book.sequence
        cdef bint first_after_snapshot = self._joined_snapshot != self.book.snapshots
        cdef bint fits

        if self.book.snapshots == 0:
            raise BookError(
                f"Cannot apply depth event U={first_id} u={last_id} to {self.book.symbol}: "
                "the book has no snapshot yet; apply the REST snapshot first",
                {"first_id": first_id},
            )
        if first_id > last_id:
            raise BookError(
                f"Cannot apply depth event to {self.book.symbol}: 'U' {first_id} is above 'u' {last_id}",
                {"first_id": first_id, "last_id": last_id},
            )
        if last_id <= last:
            return STALE
        if self.futures:
            if first_after_snapshot:
                fits = first_id <= last or prev_id == last
            else:
                fits = prev_id == last
        elif first_after_snapshot:
            fits = first_id <= last + 1
        else:
            fits = first_id == last + 1
        if fits:
            return APPLIED
        self.gaps += 1
        return self._raise_gap(first_id, last_id, prev_id, first_after_snapshot)

    cdef int _raise_gap(self, int64_t first_id, int64_t last_id, int64_t prev_id, bint first_after_snapshot) except -1:
        cdef int64_t last = self.book.sequence
        cdef str rule

        if first_after_snapshot:
            rule = (
                f"the first event after the snapshot must have U <= {last} <= u or pu == {last}"
                if self.futures else f"the first event after the snapshot must have U <= {last + 1} <= u"
            )
        else:
            rule = f"the next event must have pu == {last}" if self.futures else f"the next event must have U == {last + 1}"
        raise SequenceGap(
            f"Cannot apply depth event U={first_id} u={last_id} pu={prev_id} to {self.book.symbol}: "
            f"sequence gap, {rule}; apply a new snapshot",
            expected=last + 1,
            received=first_id,
        )
