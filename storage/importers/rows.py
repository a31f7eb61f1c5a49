"""Rows a file parser fills (trades, book, candles) and the checks every parser shares.

Parsers append plain Python values row by row to a :class:`Parsed` and
raise :func:`ParseContext.error` with the 1-based line number at the first
malformed row.  The loader turns the rows into numpy columns only after the
whole file has parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from cryptobot.core.errors import ValidationError

KINDS = ("trades", "book", "candles")

_ALIASES = (("XBT", "BTC"), ("XDG", "DOGE"))


def symbol_key(raw: str) -> str:
    """Reduce an exchange's spelling of an instrument to letters and digits (``XBT/USD`` -> ``BTCUSD``)."""
    key = re.sub(r"[^A-Z0-9]", "", str(raw).upper())
    for alias, standard in _ALIASES:
        key = key.replace(alias, standard)
    return key


@dataclass
class Parsed:
    """Rows parsed from one file, for one instrument."""

    format: str = ""
    trades: dict[str, list] = field(default_factory=lambda: {k: [] for k in (
        "ts_event", "ts_recv", "price", "quantity", "side", "trade_id")})
    deltas: dict[str, list] = field(default_factory=lambda: {k: [] for k in (
        "ts_event", "ts_recv", "first_id", "last_id", "prev_id", "side", "price", "size", "ordinal", "checksum")})
    # (ts_event, ts_recv, sequence, bids (n, 2), asks (n, 2))
    snapshots: list[tuple] = field(default_factory=list)
    candles: dict[str, list] = field(default_factory=lambda: {k: [] for k in (
        "ts_open", "open", "high", "low", "close", "volume", "quote_volume", "trades")})
    timeframe: str = ""
    skipped_other_symbols: int = 0
    skipped_messages: int = 0

    def row_count(self, kind: str) -> int:
        if kind == "trades":
            return len(self.trades["ts_event"])
        if kind == "book":
            return len(self.deltas["ts_event"]) + len(self.snapshots)
        return len(self.candles["ts_open"])


class ParseContext:
    """The file, the requested instrument and kind, and the error helpers for one import."""

    def __init__(self, path: Path, exchange: str, symbol: str, kind: str):
        self.path = path
        self.exchange = exchange
        self.symbol = symbol
        self.kind = kind
        self.key = symbol_key(symbol)
        self.seen: set[str] = set()
        self.parsed = Parsed()

    def wants(self, raw_symbol: str) -> bool:
        """True when ``raw_symbol`` is the requested instrument; remembers every symbol seen."""
        self.seen.add(str(raw_symbol))
        if symbol_key(raw_symbol) == self.key:
            return True
        self.parsed.skipped_other_symbols += 1
        return False

    def error(self, line: int, message: str) -> ValidationError:
        return ValidationError(f"{self.path.name} line {line}: {message}; nothing was imported",
                               {"file": str(self.path), "line": line})

    def decimal(self, line: int, value, name: str) -> Decimal:
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise self.error(line, f"'{name}' is not a number, was {value!r}") from None
        if not number.is_finite():
            raise self.error(line, f"'{name}' must be finite, was {value!r}")
        return number

    def price(self, line: int, value, name: str = "price") -> float:
        number = self.decimal(line, value, name)
        if number <= 0:
            raise self.error(line, f"'{name}' must be > 0, was {value!r}")
        return float(number)

    def amount(self, line: int, value, name: str = "quantity") -> float:
        number = self.decimal(line, value, name)
        if number < 0:
            raise self.error(line, f"'{name}' must be >= 0, was {value!r}")
        return float(number)

    def integer(self, line: int, value, name: str) -> int:
        try:
            if isinstance(value, bool):
                raise ValueError
            return int(str(value).strip())
        except ValueError:
            raise self.error(line, f"'{name}' is not an integer, was {value!r}") from None

    def seconds_ns(self, line: int, value, name: str = "time") -> int:
        """Convert a decimal number of seconds (string, int or Decimal) to integer nanoseconds exactly."""
        return int(self.decimal(line, value, name) * 1_000_000_000)

    def epoch_ns(self, line: int, value, name: str = "timestamp") -> int:
        """Convert an integer epoch in ms (13 digits), us (16) or ns (19) to nanoseconds."""
        number = self.integer(line, value, name)
        digits = len(str(abs(number)))
        scale = {13: 1_000_000, 16: 1_000, 19: 1}.get(digits)
        if scale is None:
            raise self.error(line, f"'{name}' must be epoch ms, us or ns (13, 16 or 19 digits), was {value!r}")
        return number * scale

    def levels(self, line: int, rows, name: str) -> np.ndarray:
        """Parse ``[[price, size, ...], ...]`` into a float64 (n, 2) array; size 0 is allowed."""
        if not isinstance(rows, list):
            raise self.error(line, f"'{name}' must be a list of [price, size] levels, was {type(rows).__name__}")
        out = np.empty((len(rows), 2), dtype=np.float64)
        for i, level in enumerate(rows):
            if not isinstance(level, (list, tuple)) or len(level) < 2:
                raise self.error(line, f"'{name}' level {i} must be [price, size, ...], was {level!r}")
            out[i, 0] = self.price(line, level[0], f"{name}[{i}].price")
            out[i, 1] = self.amount(line, level[1], f"{name}[{i}].size")
        return out


def add_trade(parsed: Parsed, ts_event: int, ts_recv: int, price: float, quantity: float, side: int,
              trade_id: int) -> None:
    rows = parsed.trades
    rows["ts_event"].append(ts_event)
    rows["ts_recv"].append(ts_recv)
    rows["price"].append(price)
    rows["quantity"].append(quantity)
    rows["side"].append(side)
    rows["trade_id"].append(trade_id)


def add_deltas(parsed: Parsed, ts_event: int, ts_recv: int, first_id: int, last_id: int, prev_id: int,
               bids: np.ndarray, asks: np.ndarray, checksum: int = -1) -> None:
    """Append the levels of one book event, bids then asks, numbered by ``ordinal``."""
    rows = parsed.deltas
    ordinal = 0
    for side, levels in ((1, bids), (2, asks)):
        for price, size in levels:
            rows["ts_event"].append(ts_event)
            rows["ts_recv"].append(ts_recv)
            rows["first_id"].append(first_id)
            rows["last_id"].append(last_id)
            rows["prev_id"].append(prev_id)
            rows["side"].append(side)
            rows["price"].append(float(price))
            rows["size"].append(float(size))
            rows["ordinal"].append(ordinal)
            rows["checksum"].append(checksum)
            ordinal += 1


def add_candle(parsed: Parsed, ts_open: int, open_: float, high: float, low: float, close: float, volume: float,
               quote_volume: float = float("nan"), trades: int = 0) -> None:
    rows = parsed.candles
    for name, value in (("ts_open", ts_open), ("open", open_), ("high", high), ("low", low), ("close", close),
                        ("volume", volume), ("quote_volume", quote_volume), ("trades", trades)):
        rows[name].append(value)


def check_candle(ctx: ParseContext, line: int, open_: float, high: float, low: float, close: float) -> None:
    if not (low <= min(open_, close) and high >= max(open_, close)):
        raise ctx.error(line, f"candle is inconsistent: low {low} and high {high} must bracket open {open_} "
                              f"and close {close}")


def synthetic_trade_ids(ts_event: list[int]) -> list[int]:
    """Ids for trades a source gives none: ``ts_event`` plus the trade's rank among equal times.

    Deterministic for the same file, so a re-import finds the same ids.  Two
    trades collide only if more than 1000 share one microsecond, or a
    seconds-resolution source has more than 10^9 in one second.
    """
    ids = []
    previous = None
    rank = 0
    for ts in ts_event:
        rank = rank + 1 if ts == previous else 0
        previous = ts
        ids.append(ts + rank)
    return ids
