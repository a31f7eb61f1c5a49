# Batch and snapshot mechanics of OrderBook (included by book.pyx).  They
# work on the book's C fields; the methods in book.pyx validate arguments,
# document the behaviour and call them.


cdef int _raise_cross(OrderBook book, bint is_bid, int64_t price_ticks) except -1:
    cdef str side = "bid" if is_bid else "ask"
    cdef str other = "ask" if is_bid else "bid"
    cdef double best = (book.best_ask_raw_c() if is_bid else book.best_bid_raw_c()) / book.price_scale

    raise BookError(
        f"Cannot apply {side} at {price_ticks / book.price_scale!r}: it would cross the best {other} "
        f"{best!r} of {book.symbol}",
        {"price": price_ticks / book.price_scale},
    )


cdef int _reserve_scratch(OrderBook book, Py_ssize_t rows) except -1:
    cdef LevelRow* grown

    if rows <= book._scratch_capacity:
        return 0
    grown = <LevelRow*> realloc(book._scratch, rows * sizeof(LevelRow))
    if grown == NULL:
        raise MemoryError(f"Cannot allocate room for {rows} book rows")
    book._scratch = grown
    book._scratch_capacity = rows
    return 0


cdef int _convert_rows(OrderBook book, const double* rows, Py_ssize_t n, LevelRow* out, str name) except -1:
    cdef double price_scale = book.price_scale
    cdef double size_scale = book.size_scale
    cdef Py_ssize_t i
    cdef int code

    for i in range(n):
        if (
            _to_units_fast(rows[2 * i], price_scale, &out[i].price)
            and out[i].price > 0
            and _to_units_fast(rows[2 * i + 1], size_scale, &out[i].size)
        ):
            continue
        code = _to_units(rows[2 * i], price_scale, True, &out[i].price)
        if code != CONVERTED:
            _raise_conversion(code, True, rows[2 * i], book.price_precision, f"'{name}' row {i}: ")
        # The fast check failed, so one of the two values breaks a rule.
        code = _to_units(rows[2 * i + 1], size_scale, False, &out[i].size)
        _raise_conversion(code, False, rows[2 * i + 1], book.size_precision, f"'{name}' row {i}: ")
    return 0


cdef int _apply_batch(
    OrderBook book, const LevelRow* bids, Py_ssize_t n_bids, const LevelRow* asks, Py_ssize_t n_asks,
    int64_t sequence, int64_t ts_event,
) except -1:
    # Rows are valid here.  Room for every row to insert a level twice
    # (once applying it, once undoing a removal), and for an undo record
    # per row, is reserved first so nothing below fails.
    cdef UndoRecord* undo
    cdef UndoRecord* grown
    cdef BookSide* side
    cdef Py_ssize_t i, hint, changes = 0
    cdef int64_t previous, absent = 0, best_bid, best_ask

    if sequence < book.sequence:
        raise BookError(
            f"Cannot apply deltas to {book.symbol}: 'sequence' {sequence} is older than the book's {book.sequence}",
            {"sequence": sequence},
        )
    _side_reserve(&book.bids, book.bids.slots + 2 * n_bids)
    _side_reserve(&book.asks, book.asks.slots + 2 * n_asks)
    if n_bids + n_asks > book._undo_capacity:
        grown = <UndoRecord*> realloc(book._undo, (n_bids + n_asks) * sizeof(UndoRecord))
        if grown == NULL:
            raise MemoryError(f"Cannot allocate room for {n_bids + n_asks} book rows")
        book._undo = grown
        book._undo_capacity = n_bids + n_asks
    undo = book._undo

    hint = book.bids.slots
    for i in range(n_bids):
        previous = _side_set(&book.bids, bids[i].price, bids[i].size, &hint)
        if previous == 0 and bids[i].size == 0:
            absent += 1
        else:
            undo[changes].key = bids[i].price
            undo[changes].size = previous
            undo[changes].is_bid = True
            changes += 1
    hint = book.asks.slots
    for i in range(n_asks):
        previous = _side_set(&book.asks, -asks[i].price, asks[i].size, &hint)
        if previous == 0 and asks[i].size == 0:
            absent += 1
        else:
            undo[changes].key = -asks[i].price
            undo[changes].size = previous
            undo[changes].is_bid = False
            changes += 1

    best_bid = book.best_bid_raw_c()
    best_ask = book.best_ask_raw_c()
    if best_bid != 0 and best_ask != 0 and best_bid >= best_ask:
        for i in range(changes - 1, -1, -1):
            side = &book.bids if undo[i].is_bid else &book.asks
            hint = side.slots
            _side_set(side, undo[i].key, undo[i].size, &hint)
        raise BookError(
            f"Cannot apply deltas to {book.symbol}: the book would be crossed "
            f"(best bid {best_bid / book.price_scale!r} >= best ask {best_ask / book.price_scale!r})",
            {"best_bid": best_bid / book.price_scale, "best_ask": best_ask / book.price_scale},
        )
    book.absent_removals += absent
    book.sequence = sequence
    book.ts_event = ts_event
    return 0


cdef int _replace_levels(
    OrderBook book, LevelRow* bids, Py_ssize_t n_bids, LevelRow* asks, Py_ssize_t n_asks,
    int64_t sequence, int64_t ts_event,
) except -1:
    # Sort each side by key in place (asks negated first), check it, and
    # only then copy it over the book.
    cdef Py_ssize_t i, kept_bids, kept_asks

    if sequence < book.sequence:
        raise BookError(
            f"Cannot apply snapshot to {book.symbol}: 'sequence' {sequence} is older than the book's "
            f"{book.sequence}",
            {"sequence": sequence},
        )
    for i in range(n_asks):
        asks[i].price = -asks[i].price
    qsort(bids, n_bids, sizeof(LevelRow), _compare_rows)
    qsort(asks, n_asks, sizeof(LevelRow), _compare_rows)
    kept_bids = _drop_empty_rows(bids, n_bids, True, book.price_scale)
    kept_asks = _drop_empty_rows(asks, n_asks, False, book.price_scale)
    if kept_bids and kept_asks and bids[kept_bids - 1].price >= -asks[kept_asks - 1].price:
        raise BookError(
            f"Cannot apply snapshot to {book.symbol}: it is crossed (best bid "
            f"{bids[kept_bids - 1].price / book.price_scale!r} >= best ask "
            f"{-asks[kept_asks - 1].price / book.price_scale!r})",
            {"sequence": sequence},
        )

    _side_reserve(&book.bids, kept_bids)
    _side_reserve(&book.asks, kept_asks)
    for i in range(kept_bids):
        book.bids.keys[i] = bids[i].price
        book.bids.sizes[i] = bids[i].size
    for i in range(kept_asks):
        book.asks.keys[i] = asks[i].price
        book.asks.sizes[i] = asks[i].size
    book.bids.slots = book.bids.levels = kept_bids
    book.asks.slots = book.asks.levels = kept_asks
    book.sequence = sequence
    book.ts_event = ts_event
    book.snapshots += 1
    return 0
