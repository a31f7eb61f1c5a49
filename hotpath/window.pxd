# Sliding-window sums in O(1) per update without long-term drift.
#
# A running sum updated as `sum += new - old` carries every rounding error it
# ever made, so after millions of ticks (or after prices change scale) its
# error grows without bound.  The block-prefix scheme used here keeps the error
# bounded by about `period` roundings, strictly in O(1) per update:
#
# The stream is cut into blocks of `period` values.  For the block being
# filled, `cur[j]` stores the prefix sum of its first j+1 values; `prev` keeps
# the same prefix sums of the previous, complete block, and `total` its sum.
# A window ending at offset j of the current block is the suffix of the
# previous block after offset j plus the prefix of the current block up to j:
#
#     window sum = (total - prev[j]) + cur[j]
#
# Every term was accumulated by at most `period` additions since its block
# started, and nothing is ever subtracted from a running value, so no error
# survives two blocks.  Two channels are kept side by side (interleaved) so an
# indicator can carry two related sums, such as sum(x) and sum(x**2).

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.math cimport fabs
from libc.string cimport memset


cdef struct PrefixWindow:
    Py_ssize_t period   # block length, the window length
    Py_ssize_t pos      # offset j of the next value within the current block
    double run0         # prefix sums of the current block, channel 0 and 1
    double run1
    double total0       # sums of the whole previous block, channel 0 and 1
    double total1
    double* prev        # 2 * period prefix sums of the previous block
    double* cur         # 2 * period prefix sums of the current block


cdef inline int window_init(PrefixWindow* w, Py_ssize_t period) except -1:
    w.period = period
    w.prev = <double*>PyMem_Malloc(2 * period * sizeof(double))
    w.cur = <double*>PyMem_Malloc(2 * period * sizeof(double))
    if w.prev == NULL or w.cur == NULL:
        window_free(w)
        raise MemoryError()
    window_clear(w)
    return 0


cdef inline void window_free(PrefixWindow* w) noexcept:
    PyMem_Free(w.prev)
    PyMem_Free(w.cur)
    w.prev = NULL
    w.cur = NULL


cdef inline void window_clear(PrefixWindow* w) noexcept nogil:
    # Zeroed previous-block sums make the suffix term 0 during the first block.
    memset(w.prev, 0, 2 * w.period * sizeof(double))
    memset(w.cur, 0, 2 * w.period * sizeof(double))
    w.pos = 0
    w.run0 = 0.0
    w.run1 = 0.0
    w.total0 = 0.0
    w.total1 = 0.0


cdef inline void window_push(PrefixWindow* w, double a, double b) noexcept nogil:
    """Add `a` to channel 0 and `b` to channel 1 at offset `pos`."""
    cdef Py_ssize_t i = 2 * w.pos
    w.run0 += a
    w.run1 += b
    w.cur[i] = w.run0
    w.cur[i + 1] = w.run1


cdef inline double window_suffix0(const PrefixWindow* w) noexcept nogil:
    """Sum of channel 0 over the previous block after offset `pos`."""
    return w.total0 - w.prev[2 * w.pos]


cdef inline double window_suffix1(const PrefixWindow* w) noexcept nogil:
    """Sum of channel 1 over the previous block after offset `pos`."""
    return w.total1 - w.prev[2 * w.pos + 1]


cdef inline void window_advance(PrefixWindow* w) noexcept nogil:
    """Move to the next offset, starting a new block after `period` values."""
    cdef double* swap
    w.pos += 1
    if w.pos == w.period:
        swap = w.prev
        w.prev = w.cur
        w.cur = swap
        w.total0 = w.run0
        w.total1 = w.run1
        w.run0 = 0.0
        w.run1 = 0.0
        w.pos = 0


# Rolling mean and sum of squared deviations over the window.
#
# Squaring raw prices (about 6e4, squares about 4e9) and subtracting the
# squared mean loses about nine of the sixteen significant digits when the
# window's standard deviation is a few dollars.  So each block stores its
# values shifted by its own first value (`shift_cur`, a price inside the
# current window), which keeps the squared terms the size of the window's
# spread.  The previous block's suffix, stored relative to `shift_prev`, is
# moved to the current shift with the exact identities
#     sum(y - c)    = sum(y - p) + m*e
#     sum((y - c)²) = sum((y - p)²) + e*(2*sum(y - p) + m*e),   e = p - c
# where m is the number of suffix values.

cdef struct RollingMoments:
    PrefixWindow window
    bint first_block    # no block has been completed since the last clear
    double shift_prev   # first value of the previous block
    double shift_cur    # first value of the current block
    double mean         # window mean after the last update
    double m2           # window sum of squared deviations after the last update


cdef inline void moments_clear(RollingMoments* m) noexcept nogil:
    window_clear(&m.window)
    m.first_block = True
    m.shift_prev = 0.0
    m.shift_cur = 0.0
    m.mean = 0.0
    m.m2 = 0.0


cdef inline void moments_update(RollingMoments* m, double x) noexcept nogil:
    """Push `x` and set `mean` and `m2` for the window ending at it."""
    cdef PrefixWindow* w = &m.window
    cdef Py_ssize_t n = w.period
    cdef Py_ssize_t suffix_count = n - 1 - w.pos
    cdef double d, s1, s2, e, sum1, sum2, magnitude, m2

    if w.pos == 0:
        # The first block has no predecessor: its (all-zero) suffix sums get
        # the same shift, so the conversion below adds exactly zero.
        m.shift_prev = x if m.first_block else m.shift_cur
        m.shift_cur = x
        m.first_block = False
    d = x - m.shift_cur
    window_push(w, d, d * d)

    s1 = window_suffix0(w)
    s2 = window_suffix1(w)
    e = m.shift_prev - m.shift_cur
    sum1 = w.run0 + (s1 + suffix_count * e)
    sum2 = w.run1 + (s2 + e * (2.0 * s1 + suffix_count * e))

    # Each sum carries at most about n+4 roundings of terms no larger than
    # `magnitude`, so a result below that bound cannot be told from zero (a
    # flat window) and is reported as exactly zero, not as rounding noise.
    magnitude = w.run1 + w.total1 + fabs(e) * (2.0 * (fabs(s1) + fabs(w.total0)) + suffix_count * fabs(e))
    window_advance(w)

    m.mean = m.shift_cur + sum1 / n
    m2 = sum2 - sum1 * (sum1 / n)
    if m2 <= (n + 4) * 2.220446049250313e-16 * magnitude:
        m2 = 0.0
    m.m2 = m2
