"""Range checks for the numbers exchange messages carry as strings or JSON numbers."""

from __future__ import annotations

import math
from typing import Any

MAX_VALUE = 1e12
"""Prices and quantities at or above this are treated as out of range."""


def positive(value: Any) -> float:
    """Return ``value`` as a float in (0, MAX_VALUE); raise ValueError otherwise."""
    number = float(value)
    if not (math.isfinite(number) and 0.0 < number < MAX_VALUE):
        raise ValueError(f"{value!r} is not a number in (0, {MAX_VALUE:g})")
    return number


def non_negative(value: Any) -> float:
    """Return ``value`` as a float in [0, MAX_VALUE); raise ValueError otherwise."""
    number = float(value)
    if not (math.isfinite(number) and 0.0 <= number < MAX_VALUE):
        raise ValueError(f"{value!r} is not a number in [0, {MAX_VALUE:g})")
    return number
