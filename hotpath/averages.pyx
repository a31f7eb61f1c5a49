"""Moving averages: simple (SMA), exponential (EMA) and linearly weighted (WMA).

Each indicator comes as a streaming class (one value in, the latest average
out, O(1) per update, no allocation after construction) and as a batch
function over a 1-D array.  The batch function runs the streaming class's
``update_c`` over the array, so both give bit-identical results.

Inputs must be finite: NaN or infinity in a price series is a feed error, so
``update`` and the batch functions raise ``ValidationError`` on it and leave
the indicator's state unchanged.  Outputs are NaN during warm-up.
"""

from libc.math cimport NAN, isfinite

import numpy as np

from cryptobot.hotpath._checks import (
    as_series,
    check_period,
    non_finite_element_error,
    non_finite_error,
)
from cryptobot.hotpath.window cimport window_clear, window_free, window_init


cdef class SMA:
    """Simple moving average over the last `period` values.

    ``SMA_t = (x_{t-period+1} + ... + x_t) / period``, NaN for the first
    ``period - 1`` updates, as TA-Lib's ``SMA``.  The window sum is kept by
    block-prefix sums (see ``window.pxd``), so its rounding error stays
    bounded by about `period` additions however long the stream runs.

    Parameters
    ----------
    period : int
        Window length, in [1, 100000].

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

    cdef double update_c(self, double value) noexcept nogil:
        self.value = sma_step(&self._state, value)
        self.count = self._state.count
        self.ready = self._state.ready
        return self.value

    def update(self, double value):
        """Add one value and return the latest average (NaN during warm-up).

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

        Runtime complexity: O(period).
        """
        self.reset_c()

    def __repr__(self):
        return f"SMA(period={self.period})"


cdef class EMA:
    """Exponential moving average, seeded as TA-Lib's ``EMA``.

    With ``alpha = 2 / (period + 1)``: the first output, at update
    ``period``, is the simple mean of the first `period` values; after it
    ``EMA_t = (x_t - EMA_{t-1}) * alpha + EMA_{t-1}``, the multiply-add
    fused (one rounding) as in the TA-Lib 0.6 wheels built for x86-64, so
    results equal TA-Lib's bit for bit there.  NaN for the first
    ``period - 1`` updates.

    Parameters
    ----------
    period : int
        Seed length and smoothing span, in [1, 100000].

    Raises
    ------
    ValidationError
        If `period` is not an integer in range.

    Notes
    -----
    Runtime complexity: O(1) per update and O(1) memory.
    """

    def __cinit__(self, period):
        self.period = check_period(period)
        self.alpha = 2.0 / (self.period + 1)
        self._state.period = self.period
        self._state.alpha = self.alpha
        self.reset_c()

    cdef void reset_c(self) noexcept nogil:
        self._state.seed_sum = 0.0
        self._state.count = 0
        self._state.ready = False
        self._state.value = NAN
        self.count = 0
        self.ready = False
        self.value = NAN

    cdef double update_c(self, double value) noexcept nogil:
        self.value = ema_step(&self._state, value)
        self.count = self._state.count
        self.ready = self._state.ready
        return self.value

    def update(self, double value):
        """Add one value and return the latest average (NaN during warm-up).

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
        return f"EMA(period={self.period})"


cdef class WMA:
    """Linearly weighted moving average over the last `period` values.

    ``WMA_t = sum_{k=1..period} k * x_{t-period+k} / (period * (period + 1) / 2)``:
    the newest value weighs `period`, the oldest 1, as TA-Lib's ``WMA``.
    NaN for the first ``period - 1`` updates.

    Within a block of the block-prefix scheme (see ``window.pxd``) the
    indicator keeps prefix sums of ``x`` and of ``j * x``, j being the offset
    in the block.  A window ending at offset j then weighs the previous
    block's suffix by ``q - j`` and the current block's prefix by
    ``q + period - j``, so both weighted parts follow from those sums without
    any long-running subtraction.

    Parameters
    ----------
    period : int
        Window length, in [1, 100000].

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
        self._state.divisor = self.period * (self.period + 1) / 2.0
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

    cdef double update_c(self, double value) noexcept nogil:
        self.value = wma_step(&self._state, value)
        self.count = self._state.count
        self.ready = self._state.ready
        return self.value

    def update(self, double value):
        """Add one value and return the latest average (NaN during warm-up).

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

        Runtime complexity: O(period).
        """
        self.reset_c()

    def __repr__(self):
        return f"WMA(period={self.period})"


def sma(values, period):
    """Compute the simple moving average of a series.

    Parameters
    ----------
    values : array_like
        1-D real numbers, all finite; converted to contiguous float64.
    period : int
        Window length, in [1, 100000].

    Returns
    -------
    numpy.ndarray
        New float64 array of the same length; NaN for the first
        ``period - 1`` elements.  Bit-identical to feeding :class:`SMA`.

    Raises
    ------
    ValidationError
        If `period` is out of range, or `values` is not 1-D real or holds
        NaN or infinity.

    Notes
    -----
    Runtime complexity: O(len(values)).
    """
    cdef SMA indicator = SMA(period)
    cdef const double[::1] x = as_series("values", values)
    out = np.empty(x.shape[0], dtype=np.float64)
    cdef double[::1] y = out
    cdef Py_ssize_t bad
    with nogil:
        bad = _sma_run(indicator._state, &x[0] if x.shape[0] else NULL, &y[0] if y.shape[0] else NULL, x.shape[0])
    if bad >= 0:
        raise non_finite_element_error("values", bad, x[bad])
    return out


def ema(values, period):
    """Compute the exponential moving average of a series, seeded as TA-Lib.

    Parameters
    ----------
    values : array_like
        1-D real numbers, all finite; converted to contiguous float64.
    period : int
        Seed length and smoothing span, in [1, 100000].

    Returns
    -------
    numpy.ndarray
        New float64 array of the same length; NaN for the first
        ``period - 1`` elements.  Bit-identical to feeding :class:`EMA`.

    Raises
    ------
    ValidationError
        If `period` is out of range, or `values` is not 1-D real or holds
        NaN or infinity.

    Notes
    -----
    Runtime complexity: O(len(values)).
    """
    cdef EMA indicator = EMA(period)
    cdef const double[::1] x = as_series("values", values)
    out = np.empty(x.shape[0], dtype=np.float64)
    cdef double[::1] y = out
    cdef Py_ssize_t bad
    with nogil:
        bad = _ema_run(indicator._state, &x[0] if x.shape[0] else NULL, &y[0] if y.shape[0] else NULL, x.shape[0])
    if bad >= 0:
        raise non_finite_element_error("values", bad, x[bad])
    return out


def wma(values, period):
    """Compute the linearly weighted moving average of a series.

    Parameters
    ----------
    values : array_like
        1-D real numbers, all finite; converted to contiguous float64.
    period : int
        Window length, in [1, 100000].

    Returns
    -------
    numpy.ndarray
        New float64 array of the same length; NaN for the first
        ``period - 1`` elements.  Bit-identical to feeding :class:`WMA`.

    Raises
    ------
    ValidationError
        If `period` is out of range, or `values` is not 1-D real or holds
        NaN or infinity.

    Notes
    -----
    Runtime complexity: O(len(values)).
    """
    cdef WMA indicator = WMA(period)
    cdef const double[::1] x = as_series("values", values)
    out = np.empty(x.shape[0], dtype=np.float64)
    cdef double[::1] y = out
    cdef Py_ssize_t bad
    with nogil:
        bad = _wma_run(indicator._state, &x[0] if x.shape[0] else NULL, &y[0] if y.shape[0] else NULL, x.shape[0])
    if bad >= 0:
        raise non_finite_element_error("values", bad, x[bad])
    return out


cdef Py_ssize_t _sma_run(SMAState state, const double* x, double* y, Py_ssize_t n) noexcept nogil:
    # `state` is a copy, so the compiler can keep it in registers.  The window
    # arrays it points to stay owned by the indicator object.
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(x[i]):
            return i
        y[i] = sma_step(&state, x[i])
    return -1


cdef Py_ssize_t _ema_run(EMAState state, const double* x, double* y, Py_ssize_t n) noexcept nogil:
    # `state` is a copy, so the compiler can keep it in registers.  The window
    # arrays it points to stay owned by the indicator object.
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(x[i]):
            return i
        y[i] = ema_step(&state, x[i])
    return -1


cdef Py_ssize_t _wma_run(WMAState state, const double* x, double* y, Py_ssize_t n) noexcept nogil:
    # `state` is a copy, so the compiler can keep it in registers.  The window
    # arrays it points to stay owned by the indicator object.
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(x[i]):
            return i
        y[i] = wma_step(&state, x[i])
    return -1
