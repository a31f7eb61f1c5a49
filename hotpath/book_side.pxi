# Pure-C operations on one BookSide (included by book.pyx).
#
# A side keeps its levels in two parallel arrays sorted ascending by key with
# the best level last, so the updates that dominate real feeds (near the top
# of the book) search and shift only a short tail of the arrays.

# Room for this many levels is allocated on the first insert; capacity then
# doubles, so a side of n levels costs O(log n) reallocations in its lifetime.
cdef enum:
    MIN_CAPACITY = 64


cdef int _side_reserve(BookSide* side, Py_ssize_t needed) except -1:
    cdef Py_ssize_t capacity
    cdef int64_t* grown

    if needed <= side.capacity:
        return 0
    capacity = side.capacity * 2
    if capacity < needed:
        capacity = needed
    if capacity < MIN_CAPACITY:
        capacity = MIN_CAPACITY

    # Each array is stored as soon as it has grown, so a failure on the
    # second one leaks nothing and leaves both arrays valid at the old capacity.
    grown = <int64_t*> realloc(side.keys, capacity * sizeof(int64_t))
    if grown == NULL:
        raise MemoryError(f"Cannot grow a book side to {capacity} levels")
    side.keys = grown
    grown = <int64_t*> realloc(side.sizes, capacity * sizeof(int64_t))
    if grown == NULL:
        raise MemoryError(f"Cannot grow a book side to {capacity} levels")
    side.sizes = grown
    side.capacity = capacity
    return 0


cdef void _side_free(BookSide* side) noexcept nogil:
    free(side.keys)
    free(side.sizes)
    side.keys = NULL
    side.sizes = NULL
    side.count = 0
    side.capacity = 0


cdef inline Py_ssize_t _side_locate(const BookSide* side, int64_t key) noexcept nogil:
    # Return the first index whose key is >= ``key`` (``count`` if none).
    # The search gallops down from the best level (probing 1, 2, 4, ... levels
    # below it) before bisecting, so a level d places from the top costs
    # O(log d) probes however deep the side is.
    cdef const int64_t* keys = side.keys
    cdef Py_ssize_t n = side.count
    cdef Py_ssize_t low = 0
    cdef Py_ssize_t high = n
    cdef Py_ssize_t distance = 1
    cdef Py_ssize_t probe, middle

    while distance <= n:
        probe = n - distance
        if keys[probe] < key:
            low = probe + 1
            break
        high = probe
        distance <<= 1
    while low < high:
        middle = (low + high) >> 1
        if keys[middle] < key:
            low = middle + 1
        else:
            high = middle
    return low


cdef inline int64_t _side_set(BookSide* side, int64_t key, int64_t size) noexcept nogil:
    # Set the level at ``key`` to ``size`` (0 removes it) and return the size
    # it had before (0 if absent).  The caller guarantees room for one insert.
    cdef Py_ssize_t index = _side_locate(side, key)
    cdef Py_ssize_t tail = side.count - index
    cdef int64_t previous

    if tail > 0 and side.keys[index] == key:
        previous = side.sizes[index]
        if size != 0:
            side.sizes[index] = size
        else:
            memmove(side.keys + index, side.keys + index + 1, (tail - 1) * sizeof(int64_t))
            memmove(side.sizes + index, side.sizes + index + 1, (tail - 1) * sizeof(int64_t))
            side.count -= 1
        return previous
    if size != 0:
        memmove(side.keys + index + 1, side.keys + index, tail * sizeof(int64_t))
        memmove(side.sizes + index + 1, side.sizes + index, tail * sizeof(int64_t))
        side.keys[index] = key
        side.sizes[index] = size
        side.count += 1
    return 0


cdef void _side_keep_best(BookSide* side, Py_ssize_t depth) noexcept nogil:
    # Drop all but the best ``depth`` levels, which sit at the end.
    cdef Py_ssize_t dropped = side.count - depth

    if dropped <= 0:
        return
    memmove(side.keys, side.keys + dropped, depth * sizeof(int64_t))
    memmove(side.sizes, side.sizes + dropped, depth * sizeof(int64_t))
    side.count = depth


cdef int _compare_rows(const void* left, const void* right) noexcept nogil:
    cdef int64_t a = (<const LevelRow*> left).price
    cdef int64_t b = (<const LevelRow*> right).price
    return (a > b) - (a < b)


cdef Py_ssize_t _drop_empty_rows(LevelRow* rows, Py_ssize_t n, bint is_bid, double price_scale) except -1:
    # Compact out rows of size 0 from rows sorted by key, rejecting a key
    # listed twice; return how many rows remain.
    cdef Py_ssize_t i, kept = 0

    for i in range(n):
        if i > 0 and rows[i].price == rows[i - 1].price:
            price = (rows[i].price if is_bid else -rows[i].price) / price_scale
            raise BookError(
                f"Cannot apply snapshot: '{'bids' if is_bid else 'asks'}' lists the price {price!r} twice",
                {"price": price},
            )
        if rows[i].size != 0:
            rows[kept] = rows[i]
            kept += 1
    return kept


cdef int _check_side(str name, const BookSide* side, double price_scale) except -1:
    cdef Py_ssize_t i

    if side.count < 0 or side.count > side.capacity:
        raise BookError(f"Book integrity: '{name}' count {side.count} outside [0, capacity {side.capacity}]")
    for i in range(side.count):
        if side.sizes[i] <= 0:
            raise BookError(f"Book integrity: '{name}' level {i} has size {side.sizes[i]} lots, not > 0")
        if side.keys[i] == 0 or (name == "bids") != (side.keys[i] > 0):
            raise BookError(f"Book integrity: '{name}' level {i} has key {side.keys[i]}, wrong sign for the side")
        if i > 0 and side.keys[i] <= side.keys[i - 1]:
            raise BookError(
                f"Book integrity: '{name}' not strictly sorted at level {i} "
                f"(price {abs(side.keys[i]) / price_scale!r} after {abs(side.keys[i - 1]) / price_scale!r})"
            )
    return 0
