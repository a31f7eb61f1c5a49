"""C API of the moving averages: SMA, EMA and WMA.

Each indicator is a state struct and an inline step function (the kernel),
wrapped by a final class.  The class's ``update_c`` and the batch functions
run the same kernel, so they round identically.  Cython code calls
``update_c`` directly; unlike the Python ``update`` it does not check its
input, so the caller must pass finite values.
"""

cimport cython
from libc.math cimport fma

from cryptobot.hotpath.window cimport (
    PrefixWindow,
    window_advance,
    window_push,
    window_suffix0,
    window_suffix1,
)


cdef struct SMAState:
    Py_ssize_t period
    Py_ssize_t count
    bint ready
    double value
    PrefixWindow window


cdef inline double sma_step(SMAState* s, double x) noexcept nogil:
    cdef double total
    window_push(&s.window, x, 0.0)
    total = window_suffix0(&s.window) + s.window.run0
    window_advance(&s.window)
    s.count += 1
    if s.count >= s.period:
        s.value = total / s.period
        s.ready = True
    return s.value


cdef struct EMAState:
    Py_ssize_t period
    Py_ssize_t count
    bint ready
    double value
    double alpha
    double seed_sum


cdef inline double ema_step(EMAState* s, double x) noexcept nogil:
    # NOTE: libm's fma rounds once on every CPU, but one without FMA
    # instructions (x86-64 before Haswell) emulates it, many times slower.
    s.count += 1
    if s.count > s.period:
        s.value = fma(x - s.value, s.alpha, s.value)
    else:
        s.seed_sum += x
        if s.count == s.period:
            s.value = s.seed_sum / s.period
            s.ready = True
    return s.value


cdef struct WMAState:
    Py_ssize_t period
    Py_ssize_t count
    bint ready
    double value
    double divisor
    PrefixWindow window


cdef inline double wma_step(WMAState* s, double x) noexcept nogil:
    cdef Py_ssize_t offset = s.window.pos
    cdef double suffix_sum, suffix_weighted, weighted
    window_push(&s.window, x, offset * x)
    suffix_sum = window_suffix0(&s.window)
    suffix_weighted = window_suffix1(&s.window)
    weighted = (suffix_weighted - offset * suffix_sum) + (
        s.window.run1 + (s.period - offset) * s.window.run0
    )
    window_advance(&s.window)
    s.count += 1
    if s.count >= s.period:
        s.value = weighted / s.divisor
        s.ready = True
    return s.value


@cython.final
cdef class SMA:
    cdef readonly Py_ssize_t period
    """Window length, in updates."""
    cdef readonly double value
    """Latest average; NaN until `period` values have been seen."""
    cdef readonly bint ready
    """Whether `value` holds an average (warm-up is over)."""
    cdef readonly Py_ssize_t count
    """Number of updates since construction or the last reset."""
    cdef SMAState _state

    cdef double update_c(self, double value) noexcept nogil
    cdef void reset_c(self) noexcept nogil


@cython.final
cdef class EMA:
    cdef readonly Py_ssize_t period
    """Number of values averaged by the seed and setting the smoothing factor."""
    cdef readonly double alpha
    """Smoothing factor 2 / (period + 1)."""
    cdef readonly double value
    """Latest average; NaN until `period` values have been seen."""
    cdef readonly bint ready
    """Whether `value` holds an average (warm-up is over)."""
    cdef readonly Py_ssize_t count
    """Number of updates since construction or the last reset."""
    cdef EMAState _state

    cdef double update_c(self, double value) noexcept nogil
    cdef void reset_c(self) noexcept nogil


@cython.final
cdef class WMA:
    cdef readonly Py_ssize_t period
    """Window length, in updates."""
    cdef readonly double value
    """Latest average; NaN until `period` values have been seen."""
    cdef readonly bint ready
    """Whether `value` holds an average (warm-up is over)."""
    cdef readonly Py_ssize_t count
    """Number of updates since construction or the last reset."""
    cdef WMAState _state

    cdef double update_c(self, double value) noexcept nogil
    cdef void reset_c(self) noexcept nogil
