"""Clocks: engine time is int64 nanoseconds since the Unix epoch, UTC.

Live code reads :class:`LiveClock`; replay and tests drive a
:class:`ReplayClock` by hand, so a strategy cannot tell the two apart.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from cryptobot.core.errors import ValidationError

NANOS_PER_SECOND = 1_000_000_000
NANOS_PER_MILLI = 1_000_000
NANOS_PER_MICRO = 1_000


class Clock:
    """Source of the current engine time."""

    def now_ns(self) -> int:
        raise NotImplementedError


class LiveClock(Clock):
    """The wall clock (``time.time_ns``)."""

    __slots__ = ()

    def now_ns(self) -> int:
        return time.time_ns()


class ReplayClock(Clock):
    """A settable clock for replay and tests; it never moves backwards.

    Parameters
    ----------
    start_ns
        The first time the clock shows.
    """

    __slots__ = ("_now",)

    def __init__(self, start_ns: int = 0):
        self._now = int(start_ns)

    def now_ns(self) -> int:
        return self._now

    def set(self, ts_ns: int) -> None:
        """Move the clock to ``ts_ns``; raise ValueError if that is in its past."""
        if ts_ns < self._now:
            raise ValueError(f"cannot move a replay clock backwards from {self._now} to {ts_ns}")
        self._now = ts_ns

    def advance(self, delta_ns: int) -> None:
        """Move the clock forward by ``delta_ns`` (>= 0)."""
        if delta_ns < 0:
            raise ValueError(f"'delta_ns' must be >= 0, was {delta_ns}")
        self._now += delta_ns


def ns_to_iso(ts_ns: int) -> str:
    """Format engine time as ISO 8601 UTC with ``Z``, to the second when whole.

    >>> ns_to_iso(1_735_689_600_000_000_000)
    '2025-01-01T00:00:00Z'
    >>> ns_to_iso(1_735_689_600_123_000_000)
    '2025-01-01T00:00:00.123Z'
    """
    seconds, nanos = divmod(int(ts_ns), NANOS_PER_SECOND)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if nanos == 0:
        return base + "Z"
    if nanos % NANOS_PER_MILLI == 0:
        return f"{base}.{nanos // NANOS_PER_MILLI:03d}Z"
    if nanos % NANOS_PER_MICRO == 0:
        return f"{base}.{nanos // NANOS_PER_MICRO:06d}Z"
    return f"{base}.{nanos:09d}Z"


def iso_to_ns(text: str, field: str = "timestamp") -> int:
    """Parse an ISO 8601 timestamp into engine time.

    A timestamp without a zone is rejected, because guessing a zone for a
    trading time is how orders land an hour off.
    """
    if not isinstance(text, str) or not text:
        raise ValidationError(f"'{field}' must be an ISO 8601 timestamp, was {text!r}", {field: "expected an ISO 8601 timestamp"})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"'{field}' is not a valid ISO 8601 timestamp, was {text!r}", {field: "expected an ISO 8601 timestamp such as 2025-01-01T00:00:00Z"}
        ) from None
    if parsed.tzinfo is None:
        raise ValidationError(
            f"'{field}' must carry a time zone (for example a trailing Z), was {text!r}", {field: "timestamp has no time zone"}
        )
    delta = parsed - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * NANOS_PER_MICRO


def datetime_to_ns(value: datetime) -> int:
    """Convert an aware datetime (as asyncpg returns timestamptz) to engine time."""
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * NANOS_PER_MICRO


def ns_to_datetime(ts_ns: int) -> datetime:
    """Convert engine time to an aware UTC datetime (microsecond precision)."""
    seconds, nanos = divmod(int(ts_ns), NANOS_PER_SECOND)
    return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=nanos // NANOS_PER_MICRO)
