# Float to fixed-point conversion and input arrays (included by book.pyx).

# Float inputs above 2**53 units cannot name every integer, so their grid
# check would be meaningless; such values must come in as ints (``*_raw``).
cdef double MAX_FLOAT_UNITS = 9007199254740992.0

# ``value * 10**precision`` is within about one ulp of the exact integer for a
# float parsed from an on-grid decimal; allowing four ulps plus a millionth of
# a unit accepts every such float and rejects any value off the grid by more.
cdef double GRID_TOLERANCE = 1e-6
cdef double GRID_ULPS = 4.0 * 2.220446049250313e-16

cdef enum Conversion:
    CONVERTED = 0
    NOT_FINITE = 1
    BELOW_MINIMUM = 2      # price <= 0 or size < 0
    OUT_OF_RANGE = 3
    OFF_GRID = 4


cdef inline bint _to_units_fast(double value, double scale, int64_t* out) noexcept nogil:
    # Convert a value to units on the hot path; return False for any value
    # that _to_units would reject (NaN, infinite, negative, out of range or
    # off the grid), leaving the reason to it.  A zero price passes here.
    cdef double scaled = value * scale
    cdef int64_t rounded

    # One range check also rejects NaN, for which every comparison is false.
    if not (scaled >= 0.0 and scaled <= MAX_FLOAT_UNITS):
        return False
    # Truncating scaled + 0.5 rounds a non-negative value to the nearest
    # integer without a libm call; the only values it rounds differently
    # from round() lie half a unit off the grid, and those fail the check below.
    rounded = <int64_t> (scaled + 0.5)
    out[0] = rounded
    return fabs(scaled - <double> rounded) <= GRID_TOLERANCE + scaled * GRID_ULPS


cdef int _to_units(double value, double scale, bint is_price, int64_t* out) noexcept nogil:
    # Convert a price (> 0) or a size (>= 0) to integer units; return a
    # Conversion code naming the first rule the value breaks.
    if not isfinite(value):
        return NOT_FINITE
    if value < 0.0 or (is_price and value == 0.0):
        return BELOW_MINIMUM
    if value * scale > MAX_FLOAT_UNITS:
        return OUT_OF_RANGE
    if not _to_units_fast(value, scale, out):
        return OFF_GRID
    if is_price and out[0] == 0:
        return BELOW_MINIMUM
    return CONVERTED


cdef str _step_text(int precision):
    # The grid step as a plain decimal: 2 -> "0.01", 0 -> "1".
    if precision == 0:
        return "1"
    return "0." + "0" * (precision - 1) + "1"


cdef int _raise_conversion(int code, bint is_price, double value, int precision, str where) except -1:
    cdef str name = "price" if is_price else "size"
    cdef str message

    if code == OFF_GRID:
        step = "tick" if is_price else "lot"
        message = (
            f"'{name}' must be a multiple of the {step} {_step_text(precision)} "
            f"({name}_precision {precision}), was {value!r}"
        )
    elif code == OUT_OF_RANGE:
        message = (
            f"'{name}' out of range [0, {MAX_FLOAT_UNITS / 10.0 ** precision!r}] for a float at "
            f"{name}_precision {precision}, was {value!r}; pass larger values as integers to the *_raw methods"
        )
    elif is_price:
        message = f"'price' must be a finite number > 0, was {value!r}"
    else:
        message = f"'size' must be a finite number >= 0, was {value!r}"
    raise BookError(where + message, {name: value})


cdef int _check_raw_row(int64_t price, int64_t size, str where) except -1:
    if price <= 0:
        raise BookError(f"{where}'price' must be > 0 ticks, was {price}", {"price": price})
    if size < 0:
        raise BookError(f"{where}'size' must be >= 0 lots, was {size}", {"size": size})
    return 0


cdef cnp.ndarray as_level_array(object levels, str name, bint raw):
    # Return ``levels`` as a C-contiguous (n, 2) float64 array (int64 if
    # ``raw``); arrays already in that form pass through without a copy.
    cdef cnp.ndarray array
    cdef int typenum = cnp.NPY_INT64 if raw else cnp.NPY_FLOAT64

    if type(levels) is cnp.ndarray:
        array = <cnp.ndarray> levels
        if (
            cnp.PyArray_TYPE(array) == typenum
            and cnp.PyArray_NDIM(array) == 2
            and cnp.PyArray_DIMS(array)[1] == 2
            and cnp.PyArray_IS_C_CONTIGUOUS(array)
        ):
            return array
    return _coerce_level_array(levels, name, raw)


cdef cnp.ndarray _coerce_level_array(object levels, str name, bint raw):
    dtype = np.int64 if raw else np.float64
    if levels is None:
        raise ValidationError(f"'{name}' must be an (n, 2) array of (price, size) rows, was None", {name: None})
    array = np.asarray(levels)
    if array.size == 0:
        return np.empty((0, 2), dtype=dtype)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValidationError(
            f"'{name}' must be an (n, 2) array of (price, size) rows, was shape {array.shape}", {name: array.shape}
        )
    if raw:
        if array.dtype.kind not in "iu":
            raise ValidationError(
                f"'{name}' must hold integer ticks and lots for a *_raw method, was dtype {array.dtype}",
                {name: str(array.dtype)},
            )
        if array.dtype.kind == "u" and array.max() > np.iinfo(np.int64).max:
            raise ValidationError(f"'{name}' holds a value above the int64 range", {name: str(array.dtype)})
    elif array.dtype.kind not in "iuf":
        raise ValidationError(
            f"'{name}' must hold numbers, was dtype {array.dtype}; parse decimal strings before passing them",
            {name: str(array.dtype)},
        )
    return np.ascontiguousarray(array, dtype=dtype)


cdef int _check_output(object out, str name) except -1:
    cdef cnp.ndarray array

    if (
        type(out) is not cnp.ndarray
        or cnp.PyArray_TYPE(<cnp.ndarray> out) != cnp.NPY_FLOAT64
        or cnp.PyArray_NDIM(<cnp.ndarray> out) != 2
        or cnp.PyArray_DIMS(<cnp.ndarray> out)[1] != 2
        or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray> out)
        or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray> out)
    ):
        description = f"{out.dtype} array of shape {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ValidationError(
            f"'{name}' must be a writable C-contiguous float64 array of shape (n, 2), was {description}", {name: description}
        )
    return 0
