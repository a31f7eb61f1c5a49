# Pure-C operations on one BookSide (included by book.pyx).
#
# A side keeps its levels in two parallel arrays sorted ascending by key with
# the best level in the last slot, so updates near the top of the book search
# and shift only a short tail of the arrays.
#
# Removing a level below the top leaves an empty slot (size 0) that keeps its
# key, instead of shifting every level above it.  An insert shifts levels
# into an empty slot within EMPTY_SLOT_REACH slots if there is one, and
# otherwise up to the top.  Exchanges such as Binance update levels hundreds
# of places deep all the time, and this keeps most of those updates from
# moving the whole top of the book.  The rules:
#   - keys strictly ascend over all ``slots``, empty slots included;
#   - the last slot always holds a level (empty slots at the top are dropped);
#   - ``levels`` counts the non-empty slots;
#   - once a removal leaves more than ``levels + MAX_EXTRA_EMPTY`` empty
#     slots, the side is compacted, so walks skip at most that many.

cdef enum:
    # Room for this many slots is allocated on the first insert; capacity then
    # doubles, so a side costs O(log n) reallocations in its lifetime.
    MIN_CAPACITY = 64
    MAX_EXTRA_EMPTY = 64
    # Replaying the Binance spot capture under callgrind, reaches of 8 and 16
    # slots executed the fewest instructions (2: 15 % more, 32: 3 % more).
    EMPTY_SLOT_REACH = 16


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
    side.slots = 0
    side.levels = 0
    side.capacity = 0


cdef void _side_compact(BookSide* side) noexcept nogil:
    cdef Py_ssize_t i, kept = 0

    for i in range(side.slots):
        if side.sizes[i] != 0:
            side.keys[kept] = side.keys[i]
            side.sizes[kept] = side.sizes[i]
            kept += 1
    side.slots = kept


cdef inline Py_ssize_t _side_locate(const BookSide* side, int64_t key, Py_ssize_t start) noexcept nogil:
    # Return the first slot whose key is >= ``key`` (``slots`` if none),
    # searching outwards from slot ``start``: probes 1, 2, 4, ... slots away
    # bracket the answer, then a bisection finds it.  A level d slots from
    # ``start`` costs O(log d) probes however deep the side is.  Single updates
    # start at the top (``slots``), where most of them land; a batch starts
    # each row where the previous row landed, since exchanges send an event's
    # levels in price order.  The bisection has no data-dependent branch (the
    # compiler emits a conditional move), as mispredicted branches used to
    # cost more than the probes themselves.
    cdef const int64_t* keys = side.keys
    cdef Py_ssize_t n = side.slots
    cdef Py_ssize_t distance = 1
    cdef Py_ssize_t low, high, probe, half, width

    if start > n:
        start = n
    if start == n or keys[start] >= key:
        low = 0
        high = start
        while distance <= start:
            probe = start - distance
            if keys[probe] < key:
                low = probe + 1
                break
            high = probe
            distance <<= 1
    else:
        low = start + 1
        high = n
        while start + distance < n:
            probe = start + distance
            if keys[probe] >= key:
                high = probe
                break
            low = probe + 1
            distance <<= 1

    # The answer is in [low, low + width]; each step halves ``width``
    # whichever way the comparison goes, so the loop's branch is predictable.
    width = high - low
    while width > 1:
        half = width >> 1
        low = low + half if keys[low + half] < key else low
        width -= half
    if width == 1 and keys[low] < key:
        low += 1
    return low


cdef inline Py_ssize_t _side_insert(BookSide* side, Py_ssize_t index, int64_t key, int64_t size) noexcept nogil:
    # Put a new key before slot ``index`` and return the slot it lands in.  An
    # empty slot within EMPTY_SLOT_REACH slots absorbs the shift.  Otherwise
    # the levels from ``index`` to the top move up one slot, since one memmove
    # is faster than a long scan for an empty slot.  The caller guarantees
    # room for one more slot.
    cdef Py_ssize_t up = index
    cdef Py_ssize_t down = index - 1
    cdef Py_ssize_t stop = min(index + EMPTY_SLOT_REACH, side.slots)

    side.levels += 1
    while up < stop:
        if side.sizes[up] == 0:
            break
        if down >= 0 and side.sizes[down] == 0:
            memmove(side.keys + down, side.keys + down + 1, (index - 1 - down) * sizeof(int64_t))
            memmove(side.sizes + down, side.sizes + down + 1, (index - 1 - down) * sizeof(int64_t))
            side.keys[index - 1] = key
            side.sizes[index - 1] = size
            return index - 1
        up += 1
        down -= 1
    if up == stop:
        up = side.slots
    memmove(side.keys + index + 1, side.keys + index, (up - index) * sizeof(int64_t))
    memmove(side.sizes + index + 1, side.sizes + index, (up - index) * sizeof(int64_t))
    side.keys[index] = key
    side.sizes[index] = size
    if up == side.slots:
        side.slots += 1
    return index


cdef inline int64_t _side_set(BookSide* side, int64_t key, int64_t size, Py_ssize_t* hint) noexcept nogil:
    # Set the level at ``key`` to ``size`` (0 removes it) and return the size
    # it had before (0 if absent).  The search starts at slot ``hint[0]``,
    # which is then set to the slot of ``key`` for the next search.  The
    # caller guarantees room for one more slot.
    cdef Py_ssize_t index = _side_locate(side, key, hint[0])
    cdef int64_t previous

    hint[0] = index
    if index < side.slots and side.keys[index] == key:
        previous = side.sizes[index]
        side.sizes[index] = size
        if previous == 0:
            if size != 0:
                side.levels += 1
        elif size == 0:
            side.levels -= 1
            if index == side.slots - 1:
                while side.slots > 0 and side.sizes[side.slots - 1] == 0:
                    side.slots -= 1
            elif side.slots - side.levels > side.levels + MAX_EXTRA_EMPTY:
                _side_compact(side)
                hint[0] = side.slots
        return previous
    if size != 0:
        hint[0] = _side_insert(side, index, key, size)
    return 0


cdef void _side_keep_best(BookSide* side, Py_ssize_t depth) noexcept nogil:
    # Drop all but the best ``depth`` levels, which sit at the end.
    cdef Py_ssize_t cut = side.slots
    cdef Py_ssize_t kept = 0

    if side.levels <= depth:
        return
    while kept < depth:
        cut -= 1
        if side.sizes[cut] != 0:
            kept += 1
    memmove(side.keys, side.keys + cut, (side.slots - cut) * sizeof(int64_t))
    memmove(side.sizes, side.sizes + cut, (side.slots - cut) * sizeof(int64_t))
    side.slots -= cut
    side.levels = depth
    if side.slots - side.levels > side.levels + MAX_EXTRA_EMPTY:
        _side_compact(side)


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
    cdef Py_ssize_t i, levels = 0
    cdef bint is_bid = name == "bids"

    if not 0 <= side.levels <= side.slots <= side.capacity:
        raise BookError(
            f"Book integrity: '{name}' needs 0 <= levels <= slots <= capacity, was {side.levels}, "
            f"{side.slots}, {side.capacity}"
        )
    if side.slots and side.sizes[side.slots - 1] == 0:
        raise BookError(f"Book integrity: '{name}' top slot {side.slots - 1} is empty")
    if side.slots - side.levels > side.levels + MAX_EXTRA_EMPTY:
        raise BookError(f"Book integrity: '{name}' has {side.slots - side.levels} empty slots for {side.levels} levels")
    for i in range(side.slots):
        if side.sizes[i] < 0:
            raise BookError(f"Book integrity: '{name}' slot {i} has size {side.sizes[i]} lots, below 0")
        levels += side.sizes[i] != 0
        if side.keys[i] == 0 or is_bid != (side.keys[i] > 0):
            raise BookError(f"Book integrity: '{name}' slot {i} has key {side.keys[i]}, wrong sign for the side")
        if i > 0 and side.keys[i] <= side.keys[i - 1]:
            raise BookError(
                f"Book integrity: '{name}' not strictly sorted at slot {i} "
                f"(price {abs(side.keys[i]) / price_scale!r} after {abs(side.keys[i - 1]) / price_scale!r})"
            )
    if levels != side.levels:
        raise BookError(f"Book integrity: '{name}' counts {side.levels} levels but holds {levels}")
    return 0
