"""CSV formats: Binance klines, Tardis.dev exports, Binance T_DEPTH, OHLCV and Kraken trade history.

Sources without a receive time store ``ts_recv = ts_event``.

* Binance public-data klines: no header, 12 columns, open time in ms
  (13 digits) or, from 2025, us (16 digits).  The timeframe comes from the
  file name (``BTCUSDT-1m-2024-08-08.csv``) and must match the close time.
* Tardis.dev ``trades``, ``quotes``, ``incremental_book_L2`` and
  ``book_snapshot_25``: header row, times in us.  A quote is stored as a
  one-level book snapshot; consecutive ``is_snapshot`` rows form a snapshot
  and every other row is a one-level book event.
* Binance public-data ``T_DEPTH``: ``snap`` rows form a snapshot per
  ``last_update_id``, ``set`` rows with the same ids form one book event.
* OHLCV with header ``timestamp,open,high,low,close,volume`` (open time as
  ``YYYY-MM-DD HH:MM:SS[.ffffff]`` UTC or epoch ms/us/ns): ``volume`` is
  stored as the file gives it, which for FTX exports is quote volume.
* Kraken trade history: no header, ``unix_seconds,price,volume``; no side
  (stored as ``unknown``) and no id (synthetic ids).
"""

from __future__ import annotations

import csv
import re
from datetime import datetime, timezone

import numpy as np

from cryptobot.core.types import TIMEFRAMES_NS
from cryptobot.storage.importers.rows import (
    ParseContext, add_candle, add_deltas, add_trade, check_candle, synthetic_trade_ids,
)

_US = 1_000

TARDIS_TRADES = ["exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount"]
TARDIS_QUOTES = ["exchange", "symbol", "timestamp", "local_timestamp", "ask_amount", "ask_price", "bid_price",
                 "bid_amount"]
TARDIS_L2 = ["exchange", "symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount"]
T_DEPTH = ["symbol", "timestamp", "first_update_id", "last_update_id", "side", "update_type", "price", "qty", "pu"]
OHLCV = ["timestamp", "open", "high", "low", "close", "volume"]


def _rows(ctx: ParseContext, width: int | None, header: bool):
    with open(ctx.path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        for line, row in enumerate(reader, start=1):
            if header and line == 1:
                continue
            if not row:
                continue
            if width is not None and len(row) != width:
                raise ctx.error(line, f"expected {width} columns, found {len(row)}")
            yield line, row


def _timeframe_from_span(ctx: ParseContext, line: int, span_ns: int) -> str:
    for name, length in TIMEFRAMES_NS.items():
        if length == span_ns:
            return name
    raise ctx.error(line, f"bar length of {span_ns / 1e9:g} s matches no timeframe ({', '.join(TIMEFRAMES_NS)})")


def parse_binance_klines(ctx: ParseContext) -> None:
    ctx.parsed.format = "Binance public-data klines CSV"
    match = re.search(r"-(\d+[mhdw])-", ctx.path.name)
    named = match.group(1) if match and match.group(1) in TIMEFRAMES_NS else ""
    for line, row in _rows(ctx, 12, header=False):
        ts_open = ctx.epoch_ns(line, row[0], "open_time")
        ts_close = ctx.epoch_ns(line, row[6], "close_time")
        unit = 1_000_000 if len(row[0].strip()) == 13 else _US
        timeframe = _timeframe_from_span(ctx, line, ts_close + unit - ts_open)
        if named and timeframe != named:
            raise ctx.error(line, f"bar length {timeframe} differs from {named} in the file name")
        if ctx.parsed.timeframe and ctx.parsed.timeframe != timeframe:
            raise ctx.error(line, f"bar length {timeframe} differs from {ctx.parsed.timeframe} earlier in the file")
        ctx.parsed.timeframe = timeframe
        values = [ctx.price(line, row[i], name) for i, name in ((1, "open"), (2, "high"), (3, "low"), (4, "close"))]
        check_candle(ctx, line, *values)
        add_candle(ctx.parsed, ts_open, *values, ctx.amount(line, row[5], "volume"),
                   ctx.amount(line, row[7], "quote_volume"), ctx.integer(line, row[8], "trade_count"))


def parse_tardis(ctx: ParseContext, header: list[str]) -> None:
    if header == TARDIS_TRADES:
        ctx.parsed.format = "Tardis.dev trades CSV"
        if ctx.kind == "trades":
            _tardis_trades(ctx)
    elif header == TARDIS_QUOTES:
        ctx.parsed.format = "Tardis.dev quotes CSV"
        if ctx.kind == "book":
            _tardis_quotes(ctx)
    elif header == TARDIS_L2:
        ctx.parsed.format = "Tardis.dev incremental_book_L2 CSV"
        if ctx.kind == "book":
            _tardis_incremental(ctx)
    else:
        ctx.parsed.format = "Tardis.dev book_snapshot CSV"
        if ctx.kind == "book":
            _tardis_snapshots(ctx, len(header))


def _tardis_trades(ctx: ParseContext) -> None:
    for line, row in _rows(ctx, 8, header=True):
        if not ctx.wants(row[1]):
            continue
        side = {"buy": 1, "sell": 2, "unknown": 0}.get(row[5])
        if side is None:
            raise ctx.error(line, f"'side' must be buy, sell or unknown, was {row[5]!r}")
        add_trade(ctx.parsed, ctx.integer(line, row[2], "timestamp") * _US,
                  ctx.integer(line, row[3], "local_timestamp") * _US, ctx.price(line, row[6]),
                  ctx.amount(line, row[7], "amount"), side, ctx.integer(line, row[4], "id"))


def _tardis_quotes(ctx: ParseContext) -> None:
    for line, row in _rows(ctx, 8, header=True):
        if not ctx.wants(row[1]):
            continue
        asks = np.array([[ctx.price(line, row[5], "ask_price"), ctx.amount(line, row[4], "ask_amount")]])
        bids = np.array([[ctx.price(line, row[6], "bid_price"), ctx.amount(line, row[7], "bid_amount")]])
        ctx.parsed.snapshots.append((ctx.integer(line, row[2], "timestamp") * _US,
                                     ctx.integer(line, row[3], "local_timestamp") * _US, 0, bids, asks))


def _tardis_incremental(ctx: ParseContext) -> None:
    pending: dict | None = None  # snapshot being collected
    for line, row in _rows(ctx, 8, header=True):
        if not ctx.wants(row[1]):
            continue
        ts_event = ctx.integer(line, row[2], "timestamp") * _US
        ts_recv = ctx.integer(line, row[3], "local_timestamp") * _US
        if row[5] not in ("bid", "ask"):
            raise ctx.error(line, f"'side' must be bid or ask, was {row[5]!r}")
        level = [ctx.price(line, row[6]), ctx.amount(line, row[7], "amount")]
        if row[4] not in ("true", "false"):
            raise ctx.error(line, f"'is_snapshot' must be true or false, was {row[4]!r}")
        if row[4] == "true":
            if pending is None:
                pending = {"ts_event": ts_event, "ts_recv": ts_recv, "bid": [], "ask": []}
            pending[row[5]].append(level)
            continue
        if pending is not None:
            ctx.parsed.snapshots.append(_tardis_snapshot(pending))
            pending = None
        empty = np.empty((0, 2))
        side = np.array([level])
        add_deltas(ctx.parsed, ts_event, ts_recv, 0, 0, -1, side if row[5] == "bid" else empty,
                   side if row[5] == "ask" else empty)
    if pending is not None:
        ctx.parsed.snapshots.append(_tardis_snapshot(pending))


def _tardis_snapshot(pending: dict) -> tuple:
    bids = np.array(sorted(pending["bid"], key=lambda level: -level[0]), dtype=np.float64).reshape(-1, 2)
    asks = np.array(sorted(pending["ask"], key=lambda level: level[0]), dtype=np.float64).reshape(-1, 2)
    return pending["ts_event"], pending["ts_recv"], 0, bids, asks


def _tardis_snapshots(ctx: ParseContext, width: int) -> None:
    depth = (width - 4) // 4
    for line, row in _rows(ctx, width, header=True):
        if not ctx.wants(row[1]):
            continue
        asks, bids = [], []
        for i in range(depth):
            base = 4 + 4 * i
            if row[base]:
                asks.append([ctx.price(line, row[base], f"asks[{i}].price"), ctx.amount(line, row[base + 1], f"asks[{i}].amount")])
            if row[base + 2]:
                bids.append([ctx.price(line, row[base + 2], f"bids[{i}].price"), ctx.amount(line, row[base + 3], f"bids[{i}].amount")])
        ctx.parsed.snapshots.append((ctx.integer(line, row[2], "timestamp") * _US,
                                     ctx.integer(line, row[3], "local_timestamp") * _US, 0,
                                     np.array(bids).reshape(-1, 2), np.array(asks).reshape(-1, 2)))


def parse_t_depth(ctx: ParseContext) -> None:
    ctx.parsed.format = "Binance public-data T_DEPTH CSV"
    if ctx.kind != "book":
        return
    events: dict[tuple, dict] = {}
    for line, row in _rows(ctx, 9, header=True):
        if not ctx.wants(row[0]):
            continue
        if row[4] not in ("b", "a"):
            raise ctx.error(line, f"'side' must be b or a, was {row[4]!r}")
        if row[5] not in ("snap", "set"):
            raise ctx.error(line, f"'update_type' must be snap or set, was {row[5]!r}")
        ts = ctx.integer(line, row[1], "timestamp") * 1_000_000
        key = (row[5], ts, ctx.integer(line, row[2], "first_update_id"), ctx.integer(line, row[3], "last_update_id"),
               ctx.integer(line, row[8], "pu"))
        event = events.setdefault(key, {"b": [], "a": []})
        event[row[4]].append([ctx.price(line, row[6]), ctx.amount(line, row[7], "qty")])
    for (update_type, ts, first_id, last_id, prev_id), event in events.items():
        bids = np.array(event["b"], dtype=np.float64).reshape(-1, 2)
        asks = np.array(event["a"], dtype=np.float64).reshape(-1, 2)
        if update_type == "snap":
            bids = bids[np.argsort(-bids[:, 0], kind="stable")]
            asks = asks[np.argsort(asks[:, 0], kind="stable")]
            ctx.parsed.snapshots.append((ts, ts, last_id, bids, asks))
        else:
            add_deltas(ctx.parsed, ts, ts, first_id, last_id, prev_id, bids, asks)


def _ohlcv_time(ctx: ParseContext, line: int, value: str) -> int:
    if value.strip().isdigit():
        return ctx.epoch_ns(line, value, "timestamp")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ctx.error(line, f"'timestamp' must be YYYY-MM-DD HH:MM:SS[.ffffff] or epoch ms/us/ns, was {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def parse_ohlcv(ctx: ParseContext) -> None:
    ctx.parsed.format = "OHLCV CSV"
    previous = None
    for line, row in _rows(ctx, 6, header=True):
        ts_open = _ohlcv_time(ctx, line, row[0])
        if previous is not None and not ctx.parsed.timeframe:
            ctx.parsed.timeframe = _timeframe_from_span(ctx, line, ts_open - previous)
        elif previous is not None and (ts_open <= previous
                                       or (ts_open - previous) % TIMEFRAMES_NS[ctx.parsed.timeframe]):
            raise ctx.error(line, f"bar at {row[0]} is not on the {ctx.parsed.timeframe} grid of the rows before it")
        previous = ts_open
        values = [ctx.price(line, row[i], name) for i, name in ((1, "open"), (2, "high"), (3, "low"), (4, "close"))]
        check_candle(ctx, line, *values)
        add_candle(ctx.parsed, ts_open, *values, ctx.amount(line, row[5], "volume"))


def parse_kraken_trades_csv(ctx: ParseContext) -> None:
    ctx.parsed.format = "Kraken trade-history CSV"
    if ctx.kind != "trades":
        return
    stamps, prices, volumes = [], [], []
    for line, row in _rows(ctx, 3, header=False):
        stamps.append(ctx.seconds_ns(line, row[0], "unix_seconds"))
        prices.append(ctx.price(line, row[1]))
        volumes.append(ctx.amount(line, row[2], "volume"))
    for ts, price, volume, trade_id in zip(stamps, prices, volumes, synthetic_trade_ids(stamps)):
        add_trade(ctx.parsed, ts, ts, price, volume, 0, trade_id)
