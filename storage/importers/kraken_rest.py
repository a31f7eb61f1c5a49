"""Kraken REST response bodies: public Trades, OHLC and Depth.

The body is ``{"error": [], "result": {"<PAIR>": data, "last": cursor}}``.
The pair key is matched against the requested symbol.  Line numbers in
errors point at the start of the row's JSON array in the file.

* Trades rows ``[price, volume, time, "b"|"s", type, misc, trade_id]``.
* OHLC rows ``[time, open, high, low, close, vwap, volume, count]``.  The
  body does not state the interval, so the timeframe is the spacing of the
  rows.  ``quote_volume`` is ``vwap * volume``, exact to the rounding of the
  published vwap.
* Depth ``{"asks": [[price, volume, time], ...], "bids": [...]}`` becomes one
  snapshot stamped with its latest level time.
"""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np

from cryptobot.core.types import TIMEFRAMES_NS
from cryptobot.storage.importers.rows import ParseContext, add_candle, add_trade, check_candle


def _row_lines(text: str) -> list[int]:
    """Return the 1-based line of each innermost ``[`` that opens a row, in order."""
    lines = []
    line = 1
    depth = 0
    in_string = False
    escaped = False
    for char in text:
        if char == "\n":
            line += 1
        elif in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "[":
            depth += 1
            lines.append((depth, line))
        elif char == "]":
            depth -= 1
    deepest = max((d for d, _ in lines), default=0)
    return [line for d, line in lines if d == deepest]


def parse_kraken_rest(ctx: ParseContext) -> None:
    ctx.parsed.format = "Kraken REST JSON"
    text = ctx.path.read_text(encoding="utf-8")
    try:
        body = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ctx.error(exc.lineno, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(body, dict) or not isinstance(body.get("result"), dict):
        raise ctx.error(1, "expected a Kraken response object with a 'result' object")
    if body.get("error"):
        raise ctx.error(1, f"the response carries errors: {body['error']}")
    pairs = {key: value for key, value in body["result"].items() if key != "last"}
    matching = [key for key in pairs if ctx.wants(key)]
    if not matching:
        return
    data = pairs[matching[0]]
    lines = _row_lines(text)
    if isinstance(data, dict) and "asks" in data and "bids" in data:
        ctx.parsed.format = "Kraken REST Depth JSON"
        if ctx.kind == "book":
            _depth(ctx, data)
    elif isinstance(data, list) and data and isinstance(data[0], list) and len(data[0]) == 7:
        ctx.parsed.format = "Kraken REST Trades JSON"
        if ctx.kind == "trades":
            _trades(ctx, data, lines)
    elif isinstance(data, list) and data and isinstance(data[0], list) and len(data[0]) == 8:
        ctx.parsed.format = "Kraken REST OHLC JSON"
        if ctx.kind == "candles":
            _ohlc(ctx, data, lines)
    else:
        raise ctx.error(1, f"result '{matching[0]}' is not Kraken Trades, OHLC or Depth data")


def _line(lines: list[int], index: int) -> int:
    return lines[index] if index < len(lines) else 1


def _trades(ctx: ParseContext, rows: list, lines: list[int]) -> None:
    for index, row in enumerate(rows):
        line = _line(lines, index)
        if not isinstance(row, list) or len(row) != 7:
            raise ctx.error(line, f"trade must be [price, volume, time, side, type, misc, id], was {row!r}")
        side = {"b": 1, "s": 2}.get(row[3])
        if side is None:
            raise ctx.error(line, f"'side' must be 'b' or 's', was {row[3]!r}")
        ts = ctx.seconds_ns(line, row[2], "time")
        add_trade(ctx.parsed, ts, ts, ctx.price(line, row[0]), ctx.amount(line, row[1], "volume"), side,
                  ctx.integer(line, row[6], "trade_id"))


def _ohlc(ctx: ParseContext, rows: list, lines: list[int]) -> None:
    previous = None
    for index, row in enumerate(rows):
        line = _line(lines, index)
        if not isinstance(row, list) or len(row) != 8:
            raise ctx.error(line, f"OHLC row must be [time, open, high, low, close, vwap, volume, count], was {row!r}")
        ts = ctx.integer(line, row[0], "time") * 1_000_000_000
        if previous is not None:
            span = ts - previous
            names = [name for name, length in TIMEFRAMES_NS.items() if length == span]
            if not ctx.parsed.timeframe:
                if not names:
                    raise ctx.error(line, f"bar spacing of {span / 1e9:g} s matches no timeframe")
                ctx.parsed.timeframe = names[0]
            elif span <= 0 or span % TIMEFRAMES_NS[ctx.parsed.timeframe]:
                raise ctx.error(line, f"bar is not on the {ctx.parsed.timeframe} grid of the rows before it")
        previous = ts
        values = [ctx.price(line, row[i], name) for i, name in ((1, "open"), (2, "high"), (3, "low"), (4, "close"))]
        check_candle(ctx, line, *values)
        volume = ctx.amount(line, row[6], "volume")
        vwap = ctx.amount(line, row[5], "vwap")
        add_candle(ctx.parsed, ts, *values, volume, vwap * volume, ctx.integer(line, row[7], "count"))


def _depth(ctx: ParseContext, data: dict) -> None:
    latest = 0
    sides = {}
    for name in ("bids", "asks"):
        levels = ctx.levels(1, data[name], name)
        for i, level in enumerate(data[name]):
            if len(level) < 3:
                raise ctx.error(1, f"'{name}' level {i} must be [price, volume, time], was {level!r}")
            latest = max(latest, ctx.seconds_ns(1, level[2], f"{name}[{i}].time"))
        sides[name] = levels
    bids = sides["bids"][np.argsort(-sides["bids"][:, 0], kind="stable")]
    asks = sides["asks"][np.argsort(sides["asks"][:, 0], kind="stable")]
    ctx.parsed.snapshots.append((latest, latest, 0, bids, asks))
