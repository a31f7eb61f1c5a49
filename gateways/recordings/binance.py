"""Validation and classification of recorded Binance frames and depth snapshots.

Each check raises ``ValueError`` with a short description of the first
problem; the loaders turn it into a :class:`RecordingError` that names the
file and line.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from cryptobot.gateways.recordings.model import (
    AGG_TRADE,
    BOOK_TICKER,
    DEPTH_UPDATE,
    KLINE,
    MARK_PRICE,
    TRADE,
    DepthSnapshot,
)

_STREAM = re.compile(r"^([a-z0-9_]+)@([A-Za-z0-9_@]+)$")
_COMBINED_PREFIX = '{"stream":"'


_is_decimal = re.compile(r"[0-9]+(?:\.[0-9]+)?").fullmatch


def is_decimal(text: str) -> bool:
    """Tell whether ``text`` is an unsigned decimal such as ``"61737.63000000"`` (no exponent)."""
    return _is_decimal(text) is not None


def _need_int(data: dict, key: str, where: str) -> int:
    value = data.get(key)
    if type(value) is not int:
        raise ValueError(f"{where}: field '{key}' must be an integer, was {value!r}")
    return value


def _need_decimal(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if type(value) is not str or _is_decimal(value.removeprefix("-")) is None:
        raise ValueError(f"{where}: field '{key}' must be a decimal string, was {value!r}")
    return value


def check_levels(levels: Any, where: str) -> list:
    """Return ``levels`` if it is a list of [price, quantity] decimal strings; raise ValueError otherwise."""
    if type(levels) is not list:
        raise ValueError(f"{where} must be a list of [price, quantity], was {type(levels).__name__}")
    for level in levels:
        if type(level) is not list or len(level) != 2:
            raise ValueError(f"{where} contains a malformed level {level!r}")
        price, quantity = level
        if type(price) is not str or type(quantity) is not str or _is_decimal(price) is None \
                or _is_decimal(quantity) is None:
            raise ValueError(f"{where} contains a malformed level {level!r}")
    return levels


def _check_depth(data: dict, futures: bool) -> None:
    where = "depthUpdate"
    first = _need_int(data, "U", where)
    last = _need_int(data, "u", where)
    if first > last:
        raise ValueError(f"depthUpdate: 'U' ({first}) is greater than 'u' ({last})")
    _need_int(data, "E", where)
    if futures:
        _need_int(data, "pu", where)
    check_levels(data.get("b"), "depthUpdate 'b'")
    check_levels(data.get("a"), "depthUpdate 'a'")


def _check_trade(data: dict) -> None:
    for key in ("E", "T", "t"):
        _need_int(data, key, "trade")
    _need_decimal(data, "p", "trade")
    _need_decimal(data, "q", "trade")
    if not isinstance(data.get("m"), bool):
        raise ValueError(f"trade: field 'm' must be a boolean, was {data.get('m')!r}")


def _check_agg_trade(data: dict) -> None:
    for key in ("E", "T", "a", "f", "l"):
        _need_int(data, key, "aggTrade")
    _need_decimal(data, "p", "aggTrade")
    _need_decimal(data, "q", "aggTrade")


def _check_book_ticker(data: dict) -> None:
    _need_int(data, "u", "bookTicker")
    for key in ("b", "B", "a", "A"):
        _need_decimal(data, key, "bookTicker")


def _check_kline(data: dict) -> None:
    _need_int(data, "E", "kline")
    bar = data.get("k")
    if not isinstance(bar, dict):
        raise ValueError("kline: field 'k' must be an object")
    for key in ("t", "T", "f", "L", "n"):
        _need_int(bar, key, "kline 'k'")
    for key in ("o", "h", "l", "c", "v"):
        _need_decimal(bar, key, "kline 'k'")


_CHECKS = {
    TRADE: _check_trade,
    AGG_TRADE: _check_agg_trade,
    BOOK_TICKER: _check_book_ticker,
    KLINE: _check_kline,
}


def classify_combined(text: str, futures: bool | None) -> tuple[str, str, str, int, dict]:
    """Validate a combined-stream frame ``{"stream":S,"data":P}``.

    Parameters
    ----------
    text
        The frame text.
    futures
        Whether depth updates must carry ``pu``; None when not yet known.

    Returns
    -------
    (kind, symbol, stream, data_offset, data)
        ``data_offset`` is where ``P`` starts in ``text``, so the raw-stream
        payload is ``text[data_offset:-1]`` byte for byte.
    """
    message = orjson.loads(text)
    if not isinstance(message, dict) or set(message) != {"stream", "data"}:
        raise ValueError("frame is not a combined-stream object {\"stream\":...,\"data\":...}")
    stream, data = message["stream"], message["data"]
    if not isinstance(stream, str) or not isinstance(data, dict):
        raise ValueError("frame 'stream' must be a string and 'data' an object")
    match = _STREAM.match(stream)
    if match is None:
        raise ValueError(f"stream name {stream!r} is not <symbol>@<channel>")
    marker = f'{_COMBINED_PREFIX}{stream}","data":'
    if not text.startswith(marker) or not text.endswith("}"):
        raise ValueError("combined frame is not laid out as {\"stream\":...,\"data\":...} in this order")
    symbol = data.get("s")
    if not isinstance(symbol, str) or symbol.lower() != match.group(1):
        raise ValueError(f"payload symbol {symbol!r} does not match stream {stream!r}")
    kind = data.get("e", BOOK_TICKER if match.group(2) == "bookTicker" else None)
    if not isinstance(kind, str):
        raise ValueError(f"payload of stream {stream!r} has no event type 'e'")
    if kind == DEPTH_UPDATE:
        _check_depth(data, bool(futures) if futures is not None else "pu" in data)
    elif kind in _CHECKS:
        _CHECKS[kind](data)
    elif kind == MARK_PRICE:
        _need_int(data, "E", kind)
    return kind, symbol, stream, len(marker), data


def parse_snapshot(text: str, symbol: str | None) -> dict:
    """Validate a REST depth body; return it parsed.  ``symbol`` may come from the body."""
    body = orjson.loads(text)
    if not isinstance(body, dict):
        raise ValueError("depth snapshot is not a JSON object")
    _need_int(body, "lastUpdateId", "depth snapshot")
    check_levels(body.get("bids"), "depth snapshot 'bids'")
    check_levels(body.get("asks"), "depth snapshot 'asks'")
    if symbol is None and not isinstance(body.get("symbol"), str):
        raise ValueError("depth snapshot names no symbol and the capture contains several symbols")
    return body


def make_snapshot(body: dict, symbol: str, ts_ns: int, text: str, source: str, line: int,
                  position: int, url: str = "") -> DepthSnapshot:
    """Build a :class:`DepthSnapshot` from a body checked by :func:`parse_snapshot`."""
    return DepthSnapshot(
        symbol=symbol,
        last_update_id=body["lastUpdateId"],
        bids=tuple((p, q) for p, q in body["bids"]),
        asks=tuple((p, q) for p, q in body["asks"]),
        ts_ns=ts_ns,
        text=text,
        source=source,
        line=line,
        position=position,
        event_time=body.get("E"),
        transaction_time=body.get("T"),
        url=url,
    )


def exchange_of(depth_data: dict) -> str:
    """Tell the Binance market from a depth payload: COIN-M has ``ps``, USD-M ``pu``."""
    if "ps" in depth_data:
        return "binance_coinm"
    if "pu" in depth_data:
        return "binance_usdm"
    return "binance"
