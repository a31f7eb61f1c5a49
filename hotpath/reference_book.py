"""A plain-Python L2 order book with the query API of :class:`cryptobot.hotpath.book.OrderBook`.

It is written for clarity, on ``sortedcontainers.SortedDict`` (price ticks to
size lots), and serves as the oracle of the compiled book's property tests
and as the baseline of its benchmarks.  It follows the same rules (fixed
point, validation, atomic batches, crossing checks, ``None`` for a missing
level) and computes every float the same way, so both books return equal
values for the same updates.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
from sortedcontainers import SortedDict

from cryptobot.core.errors import BookError, ValidationError
from cryptobot.core.types import BUY, SELL

# The same limits as the compiled book: floats above 2**53 units cannot name
# every integer, and an on-grid float lands within a few ulps of its integer.
MAX_FLOAT_UNITS = 9007199254740992.0
GRID_TOLERANCE = 1e-6
GRID_ULPS = 4.0 * 2.220446049250313e-16
MAX_PRECISION = 18
KRAKEN_CHECKSUM_LEVELS = 10


def _step_text(precision: int) -> str:
    return "1" if precision == 0 else "0." + "0" * (precision - 1) + "1"


def _to_units(value: float, precision: int, is_price: bool, where: str = "") -> int:
    """Convert a price (> 0) or size (>= 0) to ticks or lots; raise BookError if invalid."""
    name = "price" if is_price else "size"
    value = float(value)
    scaled = value * 10.0**precision
    if not math.isfinite(value) or value < 0.0 or (is_price and value == 0.0):
        rule = "> 0" if is_price else ">= 0"
        raise BookError(f"{where}'{name}' must be a finite number {rule}, was {value!r}", {name: value})
    if scaled > MAX_FLOAT_UNITS:
        raise BookError(
            f"{where}'{name}' out of range [0, {MAX_FLOAT_UNITS / 10.0**precision!r}] for a float at "
            f"{name}_precision {precision}, was {value!r}; pass larger values as integers to the *_raw methods",
            {name: value},
        )
    rounded = round(scaled)
    if abs(scaled - rounded) > GRID_TOLERANCE + scaled * GRID_ULPS:
        step = "tick" if is_price else "lot"
        raise BookError(
            f"{where}'{name}' must be a multiple of the {step} {_step_text(precision)} "
            f"({name}_precision {precision}), was {value!r}",
            {name: value},
        )
    if is_price and rounded == 0:
        raise BookError(f"{where}'price' must be a finite number > 0, was {value!r}", {name: value})
    return rounded


def _check_raw(price: int, size: int, where: str = "") -> None:
    if price <= 0:
        raise BookError(f"{where}'price' must be > 0 ticks, was {price}", {"price": price})
    if size < 0:
        raise BookError(f"{where}'size' must be >= 0 lots, was {size}", {"size": size})


def _rows(levels, name: str, raw: bool) -> np.ndarray:
    """Return ``levels`` as an (n, 2) float64 (int64 if ``raw``) array."""
    if levels is None:
        raise ValidationError(f"'{name}' must be an (n, 2) array of (price, size) rows, was None", {name: None})
    array = np.asarray(levels)
    if array.size == 0:
        return np.empty((0, 2), dtype=np.int64 if raw else np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValidationError(
            f"'{name}' must be an (n, 2) array of (price, size) rows, was shape {array.shape}", {name: array.shape}
        )
    if raw and array.dtype.kind not in "iu":
        raise ValidationError(
            f"'{name}' must hold integer ticks and lots for a *_raw method, was dtype {array.dtype}",
            {name: str(array.dtype)},
        )
    if not raw and array.dtype.kind not in "iuf":
        raise ValidationError(
            f"'{name}' must hold numbers, was dtype {array.dtype}; parse decimal strings before passing them",
            {name: str(array.dtype)},
        )
    return array


class ReferenceBook:
    """L2 order book in plain Python; see :class:`cryptobot.hotpath.book.OrderBook` for the contract.

    Bids and asks are ``SortedDict`` maps from price ticks to size lots; the
    best bid is the last key, the best ask the first.
    """

    def __init__(self, symbol: str, price_precision: int, size_precision: int):
        if not isinstance(symbol, str) or not symbol:
            raise ValidationError(f"'symbol' must be a non-empty string, was {symbol!r}", {"symbol": symbol})
        for name, value in (("price_precision", price_precision), ("size_precision", size_precision)):
            if not 0 <= value <= MAX_PRECISION:
                raise ValidationError(f"'{name}' out of range [0, {MAX_PRECISION}], was {value}", {name: value})
        self.symbol = symbol
        self.price_precision = price_precision
        self.size_precision = size_precision
        self.sequence = 0
        self.ts_event = 0
        self.snapshots = 0
        self.absent_removals = 0
        self._price_scale = 10.0**price_precision
        self._size_scale = 10.0**size_precision
        self._bids = SortedDict()
        self._asks = SortedDict()

    def __repr__(self) -> str:
        return (
            f"ReferenceBook({self.symbol!r}, bids={len(self._bids)}, asks={len(self._asks)}, "
            f"best_bid={self.best_bid()!r}, best_ask={self.best_ask()!r}, sequence={self.sequence})"
        )

    # Updates

    def apply_delta(self, is_bid: bool, price: float, size: float) -> None:
        """Set one level's size (0 removes). Runtime complexity: O(log n)."""
        price_ticks = _to_units(price, self.price_precision, True)
        size_lots = _to_units(size, self.size_precision, False)
        self.apply_delta_raw(is_bid, price_ticks, size_lots)

    def apply_delta_raw(self, is_bid: bool, price_ticks: int, size_lots: int) -> None:
        """Set one level's size in ticks and lots. Runtime complexity: O(log n)."""
        _check_raw(price_ticks, size_lots)
        if size_lots != 0:
            if is_bid and self._asks and price_ticks >= self._asks.peekitem(0)[0]:
                self._raise_cross("bid", price_ticks, "ask", self._asks.peekitem(0)[0])
            if not is_bid and self._bids and price_ticks <= self._bids.peekitem(-1)[0]:
                self._raise_cross("ask", price_ticks, "bid", self._bids.peekitem(-1)[0])
        if self._set(self._bids if is_bid else self._asks, price_ticks, size_lots) == 0 and size_lots == 0:
            self.absent_removals += 1

    def _raise_cross(self, side: str, price_ticks: int, other: str, best_ticks: int) -> None:
        raise BookError(
            f"Cannot apply {side} at {price_ticks / self._price_scale!r}: it would cross the best {other} "
            f"{best_ticks / self._price_scale!r} of {self.symbol}",
            {"price": price_ticks / self._price_scale},
        )

    @staticmethod
    def _set(levels: SortedDict, price_ticks: int, size_lots: int) -> int:
        previous = levels.get(price_ticks, 0)
        if size_lots:
            levels[price_ticks] = size_lots
        elif previous:
            del levels[price_ticks]
        return previous

    def apply_deltas(self, bids, asks, sequence=None, ts_event=None) -> None:
        """Apply one event's rows atomically. Runtime complexity: O(k log n) for k rows."""
        bid_rows = _rows(bids, "bids", False)
        ask_rows = _rows(asks, "asks", False)
        converted = []
        for name, rows in (("bids", bid_rows), ("asks", ask_rows)):
            converted.append([
                (
                    _to_units(price, self.price_precision, True, f"'{name}' row {i}: "),
                    _to_units(size, self.size_precision, False, f"'{name}' row {i}: "),
                )
                for i, (price, size) in enumerate(rows.tolist())
            ])
        self._apply_batch(converted[0], converted[1], sequence, ts_event)

    def apply_deltas_raw(self, bids, asks, sequence=None, ts_event=None) -> None:
        """Apply one event's int rows atomically. Runtime complexity: O(k log n) for k rows."""
        converted = []
        for name, rows in (("bids", _rows(bids, "bids", True)), ("asks", _rows(asks, "asks", True))):
            converted.append([tuple(row) for row in rows.tolist()])
            for i, (price, size) in enumerate(converted[-1]):
                _check_raw(price, size, f"'{name}' row {i}: ")
        self._apply_batch(converted[0], converted[1], sequence, ts_event)

    def _apply_batch(self, bids: list, asks: list, sequence, ts_event) -> None:
        sequence = self.sequence if sequence is None else sequence
        if sequence < self.sequence:
            raise BookError(
                f"Cannot apply deltas to {self.symbol}: 'sequence' {sequence} is older than the book's {self.sequence}",
                {"sequence": sequence},
            )
        undo = []
        absent = 0
        for levels, rows in ((self._bids, bids), (self._asks, asks)):
            for price, size in rows:
                previous = self._set(levels, price, size)
                if previous == 0 and size == 0:
                    absent += 1
                else:
                    undo.append((levels, price, previous))
        if self._bids and self._asks and self._bids.peekitem(-1)[0] >= self._asks.peekitem(0)[0]:
            best_bid = self._bids.peekitem(-1)[0] / self._price_scale
            best_ask = self._asks.peekitem(0)[0] / self._price_scale
            for levels, price, previous in reversed(undo):
                self._set(levels, price, previous)
            raise BookError(
                f"Cannot apply deltas to {self.symbol}: the book would be crossed "
                f"(best bid {best_bid!r} >= best ask {best_ask!r})",
                {"best_bid": best_bid, "best_ask": best_ask},
            )
        self.absent_removals += absent
        self.sequence = sequence
        self.ts_event = self.ts_event if ts_event is None else ts_event

    def apply_snapshot(self, bids, asks, sequence: int, ts_event: int = 0) -> None:
        """Replace the book. Runtime complexity: O(n log n)."""
        converted = []
        for name, rows in (("bids", _rows(bids, "bids", False)), ("asks", _rows(asks, "asks", False))):
            converted.append([
                (
                    _to_units(price, self.price_precision, True, f"'{name}' row {i}: "),
                    _to_units(size, self.size_precision, False, f"'{name}' row {i}: "),
                )
                for i, (price, size) in enumerate(rows.tolist())
            ])
        self._replace(converted[0], converted[1], sequence, ts_event)

    def apply_snapshot_raw(self, bids, asks, sequence: int, ts_event: int = 0) -> None:
        """Replace the book from int rows. Runtime complexity: O(n log n)."""
        converted = []
        for name, rows in (("bids", _rows(bids, "bids", True)), ("asks", _rows(asks, "asks", True))):
            converted.append([tuple(row) for row in rows.tolist()])
            for i, (price, size) in enumerate(converted[-1]):
                _check_raw(price, size, f"'{name}' row {i}: ")
        self._replace(converted[0], converted[1], sequence, ts_event)

    def _replace(self, bids: list, asks: list, sequence: int, ts_event: int) -> None:
        if sequence < self.sequence:
            raise BookError(
                f"Cannot apply snapshot to {self.symbol}: 'sequence' {sequence} is older than the book's "
                f"{self.sequence}",
                {"sequence": sequence},
            )
        sides = []
        for name, rows in (("bids", bids), ("asks", asks)):
            levels = SortedDict()
            seen = set()
            for price, size in sorted(rows, reverse=name == "asks"):
                if price in seen:
                    raise BookError(
                        f"Cannot apply snapshot: '{name}' lists the price {price / self._price_scale!r} twice",
                        {"price": price / self._price_scale},
                    )
                seen.add(price)
                if size:
                    levels[price] = size
            sides.append(levels)
        new_bids, new_asks = sides
        if new_bids and new_asks and new_bids.peekitem(-1)[0] >= new_asks.peekitem(0)[0]:
            raise BookError(
                f"Cannot apply snapshot to {self.symbol}: it is crossed (best bid "
                f"{new_bids.peekitem(-1)[0] / self._price_scale!r} >= best ask "
                f"{new_asks.peekitem(0)[0] / self._price_scale!r})",
                {"sequence": sequence},
            )
        self._bids, self._asks = new_bids, new_asks
        self.sequence = sequence
        self.ts_event = ts_event
        self.snapshots += 1

    def truncate(self, depth: int) -> None:
        """Keep the best ``depth`` levels per side. Runtime complexity: O(k log n) for k dropped."""
        if depth < 0:
            raise ValidationError(f"'depth' must be >= 0, was {depth}", {"depth": depth})
        while len(self._bids) > depth:
            self._bids.popitem(0)
        while len(self._asks) > depth:
            self._asks.popitem(-1)

    # Queries

    @property
    def bid_count(self) -> int:
        return len(self._bids)

    @property
    def ask_count(self) -> int:
        return len(self._asks)

    def best_bid(self) -> float | None:
        return self._bids.peekitem(-1)[0] / self._price_scale if self._bids else None

    def best_ask(self) -> float | None:
        return self._asks.peekitem(0)[0] / self._price_scale if self._asks else None

    def best_bid_size(self) -> float | None:
        return self._bids.peekitem(-1)[1] / self._size_scale if self._bids else None

    def best_ask_size(self) -> float | None:
        return self._asks.peekitem(0)[1] / self._size_scale if self._asks else None

    def spread(self) -> float | None:
        if not self._bids or not self._asks:
            return None
        return (self._asks.peekitem(0)[0] - self._bids.peekitem(-1)[0]) / self._price_scale

    def mid(self) -> float | None:
        if not self._bids or not self._asks:
            return None
        return (float(self._bids.peekitem(-1)[0]) + float(self._asks.peekitem(0)[0])) / (2.0 * self._price_scale)

    def _best_first(self, is_bid: bool, depth: int | None = None) -> list[tuple[int, int]]:
        levels = self._bids if is_bid else self._asks
        count = len(levels) if depth is None else min(depth, len(levels))
        keys = levels.keys()
        indexes = range(len(levels) - 1, len(levels) - 1 - count, -1) if is_bid else range(count)
        return [(keys[i], levels[keys[i]]) for i in indexes]

    def top_raw(self, depth: int = 10) -> tuple[np.ndarray, np.ndarray]:
        if depth < 0:
            raise ValidationError(f"'depth' must be >= 0, was {depth}", {"depth": depth})
        return tuple(
            np.array(self._best_first(is_bid, depth), dtype=np.int64).reshape(-1, 2) for is_bid in (True, False)
        )

    def top(self, depth: int = 10) -> tuple[np.ndarray, np.ndarray]:
        if depth < 0:
            raise ValidationError(f"'depth' must be >= 0, was {depth}", {"depth": depth})
        return tuple(
            np.array(
                [(p / self._price_scale, s / self._size_scale) for p, s in self._best_first(is_bid, depth)],
                dtype=np.float64,
            ).reshape(-1, 2)
            for is_bid in (True, False)
        )

    def top_into(self, out_bids: np.ndarray, out_asks: np.ndarray) -> tuple[int, int]:
        written = []
        for name, out, is_bid in (("out_bids", out_bids, True), ("out_asks", out_asks, False)):
            if not (
                isinstance(out, np.ndarray) and out.dtype == np.float64 and out.ndim == 2 and out.shape[1] == 2
                and out.flags.c_contiguous and out.flags.writeable
            ):
                description = f"{out.dtype} array of shape {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
                raise ValidationError(
                    f"'{name}' must be a writable C-contiguous float64 array of shape (n, 2), was {description}",
                    {name: description},
                )
        for out, is_bid in ((out_bids, True), (out_asks, False)):
            rows = self._best_first(is_bid, out.shape[0])
            for i, (price, size) in enumerate(rows):
                out[i, 0] = price / self._price_scale
                out[i, 1] = size / self._size_scale
            written.append(len(rows))
        return written[0], written[1]

    def depth_within(self, is_bid: bool, bps: float) -> float:
        if not (math.isfinite(bps) and bps >= 0.0):
            raise ValidationError(f"'bps' must be a finite number >= 0, was {bps!r}", {"bps": bps})
        levels = self._best_first(is_bid)
        if not levels:
            return 0.0
        best = levels[0][0]
        limit = float(best) * bps / 10000.0
        total = 0.0
        for price, size in levels:
            if float(abs(best - price)) > limit:
                break
            total += size
        return total / self._size_scale

    def cost_to_take(self, side: str, size: float) -> tuple[float | None, float, float]:
        if side not in (BUY, SELL):
            raise ValidationError(f"'side' must be 'buy' or 'sell', was {side!r}", {"side": side})
        requested = _to_units(size, self.size_precision, False)
        cost = 0.0
        filled = 0
        for price, available in self._best_first(side == SELL):
            if filled == requested:
                break
            take = min(available, requested - filled)
            cost += float(price) * float(take)
            filled += take
        if filled == 0:
            return None, 0.0, 0.0
        return cost / filled / self._price_scale, cost / (self._price_scale * self._size_scale), filled / self._size_scale

    def imbalance(self, levels: int = 10) -> float | None:
        if levels < 1:
            raise ValidationError(f"'levels' must be >= 1, was {levels}", {"levels": levels})
        bid_size = 0.0
        for _, size in self._best_first(True, levels):
            bid_size += size
        ask_size = 0.0
        for _, size in self._best_first(False, levels):
            ask_size += size
        if bid_size + ask_size == 0.0:
            return None
        return (bid_size - ask_size) / (bid_size + ask_size)

    def checksum_kraken(self) -> int:
        text = "".join(
            f"{price}{size}"
            for is_bid in (False, True)
            for price, size in self._best_first(is_bid, KRAKEN_CHECKSUM_LEVELS)
        )
        return zlib.crc32(text.encode("ascii"))

    def check_integrity(self) -> None:
        for name, levels in (("bids", self._bids), ("asks", self._asks)):
            for price, size in levels.items():
                if price <= 0 or size <= 0:
                    raise BookError(f"Book integrity: '{name}' has level {price} x {size} lots, not > 0")
        if self._bids and self._asks and self._bids.peekitem(-1)[0] >= self._asks.peekitem(0)[0]:
            raise BookError(f"Book {self.symbol} is crossed")
