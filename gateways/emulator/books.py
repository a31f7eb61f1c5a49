"""The emulator's own books: what it has sent, so snapshots match the stream.

Both books keep the price and size strings exactly as recorded, keyed by
the price as a float (distinct recorded prices stay distinct floats; only
the sort order uses the float).
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Iterable

from sortedcontainers import SortedDict

from cryptobot.gateways.recordings import DepthSnapshot


def is_zero(quantity: str) -> bool:
    """Tell whether a decimal string is zero (``"0"``, ``"0.000"``, ``"0.00000000"``)."""
    return not quantity.strip("0.")


class BinanceBook:
    """A plain dict book of one Binance symbol, in recording id space.

    ``last_update_id`` is the ``u`` of the last applied diff (the
    snapshot's ``lastUpdateId`` before any).  Diffs with ``u`` at or below
    it are already in the book and are ignored, as a client does.
    """

    __slots__ = ("symbol", "snapshot", "bids", "asks", "last_update_id", "event_time", "transaction_time")

    def __init__(self, snapshot: DepthSnapshot):
        self.symbol = snapshot.symbol
        self.snapshot = snapshot
        self.reset()

    def reset(self) -> None:
        """Return to the recorded snapshot."""
        snapshot = self.snapshot
        self.bids = {float(p): (p, q) for p, q in snapshot.bids if not is_zero(q)}
        self.asks = {float(p): (p, q) for p, q in snapshot.asks if not is_zero(q)}
        self.last_update_id = snapshot.last_update_id
        self.event_time = snapshot.event_time
        self.transaction_time = snapshot.transaction_time

    def apply(self, data: dict) -> bool:
        """Apply one ``depthUpdate`` payload; tell whether it changed the book.

        Runtime complexity: O(k) for k levels in the update.
        """
        if data["u"] <= self.last_update_id:
            return False
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            for price, quantity in levels:
                if is_zero(quantity):
                    side.pop(float(price), None)
                else:
                    side[float(price)] = (price, quantity)
        self.last_update_id = data["u"]
        self.event_time = data.get("E", self.event_time)
        self.transaction_time = data.get("T", self.transaction_time)
        return True

    def top(self, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        """Return the best ``limit`` bids (descending) and asks (ascending) as [price, qty].

        Runtime complexity: O(n log n) for n levels.
        """
        bids = [list(self.bids[key]) for key in sorted(self.bids, reverse=True)[:limit]]
        asks = [list(self.asks[key]) for key in sorted(self.asks)[:limit]]
        return bids, asks

    def best(self) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
        """Return the best bid and ask (price, qty), or None for an empty side."""
        bid = self.bids[max(self.bids)] if self.bids else None
        ask = self.asks[min(self.asks)] if self.asks else None
        return bid, ask


class KrakenBook:
    """A sorted L2 book of one Kraken pair, truncated to ``depth`` levels per side.

    Levels are ``(price, volume, timestamp)`` strings as recorded.  Kraken
    sends no deletion for a level pushed below the subscribed depth, so the
    book drops levels past ``depth`` after each update, as Kraken asks
    clients to.
    """

    __slots__ = ("pair", "depth", "asks", "bids", "ready")

    def __init__(self, pair: str, depth: int = 1000):
        self.pair = pair
        self.depth = depth
        self.asks: SortedDict = SortedDict()
        self.bids: SortedDict = SortedDict()
        self.ready = False

    def load(self, asks: Iterable[list[str]], bids: Iterable[list[str]]) -> None:
        """Replace the book with a snapshot."""
        self.asks = SortedDict({float(level[0]): tuple(level[:3]) for level in asks})
        self.bids = SortedDict({float(level[0]): tuple(level[:3]) for level in bids})
        self._truncate()
        self.ready = True

    def apply(self, side: str, levels: Iterable[list[str]]) -> None:
        """Apply the levels of one ``a`` or ``b`` list in order.

        Runtime complexity: O(k log n) for k levels.
        """
        book = self.asks if side == "a" else self.bids
        for level in levels:
            key = float(level[0])
            if is_zero(level[1]):
                book.pop(key, None)
            else:
                book[key] = (level[0], level[1], level[2])
        self._truncate()

    def _truncate(self) -> None:
        while len(self.asks) > self.depth:
            self.asks.popitem(-1)
        while len(self.bids) > self.depth:
            self.bids.popitem(0)

    def top_asks(self, count: int) -> list[tuple[str, str, str]]:
        """Return the ``count`` best asks, ascending.  Runtime complexity: O(count)."""
        return [self.asks.peekitem(i)[1] for i in range(min(count, len(self.asks)))]

    def top_bids(self, count: int) -> list[tuple[str, str, str]]:
        """Return the ``count`` best bids, descending.  Runtime complexity: O(count)."""
        size = len(self.bids)
        return [self.bids.peekitem(size - 1 - i)[1] for i in range(min(count, size))]

    def checksum_v1(self) -> int:
        """Return Kraken's v1 CRC32 of the top 10 levels, from the strings as received."""
        return kraken_checksum(self.top_asks(10), self.top_bids(10))

    def checksum_v2(self, price_precision: int, qty_precision: int) -> int:
        """Return Kraken's v2 CRC32: the same construction on numbers formatted at the pair's precisions."""
        def fixed(levels):
            return [(format_fixed(p, price_precision), format_fixed(q, qty_precision)) for p, q, *_ in levels]
        return kraken_checksum(fixed(self.top_asks(10)), fixed(self.top_bids(10)))


def format_fixed(value: str, places: int) -> str:
    """Write a decimal string with exactly ``places`` decimals (exact, no float rounding)."""
    return f"{Decimal(value):.{places}f}"


def kraken_checksum(asks: Iterable[tuple], bids: Iterable[tuple]) -> int:
    """CRC32 of asks then bids, each level as price then volume with '.' removed and leading zeros stripped."""
    parts = []
    for levels in (asks, bids):
        for price, volume, *_ in levels:
            parts.append(price.replace(".", "").lstrip("0"))
            parts.append(volume.replace(".", "").lstrip("0"))
    return zlib.crc32("".join(parts).encode())
