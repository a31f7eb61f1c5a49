"""C API of the rolling minimum and maximum.

Each keeps a monotonic deque of (value, index) in two ring arrays of
`period` slots, allocated once: amortized O(1) per update, because every
value is pushed once and popped at most once.  Cython code calls
``update_c`` directly; unlike the Python ``update`` it does not check its
input, so the caller must pass finite values.
"""

cimport cython
from libc.stdint cimport int64_t


cdef struct ExtremeState:
    Py_ssize_t period
    Py_ssize_t count
    bint ready
    bint is_max      # keep the maximum (True) or the minimum (False)
    double value
    Py_ssize_t head  # ring slot of the deque's front (the current extreme)
    Py_ssize_t size  # number of values in the deque
    double* values   # ring of `period` candidate values, front to back monotonic
    int64_t* indices # update index of each candidate


cdef inline double extreme_step(ExtremeState* s, double x) noexcept nogil:
    cdef Py_ssize_t n = s.period
    cdef Py_ssize_t back, slot
    cdef int64_t index = s.count

    # Drop the front once it leaves the window.  Indices grow by one per
    # update, so at most one candidate expires at a time.
    if s.size > 0 and s.indices[s.head] <= index - n:
        s.head += 1
        if s.head == n:
            s.head = 0
        s.size -= 1

    # Drop candidates that `x` dominates: they can never be the extreme again.
    while s.size > 0:
        back = s.head + s.size - 1
        if back >= n:
            back -= n
        if (s.values[back] <= x) if s.is_max else (s.values[back] >= x):
            s.size -= 1
        else:
            break

    slot = s.head + s.size
    if slot >= n:
        slot -= n
    s.values[slot] = x
    s.indices[slot] = index
    s.size += 1
    s.count += 1
    if s.count >= n:
        s.value = s.values[s.head]
        s.ready = True
    return s.value


@cython.final
cdef class RollingMin:
    cdef readonly Py_ssize_t period
    """Window length, in updates."""
    cdef readonly double value
    """Latest window minimum; NaN until `period` values have been seen."""
    cdef readonly bint ready
    """Whether `value` holds a minimum (warm-up is over)."""
    cdef readonly Py_ssize_t count
    """Number of updates since construction or the last reset."""
    cdef ExtremeState _state

    cdef double update_c(self, double value) noexcept nogil
    cdef void reset_c(self) noexcept nogil


@cython.final
cdef class RollingMax:
    cdef readonly Py_ssize_t period
    """Window length, in updates."""
    cdef readonly double value
    """Latest window maximum; NaN until `period` values have been seen."""
    cdef readonly bint ready
    """Whether `value` holds a maximum (warm-up is over)."""
    cdef readonly Py_ssize_t count
    """Number of updates since construction or the last reset."""
    cdef ExtremeState _state

    cdef double update_c(self, double value) noexcept nogil
    cdef void reset_c(self) noexcept nogil
