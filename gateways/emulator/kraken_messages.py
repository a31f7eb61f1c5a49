"""Kraken message builders: v1 frames and the v2 translation of the v1 recording.

WebSocket v2 translation (no real v2 capture exists, so v2 messages are
built from the recorded v1 frames):

* symbols: the v1 pair with Kraken's legacy asset codes replaced
  (``XBT`` -> ``BTC``, ``XDG`` -> ``DOGE``): ``XBT/CHF`` -> ``BTC/CHF``;
* numbers: v1 decimal strings become JSON numbers written from the same
  digits, trailing zeros dropped (``"56218.30000"`` -> ``56218.3``);
* times: v1 ``seconds.micros`` strings become RFC 3339 UTC strings
  (``"1618678137.640504"`` -> ``"2021-04-17T16:48:57.640504Z"``);
* book: the snapshot and updates for the subscribed depth (see
  :mod:`kraken_book_feed`) as ``{"price","qty"}`` objects, ``bids`` then
  ``asks``, with ``checksum`` computed by the v2 rule on the emulator's
  book (top 10 asks then bids, each price and quantity formatted at the
  pair's ``price_precision``/``qty_precision`` = AssetPairs
  ``pair_decimals``/``lot_decimals``, dot and leading zeros removed,
  CRC32) and ``timestamp`` = the latest level time in the message;
* trade: each v1 trade ``[price, volume, time, b|s, l|m, misc]`` becomes
  ``{"symbol","side":"buy"|"sell","price","qty","ord_type":"limit"|"market",
  "trade_id","timestamp"}``; v1 has no trade id, so ``trade_id`` counts the
  pair's replayed trades from 1 (continuing across loops);
* ticker: from the v1 fields, ``bid`` = ``b[0]``, ``bid_qty`` = ``b[2]``,
  ``ask`` = ``a[0]``, ``ask_qty`` = ``a[2]``, ``last`` = ``c[0]``,
  ``volume`` = ``v[1]``, ``vwap`` = ``p[1]``, ``low`` = ``l[1]``,
  ``high`` = ``h[1]`` (the rolling 24 h values), ``change`` =
  ``last - o[1]`` and ``change_pct`` = ``100 * change / o[1]`` rounded to
  two decimals.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal

import orjson

_V2_ASSETS = {"XBT": "BTC", "XDG": "DOGE"}


def v2_symbol(pair: str) -> str:
    base, _, quote = pair.partition("/")
    return f"{_V2_ASSETS.get(base, base)}/{_V2_ASSETS.get(quote, quote)}"


def number(text: str) -> str:
    """JSON number text for a decimal string, without trailing zeros."""
    if text.startswith("-"):
        magnitude = number(text[1:])
        return magnitude if magnitude == "0" else "-" + magnitude
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    stripped = text.lstrip("0")
    if not stripped or stripped.startswith("."):
        stripped = "0" + stripped
    return stripped


def rfc3339(seconds: str) -> str:
    """RFC 3339 UTC text (microseconds) for a ``seconds.fraction`` string."""
    whole, _, fraction = seconds.partition(".")
    moment = datetime.fromtimestamp(int(whole), tz=timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{(fraction + '000000')[:6]}Z"


def now_rfc3339() -> str:
    nanos = time.time_ns()
    return rfc3339(f"{nanos // 1_000_000_000}.{nanos % 1_000_000_000:09d}")


# ---- v1 ------------------------------------------------------------------------

def v1_book_snapshot(channel_id: int, depth: int, pair: str, asks: list, bids: list) -> bytes:
    body = {"as": [list(level) for level in asks], "bs": [list(level) for level in bids]}
    return orjson.dumps([channel_id, body, f"book-{depth}", pair])


def v1_book_update(channel_id: int, depth: int, pair: str, sides: dict[str, list], checksum: str) -> bytes:
    objects = [{side: sides[side]} for side in ("a", "b") if side in sides]
    objects[-1]["c"] = checksum
    return orjson.dumps([channel_id, *objects, f"book-{depth}", pair])


def v1_with_channel(message: list, channel_id: int, channel_name: str | None = None) -> bytes:
    """Re-encode a recorded v1 data message for another channel id (and name)."""
    copy = list(message)
    copy[0] = channel_id
    if channel_name is not None:
        copy[-2] = channel_name
    return orjson.dumps(copy)


def v1_event(body: dict) -> bytes:
    """Kraken v1 events are sent with their keys in alphabetical order."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


# ---- v2 ------------------------------------------------------------------------

def _levels(levels) -> bytes:
    return b"[" + b",".join(
        b'{"price":' + number(level[0]).encode() + b',"qty":' + number(level[1]).encode() + b"}" for level in levels
    ) + b"]"


def v2_book(kind: str, symbol: str, bids, asks, checksum: int, stamp: str | None) -> bytes:
    text = (b'{"channel":"book","type":"' + kind.encode() + b'","data":[{"symbol":"' + symbol.encode()
            + b'","bids":' + _levels(bids) + b',"asks":' + _levels(asks) + b',"checksum":' + str(checksum).encode())
    if stamp is not None:
        text += b',"timestamp":"' + rfc3339(stamp).encode() + b'"'
    return text + b"}]}"


def latest_stamp(*groups) -> str | None:
    stamps = [level[2] for group in groups for level in group]
    return max(stamps, key=Decimal) if stamps else None


def v2_trade(symbol: str, trade: list, trade_id: int) -> bytes:
    side = b"buy" if trade[3] == "b" else b"sell"
    order_type = b"limit" if trade[4] == "l" else b"market"
    return (b'{"symbol":"' + symbol.encode() + b'","side":"' + side + b'","price":' + number(trade[0]).encode()
            + b',"qty":' + number(trade[1]).encode() + b',"ord_type":"' + order_type + b'","trade_id":'
            + str(trade_id).encode() + b',"timestamp":"' + rfc3339(trade[2]).encode() + b'"}')


def v2_trades(kind: str, items: list[bytes]) -> bytes:
    return b'{"channel":"trade","type":"' + kind.encode() + b'","data":[' + b",".join(items) + b"]}"


def v2_ticker(kind: str, symbol: str, ticker: dict) -> bytes:
    last = Decimal(ticker["c"][0])
    opened = Decimal(ticker["o"][1])
    change = last - opened
    percent = (change * 100 / opened).quantize(Decimal("0.01"), ROUND_HALF_EVEN) if opened else Decimal(0)
    fields = [
        ("bid", ticker["b"][0]), ("bid_qty", ticker["b"][2]), ("ask", ticker["a"][0]), ("ask_qty", ticker["a"][2]),
        ("last", ticker["c"][0]), ("volume", ticker["v"][1]), ("vwap", ticker["p"][1]), ("low", ticker["l"][1]),
        ("high", ticker["h"][1]), ("change", format(change, "f")), ("change_pct", format(percent, "f")),
    ]
    body = b",".join(b'"' + name.encode() + b'":' + number(value).encode() for name, value in fields)
    return (b'{"channel":"ticker","type":"' + kind.encode() + b'","data":[{"symbol":"' + symbol.encode() + b'",'
            + body + b"}]}")


def v2_status(connection_id: int) -> bytes:
    return orjson.dumps({"channel": "status", "type": "update", "data": [
        {"version": "2.0.0", "system": "online", "api_version": "v2", "connection_id": connection_id}]})


def v2_ack(method: str, result: dict | None, req_id, error: str | None = None, symbol: str | None = None,
           time_in: str | None = None) -> bytes:
    body: dict = {"method": method}
    if error is not None:
        body["error"] = error
        if symbol is not None:
            body["symbol"] = symbol
    else:
        body["result"] = result
    if req_id is not None:
        body["req_id"] = req_id
    body["success"] = error is None
    body["time_in"] = time_in or now_rfc3339()
    body["time_out"] = now_rfc3339()
    return orjson.dumps(body)
