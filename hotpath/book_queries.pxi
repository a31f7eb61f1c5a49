# Read-only walks over one BookSide (included by book.pyx).  Each walks from
# the best level, at the end of the arrays, towards worse prices.


cdef inline int64_t _price_at(const BookSide* side, bint is_bid, Py_ssize_t index) noexcept nogil:
    return side.keys[index] if is_bid else -side.keys[index]


cdef cnp.ndarray _top_rows(const BookSide* side, bint is_bid, Py_ssize_t depth, double price_scale, double size_scale):
    # The best ``depth`` levels as a new float64 (k, 2) array, best first.
    cdef Py_ssize_t rows = min(depth, side.count)
    cdef cnp.npy_intp shape[2]
    cdef cnp.ndarray out
    cdef double* data
    cdef Py_ssize_t i, index

    shape[0] = rows
    shape[1] = 2
    out = cnp.PyArray_EMPTY(2, shape, cnp.NPY_FLOAT64, 0)
    data = <double*> cnp.PyArray_DATA(out)
    for i in range(rows):
        index = side.count - 1 - i
        data[2 * i] = _price_at(side, is_bid, index) / price_scale
        data[2 * i + 1] = side.sizes[index] / size_scale
    return out


cdef Py_ssize_t _fill_top(
    const BookSide* side, bint is_bid, double* out, Py_ssize_t rows, double price_scale, double size_scale
) noexcept nogil:
    # Write up to ``rows`` best levels into ``out``; return how many.
    cdef Py_ssize_t i, index

    rows = min(rows, side.count)
    for i in range(rows):
        index = side.count - 1 - i
        out[2 * i] = _price_at(side, is_bid, index) / price_scale
        out[2 * i + 1] = side.sizes[index] / size_scale
    return rows


cdef cnp.ndarray _top_rows_raw(const BookSide* side, bint is_bid, Py_ssize_t depth):
    cdef Py_ssize_t rows = min(depth, side.count)
    cdef cnp.npy_intp shape[2]
    cdef cnp.ndarray out
    cdef int64_t* data
    cdef Py_ssize_t i, index

    shape[0] = rows
    shape[1] = 2
    out = cnp.PyArray_EMPTY(2, shape, cnp.NPY_INT64, 0)
    data = <int64_t*> cnp.PyArray_DATA(out)
    for i in range(rows):
        index = side.count - 1 - i
        data[2 * i] = _price_at(side, is_bid, index)
        data[2 * i + 1] = side.sizes[index]
    return out


cdef double _sum_top_sizes(const BookSide* side, Py_ssize_t depth) noexcept nogil:
    # Sum in float, best level first, so the reference book can match it bit for bit.
    cdef double total = 0.0
    cdef Py_ssize_t i

    for i in range(side.count - 1, max(side.count - depth, 0) - 1, -1):
        total += side.sizes[i]
    return total


cdef double _sum_sizes_within(const BookSide* side, double bps) noexcept nogil:
    # Sum the sizes of the levels at most ``bps`` basis points of the best
    # price away from it.  Keys grow towards the best level on both sides, so
    # the distance of a level is the best key minus its key.
    cdef double total = 0.0
    cdef double limit
    cdef int64_t best
    cdef Py_ssize_t i

    if side.count == 0:
        return 0.0
    best = side.keys[side.count - 1]
    limit = (<double> (best if best > 0 else -best)) * bps / 10000.0
    for i in range(side.count - 1, -1, -1):
        if <double> (best - side.keys[i]) > limit:
            break
        total += side.sizes[i]
    return total


cdef int64_t _walk_side(const BookSide* side, bint is_bid, int64_t wanted, double* cost) noexcept nogil:
    # Take up to ``wanted`` lots from the best level down; add ticks * lots of
    # each fill to ``cost`` and return the lots taken.
    cdef int64_t taken = 0
    cdef int64_t take
    cdef Py_ssize_t i

    for i in range(side.count - 1, -1, -1):
        if taken == wanted:
            break
        take = min(side.sizes[i], wanted - taken)
        cost[0] += (<double> _price_at(side, is_bid, i)) * (<double> take)
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


cdef int _check_depth(Py_ssize_t depth) except -1:
    if depth < 0:
        raise ValidationError(f"'depth' must be >= 0, was {depth}", {"depth": depth})
    return 0
