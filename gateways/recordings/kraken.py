"""Validation and classification of recorded Kraken WebSocket v1 frames.

A v1 data frame is an array ``[channelID, payload..., channelName, pair]``;
book frames carry one or two payload objects.  Each check raises
``ValueError`` naming the first problem.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from cryptobot.gateways.recordings.model import BOOK_SNAPSHOT, BOOK_UPDATE, OHLC, SPREAD, TICKER, TRADE

_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_CHECKSUM = re.compile(r"^[0-9]{1,10}$")
_BOOK_CHANNEL = re.compile(r"^book-(10|25|100|500|1000)$")


def _check_book_levels(levels: Any, where: str) -> None:
    if not isinstance(levels, list):
        raise ValueError(f"{where} must be a list of levels")
    for level in levels:
        if not isinstance(level, list) or len(level) not in (3, 4):
            raise ValueError(f"{where} contains a malformed level {level!r}")
        price, volume, stamp = level[0], level[1], level[2]
        if not all(isinstance(v, str) and _DECIMAL.match(v) for v in (price, volume, stamp)):
            raise ValueError(f"{where} contains a level with non-decimal fields {level!r}")
        if len(level) == 4 and level[3] != "r":
            raise ValueError(f"{where} contains a level whose fourth field is not the republish flag 'r': {level!r}")


def _check_book(payloads: list) -> str:
    if len(payloads) == 1 and ("as" in payloads[0] or "bs" in payloads[0]):
        snapshot = payloads[0]
        if set(snapshot) - {"as", "bs"}:
            raise ValueError(f"book snapshot has unexpected keys {sorted(set(snapshot) - {'as', 'bs'})}")
        _check_book_levels(snapshot.get("as", []), "book snapshot 'as'")
        _check_book_levels(snapshot.get("bs", []), "book snapshot 'bs'")
        return BOOK_SNAPSHOT
    for index, payload in enumerate(payloads):
        if not isinstance(payload, dict) or not (set(payload) & {"a", "b"}) or set(payload) - {"a", "b", "c"}:
            raise ValueError(f"book update object {index} is not {{'a'|'b': [...], 'c'?}}")
        for side in ("a", "b"):
            if side in payload:
                _check_book_levels(payload[side], f"book update '{side}'")
    checksum = payloads[-1].get("c")
    if not isinstance(checksum, str) or not _CHECKSUM.match(checksum) or int(checksum) >= 2**32:
        raise ValueError(f"book update has no valid checksum 'c' in its last object, was {checksum!r}")
    return BOOK_UPDATE


def _check_trades(payloads: list) -> None:
    if len(payloads) != 1 or not isinstance(payloads[0], list):
        raise ValueError("trade frame must carry one list of trades")
    for trade in payloads[0]:
        if (not isinstance(trade, list) or len(trade) != 6
                or not all(isinstance(v, str) for v in trade)
                or not all(_DECIMAL.match(v) for v in trade[:3])
                or trade[3] not in ("b", "s") or trade[4] not in ("l", "m")):
            raise ValueError(f"trade frame contains a malformed trade {trade!r}")


def _check_ticker(payloads: list) -> None:
    if len(payloads) != 1 or not isinstance(payloads[0], dict):
        raise ValueError("ticker frame must carry one object")
    missing = {"a", "b", "c", "v", "p", "t", "l", "h", "o"} - set(payloads[0])
    if missing:
        raise ValueError(f"ticker frame lacks fields {sorted(missing)}")


def classify(text: str) -> tuple[str, str, str, int, Any]:
    """Validate a v1 frame; return (kind, pair, channel name, channel id, parsed message).

    Events return their event name as kind and channel, an empty pair and
    channel id -1.
    """
    message = orjson.loads(text)
    if isinstance(message, dict):
        event = message.get("event")
        if not isinstance(event, str):
            raise ValueError("object frame has no 'event' name")
        return event, "", event, -1, message
    if not isinstance(message, list) or len(message) < 4:
        raise ValueError("data frame is not an array [channelID, payload, channelName, pair]")
    channel_id, channel, pair = message[0], message[-2], message[-1]
    if type(channel_id) is not int or not isinstance(channel, str) or not isinstance(pair, str) or "/" not in pair:
        raise ValueError("data frame must start with an integer channel id and end with channel name and pair")
    payloads = message[1:-2]
    if _BOOK_CHANNEL.match(channel):
        kind = _check_book(payloads)
    elif channel == "trade":
        _check_trades(payloads)
        kind = TRADE
    elif channel == "ticker":
        _check_ticker(payloads)
        kind = TICKER
    elif channel == "spread":
        kind = SPREAD
    elif channel.startswith("ohlc-"):
        kind = OHLC
    else:
        raise ValueError(f"unknown channel name {channel!r}")
    return kind, pair, channel, channel_id, message
