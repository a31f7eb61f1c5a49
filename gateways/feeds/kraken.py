"""Kraken market data over WebSocket v1 and v2: book with checksums, trades, ticker.

v1 (``wss://ws.kraken.com``) names pairs with Kraken's legacy asset codes
(``XBT/USD``) and sends prices and volumes as decimal strings; data
messages are arrays ``[channelID, payload..., channelName, pair]``.  A book
update's last object carries ``"c"``, the CRC32 of the top 10 levels
written as the strings' digits, so the book's fixed point uses the decimals
of the snapshot's strings (prices per pair, volumes always 8).

v2 (``wss://ws.kraken.com/v2``) uses unified symbols (``BTC/USD``) and JSON
numbers; its checksum formats prices and quantities at the pair's
``price_precision`` and ``qty_precision``, which the ``instrument``
channel reports, so the feed subscribes to it first.

A resync of one pair unsubscribes and resubscribes its book channel; the
new subscription starts with a snapshot.  Kraken sends no server pings:
the feed sends ``ping`` requests, which also measure the round trip, and
Kraken's heartbeats keep a quiet subscription from looking silent.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from typing import Any, Callable

import numpy as np
import orjson

from cryptobot.core.clock import iso_to_ns
from cryptobot.core.errors import ValidationError
from cryptobot.core.types import BUY, SELL, TradeTick
from cryptobot.gateways.feeds.binance_rest import decimal_units
from cryptobot.gateways.feeds.config import FeedConfig
from cryptobot.gateways.feeds.connection import Link
from cryptobot.gateways.feeds.messages import ExchangeTicker, KrakenBookUpdate, SnapshotReady, StreamReset
from cryptobot.gateways.feeds.problems import MALFORMED, OUT_OF_RANGE, UNKNOWN, ProblemLog
from cryptobot.gateways.feeds.symbols import kraken_v1_pair
from cryptobot.gateways.feeds.values import MAX_VALUE, non_negative, positive
from cryptobot.gateways.recordings import parse_seconds_ns

log = logging.getLogger("cryptobot.gateways.feeds.kraken")

V1_VOLUME_DECIMALS = 8


def _decimals(text: str) -> int:
    return len(text.partition(".")[2])


def _string_rows(levels: list, price_digits: int, size_digits: int) -> tuple[np.ndarray, int]:
    """v1 levels ``[price, volume, time, ...]`` -> int64 rows and the latest level time in ns."""
    rows = np.empty((len(levels), 2), dtype=np.int64)
    latest = 0
    for i, level in enumerate(levels):
        rows[i, 0] = decimal_units(level[0], price_digits)
        rows[i, 1] = decimal_units(level[1], size_digits)
        if rows[i, 0] <= 0:
            raise ValueError(f"price {level[0]!r} is not above 0")
        stamp = parse_seconds_ns(level[2])
        latest = stamp if stamp > latest else latest
    return rows, latest


def _number_units(value: Any, digits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value < MAX_VALUE:
        raise ValueError(f"{value!r} is not a number in [0, {MAX_VALUE:g})")
    scaled = value * 10.0 ** digits
    units = round(scaled)
    if abs(scaled - units) > 1e-6 + abs(scaled) * 1e-12:
        raise ValueError(f"{value!r} has more than {digits} decimals")
    return units


def _object_rows(levels: list, price_digits: int, size_digits: int) -> np.ndarray:
    """v2 levels ``{"price": p, "qty": q}`` -> int64 rows."""
    rows = np.empty((len(levels), 2), dtype=np.int64)
    for i, level in enumerate(levels):
        rows[i, 0] = _number_units(level["price"], price_digits)
        rows[i, 1] = _number_units(level["qty"], size_digits)
        if rows[i, 0] <= 0:
            raise ValueError(f"price {level['price']!r} is not above 0")
    return rows


class KrakenProtocol:
    """Subscriptions and parsing of one Kraken feed (v1 or v2, per ``config.kraken_version``).

    Parameters are those of :class:`~cryptobot.gateways.feeds.binance.BinanceProtocol`.
    """

    def __init__(self, config: FeedConfig, books: dict[str, Any], deliver: Callable[[Any, Any], None],
                 publish: Callable[[str, Any], None], problems: ProblemLog):
        self.config = config
        self.version = config.kraken_version
        self.books = books
        self.deliver = deliver
        self.publish = publish
        self.problems = problems
        self.pairs = {kraken_v1_pair(s) if self.version == 1 else s: s for s in config.symbols}
        self.precision: dict[str, tuple[int, int]] = {}
        self.link: Link | None = None
        self.ping_rtt_ms = 0.0
        self.event_latency_ms = 0.0
        self._ids = itertools.count(1)
        self._pings: dict[int, int] = {}
        self.last_trade_id: dict[str, int] = {}
        self.subscription_errors = 0
        self.snapshots = 0
        self.snapshot_failures = 0

    # ---- connection hooks ------------------------------------------------------

    def url(self) -> str:
        return self.config.ws_url

    def depth_routes(self) -> dict | None:
        return None

    def switch_at_once(self) -> bool:
        # Book updates carry no sequence ids: two connections must never feed one book.
        return True

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def on_connected(self, link: Link, rollover: bool) -> None:
        self.link = link
        pairs = list(self.pairs)
        if self.version == 2:
            self._send_v2("subscribe", {"channel": "instrument"})
        for stream in self.config.streams:
            self._subscribe(stream, pairs, "subscribe")

    def on_disconnected(self, link: Link, reason: str) -> None:
        if link is self.link:
            self.link = None
        if "book" in self.config.streams:
            for ref in self.books.values():
                self.deliver(ref, StreamReset(f"connection lost: {reason}"))

    def send_ping(self, link: Link) -> None:
        request_id = next(self._ids)
        self._pings[request_id] = time.monotonic_ns()
        if len(self._pings) > 16:
            self._pings.pop(next(iter(self._pings)))
        if self.version == 1:
            link.send(orjson.dumps({"event": "ping", "reqid": request_id}))
        else:
            link.send(orjson.dumps({"method": "ping", "req_id": request_id}))

    def on_pong(self, ts_recv: int) -> None:
        pass  # Kraken replies to a ping request with a pong message, handled in on_text

    def _pong(self, request_id: Any) -> None:
        sent = self._pings.pop(request_id, None) if type(request_id) is int else None
        if sent is not None:
            self.ping_rtt_ms = (time.monotonic_ns() - sent) / 1e6

    def resync(self, symbol: str, reason: str) -> None:
        """Resubscribe the book of ``symbol``: Kraken then sends a fresh snapshot."""
        if self.link is None or symbol not in self.books or "book" not in self.config.streams:
            return
        pair = next(p for p, s in self.pairs.items() if s == symbol)
        log.info("kraken: resubscribing the book of %s (%s)", pair, reason)
        self._subscribe("book", [pair], "unsubscribe")
        self._subscribe("book", [pair], "subscribe")

    def _subscribe(self, stream: str, pairs: list[str], method: str) -> None:
        if self.link is None:
            return
        if self.version == 1:
            subscription: dict[str, Any] = {"name": stream}
            if stream == "book":
                subscription["depth"] = self.config.depth
            self.link.send(orjson.dumps({"event": method, "pair": pairs, "subscription": subscription,
                                         "reqid": next(self._ids)}))
        else:
            params: dict[str, Any] = {"channel": stream, "symbol": pairs}
            if stream == "book":
                params["depth"] = self.config.depth
            self._send_v2(method, params)

    def _send_v2(self, method: str, params: dict) -> None:
        if self.link is not None:
            self.link.send(orjson.dumps({"method": method, "params": params, "req_id": next(self._ids)}))

    # ---- messages ------------------------------------------------------------------

    def on_text(self, payload: bytes, ts_recv: int) -> None:
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self.problems.report(MALFORMED, "kraken: malformed JSON: %s: %.120r", exc, payload)
            return
        try:
            if self.version == 1:
                self._v1(message, ts_recv)
            else:
                self._v2(message, ts_recv)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            self.problems.report(MALFORMED, "kraken: message of an unexpected shape (%s): %.160r", exc, payload)
        except (ValueError, ValidationError) as exc:
            self.problems.report(OUT_OF_RANGE, "kraken: message with an invalid value (%s): %.160r", exc, payload)

    def _book_error(self, symbol: str, exc: Exception) -> None:
        # A book update the feed cannot read leaves the book behind: resync it.
        self.problems.report(OUT_OF_RANGE, "kraken: invalid book update for %s (%s); resyncing", symbol, exc)
        self.deliver(self.books[symbol], StreamReset(f"invalid book update: {exc}"))
        self.resync(symbol, "invalid book update")

    # ---- v1 --------------------------------------------------------------------------

    def _v1(self, message: Any, ts_recv: int) -> None:
        if isinstance(message, dict):
            event = message.get("event")
            if event == "heartbeat" or event == "systemStatus":
                return
            if event == "pong":
                self._pong(message.get("reqid"))
            elif event == "subscriptionStatus":
                if message.get("status") == "error":
                    self.subscription_errors += 1
                    log.error("kraken: subscription failed: %s", message.get("errorMessage"))
            elif event == "error":
                log.error("kraken: request failed: %s", message.get("errorMessage"))
            else:
                self.problems.report(UNKNOWN, "kraken: unknown event %r", event)
            return
        if not isinstance(message, list) or len(message) < 4:
            self.problems.report(UNKNOWN, "kraken: unknown message %.120r", message)
            return
        channel, pair = message[-2], message[-1]
        symbol = self.pairs.get(pair)
        if symbol is None:
            raise KeyError(f"pair {pair!r} is not subscribed")
        if isinstance(channel, str) and channel.startswith("book-"):
            self._v1_book(symbol, message[1:-2], ts_recv)
        elif channel == "trade":
            self._v1_trades(symbol, message[1], ts_recv)
        elif channel == "ticker":
            self._ticker(symbol, message[1]["b"][0], message[1]["a"][0], message[1]["c"][0], message[1]["v"][1],
                         message[1]["o"][1], ts_recv)
        else:
            self.problems.report(UNKNOWN, "kraken: unknown channel %r", channel)

    def _v1_book(self, symbol: str, parts: list, ts_recv: int) -> None:
        ref = self.books[symbol]
        first = parts[0]
        if "as" in first or "bs" in first:
            asks_text, bids_text = first.get("as", []), first.get("bs", [])
            sample = (asks_text or bids_text or [["0", "0"]])[0]
            digits = (_decimals(sample[0]), max(_decimals(sample[1]), V1_VOLUME_DECIMALS))
            asks, latest_a = _string_rows(asks_text, *digits)
            bids, latest_b = _string_rows(bids_text, *digits)
            self.precision[symbol] = digits
            self.snapshots += 1
            self.deliver(ref, SnapshotReady(symbol, 0, bids, asks, digits[0], digits[1], self.config.depth,
                                            max(latest_a, latest_b), ts_recv))
            return
        digits = self.precision.get(symbol)
        if digits is None:
            return  # an update before the first snapshot: the book is not started yet
        asks_text: list = []
        bids_text: list = []
        checksum = None
        for part in parts:
            asks_text.extend(part.get("a", ()))
            bids_text.extend(part.get("b", ()))
            if "c" in part:
                checksum = int(part["c"])
        if checksum is None:
            raise KeyError("book update without a checksum 'c'")
        try:
            asks, latest_a = _string_rows(asks_text, *digits)
            bids, latest_b = _string_rows(bids_text, *digits)
        except (ValueError, IndexError, TypeError) as exc:
            self._book_error(symbol, exc)
            return
        self.deliver(ref, KrakenBookUpdate(symbol, bids, asks, checksum, digits[0], digits[1],
                                           max(latest_a, latest_b), ts_recv))

    def _v1_trades(self, symbol: str, trades: list, ts_recv: int) -> None:
        ref = self.books[symbol]
        for trade in trades:
            if trade[3] == "b":
                side = BUY
            elif trade[3] == "s":
                side = SELL
            else:
                raise ValueError(f"trade side {trade[3]!r} is neither b nor s")
            # v1 trades carry no id.
            self.deliver(ref, TradeTick("kraken", symbol, parse_seconds_ns(trade[2]), ts_recv, positive(trade[0]),
                                        positive(trade[1]), side, 0))

    def _ticker(self, symbol: str, bid: Any, ask: Any, last: Any, volume: Any, opened: Any, ts_recv: int) -> None:
        self.deliver(self.books[symbol], ExchangeTicker(symbol, positive(bid), positive(ask), positive(last),
                                                        non_negative(volume), positive(opened), ts_recv))

    # ---- v2 --------------------------------------------------------------------------

    def _v2(self, message: Any, ts_recv: int) -> None:
        if not isinstance(message, dict):
            self.problems.report(UNKNOWN, "kraken: unknown message %.120r", message)
            return
        channel = message.get("channel")
        if channel is None:
            method = message.get("method")
            if method == "pong":
                self._pong(message.get("req_id"))
            elif method in ("subscribe", "unsubscribe"):
                if not message.get("success"):
                    self.subscription_errors += 1
                    log.error("kraken: %s failed: %s", method, message.get("error"))
            else:
                self.problems.report(UNKNOWN, "kraken: unknown message %.120r", message)
            return
        if channel in ("heartbeat", "status"):
            return
        if channel == "instrument":
            for pair in message["data"].get("pairs", ()):
                if pair["symbol"] in self.pairs:
                    self.precision[pair["symbol"]] = (int(pair["price_precision"]), int(pair["qty_precision"]))
        elif channel == "book":
            for item in message["data"]:
                self._v2_book(item, message["type"] == "snapshot", ts_recv)
        elif channel == "trade":
            for item in message["data"]:
                self._v2_trade(item, ts_recv)
        elif channel == "ticker":
            for item in message["data"]:
                symbol = item["symbol"]
                if symbol in self.pairs:
                    self._ticker(symbol, item["bid"], item["ask"], item["last"], item["volume"],
                                 item["last"] - item["change"], ts_recv)
        else:
            self.problems.report(UNKNOWN, "kraken: unknown channel %r", channel)

    def _v2_book(self, item: dict, snapshot: bool, ts_recv: int) -> None:
        symbol = self.pairs.get(item["symbol"])
        if symbol is None:
            raise KeyError(f"symbol {item['symbol']!r} is not subscribed")
        digits = self.precision.get(symbol)
        if digits is None:
            log.error("kraken: no precision known for %s (instrument channel); cannot read its book", symbol)
            return
        stamp = item.get("timestamp")
        ts_event = iso_to_ns(stamp) if stamp else ts_recv
        try:
            bids = _object_rows(item["bids"], *digits)
            asks = _object_rows(item["asks"], *digits)
        except (ValueError, KeyError, TypeError) as exc:
            if snapshot:
                raise
            self._book_error(symbol, exc)
            return
        ref = self.books[symbol]
        if snapshot:
            self.snapshots += 1
            self.deliver(ref, SnapshotReady(symbol, 0, bids, asks, digits[0], digits[1], self.config.depth, ts_event,
                                            ts_recv))
        else:
            self.deliver(ref, KrakenBookUpdate(symbol, bids, asks, int(item["checksum"]), digits[0], digits[1],
                                               ts_event, ts_recv))

    def _v2_trade(self, item: dict, ts_recv: int) -> None:
        symbol = self.pairs.get(item["symbol"])
        if symbol is None:
            raise KeyError(f"symbol {item['symbol']!r} is not subscribed")
        trade_id = item["trade_id"]
        if type(trade_id) is not int or trade_id < 0:
            raise ValueError(f"trade_id {trade_id!r} is not an integer >= 0")
        if trade_id <= self.last_trade_id.get(symbol, -1):
            return  # the trade snapshot at subscription repeats trades already seen
        self.last_trade_id[symbol] = trade_id
        side = item["side"]
        if side not in (BUY, SELL):
            raise ValueError(f"trade side {side!r} is neither buy nor sell")
        self.deliver(self.books[symbol], TradeTick("kraken", symbol, iso_to_ns(item["timestamp"]), ts_recv,
                                                   positive(item["price"]), positive(item["qty"]), side, trade_id))

