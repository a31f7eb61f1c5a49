"""Request rate limits per client IP and per API key.

A sliding-window counter per client: the count of the current fixed window
plus the previous window's count weighted by how much of it still overlaps
the sliding window.  Memory is two counters per client; the estimate never
undercounts a steady stream, and a burst at a window edge is damped instead
of doubled as with plain fixed windows.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass


@dataclass(slots=True)
class Verdict:
    """The outcome of one check: allowed or not, and the values of the rate-limit headers."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int


class SlidingWindowLimiter:
    """``limit`` requests per ``window`` seconds for each key.

    Runtime complexity: O(1) per check; stale keys are pruned every window.
    """

    def __init__(self, limit: int, window: float, clock=time.time):
        if limit < 1:
            raise ValueError(f"'limit' must be >= 1, was {limit}")
        if window <= 0:
            raise ValueError(f"'window' must be > 0, was {window}")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._counters: dict[str, list] = {}
        self._pruned_at = 0.0

    def hit(self, key: str) -> Verdict:
        """Count one request for ``key`` if it is within the limit; return the verdict."""
        now = self._clock()
        start = math.floor(now / self.window) * self.window
        self._prune(start)
        counter = self._counters.get(key)
        if counter is None or counter[0] < start - self.window:
            counter = [start, 0, 0]
            self._counters[key] = counter
        elif counter[0] < start:
            # A new window began: the old current count becomes the previous one.
            previous = counter[1] if counter[0] == start - self.window else 0
            counter[:] = [start, 0, previous]
        overlap = 1.0 - (now - start) / self.window
        estimate = counter[1] + counter[2] * overlap
        reset = int(math.ceil(start + self.window))
        if estimate + 1 > self.limit:
            # Time until enough of the previous window slides out to admit one more.
            if counter[2] > 0 and counter[1] + 1 <= self.limit:
                wait = (estimate + 1 - self.limit) / counter[2] * self.window
            else:
                wait = start + self.window - now
            return Verdict(False, self.limit, 0, reset, max(1, int(math.ceil(wait))))
        counter[1] += 1
        remaining = max(0, int(self.limit - (estimate + 1)))
        return Verdict(True, self.limit, remaining, reset, 0)

    def _prune(self, start: float) -> None:
        if start - self._pruned_at < self.window:
            return
        self._pruned_at = start
        stale = [k for k, c in self._counters.items() if c[0] < start - self.window]
        for key in stale:
            del self._counters[key]


class ClientAddress:
    """Resolves the client IP, believing X-Forwarded-For only from trusted proxies."""

    def __init__(self, trusted: str = ""):
        self._networks = [ipaddress.ip_network(item.strip(), strict=False) for item in trusted.split(",") if item.strip()]

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str:
        """Return the first address, from the right, that is not a trusted proxy."""
        peer = peer or "unknown"
        if not forwarded_for or not self._trusted(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer
        return hops[0] if hops else peer
