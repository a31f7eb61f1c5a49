"""Kraken WebSocket connections: v1 (``/kraken/v1``) and v2 (``/kraken/v2``).

v1 follows the recorded session: ``systemStatus`` on connect,
``subscriptionStatus`` per pair (keys in alphabetical order, ``reqid``
echoed), ``heartbeat`` after a second without data, ``ping``/``pong``.
Errors: unknown pair "Currency pair not supported <pair>", depth outside
10/25/100/500/1000 "Subscription depth not supported", unknown name
"Subscription name invalid", unsubscribe of a missing subscription
"Subscription Not Found", a second subscribe "Already subscribed",
unparsable JSON "Malformed request", unknown event "Event(s) not found".

v2 speaks the documented v2 shapes: a ``status`` message on connect, one
acknowledgement per symbol with ``time_in``/``time_out``, ``pong`` with
``req_id``, ``{"channel":"heartbeat"}``, and the messages translated as
described in :mod:`kraken_messages`.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any, Callable

import orjson

from cryptobot.gateways.emulator import kraken_messages as msg
from cryptobot.gateways.emulator.connection import EmulatorConnection, text_frame
from cryptobot.gateways.emulator.kraken_venue import BOOK_DEPTHS
from cryptobot.gateways.recordings import BOOK_UPDATE

if TYPE_CHECKING:
    from cryptobot.gateways.emulator.kraken_venue import KrakenVenue

V1_NAMES = ("book", "trade", "ticker", "spread", "ohlc")
V2_CHANNELS = ("book", "trade", "ticker", "instrument")


class KrakenConnection(EmulatorConnection):
    """Shared parts of v1 and v2: heartbeats, subscriptions, fault-aware delivery."""

    version = 1

    def __init__(self, venue: KrakenVenue, path: str):
        super().__init__(venue, venue.policy, path)
        self.venue = venue
        self.venue_name = "kraken"
        self.keys: set[tuple[str, str, int]] = set()
        self._heartbeat: asyncio.TimerHandle | None = None

    def on_open(self) -> None:
        self.send_text(self.status_message())
        self._schedule_heartbeat()

    def on_closed(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for key in self.keys:
            self.venue.unsubscribe(self.version, self, key)
        self.keys.clear()

    def _schedule_heartbeat(self) -> None:
        interval = self.venue.config.heartbeat_interval
        self._heartbeat = asyncio.get_running_loop().call_later(interval, self._beat)

    def _beat(self) -> None:
        if self.closed:
            return
        if self.keys and time.monotonic() - self.last_sent >= self.venue.config.heartbeat_interval * 0.95:
            self.send_text(self.heartbeat_message())
        self._schedule_heartbeat()

    def deliver(self, kind: str, pair: str, framed: bytes, corrupt: Callable[[], bytes] | None) -> None:
        if self.closed:
            return
        if self.pending and kind == BOOK_UPDATE:
            if self.take_fault("skip_update", pair):
                return
            if corrupt is not None and self.take_fault("bad_checksum", pair):
                framed = corrupt()
        self.send_framed(framed)

    def status_message(self) -> bytes:
        raise NotImplementedError

    def heartbeat_message(self) -> bytes:
        raise NotImplementedError


class KrakenV1Connection(KrakenConnection):
    """A client of Kraken's WebSocket API v1."""

    version = 1

    def status_message(self) -> bytes:
        return msg.v1_event({"connectionID": random.getrandbits(64), "event": "systemStatus",
                             "status": "online", "version": "1.8.3"})

    def heartbeat_message(self) -> bytes:
        return b'{"event":"heartbeat"}'

    def malformed_message(self) -> bytes:
        return b'[1664,{"a":[["13.264500","0.00000000","16186781'

    def unknown_message(self) -> bytes:
        return b'{"event":"emulatorUnknownEvent"}'

    def _event_error(self, message: str, **extra: Any) -> None:
        self.send_text(msg.v1_event({"errorMessage": message, "event": "error", **extra}))

    def on_text(self, payload: bytes) -> None:
        try:
            request = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self._event_error("Malformed request")
            return
        if not isinstance(request, dict) or not isinstance(request.get("event"), str):
            self._event_error("Malformed request")
            return
        reqid = request.get("reqid")
        if reqid is not None and type(reqid) is not int:
            self._event_error("Malformed request")
            return
        event = request["event"]
        if event == "ping":
            body: dict[str, Any] = {"event": "pong"}
            if reqid is not None:
                body["reqid"] = reqid
            self.send_text(msg.v1_event(body))
        elif event in ("subscribe", "unsubscribe"):
            self._subscription(event, request, reqid)
        else:
            self._event_error("Event(s) not found")

    def _status(self, pair: str | None, status: str, subscription: dict, reqid: Any, **extra: Any) -> None:
        body: dict[str, Any] = {"event": "subscriptionStatus", "status": status, "subscription": subscription, **extra}
        if pair is not None:
            body["pair"] = pair
        if reqid is not None:
            body["reqid"] = reqid
        self.send_text(msg.v1_event(body))

    def _subscription(self, event: str, request: dict, reqid: Any) -> None:
        subscription = request.get("subscription")
        pairs = request.get("pair")
        if not isinstance(subscription, dict):
            self._event_error("Malformed request")
            return
        if not isinstance(pairs, list) or not pairs or not all(isinstance(p, str) for p in pairs):
            self._status(None, "error", subscription, reqid, errorMessage="Pair field must be an array")
            return
        name = subscription.get("name")
        if name not in V1_NAMES:
            for pair in pairs:
                self._status(pair, "error", subscription, reqid, errorMessage="Subscription name invalid")
            return
        depth = subscription.get("depth", 10) if name == "book" else 0
        if name == "book" and depth not in BOOK_DEPTHS:
            for pair in pairs:
                self._status(pair, "error", subscription, reqid, errorMessage="Subscription depth not supported")
            return
        shown = {"depth": depth, "name": name} if name == "book" else {"name": name}
        channel_name = f"book-{depth}" if name == "book" else name
        for pair in pairs:
            if pair not in self.venue.pairs:
                self._status(pair, "error", shown, reqid, errorMessage=f"Currency pair not supported {pair}")
                continue
            key = (name, pair, depth)
            if event == "subscribe":
                self._subscribe_one(key, channel_name, shown, reqid)
            elif key in self.keys:
                self.keys.discard(key)
                self.venue.unsubscribe(1, self, key)
                self._status(pair, "unsubscribed", shown, reqid, channelID=self.venue.channel_id(channel_name, pair),
                             channelName=channel_name)
            else:
                self._status(pair, "error", shown, reqid, errorMessage="Subscription Not Found")

    def _subscribe_one(self, key: tuple[str, str, int], channel_name: str, shown: dict, reqid: Any) -> None:
        name, pair, depth = key
        if key in self.keys:
            self._status(pair, "error", shown, reqid, errorMessage="Already subscribed")
            return
        channel_id = self.venue.channel_id(channel_name, pair)
        self._status(pair, "subscribed", shown, reqid, channelID=channel_id, channelName=channel_name)
        self.keys.add(key)
        self.venue.subscribe(1, self, key)
        if name == "book":
            snapshot = self.venue.v1_snapshot(pair, depth)
            if snapshot is not None:
                self.send_text(snapshot)
        elif name == "ticker" and pair in self.venue.last_ticker:
            self.send_text(orjson.dumps([channel_id, self.venue.last_ticker[pair], "ticker", pair]))


class KrakenV2Connection(KrakenConnection):
    """A client of Kraken's WebSocket API v2 (translated from the v1 recording)."""

    version = 2

    def __init__(self, venue: KrakenVenue, path: str):
        super().__init__(venue, path)
        self._ticker_snapshot_due: set[str] = set()

    def status_message(self) -> bytes:
        return msg.v2_status(random.getrandbits(63))

    def heartbeat_message(self) -> bytes:
        return b'{"channel":"heartbeat"}'

    def malformed_message(self) -> bytes:
        return b'{"channel":"book","type":"update","data":[{"symbol":"BTC/'

    def unknown_message(self) -> bytes:
        return b'{"channel":"emulator_unknown","type":"update","data":[]}'

    def on_text(self, payload: bytes) -> None:
        time_in = msg.now_rfc3339()
        try:
            request = orjson.loads(payload)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            self.send_text(msg.v2_ack("error", None, None, "Malformed request", time_in=time_in))
            return
        req_id = request.get("req_id")
        if req_id is not None and type(req_id) is not int:
            self.send_text(msg.v2_ack(request["method"], None, None, "Malformed request", time_in=time_in))
            return
        method = request["method"]
        if method == "ping":
            body = {"method": "pong", "req_id": req_id, "time_in": time_in, "time_out": msg.now_rfc3339()}
            if req_id is None:
                del body["req_id"]
            self.send_text(orjson.dumps(body))
        elif method in ("subscribe", "unsubscribe"):
            self._subscription(method, request.get("params"), req_id, time_in)
        else:
            self.send_text(msg.v2_ack(method, None, req_id, f"Method not found {method}", time_in=time_in))

    def _subscription(self, method: str, params: Any, req_id: Any, time_in: str) -> None:
        if not isinstance(params, dict) or params.get("channel") not in V2_CHANNELS:
            channel = params.get("channel") if isinstance(params, dict) else None
            error = "Channel not supported" if isinstance(channel, str) else "Malformed request"
            self.send_text(msg.v2_ack(method, None, req_id, error, time_in=time_in))
            return
        channel = params["channel"]
        if channel == "instrument":
            self._instrument(method, req_id, time_in)
            return
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
            self.send_text(msg.v2_ack(method, None, req_id, "Malformed request", time_in=time_in))
            return
        depth = params.get("depth", 10) if channel == "book" else 0
        snapshot = params.get("snapshot", channel != "trade")
        if channel == "book" and depth not in BOOK_DEPTHS:
            for symbol in symbols:
                self.send_text(msg.v2_ack(method, None, req_id, "Subscription depth not supported", symbol, time_in))
            return
        for symbol in symbols:
            info = self.venue.pairs_v2.get(symbol)
            if info is None:
                self.send_text(msg.v2_ack(method, None, req_id, f"Currency pair not supported {symbol}", symbol, time_in))
                continue
            result: dict[str, Any] = {"channel": channel}
            if channel == "book":
                result["depth"] = depth
            result["snapshot"] = bool(snapshot)
            result["symbol"] = symbol
            key = (channel, info.pair, depth)
            if method == "subscribe":
                if key in self.keys:
                    self.send_text(msg.v2_ack(method, None, req_id, "Already subscribed", symbol, time_in))
                    continue
                self.send_text(msg.v2_ack(method, result, req_id, time_in=time_in))
                self.keys.add(key)
                self.venue.subscribe(2, self, key)
                if snapshot:
                    self._send_snapshot(channel, info.pair, depth)
            elif key in self.keys:
                self.keys.discard(key)
                self.venue.unsubscribe(2, self, key)
                result.pop("snapshot")
                self.send_text(msg.v2_ack(method, result, req_id, time_in=time_in))
            else:
                self.send_text(msg.v2_ack(method, None, req_id, "Subscription Not Found", symbol, time_in))

    def _send_snapshot(self, channel: str, pair: str, depth: int) -> None:
        venue = self.venue
        symbol = venue.pairs[pair].symbol
        if channel == "book":
            snapshot = venue.v2_snapshot(pair, depth)
            if snapshot is not None:
                self.send_text(snapshot)
        elif channel == "trade":
            self.send_text(msg.v2_trades("snapshot", list(venue.recent_trades.get(pair, ()))))
        elif channel == "ticker":
            if pair in venue.last_ticker:
                self.send_text(msg.v2_ticker("snapshot", symbol, venue.last_ticker[pair]))
            else:
                self._ticker_snapshot_due.add(pair)

    def deliver_ticker(self, pair: str, ticker: dict) -> None:
        kind = "snapshot" if pair in self._ticker_snapshot_due else "update"
        self._ticker_snapshot_due.discard(pair)
        self.deliver("ticker", pair, text_frame(msg.v2_ticker(kind, self.venue.pairs[pair].symbol, ticker)), None)

    def _instrument(self, method: str, req_id: Any, time_in: str) -> None:
        self.send_text(msg.v2_ack(method, {"channel": "instrument", "snapshot": True}, req_id, time_in=time_in))
        if method != "subscribe":
            return
        pairs = []
        for info in self.venue.pairs.values():
            base, _, quote = info.symbol.partition("/")
            pairs.append({"symbol": info.symbol, "base": base, "quote": quote, "status": "online",
                          "price_precision": info.price_precision, "qty_precision": info.qty_precision,
                          "price_increment": float(f"1e-{info.price_precision}"),
                          "qty_increment": float(f"1e-{info.qty_precision}")})
        assets = sorted({part for p in pairs for part in (p["base"], p["quote"])})
        self.send_text(orjson.dumps({"channel": "instrument", "type": "snapshot", "data": {
            "assets": [{"id": asset, "status": "enabled"} for asset in assets], "pairs": pairs}}))
