"""Validation of the values repositories write, and the asyncpg codecs that read them.

Repositories check every argument before it reaches SQL, so a bad value
fails with a :class:`ValidationError` naming the field instead of a
constraint violation from the server.  The table constraints repeat the
important rules as a second line of defence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg
import orjson

from cryptobot.core.errors import ValidationError

# PostgreSQL counts timestamptz in microseconds from 2000-01-01 UTC.
_PG_EPOCH_US = 946_684_800_000_000


def check_decimal(value: Any, field: str, *, positive: bool = False, non_negative: bool = False,
                  optional: bool = False) -> Decimal | None:
    """Return ``value`` as a finite Decimal; raise ValidationError naming ``field`` otherwise.

    Floats are converted through their shortest repr, so ``0.1`` becomes
    ``Decimal("0.1")`` and not the binary value nearest to it.
    """
    if value is None:
        if optional:
            return None
        raise ValidationError(f"'{field}' is required", {field: "required"})
    if isinstance(value, bool):
        raise ValidationError(f"'{field}' must be a number, was {value!r}", {field: "expected a number"})
    try:
        if isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, (Decimal, int, str)):
            number = Decimal(value)
        else:
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        raise ValidationError(f"'{field}' must be a number, was {value!r}", {field: "expected a number"}) from None
    if not number.is_finite():
        raise ValidationError(f"'{field}' must be finite, was {value!r}", {field: "expected a finite number"})
    if positive and number <= 0:
        raise ValidationError(f"'{field}' must be > 0, was {value!r}", {field: "must be > 0"})
    if non_negative and number < 0:
        raise ValidationError(f"'{field}' must be >= 0, was {value!r}", {field: "must be >= 0"})
    return number


def check_float(value: Any, field: str, *, minimum: float | None = None, maximum: float | None = None,
                optional: bool = False) -> float | None:
    """Return ``value`` as a finite float within [minimum, maximum]; raise ValidationError otherwise."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValidationError(f"'{field}' must be a number, was {value!r}", {field: "expected a number"})
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"'{field}' must be finite, was {value!r}", {field: "expected a finite number"})
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        bounds = f"[{'-inf' if minimum is None else minimum}, {'inf' if maximum is None else maximum}]"
        raise ValidationError(f"'{field}' out of range {bounds}, was {value!r}", {field: f"out of range {bounds}"})
    return number


def check_int(value: Any, field: str, *, minimum: int | None = None, maximum: int | None = None,
              optional: bool = False) -> int | None:
    """Return ``value`` if it is an int within [minimum, maximum]; raise ValidationError otherwise."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"'{field}' must be an integer, was {value!r}", {field: "expected an integer"})
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"[{'-inf' if minimum is None else minimum}, {'inf' if maximum is None else maximum}]"
        raise ValidationError(f"'{field}' out of range {bounds}, was {value!r}", {field: f"out of range {bounds}"})
    return value


def check_bool(value: Any, field: str) -> bool:
    """Return ``value`` if it is a bool; raise ValidationError otherwise."""
    if not isinstance(value, bool):
        raise ValidationError(f"'{field}' must be true or false, was {value!r}", {field: "expected a boolean"})
    return value


def check_text(value: Any, field: str, *, max_length: int, min_length: int = 1, pattern: re.Pattern | None = None,
               optional: bool = False, hint: str = "") -> str | None:
    """Return ``value`` if it is a string of allowed length (and shape); raise ValidationError otherwise."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"'{field}' must be a string, was {value!r}", {field: "expected a string"})
    if not min_length <= len(value) <= max_length:
        raise ValidationError(
            f"'{field}' must have {min_length} to {max_length} characters, had {len(value)}",
            {field: f"length out of range [{min_length}, {max_length}]"},
        )
    if pattern is not None and not pattern.fullmatch(value):
        shape = hint or f"the pattern {pattern.pattern}"
        raise ValidationError(f"'{field}' must be {shape}, was {value!r}", {field: f"expected {shape}"})
    return value


def check_choice(value: Any, field: str, choices: Iterable[str], *, optional: bool = False) -> str | None:
    """Return ``value`` if it is one of ``choices``; raise ValidationError otherwise."""
    if value is None and optional:
        return None
    allowed = tuple(choices)
    if value not in allowed:
        raise ValidationError(f"'{field}' must be one of {', '.join(allowed)}, was {value!r}", {field: f"expected one of {', '.join(allowed)}"})
    return value


def check_subset(values: Any, field: str, choices: Iterable[str], *, allow_empty: bool = False) -> tuple[str, ...]:
    """Return ``values`` as a sorted tuple without duplicates if each is one of ``choices``."""
    allowed = tuple(choices)
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValidationError(f"'{field}' must be a list drawn from {', '.join(allowed)}, was {values!r}", {field: "expected a list"})
    items = list(values)
    unknown = [v for v in items if v not in allowed]
    if unknown:
        raise ValidationError(
            f"'{field}' must contain only {', '.join(allowed)}, had {unknown[0]!r}", {field: f"expected values from {', '.join(allowed)}"}
        )
    if not items and not allow_empty:
        raise ValidationError(f"'{field}' must not be empty", {field: "must not be empty"})
    return tuple(sorted(set(items), key=allowed.index))


def check_json_object(value: Any, field: str, *, optional: bool = False) -> dict | None:
    """Return ``value`` if it is a dict that can be stored as JSON; raise ValidationError otherwise."""
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise ValidationError(f"'{field}' must be a JSON object, was {type(value).__name__}", {field: "expected an object"})
    try:
        encode_json(value)
    except TypeError as exc:
        raise ValidationError(f"'{field}' cannot be stored as JSON: {exc}", {field: "not JSON-serializable"}) from None
    return value


def _json_default(value: Any) -> Any:
    # Decimal is written as its exact string; it reads back as a string.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"values of type {type(value).__name__} cannot be stored as JSON")


def encode_json(value: Any) -> str:
    """Serialize ``value`` for a jsonb column (``Decimal`` becomes its exact string)."""
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


def _encode_timestamptz(ts_ns: int) -> tuple[int]:
    if isinstance(ts_ns, bool) or not isinstance(ts_ns, int):
        raise TypeError(f"timestamps are int nanoseconds since the epoch, was {ts_ns!r}")
    return (ts_ns // 1000 - _PG_EPOCH_US,)


def _decode_timestamptz(value: tuple[int]) -> int:
    return (value[0] + _PG_EPOCH_US) * 1000


async def init_connection(conn: asyncpg.Connection) -> None:
    """Install the codecs every pooled connection uses.

    ``timestamptz`` maps to int nanoseconds since the epoch, the engine's
    time unit.  PostgreSQL keeps microseconds, so the last three digits of
    a nanosecond time read back as zero.  ``jsonb`` maps to Python objects
    through orjson.
    """
    await conn.set_type_codec("jsonb", schema="pg_catalog", encoder=encode_json, decoder=orjson.loads, format="text")
    await conn.set_type_codec(
        "timestamptz", schema="pg_catalog", encoder=_encode_timestamptz, decoder=_decode_timestamptz, format="tuple"
    )
