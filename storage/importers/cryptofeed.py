"""cryptofeed raw captures: Binance combined streams, REST snapshots and Kraken WebSocket v1.

Line shapes (the receive time is Unix seconds with a fraction):

* ``configuration: {...}`` and ``<url> <-> <time>`` (connection opened): skipped;
* ``<url> <- <time>: <json>``: a frame the client sent, skipped;
* ``<url> -> <time>: <json>``: a REST body; depth snapshots are imported,
  other REST data (exchangeInfo, AssetPairs) skipped;
* ``<time>: <json>``: a received frame.

Kraken v1 frames are JSON arrays ``[channel id, payload..., channel name,
pair]``.  Trades carry no id, so each gets a synthetic one
(:func:`.rows.synthetic_trade_ids`).  A book snapshot (``as``/``bs``) is
stored as a snapshot with sequence 0.  An update becomes one book event
stamped with the latest level timestamp in it.  Its ``checksum`` is
Kraken's CRC32 ``c``, so a replay can verify the book.
"""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import numpy as np

from cryptobot.storage.importers.binance_frames import handle_depth_snapshot, handle_frame
from cryptobot.storage.importers.rows import ParseContext, add_deltas, synthetic_trade_ids

_KRAKEN_SKIP = ("ticker", "spread", "ohlc")


def _split_time(ctx: ParseContext, line: int, text: str) -> tuple[int, str]:
    stamp, sep, payload = text.partition(": ")
    if not sep:
        raise ctx.error(line, "expected '<time>: <json>'")
    return ctx.seconds_ns(line, stamp, "receive time"), payload


def _load(ctx: ParseContext, line: int, payload: str):
    try:
        return json.loads(payload, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ctx.error(line, f"invalid JSON ({exc.msg} at column {exc.colno})") from None


def parse_cryptofeed(ctx: ParseContext) -> None:
    """Parse a cryptofeed raw capture file."""
    ctx.parsed.format = "cryptofeed raw capture"
    kraken_trades: list[tuple] = []
    with open(ctx.path, encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            text = text.rstrip("\n")
            if not text or text.startswith("configuration: "):
                continue
            if " <-> " in text.split(": ", 1)[0] or (" <- " in text.split(": ", 1)[0]):
                continue
            head = text.split(": ", 1)[0]
            if " -> " in head:
                url, _, rest = text.partition(" -> ")
                ts_recv, payload = _split_time(ctx, line, rest)
                if "/depth" in urlparse(url).path:
                    body = _load(ctx, line, payload)
                    symbol = parse_qs(urlparse(url).query).get("symbol", [None])[0]
                    handle_depth_snapshot(ctx, line, body, ts_recv, symbol)
                continue
            ts_recv, payload = _split_time(ctx, line, text)
            message = _load(ctx, line, payload)
            if isinstance(message, dict) and "stream" in message:
                handle_frame(ctx, line, message, ts_recv)
            elif isinstance(message, dict) and "event" in message:
                continue  # Kraken status, subscription and heartbeat events
            elif isinstance(message, list):
                _kraken_frame(ctx, line, message, ts_recv, kraken_trades)
            else:
                raise ctx.error(line, "frame is neither a Binance stream frame nor a Kraken message")
    _add_kraken_trades(ctx, kraken_trades)


def _kraken_frame(ctx: ParseContext, line: int, message: list, ts_recv: int, trades: list) -> None:
    if len(message) < 4 or not isinstance(message[-2], str) or not isinstance(message[-1], str):
        raise ctx.error(line, "Kraken frame must be [channel id, payload..., channel name, pair]")
    channel, pair = message[-2], message[-1]
    payloads = message[1:-2]
    if channel == "trade":
        if ctx.kind == "trades" and ctx.wants(pair):
            _kraken_trades(ctx, line, payloads[0], ts_recv, trades)
    elif channel.startswith("book"):
        if ctx.kind == "book" and ctx.wants(pair):
            _kraken_book(ctx, line, payloads, ts_recv)
    elif channel.startswith(_KRAKEN_SKIP):
        ctx.parsed.skipped_messages += 1
    else:
        raise ctx.error(line, f"unknown Kraken channel {channel!r}")


def _kraken_trades(ctx: ParseContext, line: int, rows, ts_recv: int, trades: list) -> None:
    if not isinstance(rows, list):
        raise ctx.error(line, "Kraken trade payload must be a list of trades")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) < 4:
            raise ctx.error(line, f"Kraken trade {i} must be [price, volume, time, side, ...], was {row!r}")
        side = {"b": 1, "s": 2}.get(row[3])
        if side is None:
            raise ctx.error(line, f"Kraken trade {i} side must be 'b' or 's', was {row[3]!r}")
        trades.append((ctx.seconds_ns(line, row[2], "time"), ts_recv, ctx.price(line, row[0]),
                       ctx.amount(line, row[1], "volume"), side))


def _add_kraken_trades(ctx: ParseContext, trades: list) -> None:
    rows = ctx.parsed.trades
    ids = synthetic_trade_ids([trade[0] for trade in trades])
    for (ts_event, ts_recv, price, quantity, side), trade_id in zip(trades, ids):
        for name, value in (("ts_event", ts_event), ("ts_recv", ts_recv), ("price", price), ("quantity", quantity),
                            ("side", side), ("trade_id", trade_id)):
            rows[name].append(value)


def _kraken_levels(ctx: ParseContext, line: int, rows, name: str) -> tuple[np.ndarray, int]:
    levels = ctx.levels(line, rows, name)
    latest = 0
    for i, level in enumerate(rows):
        if len(level) < 3:
            raise ctx.error(line, f"'{name}' level {i} must be [price, volume, time], was {level!r}")
        latest = max(latest, ctx.seconds_ns(line, level[2], f"{name}[{i}].time"))
    return levels, latest


def _kraken_book(ctx: ParseContext, line: int, payloads: list, ts_recv: int) -> None:
    merged: dict = {}
    for payload in payloads:
        if not isinstance(payload, dict):
            raise ctx.error(line, "Kraken book payload must be an object")
        merged.update(payload)
    empty = np.empty((0, 2))
    if "as" in merged or "bs" in merged:
        asks, asks_time = _kraken_levels(ctx, line, merged.get("as", []), "as")
        bids, bids_time = _kraken_levels(ctx, line, merged.get("bs", []), "bs")
        ctx.parsed.snapshots.append((max(asks_time, bids_time) or ts_recv, ts_recv, 0, bids, asks))
        return
    asks, asks_time = _kraken_levels(ctx, line, merged.get("a", []), "a") if "a" in merged else (empty, 0)
    bids, bids_time = _kraken_levels(ctx, line, merged.get("b", []), "b") if "b" in merged else (empty, 0)
    if not len(asks) and not len(bids):
        raise ctx.error(line, "Kraken book update has no 'a' or 'b' levels")
    checksum = ctx.integer(line, merged["c"], "c") if "c" in merged else -1
    add_deltas(ctx.parsed, max(asks_time, bids_time) or ts_recv, ts_recv, 0, 0, -1, bids, asks, checksum)


def is_cryptofeed(first_line: str) -> bool:
    head = first_line.split(": ", 1)[0]
    if first_line.startswith("configuration: ") or " <-> " in head or " -> " in head or " <- " in head:
        return True
    try:
        Decimal(head)
        return ": " in first_line
    except ArithmeticError:
        return False
