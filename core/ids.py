"""Prefixed identifiers as the API shows them: ``strategy_…``, ``order_…``.

An id is ``<prefix>_<26 characters>``: a 48-bit millisecond timestamp and
80 random bits in lowercase Crockford base32 (the ULID layout), so ids of
one kind sort by creation time and carry no guessable counter.
"""

from __future__ import annotations

import os
import random
import re
import time

from cryptobot.core.errors import ValidationError

PREFIXES = ("strategy", "order", "key", "backtest", "trade", "position", "fill", "webhook", "user", "delivery")

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_BODY_LENGTH = 26
# Ids are not secrets (access is checked on every request), so the random
# part comes from a fast generator seeded from the OS, not a syscall per id.
_random = random.Random(os.urandom(32))
_PATTERN = re.compile(r"^(?P<prefix>[a-z]+)_(?P<body>[0-9a-hjkmnp-tv-z]{26})$")


# Every pair of digits for a 10-bit chunk: encoding 130 bits takes 13 lookups.
_time_cache: tuple[int, str] = (-1, "")
_PAIRS = [_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024)]


def _encode(value: int, length: int) -> str:
    pairs = _PAIRS
    chunks = [pairs[(value >> shift) & 1023] for shift in range(5 * length - 10, -1, -10)]
    return "".join(chunks)


def new_id(prefix: str, now_ms: int | None = None, low_bits: int | None = None) -> str:
    """Create a new id of the given kind, e.g. ``new_id("order")``.

    ``low_bits`` replaces the 80 random bits, for ids that must come out the
    same on every run (the trades of a replayed backtest).
    """
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}, expected one of {', '.join(PREFIXES)}")
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    low = _random.getrandbits(80) if low_bits is None else low_bits & ((1 << 80) - 1)
    # 80 random bits are exactly 16 digits, so the time part (10 digits) is
    # encoded on its own and reused within the same millisecond.
    global _time_cache
    if _time_cache[0] != ms:
        _time_cache = (ms, _encode(ms & ((1 << 48) - 1), 10))
    return f"{prefix}_{_time_cache[1]}{_encode(low, 16)}"


def is_id(value: object, prefix: str) -> bool:
    """Tell whether ``value`` is a well-formed id of kind ``prefix``."""
    if not isinstance(value, str):
        return False
    match = _PATTERN.match(value)
    return match is not None and match["prefix"] == prefix


def check_id(value: object, prefix: str, field: str) -> str:
    """Return ``value`` if it is an id of kind ``prefix``, else raise ValidationError."""
    if not is_id(value, prefix):
        raise ValidationError(
            f"'{field}' must be an id of the form {prefix}_<26 characters>, was {value!r}",
            {field: f"expected a {prefix} id"},
        )
    return value  # type: ignore[return-value]
