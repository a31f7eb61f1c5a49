"""C API of the oscillators: RSI and MACD.

Each indicator is a state struct and an inline step function (the kernel),
wrapped by a final class.  The class's ``update_c`` and the batch functions
run the same kernel, so they round identically.  Cython code calls
``update_c`` directly; unlike the Python ``update`` it does not check its
input, so the caller must pass finite values.
"""

cimport cython
from libc.math cimport fma


cdef struct RSIState:
    Py_ssize_t period
    Py_ssize_t count
    bint ready
    double value
    double reciprocal   # 1 / period, rounded once
    double previous
    double average_gain
    double average_loss


cdef inline double rsi_step(RSIState* s, double x) noexcept nogil:
    cdef double change, gain, loss, total
    s.count += 1
    if s.count == 1:
        s.previous = x
        return s.value
    change = x - s.previous
    s.previous = x
    # Selects rather than branches: the sign of a price change is a coin
    # flip the branch predictor cannot learn.
    gain = change if change > 0.0 else 0.0
    loss = -change if change < 0.0 else 0.0

    if s.count > s.period + 1:
        # Multiplying by the rounded reciprocal (not dividing) matches the
        # TA-Lib 0.6 wheels for x86-64 to the last bit on nearly every value
        # (measured), and takes the division off the loop-carried chain.
        s.average_gain = (s.average_gain * (s.period - 1) + gain) * s.reciprocal
        s.average_loss = (s.average_loss * (s.period - 1) + loss) * s.reciprocal
    else:
        # Seeding: sum the first `period` changes, then divide once.
        s.average_gain += gain
        s.average_loss += loss
        if s.count <= s.period:
            return s.value
        s.average_gain /= s.period
        s.average_loss /= s.period
        s.ready = True

    total = s.average_gain + s.average_loss
    if total != 0.0:
        s.value = 100.0 * (s.average_gain / total)
    else:
        s.value = 0.0
    return s.value


cdef struct MACDState:
    Py_ssize_t fast_period
    Py_ssize_t slow_period
    Py_ssize_t signal_period
    Py_ssize_t count
    bint ready
    double fast_alpha
    double slow_alpha
    double signal_alpha
    double fast_sum
    double slow_sum
    double signal_sum
    double fast
    double slow
    double macd
    double signal
    double histogram


cdef inline double macd_step(MACDState* s, double x) noexcept nogil:
    cdef double line
    cdef Py_ssize_t line_count
    s.count += 1
    if s.count > s.slow_period:
        s.slow = fma(x - s.slow, s.slow_alpha, s.slow)
        s.fast = fma(x - s.fast, s.fast_alpha, s.fast)
    else:
        s.slow_sum += x
        if s.count > s.slow_period - s.fast_period:
            s.fast_sum += x
        if s.count < s.slow_period:
            return s.macd
        s.slow = s.slow_sum / s.slow_period
        s.fast = s.fast_sum / s.fast_period

    line = s.fast - s.slow
    line_count = s.count - s.slow_period + 1
    if line_count > s.signal_period:
        s.signal = fma(line - s.signal, s.signal_alpha, s.signal)
    else:
        s.signal_sum += line
        if line_count < s.signal_period:
            return s.macd
        s.signal = s.signal_sum / s.signal_period
        s.ready = True
    s.macd = line
    s.histogram = line - s.signal
    return s.macd


@cython.final
cdef class RSI:
    cdef readonly Py_ssize_t period
    """Wilder smoothing period, in updates."""
    cdef readonly double value
    """Latest RSI in [0, 100]; NaN until `period` + 1 values have been seen."""
    cdef readonly bint ready
    """Whether `value` holds an RSI (warm-up is over)."""
    cdef readonly Py_ssize_t count
    """Number of updates since construction or the last reset."""
    cdef RSIState _state

    cdef double update_c(self, double value) noexcept nogil
    cdef void reset_c(self) noexcept nogil


@cython.final
cdef class MACD:
    cdef readonly Py_ssize_t fast_period
    """Span of the fast EMA."""
    cdef readonly Py_ssize_t slow_period
    """Span of the slow EMA."""
    cdef readonly Py_ssize_t signal_period
    """Span of the signal EMA over the MACD line."""
    cdef readonly double value
    """Latest MACD line, the same as `macd`; NaN during warm-up."""
    cdef readonly double macd
    """Latest MACD line, fast EMA minus slow EMA; NaN during warm-up."""
    cdef readonly double signal
    """Latest signal line, the EMA of the MACD line; NaN during warm-up."""
    cdef readonly double histogram
    """Latest MACD line minus signal line; NaN during warm-up."""
    cdef readonly bint ready
    """Whether the three outputs are set (warm-up is over)."""
    cdef readonly Py_ssize_t count
    """Number of updates since construction or the last reset."""
    cdef MACDState _state

    cdef double update_c(self, double value) noexcept nogil
    cdef void reset_c(self) noexcept nogil
