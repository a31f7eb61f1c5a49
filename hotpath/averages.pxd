"""C API of the moving averages: SMA, EMA and WMA.

Cython code calls ``update_c`` directly; it skips the finiteness check that
the Python ``update`` does, so the caller must pass finite values.
"""

cimport cython

from cryptobot.hotpath.window cimport PrefixWindow


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
    cdef PrefixWindow _window

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
    cdef double _seed_sum

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
    cdef double _divisor
    cdef PrefixWindow _window

    cdef double update_c(self, double value) noexcept nogil
    cdef void reset_c(self) noexcept nogil
