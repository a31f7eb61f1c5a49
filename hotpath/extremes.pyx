"""Rolling minimum and maximum over the last `period` values.

Both keep a monotonic deque (see ``extremes.pxd``), so an update costs
amortized O(1) and O(period) in the worst case, when one value evicts every
candidate.  Each comes as a streaming class and a batch function that runs
the same kernel, so streaming and batch results are bit-identical; they
equal TA-Lib's ``MIN`` and ``MAX``.

Inputs must be finite: ``update`` and the batch functions raise
``ValidationError`` on NaN or infinity and leave the state unchanged.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.math cimport NAN, isfinite
from libc.stdint cimport int64_t

import numpy as np

from cryptobot.hotpath._checks import (
    as_series,
    check_period,
    non_finite_element_error,
    non_finite_error,
)


cdef int _state_init(ExtremeState* s, Py_ssize_t period, bint is_max) except -1:
    s.period = period
    s.is_max = is_max
    s.values = <double*>PyMem_Malloc(period * sizeof(double))
    s.indices = <int64_t*>PyMem_Malloc(period * sizeof(int64_t))
    if s.values == NULL or s.indices == NULL:
        _state_free(s)
        raise MemoryError()
    _state_clear(s)
    return 0


cdef void _state_free(ExtremeState* s) noexcept:
    PyMem_Free(s.values)
    PyMem_Free(s.indices)
    s.values = NULL
    s.indices = NULL


cdef void _state_clear(ExtremeState* s) noexcept nogil:
    s.count = 0
    s.ready = False
    s.value = NAN
    s.head = 0
    s.size = 0


cdef class RollingMin:
    """Minimum of the last `period` values, as TA-Lib's ``MIN``.

    NaN for the first ``period - 1`` updates.

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
    Runtime complexity: amortized O(1) per update, O(period) worst case;
    O(period) memory, allocated once.
    """

    def __cinit__(self, period):
        self.period = check_period(period)
        _state_init(&self._state, self.period, False)
        self.reset_c()

    def __dealloc__(self):
        _state_free(&self._state)

    cdef void reset_c(self) noexcept nogil:
        _state_clear(&self._state)
        self.count = 0
        self.ready = False
        self.value = NAN

    cdef double update_c(self, double value) noexcept nogil:
        self.value = extreme_step(&self._state, value)
        self.count = self._state.count
        self.ready = self._state.ready
        return self.value

    def update(self, double value):
        """Add one value and return the window minimum (NaN during warm-up).

        Runtime complexity: amortized O(1).

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
        return f"RollingMin(period={self.period})"


cdef class RollingMax:
    """Maximum of the last `period` values, as TA-Lib's ``MAX``.

    NaN for the first ``period - 1`` updates.

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
    Runtime complexity: amortized O(1) per update, O(period) worst case;
    O(period) memory, allocated once.
    """

    def __cinit__(self, period):
        self.period = check_period(period)
        _state_init(&self._state, self.period, True)
        self.reset_c()

    def __dealloc__(self):
        _state_free(&self._state)

    cdef void reset_c(self) noexcept nogil:
        _state_clear(&self._state)
        self.count = 0
        self.ready = False
        self.value = NAN

    cdef double update_c(self, double value) noexcept nogil:
        self.value = extreme_step(&self._state, value)
        self.count = self._state.count
        self.ready = self._state.ready
        return self.value

    def update(self, double value):
        """Add one value and return the window maximum (NaN during warm-up).

        Runtime complexity: amortized O(1).

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
        return f"RollingMax(period={self.period})"


def rolling_min(values, period):
    """Compute the rolling minimum of a series.

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
        ``period - 1`` elements.  Bit-identical to feeding :class:`RollingMin`.

    Raises
    ------
    ValidationError
        If `period` is out of range, or `values` is not 1-D real or holds
        NaN or infinity.

    Notes
    -----
    Runtime complexity: O(len(values)).
    """
    cdef RollingMin indicator = RollingMin(period)
    return _run(&indicator._state, values)


def rolling_max(values, period):
    """Compute the rolling maximum of a series.

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
        ``period - 1`` elements.  Bit-identical to feeding :class:`RollingMax`.

    Raises
    ------
    ValidationError
        If `period` is out of range, or `values` is not 1-D real or holds
        NaN or infinity.

    Notes
    -----
    Runtime complexity: O(len(values)).
    """
    cdef RollingMax indicator = RollingMax(period)
    return _run(&indicator._state, values)


cdef object _run(ExtremeState* state, values):
    cdef const double[::1] x = as_series("values", values)
    out = np.empty(x.shape[0], dtype=np.float64)
    cdef double[::1] y = out
    cdef Py_ssize_t bad = -1
    if x.shape[0]:
        with nogil:
            bad = _extreme_run(state[0], &x[0], &y[0], x.shape[0])
    if bad >= 0:
        raise non_finite_element_error("values", bad, x[bad])
    return out


cdef Py_ssize_t _extreme_run(ExtremeState state, const double* x, double* y, Py_ssize_t n) noexcept nogil:
    # `state` is a copy, so the compiler can keep it in registers.  Its ring
    # arrays stay owned by the indicator object.
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(x[i]):
            return i
        y[i] = extreme_step(&state, x[i])
    return -1
