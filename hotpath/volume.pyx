"""Volume-weighted average price: per session and over the last N updates.

``VWAP = sum(price * volume) / sum(volume)``.  The session form restarts at
each session boundary (by default every UTC day) given event timestamps in
int64 nanoseconds since the epoch; the rolling form covers the last
`period` updates, with block-prefix sums (see ``window.pxd``) so its error
stays bounded however long it runs.  Each comes as a streaming class (O(1)
per update, no allocation after construction) and a batch function that
runs the class's kernel, so streaming and batch results are bit-identical.

Prices must be finite and volumes finite and non-negative: ``update`` and
the batch functions raise ``ValidationError`` otherwise and leave the state
unchanged.  The price can be a trade price or a bar's typical price.
"""

from libc.math cimport NAN, isfinite
from libc.stdint cimport int64_t

import numpy as np

from cryptobot.core.errors import ValidationError
from cryptobot.hotpath._checks import (
    as_series,
    as_timestamps,
    check_int,
    check_period,
    check_same_length,
    non_finite_element_error,
    non_finite_error,
)
from cryptobot.hotpath.window cimport window_clear, window_free, window_init

NS_PER_DAY = 86_400_000_000_000
"""Default session length: one UTC day, in nanoseconds."""

MAX_SESSION_NS = 366 * NS_PER_DAY
"""Longest session accepted: a leap year."""


cdef class SessionVWAP:
    """VWAP since the start of the current session.

    Sessions are the intervals ``[offset_ns + k * session_ns,
    offset_ns + (k + 1) * session_ns)`` of event time; the default is the
    UTC day.  The first update whose timestamp falls in a later session
    starts a new sum.  The value is NaN while the session's volume is zero.

    Parameters
    ----------
    session_ns : int, default 86_400_000_000_000
        Session length in nanoseconds, in [1, 366 days].
    offset_ns : int, default 0
        Session start within the period, in [0, session_ns - 1]; for
        example ``8 * 3600 * 10**9`` for sessions starting at 08:00 UTC.

    Raises
    ------
    ValidationError
        If a parameter is not an integer in range.

    Notes
    -----
    Runtime complexity: O(1) per update and O(1) memory.
    """

    def __cinit__(self, session_ns=NS_PER_DAY, offset_ns=0):
        self.session_ns = check_int("session_ns", session_ns, 1, MAX_SESSION_NS)
        self.offset_ns = check_int("offset_ns", offset_ns, 0, self.session_ns - 1)
        self._state.session_ns = self.session_ns
        self._state.offset_ns = self.offset_ns
        self.reset_c()

    cdef void reset_c(self) noexcept nogil:
        self._state.session = 0
        self._state.count = 0
        self._state.ready = False
        self._state.value = NAN
        self._state.price_volume = 0.0
        self._state.volume = 0.0
        self.count = 0
        self.ready = False
        self.value = NAN
        self.last_timestamp_ns = 0

    cdef double update_c(self, double price, double volume, int64_t timestamp_ns) noexcept nogil:
        self.value = session_vwap_step(&self._state, price, volume, timestamp_ns)
        self.count = self._state.count
        self.ready = self._state.ready
        self.last_timestamp_ns = timestamp_ns
        return self.value

    def update(self, double price, double volume, int64_t timestamp_ns):
        """Add one trade (or bar) and return the session's VWAP.

        Runtime complexity: O(1).

        Raises
        ------
        ValidationError
            If `price` is not finite, `volume` is not finite or negative, or
            `timestamp_ns` falls in a session before the current one; the
            state is left unchanged.
        """
        if not isfinite(price):
            raise non_finite_error("price", price)
        if not isfinite(volume) or volume < 0.0:
            raise _volume_error(volume, None)
        if self._state.count and (timestamp_ns - self.offset_ns) // self.session_ns < self._state.session:
            raise ValidationError(
                f"Cannot update SessionVWAP: 'timestamp_ns' {timestamp_ns} falls in a session "
                f"before the current one, which started at "
                f"{self._state.session * self.session_ns + self.offset_ns}",
                {"timestamp_ns": "earlier session"},
            )
        return self.update_c(price, volume, timestamp_ns)

    def reset(self):
        """Forget every trade, returning to the state after construction.

        Runtime complexity: O(1).
        """
        self.reset_c()

    def __repr__(self):
        return f"SessionVWAP(session_ns={self.session_ns}, offset_ns={self.offset_ns})"


cdef class RollingVWAP:
    """VWAP over the last `period` updates.

    NaN for the first ``period - 1`` updates and whenever the window's total
    volume is zero.

    Parameters
    ----------
    period : int
        Window length in updates, in [1, 100000].

    Raises
    ------
    ValidationError
        If `period` is not an integer in range.

    Notes
    -----
    Runtime complexity: O(1) per update; O(period) memory, allocated once.
    """

    def __cinit__(self, period):
        self.period = check_period(period)
        self._state.period = self.period
        window_init(&self._state.window, self.period)
        self.reset_c()

    def __dealloc__(self):
        window_free(&self._state.window)

    cdef void reset_c(self) noexcept nogil:
        window_clear(&self._state.window)
        self._state.count = 0
        self._state.ready = False
        self._state.value = NAN
        self.count = 0
        self.ready = False
        self.value = NAN

    cdef double update_c(self, double price, double volume) noexcept nogil:
        self.value = rolling_vwap_step(&self._state, price, volume)
        self.count = self._state.count
        self.ready = self._state.ready
        return self.value

    def update(self, double price, double volume):
        """Add one trade (or bar) and return the window's VWAP.

        Runtime complexity: O(1).

        Raises
        ------
        ValidationError
            If `price` is not finite or `volume` is not finite or negative;
            the state is left unchanged.
        """
        if not isfinite(price):
            raise non_finite_error("price", price)
        if not isfinite(volume) or volume < 0.0:
            raise _volume_error(volume, None)
        return self.update_c(price, volume)

    def reset(self):
        """Forget every trade, returning to the state after construction.

        Runtime complexity: O(period).
        """
        self.reset_c()

    def __repr__(self):
        return f"RollingVWAP(period={self.period})"


def _volume_error(double volume, index):
    where = "" if index is None else f" at index {index}"
    return ValidationError(
        f"'volume' must be a finite number >= 0, was {volume!r}{where}",
        {"volume": "not a finite non-negative number"},
    )


def _check_prices_volumes(const double[::1] prices, const double[::1] volumes):
    cdef Py_ssize_t i
    for i in range(prices.shape[0]):
        if not isfinite(prices[i]):
            raise non_finite_element_error("prices", i, prices[i])
        if not isfinite(volumes[i]) or volumes[i] < 0.0:
            raise _volume_error(volumes[i], i)


def session_vwap(prices, volumes, timestamps_ns, session_ns=NS_PER_DAY, offset_ns=0):
    """Compute the session VWAP at every trade (or bar) of a series.

    Parameters
    ----------
    prices, volumes : array_like
        1-D real numbers of one length; prices finite, volumes finite and
        non-negative.
    timestamps_ns : array_like
        int64 nanoseconds since the epoch (or ``datetime64``), one per
        price, in non-decreasing session order.
    session_ns, offset_ns : int
        As for :class:`SessionVWAP`.

    Returns
    -------
    numpy.ndarray
        New float64 array of the input's length; NaN where the session's
        volume so far is zero.  Bit-identical to feeding :class:`SessionVWAP`.

    Raises
    ------
    ValidationError
        If a parameter is out of range, the arrays differ in length, a value
        is invalid, or a timestamp falls in an earlier session than the one
        before it.

    Notes
    -----
    Runtime complexity: O(len(prices)).
    """
    cdef SessionVWAP indicator = SessionVWAP(session_ns, offset_ns)
    cdef const double[::1] p = as_series("prices", prices)
    cdef const double[::1] v = as_series("volumes", volumes)
    times = as_timestamps("timestamps_ns", timestamps_ns)
    cdef const int64_t[::1] t = times
    check_same_length(("prices", "volumes", "timestamps_ns"), (p.base, v.base, times))
    _check_prices_volumes(p, v)
    sessions = (times - indicator.offset_ns) // indicator.session_ns
    backwards = np.flatnonzero(np.diff(sessions) < 0)
    if backwards.size:
        index = int(backwards[0]) + 1
        raise ValidationError(
            f"'timestamps_ns' must not go back to an earlier session, was {times[index]} "
            f"at index {index} after {times[index - 1]}",
            {"timestamps_ns": f"earlier session at index {index}"},
        )
    cdef Py_ssize_t n = p.shape[0]
    out = np.empty(n, dtype=np.float64)
    cdef double[::1] y = out
    if n:
        with nogil:
            _session_vwap_run(indicator._state, &p[0], &v[0], &t[0], &y[0], n)
    return out


def rolling_vwap(prices, volumes, period):
    """Compute the VWAP over the last `period` values at every element.

    Parameters
    ----------
    prices, volumes : array_like
        1-D real numbers of one length; prices finite, volumes finite and
        non-negative.
    period : int
        Window length, in [1, 100000].

    Returns
    -------
    numpy.ndarray
        New float64 array of the input's length; NaN for the first
        ``period - 1`` elements and where the window's volume is zero.
        Bit-identical to feeding :class:`RollingVWAP`.

    Raises
    ------
    ValidationError
        If `period` is out of range, the arrays differ in length or a value
        is invalid.

    Notes
    -----
    Runtime complexity: O(len(prices)).
    """
    cdef RollingVWAP indicator = RollingVWAP(period)
    cdef const double[::1] p = as_series("prices", prices)
    cdef const double[::1] v = as_series("volumes", volumes)
    check_same_length(("prices", "volumes"), (p.base, v.base))
    _check_prices_volumes(p, v)
    cdef Py_ssize_t n = p.shape[0]
    out = np.empty(n, dtype=np.float64)
    cdef double[::1] y = out
    if n:
        with nogil:
            _rolling_vwap_run(indicator._state, &p[0], &v[0], &y[0], n)
    return out


# Batch loops take the state by value, so the compiler can keep it in registers.

cdef void _session_vwap_run(
    SessionVWAPState state, const double* prices, const double* volumes,
    const int64_t* timestamps, double* y, Py_ssize_t n,
) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = session_vwap_step(&state, prices[i], volumes[i], timestamps[i])


cdef void _rolling_vwap_run(
    RollingVWAPState state, const double* prices, const double* volumes, double* y, Py_ssize_t n,
) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = rolling_vwap_step(&state, prices[i], volumes[i])
