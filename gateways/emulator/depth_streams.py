"""Diff-depth streams at a slower update speed, built from a faster recorded one.

The USD-M captures hold ``@depth@0ms`` (every change) while feeds built
from the documentation subscribe ``@depth@100ms`` or ``@depth`` (250 ms);
the spot captures hold ``@depth@100ms`` and ``@depth`` is 1000 ms there.
An aggregator merges the recorded diffs whose event time ``E`` falls in
one window of the slower speed into one event: ``U`` of the first, ``u``,
``E`` and ``T`` of the last, ``pu`` of the first (futures), and per price
the last size.  So the merged stream chains exactly as Binance's does:
each event's ``U`` is the previous ``u`` + 1 (spot) and its ``pu`` the
previous ``u`` (futures).  An event is emitted when the first diff of the
next window arrives, or at the end of the recording.
"""

from __future__ import annotations

import re

_DEPTH = re.compile(r"^([a-z0-9_]+)@depth(?:@(\d+)ms)?$")

SPOT_SPEEDS = {None: 1000, 100: 100, 1000: 1000}
FUTURES_SPEEDS = {None: 250, 0: 0, 100: 100, 250: 250, 500: 500}


def depth_speed(stream: str, futures: bool) -> tuple[str, int] | None:
    """Return (symbol, update speed in ms) of a diff-depth stream name, or None if it is not one."""
    match = _DEPTH.match(stream)
    if match is None:
        return None
    speeds = FUTURES_SPEEDS if futures else SPOT_SPEEDS
    requested = None if match.group(2) is None else int(match.group(2))
    if requested not in speeds:
        return None
    return match.group(1), speeds[requested]


class DepthAggregator:
    """Merges diffs of a faster depth stream into windows of ``interval_ms``.

    Runtime complexity: O(k) per fed diff of k levels, O(m log m) per
    emitted event of m distinct prices.
    """

    def __init__(self, stream: str, source: str, interval_ms: int, futures: bool):
        self.stream = stream
        self.source = source
        self.interval_ms = interval_ms
        self.futures = futures
        self._window: int | None = None
        self._first: dict | None = None
        self._last: dict | None = None
        self._bids: dict[float, list[str]] = {}
        self._asks: dict[float, list[str]] = {}

    def feed(self, data: dict) -> dict | None:
        """Add one diff; return the finished event of the previous window, if this diff starts a new one."""
        window = data["E"] // self.interval_ms
        finished = None
        if self._window is not None and window != self._window:
            finished = self.flush()
        if self._first is None:
            self._first = data
            self._window = window
        self._last = data
        for side, levels in ((self._bids, data["b"]), (self._asks, data["a"])):
            for level in levels:
                side[float(level[0])] = level
        return finished

    def flush(self) -> dict | None:
        """Return the pending merged event (None if empty) and start over."""
        first, last = self._first, self._last
        if first is None or last is None:
            return None
        merged = {"e": "depthUpdate", "E": last["E"]}
        if self.futures:
            merged["T"] = last.get("T", last["E"])
        merged["s"] = last["s"]
        if "ps" in last:
            merged["ps"] = last["ps"]
        merged["U"] = first["U"]
        merged["u"] = last["u"]
        if self.futures:
            merged["pu"] = first["pu"]
        merged["b"] = [self._bids[key] for key in sorted(self._bids, reverse=True)]
        merged["a"] = [self._asks[key] for key in sorted(self._asks)]
        self._first = self._last = self._window = None
        self._bids, self._asks = {}, {}
        return merged
