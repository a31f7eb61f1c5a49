"""Oscillators: the relative strength index (RSI) and MACD.

Both are recursions seeded as TA-Lib seeds them, with the operations in the
order TA-Lib's compiled code uses: MACD equals TA-Lib's ``MACD`` bit for bit
on the same input, and RSI equals ``RSI`` to the last bit on nearly every
value.  Each comes as a streaming class (O(1) per update, no
allocation after construction) and a batch function that runs the class's
``update_c``, so streaming and batch results are bit-identical.

Inputs must be finite: ``update`` and the batch functions raise
``ValidationError`` on NaN or infinity and leave the state unchanged.
"""

from libc.math cimport NAN, isfinite

import numpy as np

from cryptobot.core.errors import ValidationError
from cryptobot.hotpath._checks import (
    MAX_PERIOD,
    as_series,
    check_period,
    non_finite_element_error,
    non_finite_error,
)


cdef class RSI:
    """Relative strength index with Wilder smoothing, seeded as TA-Lib's ``RSI``.

    With ``d_t = x_t - x_{t-1}``, gains ``g_t = max(d_t, 0)`` and losses
    ``l_t = max(-d_t, 0)``: the first averages are the simple means of the
    first `period` gains and losses; after them
    ``avg_t = (avg_{t-1} * (period - 1) + g_t) * (1 / period)`` (likewise
    for losses), with the reciprocal rounded once: that matches the TA-Lib
    0.6 wheels for x86-64 to the last bit on nearly every value (measured).  ``RSI = 100 * avg_gain / (avg_gain + avg_loss)``, and 0 when
    both averages are zero (no price change in the window), as TA-Lib
    returns.  The first RSI comes at update ``period + 1``; NaN before.

    TA-Lib also reports 0 when ``avg_gain + avg_loss`` is below 1e-8; this
    class tests for exactly zero, so assets priced below about 1e-6 still get
    a meaningful RSI.  TA-Lib rejects `period` 1; here it gives 100 after a
    rise and 0 after a fall or no change.

    Parameters
    ----------
    period : int, default 14
        Smoothing period, in [1, 100000].

    Raises
    ------
    ValidationError
        If `period` is not an integer in range.

    Notes
    -----
    Runtime complexity: O(1) per update and O(1) memory.
    """

    def __cinit__(self, period=14):
        self.period = check_period(period)
        self._state.period = self.period
        self._state.reciprocal = 1.0 / self.period
        self.reset_c()

    cdef void reset_c(self) noexcept nogil:
        self._state.previous = 0.0
        self._state.average_gain = 0.0
        self._state.average_loss = 0.0
        self._state.count = 0
        self._state.ready = False
        self._state.value = NAN
        self.count = 0
        self.ready = False
        self.value = NAN

    cdef double update_c(self, double value) noexcept nogil:
        self.value = rsi_step(&self._state, value)
        self.count = self._state.count
        self.ready = self._state.ready
        return self.value

    def update(self, double value):
        """Add one price and return the latest RSI (NaN during warm-up).

        Runtime complexity: O(1).

        Raises
        ------
        ValidationError
            If `value` is NaN or infinite; the state is left unchanged.
        """
        if not isfinite(value):
            raise non_finite_error("value", value)
        return self.update_c(value)

    def reset(self):
        """Forget every value, returning to the state after construction.

        Runtime complexity: O(1).
        """
        self.reset_c()

    def __repr__(self):
        return f"RSI(period={self.period})"


cdef class MACD:
    """Moving average convergence/divergence, aligned as TA-Lib's ``MACD``.

    ``macd = EMA_fast - EMA_slow``, ``signal = EMA_signal(macd)`` and
    ``histogram = macd - signal``, every EMA being TA-Lib's (see
    :class:`~cryptobot.hotpath.averages.EMA`).  TA-Lib aligns the fast EMA
    with the slow one: both start at update `slow_period`, the slow one
    seeded with the mean of the first `slow_period` values and the fast one
    with the mean of the last `fast_period` of those.  The signal EMA is
    seeded with the mean of the first `signal_period` MACD values.  All
    three outputs are NaN until update ``slow_period + signal_period - 1``,
    where TA-Lib's begin too.

    Parameters
    ----------
    fast_period : int, default 12
        Span of the fast EMA, in [1, slow_period - 1].
    slow_period : int, default 26
        Span of the slow EMA, in [2, 100000].
    signal_period : int, default 9
        Span of the signal EMA, in [1, 100000].

    Raises
    ------
    ValidationError
        If a period is not an integer in range.  Unlike TA-Lib, which swaps
        them, a fast period not below the slow one is rejected.

    Notes
    -----
    ``update`` returns the MACD line; read `signal` and `histogram` after it.

    Runtime complexity: O(1) per update and O(1) memory.
    """

    def __cinit__(self, fast_period=12, slow_period=26, signal_period=9):
        self.slow_period = check_period(slow_period, "slow_period", low=2)
        self.fast_period = check_period(fast_period, "fast_period")
        if self.fast_period >= self.slow_period:
            raise ValidationError(
                f"'fast_period' out of range [1, {self.slow_period - 1}] (below 'slow_period' "
                f"{self.slow_period}), was {self.fast_period}",
                {"fast_period": f"out of range [1, {self.slow_period - 1}]"},
            )
        self.signal_period = check_period(signal_period, "signal_period")
        self._state.fast_period = self.fast_period
        self._state.slow_period = self.slow_period
        self._state.signal_period = self.signal_period
        self._state.fast_alpha = 2.0 / (self.fast_period + 1)
        self._state.slow_alpha = 2.0 / (self.slow_period + 1)
        self._state.signal_alpha = 2.0 / (self.signal_period + 1)
        self.reset_c()

    cdef void reset_c(self) noexcept nogil:
        self._state.count = 0
        self._state.ready = False
        self._state.fast_sum = 0.0
        self._state.slow_sum = 0.0
        self._state.signal_sum = 0.0
        self._state.fast = 0.0
        self._state.slow = 0.0
        self._state.macd = NAN
        self._state.signal = NAN
        self._state.histogram = NAN
        self.count = 0
        self.ready = False
        self.value = NAN
        self.macd = NAN
        self.signal = NAN
        self.histogram = NAN

    cdef double update_c(self, double value) noexcept nogil:
        self.value = macd_step(&self._state, value)
        self.macd = self.value
        self.signal = self._state.signal
        self.histogram = self._state.histogram
        self.count = self._state.count
        self.ready = self._state.ready
        return self.value

    def update(self, double value):
        """Add one price and return the latest MACD line (NaN during warm-up).

        Runtime complexity: O(1).

        Raises
        ------
        ValidationError
            If `value` is NaN or infinite; the state is left unchanged.
        """
        if not isfinite(value):
            raise non_finite_error("value", value)
        return self.update_c(value)

    def reset(self):
        """Forget every value, returning to the state after construction.

        Runtime complexity: O(1).
        """
        self.reset_c()

    def __repr__(self):
        return (
            f"MACD(fast_period={self.fast_period}, slow_period={self.slow_period}, "
            f"signal_period={self.signal_period})"
        )


def rsi(values, period=14):
    """Compute the Wilder RSI of a series, seeded as TA-Lib.

    Parameters
    ----------
    values : array_like
        1-D real numbers, all finite; converted to contiguous float64.
    period : int, default 14
        Smoothing period, in [1, 100000].

    Returns
    -------
    numpy.ndarray
        New float64 array of the same length; NaN for the first `period`
        elements.  Bit-identical to feeding :class:`RSI`.

    Raises
    ------
    ValidationError
        If `period` is out of range, or `values` is not 1-D real or holds
        NaN or infinity.

    Notes
    -----
    Runtime complexity: O(len(values)).
    """
    cdef RSI indicator = RSI(period)
    cdef const double[::1] x = as_series("values", values)
    out = np.empty(x.shape[0], dtype=np.float64)
    cdef double[::1] y = out
    cdef Py_ssize_t bad
    with nogil:
        bad = _rsi_run(indicator._state, &x[0] if x.shape[0] else NULL, &y[0] if y.shape[0] else NULL, x.shape[0])
    if bad >= 0:
        raise non_finite_element_error("values", bad, x[bad])
    return out


def macd(values, fast_period=12, slow_period=26, signal_period=9):
    """Compute MACD, its signal line and histogram, aligned as TA-Lib.

    Parameters
    ----------
    values : array_like
        1-D real numbers, all finite; converted to contiguous float64.
    fast_period, slow_period, signal_period : int
        As for :class:`MACD`.

    Returns
    -------
    tuple of numpy.ndarray
        ``(macd, signal, histogram)``, new float64 arrays of the input's
        length, NaN for the first ``slow_period + signal_period - 2``
        elements.  Bit-identical to feeding :class:`MACD`.

    Raises
    ------
    ValidationError
        If a period is out of range, or `values` is not 1-D real or holds
        NaN or infinity.

    Notes
    -----
    Runtime complexity: O(len(values)).
    """
    cdef MACD indicator = MACD(fast_period, slow_period, signal_period)
    cdef const double[::1] x = as_series("values", values)
    cdef Py_ssize_t n = x.shape[0]
    line_out = np.empty(n, dtype=np.float64)
    signal_out = np.empty(n, dtype=np.float64)
    histogram_out = np.empty(n, dtype=np.float64)
    cdef double[::1] line = line_out
    cdef double[::1] signal = signal_out
    cdef double[::1] histogram = histogram_out
    cdef Py_ssize_t bad = -1
    if n:
        with nogil:
            bad = _macd_run(indicator._state, &x[0], &line[0], &signal[0], &histogram[0], n)
    if bad >= 0:
        raise non_finite_element_error("values", bad, x[bad])
    return line_out, signal_out, histogram_out


cdef Py_ssize_t _rsi_run(RSIState state, const double* x, double* y, Py_ssize_t n) noexcept nogil:
    # `state` is a copy, so the compiler can keep it in registers.
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(x[i]):
            return i
        y[i] = rsi_step(&state, x[i])
    return -1


cdef Py_ssize_t _macd_run(
    MACDState state, const double* x, double* line, double* signal, double* histogram, Py_ssize_t n
) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(x[i]):
            return i
        line[i] = macd_step(&state, x[i])
        signal[i] = state.signal
        histogram[i] = state.histogram
    return -1
