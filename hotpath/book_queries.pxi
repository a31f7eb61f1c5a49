# Read-only walks over one BookSide (included by book.pyx).  Each walks from
# the best level, in the last slot, towards worse prices and skips empty slots.

# Kraken's checksum covers this many levels per side.
cdef enum:
    KRAKEN_CHECKSUM_LEVELS = 10
    # 10 levels a side, a price and a size each, at most 19 digits per int64.
    KRAKEN_CHECKSUM_BUFFER = 2 * KRAKEN_CHECKSUM_LEVELS * 2 * 19


cdef inline int64_t _price_at(const BookSide* side, bint is_bid, Py_ssize_t slot) noexcept nogil:
    return side.keys[slot] if is_bid else -side.keys[slot]


cdef Py_ssize_t _fill_top(
    const BookSide* side, bint is_bid, double* out, Py_ssize_t rows, double price_scale, double size_scale
) noexcept nogil:
    # Write up to ``rows`` best levels into ``out`` as (price, size) rows; return how many.
    cdef Py_ssize_t slot = side.slots - 1
    cdef Py_ssize_t written = 0

    rows = min(rows, side.levels)
    while written < rows:
        if side.sizes[slot] != 0:
            out[2 * written] = _price_at(side, is_bid, slot) / price_scale
            out[2 * written + 1] = side.sizes[slot] / size_scale
            written += 1
        slot -= 1
    return written


cdef cnp.ndarray _top_rows(const BookSide* side, bint is_bid, Py_ssize_t depth, double price_scale, double size_scale):
    # The best ``depth`` levels as a new float64 (k, 2) array, best first.
    cdef cnp.npy_intp shape[2]
    cdef cnp.ndarray out

    shape[0] = min(depth, side.levels)
    shape[1] = 2
    out = cnp.PyArray_EMPTY(2, shape, cnp.NPY_FLOAT64, 0)
    _fill_top(side, is_bid, <double*> cnp.PyArray_DATA(out), shape[0], price_scale, size_scale)
    return out


cdef cnp.ndarray _top_rows_raw(const BookSide* side, bint is_bid, Py_ssize_t depth):
    # The best ``depth`` levels as a new int64 (k, 2) array of (ticks, lots), best first.
    cdef cnp.npy_intp shape[2]
    cdef cnp.ndarray out
    cdef int64_t* data
    cdef Py_ssize_t slot = side.slots - 1
    cdef Py_ssize_t written = 0

    shape[0] = min(depth, side.levels)
    shape[1] = 2
    out = cnp.PyArray_EMPTY(2, shape, cnp.NPY_INT64, 0)
    data = <int64_t*> cnp.PyArray_DATA(out)
    while written < shape[0]:
        if side.sizes[slot] != 0:
            data[2 * written] = _price_at(side, is_bid, slot)
            data[2 * written + 1] = side.sizes[slot]
            written += 1
        slot -= 1
    return out


cdef double _sum_top_sizes(const BookSide* side, Py_ssize_t depth) noexcept nogil:
    # Sum in float, best level first, so the reference book can match it bit for bit.
    cdef double total = 0.0
    cdef Py_ssize_t slot = side.slots - 1
    cdef Py_ssize_t counted = 0

    depth = min(depth, side.levels)
    while counted < depth:
        if side.sizes[slot] != 0:
            total += side.sizes[slot]
            counted += 1
        slot -= 1
    return total


cdef double _sum_sizes_within(const BookSide* side, double bps) noexcept nogil:
    # Sum the sizes of the levels at most ``bps`` basis points of the best
    # price away from it.  Keys grow towards the best level on both sides, so
    # the distance of a level is the best key minus its key.  Empty slots add 0.
    cdef double total = 0.0
    cdef double limit
    cdef int64_t best
    cdef Py_ssize_t slot

    if side.slots == 0:
        return 0.0
    best = side.keys[side.slots - 1]
    limit = (<double> (best if best > 0 else -best)) * bps / 10000.0
    for slot in range(side.slots - 1, -1, -1):
        if <double> (best - side.keys[slot]) > limit:
            break
        total += side.sizes[slot]
    return total


cdef int64_t _walk_side(const BookSide* side, bint is_bid, int64_t requested, double* cost) noexcept nogil:
    # Take up to ``requested`` lots from the best level down; add ticks * lots of
    # each fill to ``cost`` and return the lots taken.
    cdef int64_t taken = 0
    cdef int64_t take
    cdef Py_ssize_t slot

    for slot in range(side.slots - 1, -1, -1):
        if taken == requested:
            break
        if side.sizes[slot] == 0:
            continue
        take = min(side.sizes[slot], requested - taken)
        cost[0] += (<double> _price_at(side, is_bid, slot)) * (<double> take)
        taken += take
    return taken


cdef inline Py_ssize_t _write_digits(unsigned char* out, uint64_t value) noexcept nogil:
    # Write the decimal digits of ``value`` (> 0) and return how many.
    cdef unsigned char reversed_digits[20]
    cdef Py_ssize_t n = 0
    cdef Py_ssize_t i

    while value:
        reversed_digits[n] = 48 + <unsigned char> (value % 10)
        value //= 10
        n += 1
    for i in range(n):
        out[i] = reversed_digits[n - 1 - i]
    return n


cdef Py_ssize_t _write_top_digits(const BookSide* side, bint is_bid, unsigned char* text, Py_ssize_t length) noexcept nogil:
    # Append the digits of price then size of the best Kraken checksum levels.
    cdef Py_ssize_t slot = side.slots - 1
    cdef Py_ssize_t written = 0
    cdef Py_ssize_t rows = min(<Py_ssize_t> KRAKEN_CHECKSUM_LEVELS, side.levels)

    while written < rows:
        if side.sizes[slot] != 0:
            length += _write_digits(text + length, <uint64_t> _price_at(side, is_bid, slot))
            length += _write_digits(text + length, <uint64_t> side.sizes[slot])
            written += 1
        slot -= 1
    return length


cdef int _check_depth(Py_ssize_t depth) except -1:
    if depth < 0:
        raise ValidationError(f"'depth' must be >= 0, was {depth}", {"depth": depth})
    return 0
