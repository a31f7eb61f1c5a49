"""Argument checks shared by the indicator modules.

They run once per constructor or batch call, never per update, so they stay
plain Python and raise :class:`~cryptobot.core.errors.ValidationError` with
messages that name the parameter, the accepted range and the value.
"""

from __future__ import annotations

import numbers

import numpy as np

from cryptobot.core.errors import ValidationError

MAX_PERIOD = 100_000
"""Largest window any indicator accepts (TA-Lib's limit as well)."""


def check_int(name: str, value: object, low: int, high: int) -> int:
    """Return ``value`` as an ``int`` after checking it lies in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValidationError(
            f"'{name}' must be an integer in [{low}, {high}], was {value!r}",
            {name: "not an integer"},
        )
    number = int(value)
    if not low <= number <= high:
        raise ValidationError(
            f"'{name}' out of range [{low}, {high}], was {number}",
            {name: f"out of range [{low}, {high}]"},
        )
    return number


def check_period(value: object, name: str = "period", low: int = 1) -> int:
    """Return a window length in ``[low, MAX_PERIOD]``."""
    return check_int(name, value, low, MAX_PERIOD)


def check_positive_real(name: str, value: object, high: float) -> float:
    """Return ``value`` as a ``float`` after checking it lies in ``(0, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(
            f"'{name}' must be a number in (0, {high}], was {value!r}",
            {name: "not a number"},
        )
    number = float(value)
    if not 0.0 < number <= high:
        raise ValidationError(
            f"'{name}' out of range (0, {high}], was {number!r}",
            {name: f"out of range (0, {high}]"},
        )
    return number


def non_finite_error(name: str, value: float) -> ValidationError:
    """Build the error for a NaN or infinite input value."""
    return ValidationError(
        f"'{name}' must be a finite number, was {value!r}: a NaN or infinite price "
        "or volume is a feed error, so the indicator rejects it and keeps its state",
        {name: "not finite"},
    )


def non_finite_element_error(name: str, index: int, value: float) -> ValidationError:
    """Build the error for a NaN or infinite element of a batch input."""
    return ValidationError(
        f"'{name}' must contain only finite numbers, was {value!r} at index {index}",
        {name: f"not finite at index {index}"},
    )


def as_series(name: str, values: object) -> np.ndarray:
    """Return ``values`` as a 1-D C-contiguous float64 array.

    Integer and narrower float arrays are converted, because every value they
    hold has an exact or nearest float64.  Booleans, complex numbers, objects
    and strings are rejected.  Finiteness is checked by the caller's C loop,
    which avoids a second pass over the data.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValidationError(
            f"'{name}' must be a 1-D array, was {array.ndim}-D with shape {array.shape}",
            {name: "not 1-D"},
        )
    kind = array.dtype.kind
    if kind not in "fiu" or (kind == "f" and array.dtype.itemsize > 8):
        raise ValidationError(
            f"'{name}' must hold real numbers convertible to float64, was dtype {array.dtype}",
            {name: f"unsupported dtype {array.dtype}"},
        )
    return np.ascontiguousarray(array, dtype=np.float64)


def as_timestamps(name: str, values: object) -> np.ndarray:
    """Return ``values`` as a 1-D C-contiguous int64 array of nanoseconds."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValidationError(
            f"'{name}' must be a 1-D array, was {array.ndim}-D with shape {array.shape}",
            {name: "not 1-D"},
        )
    if array.dtype.kind == "M":
        array = array.astype("datetime64[ns]").view(np.int64)
    elif array.dtype.kind not in "iu" or (array.dtype.kind == "u" and array.dtype.itemsize >= 8):
        raise ValidationError(
            f"'{name}' must hold int64 nanoseconds since the epoch, was dtype {array.dtype}",
            {name: f"unsupported dtype {array.dtype}"},
        )
    return np.ascontiguousarray(array, dtype=np.int64)


def check_same_length(names: tuple[str, ...], arrays: tuple[np.ndarray, ...]) -> None:
    """Raise unless every array has the length of the first one."""
    lengths = [len(array) for array in arrays]
    if len(set(lengths)) > 1:
        described = ", ".join(f"'{n}' {length}" for n, length in zip(names, lengths))
        raise ValidationError(
            f"Cannot compute the indicator: input arrays differ in length ({described})",
            {name: f"length {length}" for name, length in zip(names, lengths)},
        )
