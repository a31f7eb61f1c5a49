"""C API of the volatility indicators: rolling standard deviation,
Bollinger bands, rolling z-score and ATR.

Each indicator is a state struct and an inline step function (the kernel),
wrapped by a final class.  The class's ``update_c`` and the batch functions
run the same kernel, so they round identically.  Cython code calls
``update_c`` directly; unlike the Python ``update`` it does not check its
input, so the caller must pass finite values (and, for ATR, high >= low).
"""

cimport cython
from libc.math cimport fabs, sqrt

from cryptobot.hotpath.window cimport RollingMoments, rolling_moments_update


cdef struct StdState:
    Py_ssize_t period
    Py_ssize_t ddof
    Py_ssize_t count
    bint ready
    double value
    RollingMoments moments


cdef inline double std_step(StdState* s, double x) noexcept nogil:
    rolling_moments_update(&s.moments, x)
    s.count += 1
    if s.count >= s.period:
        s.value = sqrt(s.moments.m2 / (s.period - s.ddof))
        s.ready = True
    return s.value


cdef struct BollingerState:
    Py_ssize_t period
    Py_ssize_t count
    bint ready
    double num_std
    double middle
    double upper
    double lower
    RollingMoments moments


cdef inline double bollinger_step(BollingerState* s, double x) noexcept nogil:
    cdef double width
    rolling_moments_update(&s.moments, x)
    s.count += 1
    if s.count >= s.period:
        width = s.num_std * sqrt(s.moments.m2 / s.period)
        s.middle = s.moments.mean
        s.upper = s.middle + width
        s.lower = s.middle - width
        s.ready = True
    return s.middle


cdef struct ZScoreState:
    Py_ssize_t period
    Py_ssize_t ddof
    Py_ssize_t count
    bint ready
    double value
    RollingMoments moments


cdef inline double zscore_step(ZScoreState* s, double x) noexcept nogil:
    cdef double deviation
    rolling_moments_update(&s.moments, x)
    s.count += 1
    if s.count >= s.period:
        deviation = sqrt(s.moments.m2 / (s.period - s.ddof))
        s.value = (x - s.moments.mean) / deviation if deviation > 0.0 else 0.0
        s.ready = True
    return s.value


cdef struct ATRState:
    Py_ssize_t period
    Py_ssize_t count
    bint ready
    double value
    double previous_close
    double range_sum


cdef inline double atr_step(ATRState* s, double high, double low, double close) noexcept nogil:
    # True range and smoothing in TA-Lib's order (ta_TRANGE.c, ta_ATR.c).
    cdef double true_range, candidate
    s.count += 1
    if s.count == 1:
        s.previous_close = close
        return s.value
    true_range = high - low
    candidate = fabs(s.previous_close - high)
    if candidate > true_range:
        true_range = candidate
    candidate = fabs(s.previous_close - low)
    if candidate > true_range:
        true_range = candidate
    s.previous_close = close

    if s.count > s.period + 1:
        s.value = (s.value * (s.period - 1) + true_range) / s.period
    else:
        s.range_sum += true_range
        if s.count == s.period + 1:
            s.value = s.range_sum / s.period
            s.ready = True
    return s.value


@cython.final
cdef class RollingStd:
    cdef readonly Py_ssize_t period
    """Window length, in updates."""
    cdef readonly Py_ssize_t ddof
    """Delta degrees of freedom: 0 for the population, 1 for the sample deviation."""
    cdef readonly double value
    """Latest standard deviation; NaN until `period` values have been seen."""
    cdef readonly bint ready
    """Whether `value` holds a deviation (warm-up is over)."""
    cdef readonly Py_ssize_t count
    """Number of updates since construction or the last reset."""
    cdef StdState _state

    cdef double update_c(self, double value) noexcept nogil
    cdef void reset_c(self) noexcept nogil


@cython.final
cdef class BollingerBands:
    cdef readonly Py_ssize_t period
    """Window length, in updates."""
    cdef readonly double num_std
    """Band half-width, in population standard deviations."""
    cdef readonly double value
    """Latest middle band, the same as `middle`; NaN during warm-up."""
    cdef readonly double middle
    """Latest middle band, the simple moving average; NaN during warm-up."""
    cdef readonly double upper
    """Latest upper band, middle + num_std * deviation; NaN during warm-up."""
    cdef readonly double lower
    """Latest lower band, middle - num_std * deviation; NaN during warm-up."""
    cdef readonly bint ready
    """Whether the three bands are set (warm-up is over)."""
    cdef readonly Py_ssize_t count
    """Number of updates since construction or the last reset."""
    cdef BollingerState _state

    cdef double update_c(self, double value) noexcept nogil
    cdef void reset_c(self) noexcept nogil


@cython.final
cdef class ZScore:
    cdef readonly Py_ssize_t period
    """Window length, in updates."""
    cdef readonly Py_ssize_t ddof
    """Delta degrees of freedom of the deviation: 0 population, 1 sample."""
    cdef readonly double value
    """Latest z-score; NaN until `period` values have been seen."""
    cdef readonly bint ready
    """Whether `value` holds a z-score (warm-up is over)."""
    cdef readonly Py_ssize_t count
    """Number of updates since construction or the last reset."""
    cdef ZScoreState _state

    cdef double update_c(self, double value) noexcept nogil
    cdef void reset_c(self) noexcept nogil


@cython.final
cdef class ATR:
    cdef readonly Py_ssize_t period
    """Wilder smoothing period, in bars."""
    cdef readonly double value
    """Latest average true range; NaN until `period` + 1 bars have been seen."""
    cdef readonly bint ready
    """Whether `value` holds an ATR (warm-up is over)."""
    cdef readonly Py_ssize_t count
    """Number of bars since construction or the last reset."""
    cdef ATRState _state

    cdef double update_c(self, double high, double low, double close) noexcept nogil
    cdef void reset_c(self) noexcept nogil
