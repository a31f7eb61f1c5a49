"""Rolling 24-hour ticker figures computed from a market's own trades.

Trades are summed into one-second buckets of a ring covering 86,400
seconds, so memory is fixed whatever the trade rate and each trade costs
O(1).  Time is the exchange's event time of the newest trade (or of the
time passed to :meth:`RollingTicker.advance`), never the local clock, so a
replay computes the same figures as the live run did.

- ``volume``: base quantity traded in the last 24 hours (the bucket of the
  newest second and the 86,399 before it);
- ``change``: last price minus the reference price, the price of the last
  trade before the window;
- ``change_percent``: ``100 * change / reference``.

Before 24 hours of trades have been seen there is no trade before the
window: the reference is then the first trade seen, and :meth:`figures`
reports ``window_complete=False`` with the seconds actually covered.
"""

from __future__ import annotations

WINDOW_SECONDS = 86_400
_NS = 1_000_000_000


class RollingTicker:
    """Last price, 24-hour volume and 24-hour change of one market; see the module docstring."""

    __slots__ = ("_volume", "_last", "_second", "_head", "_sum", "first_price", "first_second", "last_price",
                 "reference_price", "trades", "late")

    def __init__(self) -> None:
        self._volume = [0.0] * WINDOW_SECONDS
        self._last = [0.0] * WINDOW_SECONDS
        self._second = [-1] * WINDOW_SECONDS
        self._head = -1
        self._sum = 0.0
        self.first_price = 0.0
        self.first_second = -1
        self.last_price = 0.0
        self.reference_price = 0.0
        self.trades = 0
        self.late = 0

    def add_trade(self, ts_event: int, price: float, quantity: float) -> None:
        """Count one trade.

        A trade older than the window (more than 24 h before the newest)
        only counts in ``late``.  Runtime complexity: O(1) amortized.
        """
        second = ts_event // _NS
        if second > self._head:
            self._advance_to(second)
        elif second <= self._head - WINDOW_SECONDS:
            self.late += 1
            return
        slot = second % WINDOW_SECONDS
        if self._second[slot] != second:
            self._second[slot] = second
            self._volume[slot] = 0.0
        self._volume[slot] += quantity
        self._last[slot] = price
        self._sum += quantity
        self.last_price = price
        self.trades += 1
        if self.first_second < 0:
            self.first_second = second
            self.first_price = price

    def advance(self, ts_ns: int) -> None:
        """Move the window's end to ``ts_ns`` if later, dropping what falls out of it."""
        second = ts_ns // _NS
        if second > self._head:
            self._advance_to(second)

    def _advance_to(self, second: int) -> None:
        if self._head < 0:
            self._head = second
            return
        if second - self._head >= WINDOW_SECONDS:
            # Everything leaves the window; the newest bucket holds the reference price.
            newest = max(range(WINDOW_SECONDS), key=self._second.__getitem__)
            if self._second[newest] >= 0:
                self.reference_price = self._last[newest]
            self._second = [-1] * WINDOW_SECONDS
            self._volume = [0.0] * WINDOW_SECONDS
            self._sum = 0.0
        else:
            # The seconds from the old window's start to just before the new one's leave it, oldest first.
            for old in range(self._head - WINDOW_SECONDS + 1, second - WINDOW_SECONDS + 1):
                slot = old % WINDOW_SECONDS
                if self._second[slot] == old:
                    self._sum -= self._volume[slot]
                    self.reference_price = self._last[slot]
                    self._second[slot] = -1
                    self._volume[slot] = 0.0
        self._head = second
        if self._sum < 1e-12:
            self._sum = 0.0

    def figures(self) -> dict:
        """Return last, volume, change, change_percent, window_complete and window_seconds."""
        complete = self.reference_price > 0.0
        reference = self.reference_price if complete else self.first_price
        change = self.last_price - reference if self.trades else 0.0
        percent = 100.0 * change / reference if reference > 0.0 else 0.0
        covered = WINDOW_SECONDS if complete else (self._head - self.first_second + 1 if self.trades else 0)
        return {"last": self.last_price, "volume": self._sum, "change": change, "change_percent": percent,
                "window_complete": complete, "window_seconds": covered}
