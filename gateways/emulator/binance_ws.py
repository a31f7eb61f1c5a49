"""Binance market-stream connections: raw and combined streams, live (un)subscription.

Requests and responses follow Binance's "Live Subscribing/Unsubscribing to
streams" rules: ``SUBSCRIBE``, ``UNSUBSCRIBE``, ``LIST_SUBSCRIPTIONS``,
``SET_PROPERTY``/``GET_PROPERTY`` of ``combined``; success is
``{"result":null,"id":N}``; errors are ``{"error":{"code":C,"msg":M},"id":N}``
with Binance's codes (0 unknown property, 1 invalid value type, 2 invalid
request, 3 invalid JSON).  A stream name that is valid but has no recorded
data is accepted and stays silent, as a quiet market would.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import orjson

from cryptobot.gateways.emulator.connection import EmulatorConnection
from cryptobot.gateways.recordings import DEPTH_UPDATE

if TYPE_CHECKING:
    from cryptobot.gateways.emulator.binance_venue import BinanceVenue

MAX_STREAMS = 1024
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_INTERVALS = "1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M"
STREAM_NAME = re.compile(
    r"^[a-z0-9_.\-]{1,32}@(?:trade|aggTrade|bookTicker|miniTicker|ticker|avgPrice|forceOrder"
    r"|ticker_(?:1h|4h|1d)|markPrice(?:@1s)?"
    r"|depth(?:5|10|20)?(?:@(?:0|100|250|500|1000)ms)?"
    rf"|kline_(?:{_INTERVALS}))$"
    r"|^!(?:bookTicker|miniTicker@arr|ticker@arr|markPrice@arr(?:@1s)?|forceOrder@arr)$"
)
_ID_TEXT = re.compile(r"^[A-Za-z0-9]{1,36}$")


def valid_stream(name: object) -> bool:
    return isinstance(name, str) and STREAM_NAME.match(name) is not None


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is int:
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and _ID_TEXT.match(value) is not None


class BinanceConnection(EmulatorConnection):
    """One client of a Binance venue; ``combined`` wraps payloads as ``{"stream","data"}``."""

    def __init__(self, venue: BinanceVenue, path: str, streams: list[str], combined: bool):
        super().__init__(venue, venue.policy, path)
        self.venue = venue
        self.venue_name = venue.name
        self.combined = combined
        self.streams: list[str] = []
        self._initial = streams

    def on_open(self) -> None:
        for stream in self._initial:
            self._add(stream)

    def on_closed(self) -> None:
        for stream in self.streams:
            self.venue.unsubscribe(self, stream)
        self.streams = []

    def _add(self, stream: str) -> None:
        if stream not in self.streams:
            self.streams.append(stream)
            self.venue.subscribe(self, stream)

    def _remove(self, stream: str) -> None:
        if stream in self.streams:
            self.streams.remove(stream)
            self.venue.unsubscribe(self, stream)

    # ---- requests ------------------------------------------------------------

    def _reply(self, body: dict) -> None:
        self.send_text(orjson.dumps(body))

    def _error(self, code: int, message: str, request_id: Any = None, with_id: bool = False) -> None:
        body: dict[str, Any] = {"error": {"code": code, "msg": message}}
        if with_id:
            body["id"] = request_id
        self._reply(body)

    def on_text(self, payload: bytes) -> None:
        try:
            request = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self._error(3, f"Invalid JSON: expected value at line {exc.lineno} column {exc.colno}")
            return
        if not isinstance(request, dict):
            self._error(2, "Invalid request: request must be a JSON object")
            return
        unknown = set(request) - {"method", "params", "id"}
        if unknown:
            self._error(2, "Invalid request: too many parameters")
            return
        if "id" not in request or not _valid_id(request["id"]):
            self._error(2, "Invalid request: request ID must be an unsigned integer")
            return
        request_id = request["id"]
        method = request.get("method")
        if method is None:
            self._error(2, f"Invalid request: missing field `method` at line 1 column {len(payload)}", request_id, True)
            return
        if method not in METHODS:
            expected = ", ".join(f"`{m}`" for m in METHODS)
            self._error(2, f"Invalid request: unknown variant `{method}`, expected one of {expected} at line 1 column 28",
                        request_id, True)
            return
        params = request.get("params")
        handler = getattr(self, "_" + method.lower())
        handler(request_id, params)

    def _subscribe(self, request_id: Any, params: Any) -> None:
        if not isinstance(params, list) or not params or not all(valid_stream(p) for p in params):
            self._error(2, "Invalid request: invalid stream", request_id, True)
            return
        if len(set(self.streams) | set(params)) > MAX_STREAMS:
            self._error(2, f"Invalid request: a connection can listen to at most {MAX_STREAMS} streams",
                        request_id, True)
            return
        for stream in params:
            self._add(stream)
        self._reply({"result": None, "id": request_id})

    def _unsubscribe(self, request_id: Any, params: Any) -> None:
        if not isinstance(params, list) or not params or not all(valid_stream(p) for p in params):
            self._error(2, "Invalid request: invalid stream", request_id, True)
            return
        for stream in params:
            self._remove(stream)
        self._reply({"result": None, "id": request_id})

    def _list_subscriptions(self, request_id: Any, params: Any) -> None:
        if params not in (None, []):
            self._error(2, "Invalid request: too many parameters", request_id, True)
            return
        self._reply({"result": list(self.streams), "id": request_id})

    def _set_property(self, request_id: Any, params: Any) -> None:
        if not isinstance(params, list) or len(params) != 2 or not isinstance(params[0], str):
            self._error(2, "Invalid request: property name must be a string", request_id, True)
            return
        if params[0] != "combined":
            self._error(0, "Unknown property", request_id, True)
            return
        if not isinstance(params[1], bool):
            self._error(1, "Invalid value type: expected Boolean", request_id, True)
            return
        self.combined = params[1]
        self._reply({"result": None, "id": request_id})

    def _get_property(self, request_id: Any, params: Any) -> None:
        if not isinstance(params, list) or len(params) != 1 or not isinstance(params[0], str):
            self._error(2, "Invalid request: property name must be a string", request_id, True)
            return
        if params[0] != "combined":
            self._error(0, "Unknown property", request_id, True)
            return
        self._reply({"result": self.combined, "id": request_id})

    # ---- replay ----------------------------------------------------------------

    def deliver(self, kind: str, symbol: str, raw: bytes, combined: bytes) -> None:
        """Send one replayed message, honouring faults and stalls (the slow path)."""
        if self.closed:
            return
        if self.pending and kind == DEPTH_UPDATE and self.take_fault("skip_update", symbol):
            return
        self.send_framed(combined if self.combined else raw)

    def malformed_message(self) -> bytes:
        text = b'{"e":"trade","E":' if not self.combined else b'{"stream":"btcusdt@trade","data":{"e":"trade","E":'
        return text + str(time.time_ns() // 1_000_000).encode() + b',"s":"BTC'

    def unknown_message(self) -> bytes:
        event = b'{"e":"emulatorUnknownEvent","E":' + str(time.time_ns() // 1_000_000).encode() + b"}"
        if self.combined:
            return b'{"stream":"!emulatorUnknown@arr","data":' + event + b"}"
        return event
