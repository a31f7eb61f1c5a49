"""WebSocket frames to depth updates at the C level: the feed's hot path.

:class:`FrameListener` is a picows listener.  picows calls its
``on_ws_frame`` from C with the frame still in the read buffer, and for a
Binance ``depthUpdate`` (raw or combined-stream form) the listener parses
the JSON text straight into int64 (price, size) rows of a
:class:`DepthUpdate` and hands it to the target registered for the symbol,
with no Python ``dict``, ``str`` or ``float`` per level.  Every other frame,
and any depth frame the strict parser does not accept, goes to a Python
callback that parses it with orjson, so the fast path never decides that a
message is malformed: it only declines.

Fixed point: Binance writes prices and sizes as decimal strings with at
most 8 decimals, so both are parsed at :data:`BINANCE_SCALE_DIGITS` = 8
decimals (ticks and lots of 1e-8).  A value with more significant decimals,
a sign, an exponent, more than 18 digits or a zero price is declined.
"""

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec

cimport numpy as cnp
import numpy as np

from picows.picows cimport WSFrame, WSListener, WSMsgType, WSTransport

from cryptobot.hotpath.book cimport OrderBook
from cryptobot.hotpath.sequencer cimport BinanceSequencer

cnp.import_array()

BINANCE_SCALE_DIGITS = 8
"""Decimals of the fixed point Binance depth values are parsed at."""

cdef int SCALE_DIGITS = 8
cdef int64_t POW10[19]
POW10[0] = 1
for _i in range(1, 19):
    POW10[_i] = POW10[_i - 1] * 10
cdef int64_t MAX_DIGITS_VALUE = 999999999999999999   # 18 digits
# value * 10 + digit stays within 18 digits exactly when value < 10**17.
cdef int64_t OVERFLOW_AT = 100000000000000000
# The largest value that may be scaled by POW10[k] without leaving 18 digits.
cdef int64_t SCALE_LIMIT[19]
for _i in range(19):
    SCALE_LIMIT[_i] = MAX_DIGITS_VALUE // POW10[_i]


cdef inline int64_t realtime_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <int64_t> ts.tv_sec * 1000000000 + ts.tv_nsec


def now_ns():
    """Return the wall-clock time in ns, read the same way the listener stamps ``ts_recv``."""
    return realtime_ns()


@cython.freelist(256)
@cython.final
@cython.no_gc   # its one object field is bytes, so it can close no reference cycle
cdef class DepthUpdate:
    """One diff-depth event in fixed point: ``U``, ``u``, ``pu`` and int64 level rows.

    Rows are (price_ticks, size_lots) at ``scale_digits`` decimals, bids
    first then asks, in the order the exchange listed them; size 0 removes
    a level.  ``prev_id`` is -1 where the exchange sends no ``pu`` (spot).

    Build one with :meth:`from_rows`; the listener builds them in C.
    """

    cdef readonly bytes symbol
    """The exchange's symbol (``b"BTCUSDT"``)."""
    cdef readonly int64_t first_id
    cdef readonly int64_t last_id
    cdef readonly int64_t prev_id
    cdef readonly int64_t ts_event
    """Exchange event time ``E`` in ns."""
    cdef readonly int64_t ts_recv
    """Time the frame was read from the socket, ns since the epoch."""
    cdef readonly int scale_digits
    cdef int64_t* rows
    cdef Py_ssize_t n_bids
    cdef Py_ssize_t n_asks
    cdef Py_ssize_t capacity

    def __cinit__(self):
        self.rows = NULL
        self.prev_id = -1
        self.scale_digits = SCALE_DIGITS

    def __dealloc__(self):
        free(self.rows)

    @staticmethod
    def from_rows(bytes symbol not None, int64_t first_id, int64_t last_id, int64_t prev_id, int64_t ts_event,
                  int64_t ts_recv, bids, asks, int scale_digits=8):
        """Build an update from int64 (n, 2) arrays of (price_ticks, size_lots).

        Raises
        ------
        ValueError
            If an array is not of shape (n, 2) or ``scale_digits`` is outside [0, 18].
        """
        cdef cnp.ndarray b = np.ascontiguousarray(bids, dtype=np.int64).reshape(-1, 2)
        cdef cnp.ndarray a = np.ascontiguousarray(asks, dtype=np.int64).reshape(-1, 2)
        cdef DepthUpdate update = DepthUpdate.__new__(DepthUpdate)

        if not 0 <= scale_digits <= 18:
            raise ValueError(f"'scale_digits' out of range [0, 18], was {scale_digits}")
        update.symbol = symbol
        update.first_id = first_id
        update.last_id = last_id
        update.prev_id = prev_id
        update.ts_event = ts_event
        update.ts_recv = ts_recv
        update.scale_digits = scale_digits
        update._reserve(b.shape[0] + a.shape[0])
        if b.shape[0]:
            memcpy(update.rows, cnp.PyArray_DATA(b), b.shape[0] * 2 * sizeof(int64_t))
        if a.shape[0]:
            memcpy(update.rows + 2 * b.shape[0], cnp.PyArray_DATA(a), a.shape[0] * 2 * sizeof(int64_t))
        update.n_bids = b.shape[0]
        update.n_asks = a.shape[0]
        return update

    cdef int _reserve(self, Py_ssize_t rows) except -1:
        cdef int64_t* grown
        if rows <= self.capacity:
            return 0
        # Doubling keeps a frame of k levels at O(log k) reallocations.
        rows = max(rows, 2 * self.capacity, 64)
        grown = <int64_t*> realloc(self.rows, rows * 2 * sizeof(int64_t))
        if grown == NULL:
            raise MemoryError(f"Cannot allocate room for {rows} depth rows")
        self.rows = grown
        self.capacity = rows
        return 0

    @property
    def bid_count(self):
        return self.n_bids

    @property
    def ask_count(self):
        return self.n_asks

    def bids_raw(self):
        """Return a copy of the bid rows as an int64 (n, 2) array."""
        return self._copy(0, self.n_bids)

    def asks_raw(self):
        """Return a copy of the ask rows as an int64 (n, 2) array."""
        return self._copy(self.n_bids, self.n_asks)

    def bids_float(self):
        """Return the bid rows as float64 (price, size), divided by 10**scale_digits."""
        return self._copy(0, self.n_bids) / float(POW10[self.scale_digits])

    def asks_float(self):
        """Return the ask rows as float64 (price, size), divided by 10**scale_digits."""
        return self._copy(self.n_bids, self.n_asks) / float(POW10[self.scale_digits])

    cdef object _copy(self, Py_ssize_t start, Py_ssize_t count):
        out = np.empty((count, 2), dtype=np.int64)
        if count:
            memcpy(cnp.PyArray_DATA(<cnp.ndarray> out), self.rows + 2 * start, count * 2 * sizeof(int64_t))
        return out

    def __repr__(self):
        return (f"DepthUpdate({self.symbol!r}, U={self.first_id}, u={self.last_id}, pu={self.prev_id}, "
                f"bids={self.n_bids}, asks={self.n_asks})")


# ---------------------------------------------------------------------------
# A strict scanner for Binance's depthUpdate objects.  Every function returns
# the position after what it read, or -1 when the text is not what it expects.

cdef inline Py_ssize_t _skip_ws(const char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    # Every byte that is not whitespace and that the parser looks for lies above the space.
    while i < n and s[i] <= 32 and (s[i] == 32 or s[i] == 10 or s[i] == 13 or s[i] == 9):
        i += 1
    return i


cdef Py_ssize_t _skip_string(const char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    # s[i] is the opening quote.
    i += 1
    while i < n:
        if s[i] == 92:  # backslash: skip the escaped character
            i += 2
            continue
        if s[i] == 34:
            return i + 1
        i += 1
    return -1


cdef Py_ssize_t _skip_value(const char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    # Skip any JSON value; nesting is tracked by depth with strings skipped whole.
    cdef int depth = 0
    cdef char c
    i = _skip_ws(s, i, n)
    while i < n:
        c = s[i]
        if c == 34:
            i = _skip_string(s, i, n)
            if i < 0:
                return -1
            if depth == 0:
                return i
            continue
        if c == 123 or c == 91:
            depth += 1
        elif c == 125 or c == 93:
            if depth == 0:
                return i  # the end of the enclosing container: a scalar ended here
            depth -= 1
            if depth == 0:
                return i + 1
        elif depth == 0 and c == 44:
            return i
        i += 1
    return -1


cdef inline Py_ssize_t _parse_int(const char* s, Py_ssize_t i, Py_ssize_t n, int64_t* out) noexcept nogil:
    cdef int64_t value = 0
    cdef Py_ssize_t start = i
    while i < n and 48 <= s[i] <= 57:
        if value >= OVERFLOW_AT:
            return -1
        value = value * 10 + (s[i] - 48)
        i += 1
    if i == start:
        return -1
    out[0] = value
    return i


cdef inline Py_ssize_t _parse_decimal(const char* s, Py_ssize_t i, Py_ssize_t n, int64_t* out) noexcept nogil:
    # A quoted non-negative decimal "123.4500" to units of 10**-SCALE_DIGITS.
    cdef int64_t value = 0
    cdef int decimals = 0
    cdef bint digits = False
    if i >= n or s[i] != 34:
        return -1
    i += 1
    while i < n and 48 <= s[i] <= 57:
        if value >= OVERFLOW_AT:
            return -1
        value = value * 10 + (s[i] - 48)
        digits = True
        i += 1
    if i < n and s[i] == 46:
        i += 1
        while i < n and 48 <= s[i] <= 57:
            if decimals < SCALE_DIGITS:
                if value >= OVERFLOW_AT:
                    return -1
                value = value * 10 + (s[i] - 48)
                decimals += 1
            elif s[i] != 48:
                return -1  # a significant digit beyond the fixed point
            digits = True
            i += 1
    if not digits or i >= n or s[i] != 34:
        return -1
    if value > SCALE_LIMIT[SCALE_DIGITS - decimals]:
        return -1
    out[0] = value * POW10[SCALE_DIGITS - decimals]
    return i + 1


cdef Py_ssize_t _parse_levels(const char* s, Py_ssize_t i, Py_ssize_t n, DepthUpdate update,
                              Py_ssize_t* count) except -2:
    # [["price","size"],...] appended to update.rows; count receives the rows read.
    cdef Py_ssize_t rows = 0
    cdef Py_ssize_t base = update.n_bids + update.n_asks
    cdef int64_t price = 0, size = 0
    if i >= n or s[i] != 91:
        return -1
    i = _skip_ws(s, i + 1, n)
    if i < n and s[i] == 93:
        count[0] = 0
        return i + 1
    while True:
        if i >= n or s[i] != 91:
            return -1
        i = _parse_decimal(s, _skip_ws(s, i + 1, n), n, &price)
        if i < 0 or price <= 0:
            return -1
        i = _skip_ws(s, i, n)
        if i >= n or s[i] != 44:
            return -1
        i = _parse_decimal(s, _skip_ws(s, i + 1, n), n, &size)
        if i < 0:
            return -1
        i = _skip_ws(s, i, n)
        if i >= n or s[i] != 93:
            return -1
        if base + rows >= update.capacity:
            update._reserve(base + rows + 1)
        update.rows[2 * (base + rows)] = price
        update.rows[2 * (base + rows) + 1] = size
        rows += 1
        i = _skip_ws(s, i + 1, n)
        if i < n and s[i] == 44:
            i = _skip_ws(s, i + 1, n)
            continue
        if i < n and s[i] == 93:
            count[0] = rows
            return i + 1
        return -1


cdef enum Seen:
    SEEN_E = 1
    SEEN_S = 2
    SEEN_FIRST = 4
    SEEN_LAST = 8
    SEEN_BIDS = 16
    SEEN_ASKS = 32
    SEEN_TIME = 64
    SEEN_ALL = 127


cdef Py_ssize_t _parse_depth_object(const char* s, Py_ssize_t i, Py_ssize_t n, DepthUpdate update) except -2:
    # The payload object {"e":"depthUpdate",...}; i is at its "{".
    cdef int seen = 0
    cdef Py_ssize_t key, key_len, rows = 0
    cdef int64_t number = 0
    if i >= n or s[i] != 123:
        return -1
    i = _skip_ws(s, i + 1, n)
    while i < n and s[i] == 34:
        key = i + 1
        i = _skip_string(s, i, n)
        if i < 0:
            return -1
        key_len = i - 1 - key
        i = _skip_ws(s, i, n)
        if i >= n or s[i] != 58:
            return -1
        i = _skip_ws(s, i + 1, n)
        if key_len == 1:
            if s[key] == 101:  # e
                if n - i < 13 or memcmp(s + i, b'"depthUpdate"', 13) != 0:
                    return -1
                i += 13
                seen |= SEEN_E
            elif s[key] == 69:  # E
                i = _parse_int(s, i, n, &number)
                update.ts_event = number * 1000000
                seen |= SEEN_TIME
            elif s[key] == 115:  # s
                if s[i] != 34:
                    return -1
                key = i + 1
                i = _skip_string(s, i, n)
                if i < 0:
                    return -1
                update.symbol = PyBytes_FromStringAndSize(s + key, i - 1 - key)
                seen |= SEEN_S
            elif s[key] == 85:  # U
                i = _parse_int(s, i, n, &update.first_id)
                seen |= SEEN_FIRST
            elif s[key] == 117:  # u
                i = _parse_int(s, i, n, &update.last_id)
                seen |= SEEN_LAST
            elif s[key] == 98:  # b
                if seen & (SEEN_BIDS | SEEN_ASKS):
                    return -1  # bids must come first and once, as Binance sends them
                i = _parse_levels(s, i, n, update, &rows)
                update.n_bids = rows
                seen |= SEEN_BIDS
            elif s[key] == 97:  # a
                if not (seen & SEEN_BIDS) or (seen & SEEN_ASKS):
                    return -1
                i = _parse_levels(s, i, n, update, &rows)
                update.n_asks = rows
                seen |= SEEN_ASKS
            else:
                i = _skip_value(s, i, n)
        elif key_len == 2 and s[key] == 112 and s[key + 1] == 117:  # pu
            i = _parse_int(s, i, n, &update.prev_id)
        else:
            i = _skip_value(s, i, n)
        if i < 0:
            return -1
        if not (seen & SEEN_E):
            return -1  # Binance sends "e" first: anything else is not a depth update
        i = _skip_ws(s, i, n)
        if i < n and s[i] == 44:
            i = _skip_ws(s, i + 1, n)
            continue
        break
    if i >= n or s[i] != 125 or seen != SEEN_ALL:
        return -1
    if update.first_id > update.last_id:
        return -1
    return i + 1


cdef DepthUpdate parse_binance_depth_c(const char* s, Py_ssize_t n, int64_t ts_recv):
    # Return the parsed update, or None when the text is not a well-formed depthUpdate.
    cdef DepthUpdate update = DepthUpdate.__new__(DepthUpdate)
    cdef Py_ssize_t i = _skip_ws(s, 0, n)
    cdef Py_ssize_t end
    cdef bint combined = False

    update.ts_recv = ts_recv
    if n - i > 10 and memcmp(s + i, b'{"stream":', 10) == 0:
        # Combined stream: {"stream":"<name>","data":{...}}
        i = _skip_ws(s, i + 10, n)
        if i >= n or s[i] != 34:
            return None
        i = _skip_string(s, i, n)
        if i < 0:
            return None
        i = _skip_ws(s, i, n)
        if n - i < 8 or memcmp(s + i, b',"data":', 8) != 0:
            return None
        i = _skip_ws(s, i + 8, n)
        combined = True
    end = _parse_depth_object(s, i, n, update)
    if end < 0:
        return None
    end = _skip_ws(s, end, n)
    if combined:
        if end >= n or s[end] != 125:
            return None
        end = _skip_ws(s, end + 1, n)
    if end != n:
        return None
    return update


def parse_binance_depth(payload, int64_t ts_recv=0):
    """Parse a Binance ``depthUpdate`` frame (raw or combined); return a DepthUpdate or None.

    None means the strict parser declined the text: it is another event, or
    malformed, or holds a value it does not take (see the module docstring).

    Runtime complexity: O(length of the text).
    """
    cdef const unsigned char[::1] view = payload
    if view.shape[0] == 0:
        return None
    return parse_binance_depth_c(<const char*> &view[0], view.shape[0], ts_recv)


# ---------------------------------------------------------------------------
# Applying an update to a book

cdef int64_t* _scratch = NULL
cdef Py_ssize_t _scratch_rows = 0


cdef Py_ssize_t _keep_in_band(const int64_t* rows, Py_ssize_t count, int64_t low, int64_t high,
                              int64_t* out) noexcept nogil:
    cdef Py_ssize_t i, kept = 0
    for i in range(count):
        if low <= rows[2 * i] <= high:
            out[2 * kept] = rows[2 * i]
            out[2 * kept + 1] = rows[2 * i + 1]
            kept += 1
    return kept


def apply_binance(BinanceSequencer sequencer not None, DepthUpdate update not None, int64_t bid_floor=0,
                  int64_t ask_ceiling=0):
    """Apply one update through the sequencer, keeping only levels inside the snapshot's band.

    Parameters
    ----------
    sequencer
        The sequencer of the book (its book must use ``update.scale_digits``
        for both precisions).
    update
        The parsed event.
    bid_floor, ask_ceiling
        Bids priced below ``bid_floor`` ticks and asks above ``ask_ceiling``
        ticks are dropped before the event is applied (0 keeps every level):
        the snapshot did not cover those prices, so a level there would be
        the only one the book knows in a region it cannot see whole.

    Returns
    -------
    int
        1 (applied) or 2 (stale), as :class:`~cryptobot.hotpath.sequencer.SyncStatus`.

    Raises
    ------
    SequenceGap, BookError
        As :meth:`BinanceSequencer.apply_raw`; nothing is applied then.

    Notes
    -----
    Runtime complexity: O(k) plus the book's cost for the k rows kept.
    """
    global _scratch, _scratch_rows
    cdef Py_ssize_t total = update.n_bids + update.n_asks
    cdef Py_ssize_t n_bids, n_asks
    cdef int64_t* grown
    cdef int64_t high = ask_ceiling if ask_ceiling > 0 else 0x7fffffffffffffff

    if bid_floor <= 0 and ask_ceiling <= 0:
        return sequencer.apply_raw_c(update.first_id, update.last_id, update.prev_id, update.rows, update.n_bids,
                                     update.rows + 2 * update.n_bids, update.n_asks, update.ts_event)
    if total > _scratch_rows:
        grown = <int64_t*> realloc(_scratch, total * 2 * sizeof(int64_t))
        if grown == NULL:
            raise MemoryError(f"Cannot allocate room for {total} depth rows")
        _scratch = grown
        _scratch_rows = total
    n_bids = _keep_in_band(update.rows, update.n_bids, bid_floor, 0x7fffffffffffffff, _scratch)
    n_asks = _keep_in_band(update.rows + 2 * update.n_bids, update.n_asks, 0, high, _scratch + 2 * n_bids)
    return sequencer.apply_raw_c(update.first_id, update.last_id, update.prev_id, _scratch, n_bids,
                                 _scratch + 2 * n_bids, n_asks, update.ts_event)


# ---------------------------------------------------------------------------
# The picows listener

cdef class FrameListener(WSListener):
    """picows listener of one feed connection.

    Parameters
    ----------
    on_text
        ``on_text(payload: bytes, ts_recv: int)`` for every complete text
        frame the depth fast path does not take.
    on_event
        ``on_event(kind: str, value)`` for ``"connected"``, ``"pong"``
        (value: ts_recv), ``"close"`` (value: the close code) and
        ``"disconnected"``.
    on_full
        ``on_full(target)`` when ``target.tell`` returned False (its mailbox
        is at capacity): the feed pauses reading until it has room.
    depth_routes
        Exchange symbol (bytes) -> target with ``tell(update) -> bool``,
        for Binance depth updates parsed in C; None disables the fast path.

    Notes
    -----
    Server pings are answered at once with a pong carrying the same
    payload.  Fragmented text messages are joined before ``on_text``.
    """

    cdef public object on_text
    cdef public object on_event
    cdef public object on_full
    cdef public dict depth_routes
    cdef public WSTransport transport
    cdef readonly int64_t messages
    """Complete data frames received (text and binary)."""
    cdef readonly int64_t fast_path
    """Depth updates parsed and routed in C."""
    cdef readonly int64_t pings
    """Server pings answered."""
    cdef readonly int64_t last_message_ns
    """Receive time of the last frame of any type, ns since the epoch; 0 before any."""
    cdef readonly int close_code
    """Code of the close frame the server sent; 0 if none."""
    cdef bytearray _fragments
    cdef bint _fragment_text

    def __init__(self, on_text, on_event, on_full=None, dict depth_routes=None):
        self.on_text = on_text
        self.on_event = on_event
        self.on_full = on_full
        self.depth_routes = depth_routes
        self._fragments = None

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport
        self.on_event("connected", None)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef int64_t now = realtime_ns()
        cdef WSMsgType kind = frame.msg_type
        cdef DepthUpdate update
        cdef object target

        self.last_message_ns = now
        if (kind == WSMsgType.TEXT or kind == WSMsgType.BINARY) and frame.fin:
            self.messages += 1
            if self.depth_routes is not None and kind == WSMsgType.TEXT:
                update = parse_binance_depth_c(frame.payload_ptr, frame.payload_size, now)
                if update is not None:
                    target = self.depth_routes.get(update.symbol)
                    if target is not None:
                        self.fast_path += 1
                        if not target.tell(update) and self.on_full is not None:
                            self.on_full(target)
                        return
            self.on_text(frame.get_payload_as_bytes(), now)
        elif kind == WSMsgType.PING:
            self.pings += 1
            transport.send_pong(frame.get_payload_as_bytes())
        elif kind == WSMsgType.PONG:
            self.on_event("pong", now)
        elif kind == WSMsgType.CLOSE:
            self.close_code = <int> frame.get_close_code()
            self.on_event("close", self.close_code)
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif kind == WSMsgType.TEXT or kind == WSMsgType.BINARY:
            # The first fragment of a message (fin not set).
            self._fragments = bytearray(frame.get_payload_as_bytes())
            self._fragment_text = kind == WSMsgType.TEXT
        elif kind == WSMsgType.CONTINUATION and self._fragments is not None:
            self._fragments += frame.get_payload_as_bytes()
            if frame.fin:
                payload = bytes(self._fragments)
                self._fragments = None
                self.messages += 1
                self.on_text(payload, now)

    cpdef on_ws_disconnected(self, WSTransport transport):
        self.on_event("disconnected", None)
