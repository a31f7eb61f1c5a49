"""Binance WebSocket frames and REST depth snapshots, as raw captures hold them.

Shared by the hftbacktest captures (one ``<local ns or us> <frame>`` per
line, gzip) and cryptofeed captures (``<local seconds>: <frame>``).

Mapping onto the tables:

* ``trade`` and ``aggTrade``: ``ts_event`` is the trade time ``T`` and
  ``trade_id`` the trade id ``t`` or the aggregate id ``a``.  An aggregate
  trade stands for all fills of one taker order at one price.  ``m`` (buyer
  is maker) means the aggressor sold.
* ``depthUpdate``: one book event stamped with the event time ``E``, ids
  ``U``/``u`` and, on futures, ``pu`` (-1 on spot).
* a REST depth body: a snapshot whose sequence is ``lastUpdateId``, stamped
  with its ``E`` where futures send one, else with the receive time.
* ``kline`` (candles): closed bars only (``x`` true).
* ``bookTicker`` and ``markPriceUpdate`` are skipped: top of book follows
  from snapshot and diffs, and mark prices are not ticks.
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

from cryptobot.core.types import TIMEFRAMES_NS
from cryptobot.storage.importers.rows import ParseContext, add_candle, add_deltas, add_trade, check_candle

_MS = 1_000_000


def _field(ctx: ParseContext, line: int, data: dict, name: str):
    if name not in data:
        raise ctx.error(line, f"missing field '{name}' in {data.get('e', 'message')} message")
    return data[name]


def handle_frame(ctx: ParseContext, line: int, frame: dict, ts_recv: int) -> None:
    """Add the rows of one combined-stream frame ``{"stream", "data"}`` for the requested kind."""
    data = frame.get("data")
    if not isinstance(data, dict):
        raise ctx.error(line, "stream frame has no 'data' object")
    event = data.get("e")
    parsed = ctx.parsed
    if event in ("trade", "aggTrade"):
        if ctx.kind != "trades" or not ctx.wants(_field(ctx, line, data, "s")):
            return
        trade_id = _field(ctx, line, data, "t" if event == "trade" else "a")
        maker = _field(ctx, line, data, "m")
        if not isinstance(maker, bool):
            raise ctx.error(line, f"'m' must be true or false, was {maker!r}")
        add_trade(parsed, ctx.integer(line, _field(ctx, line, data, "T"), "T") * _MS, ts_recv,
                  ctx.price(line, _field(ctx, line, data, "p"), "p"), ctx.amount(line, _field(ctx, line, data, "q"), "q"),
                  2 if maker else 1, ctx.integer(line, trade_id, "t"))
    elif event == "depthUpdate":
        if ctx.kind != "book" or not ctx.wants(_field(ctx, line, data, "s")):
            return
        add_deltas(parsed, ctx.integer(line, _field(ctx, line, data, "E"), "E") * _MS, ts_recv,
                   ctx.integer(line, _field(ctx, line, data, "U"), "U"), ctx.integer(line, _field(ctx, line, data, "u"), "u"),
                   ctx.integer(line, data.get("pu", -1), "pu"),
                   ctx.levels(line, _field(ctx, line, data, "b"), "b"), ctx.levels(line, _field(ctx, line, data, "a"), "a"))
    elif event == "kline":
        bar = _field(ctx, line, data, "k")
        if ctx.kind != "candles" or not isinstance(bar, dict) or not ctx.wants(_field(ctx, line, data, "s")):
            return
        if not bar.get("x"):
            return  # still open: its values are not final
        add_kline(ctx, line, bar)
    elif event in ("bookTicker", "markPriceUpdate") or (event is None and "u" in data and "b" in data):
        parsed.skipped_messages += 1
    else:
        raise ctx.error(line, f"unknown Binance stream event {event!r}")


def add_kline(ctx: ParseContext, line: int, bar: dict) -> None:
    interval = _field(ctx, line, bar, "i")
    if interval not in TIMEFRAMES_NS:
        raise ctx.error(line, f"kline interval must be one of {', '.join(TIMEFRAMES_NS)}, was {interval!r}")
    if ctx.parsed.timeframe and ctx.parsed.timeframe != interval:
        raise ctx.error(line, f"kline interval {interval} differs from {ctx.parsed.timeframe} earlier in the file")
    ctx.parsed.timeframe = interval
    values = [ctx.price(line, _field(ctx, line, bar, name), name) for name in ("o", "h", "l", "c")]
    check_candle(ctx, line, *values)
    add_candle(ctx.parsed, ctx.integer(line, _field(ctx, line, bar, "t"), "t") * _MS, *values,
               ctx.amount(line, _field(ctx, line, bar, "v"), "v"), ctx.amount(line, _field(ctx, line, bar, "q"), "q"),
               ctx.integer(line, _field(ctx, line, bar, "n"), "n"))


def handle_depth_snapshot(ctx: ParseContext, line: int, body: dict, ts_recv: int, url_symbol: str | None) -> None:
    """Add a REST depth snapshot ``{"lastUpdateId", "bids", "asks", ...}`` when the kind is book."""
    if ctx.kind != "book":
        return
    symbol = body.get("symbol") or url_symbol
    if symbol is not None and not ctx.wants(symbol):
        return
    sequence = ctx.integer(line, _field(ctx, line, body, "lastUpdateId"), "lastUpdateId")
    ts_event = ctx.integer(line, body["E"], "E") * _MS if "E" in body else ts_recv
    ctx.parsed.snapshots.append((ts_event, ts_recv, sequence, ctx.levels(line, _field(ctx, line, body, "bids"), "bids"),
                                 ctx.levels(line, _field(ctx, line, body, "asks"), "asks")))


def parse_hftbacktest(ctx: ParseContext) -> None:
    """Parse a gzip capture of ``<local receive time> <frame JSON>`` lines."""
    ctx.parsed.format = "hftbacktest raw Binance capture"
    with gzip.open(ctx.path, "rt", encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            text = text.rstrip("\n")
            if not text:
                continue
            stamp, _, payload = text.partition(" ")
            if not stamp.isdigit() or len(stamp) not in (16, 19):
                raise ctx.error(line, f"local timestamp must be 16 (us) or 19 (ns) digits, was {stamp[:30]!r}")
            ts_recv = int(stamp) * (1_000 if len(stamp) == 16 else 1)
            try:
                message = json.loads(payload, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                raise ctx.error(line, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(message, dict):
                raise ctx.error(line, "expected a JSON object")
            if "stream" in message:
                handle_frame(ctx, line, message, ts_recv)
            elif "lastUpdateId" in message:
                handle_depth_snapshot(ctx, line, message, ts_recv, None)
            else:
                raise ctx.error(line, "neither a stream frame nor a depth snapshot")


def is_hftbacktest(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"
