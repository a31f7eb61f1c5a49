"""C API of the volume-weighted average price (VWAP) indicators.

Each indicator is a state struct and an inline step function (the kernel),
wrapped by a final class.  The class's ``update_c`` and the batch functions
run the same kernel, so they round identically.  Cython code calls
``update_c`` directly; unlike the Python ``update`` it does not check its
input, so the caller must pass a finite price, a finite volume >= 0 and, for
the session form, no timestamp from a session earlier than the current one.
"""

cimport cython
from libc.math cimport NAN
from libc.stdint cimport int64_t

from cryptobot.hotpath.window cimport PrefixWindow, window_advance, window_push, window_suffix0, window_suffix1


cdef inline int64_t floor_divide(int64_t a, int64_t b) noexcept nogil:
    # C division truncates toward zero; sessions before 1970 need the floor.
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef struct SessionVWAPState:
    int64_t session_ns
    int64_t offset_ns
    int64_t session      # index of the current session
    Py_ssize_t count     # updates in the current session
    bint ready
    double value
    double price_volume  # sum of price * volume in the current session
    double volume        # sum of volume in the current session


cdef inline double session_vwap_step(
    SessionVWAPState* s, double price, double volume, int64_t timestamp_ns
) noexcept nogil:
    cdef int64_t session = floor_divide(timestamp_ns - s.offset_ns, s.session_ns)
    if s.count == 0 or session != s.session:
        s.session = session
        s.count = 0
        s.price_volume = 0.0
        s.volume = 0.0
    s.count += 1
    s.price_volume += price * volume
    s.volume += volume
    if s.volume > 0.0:
        s.value = s.price_volume / s.volume
        s.ready = True
    else:
        s.value = NAN
        s.ready = False
    return s.value


cdef struct RollingVWAPState:
    Py_ssize_t period
    Py_ssize_t count
    bint ready
    double value
    PrefixWindow window  # channel 0: price * volume, channel 1: volume


cdef inline double rolling_vwap_step(RollingVWAPState* s, double price, double volume) noexcept nogil:
    cdef double price_volume, total_volume
    window_push(&s.window, price * volume, volume)
    price_volume = window_suffix0(&s.window) + s.window.run0
    total_volume = window_suffix1(&s.window) + s.window.run1
    window_advance(&s.window)
    s.count += 1
    if s.count >= s.period and total_volume > 0.0:
        s.value = price_volume / total_volume
        s.ready = True
    else:
        s.value = NAN
        s.ready = False
    return s.value


@cython.final
cdef class SessionVWAP:
    cdef readonly int64_t session_ns
    """Session length, in nanoseconds."""
    cdef readonly int64_t offset_ns
    """Session boundaries fall at offset_ns + k * session_ns since the epoch."""
    cdef readonly double value
    """Latest VWAP of the current session; NaN while its volume is zero."""
    cdef readonly bint ready
    """Whether `value` holds a VWAP (the session has traded volume)."""
    cdef readonly Py_ssize_t count
    """Number of updates in the current session."""
    cdef readonly int64_t last_timestamp_ns
    """Timestamp of the latest update, in nanoseconds since the epoch."""
    cdef SessionVWAPState _state

    cdef double update_c(self, double price, double volume, int64_t timestamp_ns) noexcept nogil
    cdef void reset_c(self) noexcept nogil


@cython.final
cdef class RollingVWAP:
    cdef readonly Py_ssize_t period
    """Window length, in updates."""
    cdef readonly double value
    """Latest VWAP; NaN until `period` updates and while the window's volume is zero."""
    cdef readonly bint ready
    """Whether `value` holds a VWAP."""
    cdef readonly Py_ssize_t count
    """Number of updates since construction or the last reset."""
    cdef RollingVWAPState _state

    cdef double update_c(self, double price, double volume) noexcept nogil
    cdef void reset_c(self) noexcept nogil
