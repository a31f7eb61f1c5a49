"""Counting and rate-limited logging of bad input from an exchange.

A feed must survive anything a socket delivers: malformed JSON, message
types it does not know, values out of range.  Each such message is counted
by kind, and logged at most once per kind and interval, with the number of
occurrences since the previous line, so a flood of bad frames cannot flood
the log.
"""

from __future__ import annotations

import logging
import time

MALFORMED = "malformed"
UNKNOWN = "unknown"
OUT_OF_RANGE = "out_of_range"


class ProblemLog:
    """Counters of bad messages per kind, with one log line per kind and interval.

    Parameters
    ----------
    logger
        Where the warnings go.
    interval
        Seconds between two lines of the same kind.
    """

    def __init__(self, logger: logging.Logger, interval: float = 60.0):
        self.log = logger
        self.interval = interval
        self.counts: dict[str, int] = {MALFORMED: 0, UNKNOWN: 0, OUT_OF_RANGE: 0}
        self._last_logged: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    def report(self, kind: str, message: str, *args: object) -> None:
        """Count one problem of ``kind``; log ``message % args`` unless this kind was logged within the interval."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        now = time.monotonic()
        last = self._last_logged.get(kind)
        if last is not None and now - last < self.interval:
            self._unlogged[kind] = self._unlogged.get(kind, 0) + 1
            return
        self._last_logged[kind] = now
        skipped = self._unlogged.pop(kind, 0)
        if skipped:
            self.log.warning(message + " (%d more %s messages since the last report)", *args, skipped, kind)
        else:
            self.log.warning(message, *args)
