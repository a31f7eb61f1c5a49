# Sliding-window sums in O(1) per update without long-term drift.
#
# A running sum updated as `sum += new - old` carries every rounding error it
# ever made, so after millions of ticks (or after prices change scale) its
# error grows without bound.  The block-prefix scheme used here keeps the error
# bounded by about `period` roundings, strictly in O(1) per update:
#
# The stream is cut into blocks of `period` values.  For the block being
# filled, `cur[j]` stores the prefix sum of its first j+1 values.  `prev`
# keeps the same prefix sums of the previous, complete block, and `total` its
# sum.
# A window ending at offset j of the current block is the suffix of the
# previous block after offset j plus the prefix of the current block up to j:
#
#     window sum = (total - prev[j]) + cur[j]
#
# Every term was accumulated by at most `period` additions since its block
# started, and nothing is ever subtracted from a running value, so no error
# survives two blocks.  Two channels are kept side by side (interleaved) so an
# indicator can carry two related sums, such as sum(price * volume) and
# sum(volume).

from cpython.mem cimport PyMem_Free, PyMem_Malloc
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


# Rolling mean and sum of squared deviations (M2) over the window.
#
# Squaring raw prices (about 6e4, squares about 4e9) and subtracting the
# squared mean loses about nine of the sixteen significant digits when the
# window's standard deviation is a few dollars.  And any scheme that removes
# old values by subtraction carries the rounding error of every large value
# it once held.  So the window is kept as at most three groups of central
# moments (count, mean, M2), each computed only by Welford additions and
# joined by Chan's formula, whose terms are all non-negative:
#
#   blocks of B = period // 2 values:  ... | k-2 | k-1 | k (filling) |
#   window = suffix of block k-2  +  all of block k-1  +  prefix of block k
#
# The prefix grows forward as values arrive, and block k-1's moments are its
# completed prefix.  The suffixes of block k-2 come from a backward pass over
# it, one value per update while block k-1 was filling.  So every update is
# O(1), no error survives two blocks, and a flat window gives exactly zero.
#
# Each group keeps its mean relative to its own first value (`shift`): a
# mean near 6e4 would carry a rounding error of about 1e-11, which is large
# next to the difference of two group means in a window that moved by cents.

cdef struct Moments:
    double count
    double shift    # first value added, which `mean` is relative to
    double mean
    double m2


cdef inline void moments_add(Moments* g, double x) noexcept nogil:
    # Welford's update, on x - shift.
    cdef double delta
    if g.count == 0.0:
        g.shift = x
    g.count += 1.0
    delta = (x - g.shift) - g.mean
    g.mean += delta / g.count
    g.m2 += delta * ((x - g.shift) - g.mean)


cdef inline Moments moments_merge(Moments a, Moments b) noexcept nogil:
    # Chan, Golub and LeVeque's pairwise combination.
    cdef Moments joined
    cdef double delta, weight
    if a.count == 0.0:
        return b
    if b.count == 0.0:
        return a
    joined.count = a.count + b.count
    joined.shift = a.shift
    weight = b.count / joined.count
    delta = (b.shift - a.shift) + (b.mean - a.mean)
    joined.mean = a.mean + delta * weight
    joined.m2 = a.m2 + b.m2 + delta * delta * (a.count * weight)
    return joined


cdef struct RollingMoments:
    Py_ssize_t period
    Py_ssize_t block        # B: period // 2, or 1 for period 1
    Py_ssize_t pos          # offset j of the next value in the current block
    Py_ssize_t blocks       # blocks completed since the last clear, at most 2
    Moments prefix          # block k so far
    Moments middle          # block k-1, whole
    Moments backward        # backward pass over block k-1 so far
    double* values          # block k's values (B slots)
    double* previous        # block k-1's values (B slots)
    double* suffix_mean     # suffix moments of block k-2 by start offset (B slots each)
    double* suffix_m2
    double suffix_shift     # the shift of every suffix_mean
    double* building_mean   # suffix moments of block k-1, being built (B slots each)
    double* building_m2
    double mean             # window mean after the last update
    double m2               # window M2 after the last update
    double* memory          # the one allocation the six arrays above share


cdef inline int rolling_moments_init(RollingMoments* m, Py_ssize_t period) except -1:
    cdef Py_ssize_t block = period // 2 if period > 1 else 1
    cdef double* memory = <double*>PyMem_Malloc(6 * block * sizeof(double))
    if memory == NULL:
        raise MemoryError()
    m.memory = memory
    m.period = period
    m.block = block
    m.values = memory
    m.previous = memory + block
    m.suffix_mean = memory + 2 * block
    m.suffix_m2 = memory + 3 * block
    m.building_mean = memory + 4 * block
    m.building_m2 = memory + 5 * block
    rolling_moments_clear(m)
    return 0


cdef inline void rolling_moments_free(RollingMoments* m) noexcept:
    PyMem_Free(m.memory)
    m.memory = NULL
    m.values = NULL
    m.previous = NULL
    m.suffix_mean = NULL
    m.suffix_m2 = NULL
    m.building_mean = NULL
    m.building_m2 = NULL


cdef inline void rolling_moments_clear(RollingMoments* m) noexcept nogil:
    m.pos = 0
    m.blocks = 0
    m.prefix.count = 0.0
    m.prefix.shift = 0.0
    m.prefix.mean = 0.0
    m.prefix.m2 = 0.0
    m.middle = m.prefix
    m.backward = m.prefix
    m.suffix_shift = 0.0
    m.mean = 0.0
    m.m2 = 0.0


cdef inline void rolling_moments_update(RollingMoments* m, double x) noexcept nogil:
    """Push `x` and set `mean` and `m2` for the window ending at it."""
    cdef Py_ssize_t b = m.block
    cdef Py_ssize_t j = m.pos
    cdef Py_ssize_t start, index
    cdef Moments suffix, window
    cdef double* swap

    # One step of the backward pass over block k-1.
    if m.blocks >= 1:
        index = b - 1 - j
        moments_add(&m.backward, m.previous[index])
        m.building_mean[index] = m.backward.mean
        m.building_m2[index] = m.backward.m2

    m.values[j] = x
    moments_add(&m.prefix, x)

    if m.period == 1:
        window = m.prefix
    else:
        # The window takes period - B - (j + 1) values from the end of
        # block k-2, starting at this offset (B or more: none).
        start = 2 * b - m.period + j + 1
        suffix.count = 0.0
        if m.blocks >= 2 and start < b:
            suffix.count = <double>(b - start)
            suffix.shift = m.suffix_shift
            suffix.mean = m.suffix_mean[start]
            suffix.m2 = m.suffix_m2[start]
        window = moments_merge(moments_merge(suffix, m.middle), m.prefix)
    m.mean = window.shift + window.mean
    # Welford's terms can round to a tiny negative value on a nearly flat window.
    m.m2 = window.m2 if window.m2 > 0.0 else 0.0

    m.pos += 1
    if m.pos == b:
        m.pos = 0
        m.middle = m.prefix
        m.suffix_shift = m.backward.shift
        m.prefix.count = 0.0
        m.prefix.shift = 0.0
        m.prefix.mean = 0.0
        m.prefix.m2 = 0.0
        m.backward = m.prefix
        swap = m.previous
        m.previous = m.values
        m.values = swap
        swap = m.suffix_mean
        m.suffix_mean = m.building_mean
        m.building_mean = swap
        swap = m.suffix_m2
        m.suffix_m2 = m.building_m2
        m.building_m2 = swap
        if m.blocks < 2:
            m.blocks += 1
