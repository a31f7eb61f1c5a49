"""Binance spot and USD-M market data: streams, message parsing, depth snapshots.

One combined-stream connection (``/stream?streams=a/b/...``) carries every
stream of every symbol of the feed; frames arrive as
``{"stream": name, "data": payload}``.  Diff-depth payloads are parsed in C
by the listener (:mod:`cryptobot.hotpath.depth_wire`) and go straight to
the book actor; everything else reaches :meth:`BinanceProtocol.on_text`.

Trades: ``m`` true means the buyer was the maker, so the aggressor sold
(side ``sell``).  During a connection rollover both connections deliver
for a moment; trades already seen (trade id not above the last one) are
dropped, and duplicate depth events are dropped by the sequencer as stale.

Snapshots come from REST (``/api/v3/depth`` or ``/fapi/v1/depth``), one
symbol at a time, within the weight budget (:mod:`.binance_rest`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

import orjson

from cryptobot.core import topics
from cryptobot.core.errors import ExchangeError, ValidationError
from cryptobot.core.types import BUY, SELL, TIMEFRAMES_NS, Bar, Quote, TradeTick
from cryptobot.gateways.feeds.binance_rest import BinanceDepthClient, WeightBudget, level_rows
from cryptobot.gateways.feeds.config import FeedConfig
from cryptobot.gateways.feeds.connection import Link
from cryptobot.gateways.feeds.messages import SnapshotFailed, SnapshotReady, StreamReset
from cryptobot.gateways.feeds.problems import MALFORMED, OUT_OF_RANGE, UNKNOWN, ProblemLog
from cryptobot.gateways.feeds.symbols import binance_symbol
from cryptobot.gateways.feeds.values import non_negative, positive
from cryptobot.hotpath.depth_wire import BINANCE_SCALE_DIGITS, DepthUpdate

log = logging.getLogger("cryptobot.gateways.feeds.binance")

class BinanceProtocol:
    """Streams, parsing and snapshots of one Binance feed.

    Parameters
    ----------
    config
        The feed configuration (exchange ``binance`` or ``binance_usdm``).
    books
        Unified symbol -> book actor reference.
    deliver
        ``deliver(ref, message)``: hand a message to a book actor, pausing
        the socket when its mailbox is full.
    publish
        ``publish(topic, message)`` on the engine bus (closed klines).
    problems
        Where bad messages are counted.
    """

    def __init__(self, config: FeedConfig, books: dict[str, Any], deliver: Callable[[Any, Any], None],
                 publish: Callable[[str, Any], None], problems: ProblemLog):
        self.config = config
        self.futures = config.exchange == "binance_usdm"
        self.books = books
        self.deliver = deliver
        self.publish = publish
        self.problems = problems
        self.by_exchange_symbol = {binance_symbol(s): s for s in config.symbols}
        self.last_trade_id: dict[str, int] = {}
        self.duplicates = 0
        self.rest = BinanceDepthClient(
            config.rest_url, self.futures, WeightBudget(config.rest_weight_budget, config.rest_weight_window),
            timeout=config.rest_timeout, retries=config.snapshot_retries, retry_initial=config.snapshot_retry_initial,
            retry_max=config.snapshot_retry_max)
        self.event_latency_ms = 0.0
        self.ping_rtt_ms = 0.0
        self._ping_sent_ns = 0
        self._pending: list[str] = []
        self._wanted: set[str] = set()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task | None = None
        self.snapshots = 0
        self.snapshot_failures = 0

    # ---- connection hooks ------------------------------------------------------

    def url(self) -> str:
        names = []
        speed = "" if self.config.depth_speed in ("1000ms", "250ms") else f"@{self.config.depth_speed}"
        for symbol in self.by_exchange_symbol:
            lower = symbol.lower()
            for stream in self.config.streams:
                if stream == "depth":
                    names.append(f"{lower}@depth{speed}")
                elif stream == "kline":
                    names.append(f"{lower}@kline_{self.config.kline_interval}")
                else:
                    names.append(f"{lower}@{stream}")
        return f"{self.config.ws_url}/stream?streams={'/'.join(names)}"

    def depth_routes(self) -> dict | None:
        if "depth" not in self.config.streams:
            return None
        return {symbol.encode(): self.books[unified] for symbol, unified in self.by_exchange_symbol.items()}

    def switch_at_once(self) -> bool:
        return False

    def on_connected(self, link: Link, rollover: bool) -> None:
        if not rollover and "depth" in self.config.streams:
            for symbol in self.config.symbols:
                self.resync(symbol, "connected")

    def on_disconnected(self, link: Link, reason: str) -> None:
        if "depth" in self.config.streams:
            for ref in self.books.values():
                self.deliver(ref, StreamReset(f"connection lost: {reason}"))

    def send_ping(self, link: Link) -> None:
        self._ping_sent_ns = time.monotonic_ns()
        link.transport.send_ping(str(self._ping_sent_ns).encode())

    def on_pong(self, ts_recv: int) -> None:
        if self._ping_sent_ns:
            self.ping_rtt_ms = (time.monotonic_ns() - self._ping_sent_ns) / 1e6
            self._ping_sent_ns = 0

    # ---- snapshots ---------------------------------------------------------------

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._snapshots(), name=f"snapshots-{self.config.exchange}")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        await self.rest.close()

    def resync(self, symbol: str, reason: str) -> None:
        """Queue a REST snapshot of ``symbol`` for its book (once, however often asked)."""
        if symbol not in self.books or symbol in self._wanted:
            return
        log.info("%s: snapshot of %s requested (%s)", self.config.exchange, symbol, reason)
        self._wanted.add(symbol)
        self._pending.append(symbol)
        self._wake.set()

    async def _snapshots(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                symbol = self._pending.pop(0)
                self._wanted.discard(symbol)
                await self._fetch(symbol)

    async def _fetch(self, symbol: str) -> None:
        ref = self.books[symbol]
        try:
            body = await self.rest.snapshot(binance_symbol(symbol), self.config.depth, BINANCE_SCALE_DIGITS)
        except ExchangeError as exc:
            self.snapshot_failures += 1
            log.error("%s: %s", self.config.exchange, exc.message)
            self.deliver(ref, SnapshotFailed(symbol, exc.message))
            return
        self.snapshots += 1
        self.deliver(ref, SnapshotReady(symbol, body.last_update_id, body.bids, body.asks, BINANCE_SCALE_DIGITS,
                                        BINANCE_SCALE_DIGITS, self.config.depth, body.ts_event, time.time_ns()))

    # ---- messages ------------------------------------------------------------------

    def on_text(self, payload: bytes, ts_recv: int) -> None:
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self.problems.report(MALFORMED, "%s: malformed JSON: %s: %.120r", self.config.exchange, exc, payload)
            return
        if not isinstance(message, dict):
            self.problems.report(UNKNOWN, "%s: unexpected message: %.120r", self.config.exchange, payload)
            return
        data = message.get("data", message) if "stream" in message else message
        if not isinstance(data, dict):
            self.problems.report(MALFORMED, "%s: stream data is not an object: %.120r", self.config.exchange, payload)
            return
        try:
            self._dispatch(data, message, ts_recv)
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            kind = OUT_OF_RANGE if isinstance(exc, (ValueError, ValidationError)) else MALFORMED
            self.problems.report(kind, "%s: invalid %s message (%s): %.160r", self.config.exchange,
                                 data.get("e", "?"), exc, payload)

    def _dispatch(self, data: dict, message: dict, ts_recv: int) -> None:
        event = data.get("e")
        if event == "trade" or event == "aggTrade":
            self._trade(data, ts_recv, event == "aggTrade")
        elif event == "depthUpdate":
            self._depth(data, ts_recv)
        elif event == "bookTicker" or (event is None and "u" in data and "b" in data and "A" in data):
            self._book_ticker(data, ts_recv)
        elif event == "kline":
            self._kline(data)
        elif event is None and ("result" in message or "error" in message):
            if "error" in message:
                log.error("%s: the stream server answered with an error: %s", self.config.exchange, message["error"])
        else:
            self.problems.report(UNKNOWN, "%s: unknown event type %r", self.config.exchange, event)

    def _book_of(self, data: dict) -> tuple[str, Any]:
        unified = self.by_exchange_symbol.get(data["s"])
        if unified is None:
            raise KeyError(f"symbol {data['s']!r} is not subscribed")
        return unified, self.books[unified]

    def _note_event_time(self, event_ms: Any, ts_recv: int) -> None:
        if type(event_ms) is int and event_ms > 0:
            lag = (ts_recv - event_ms * 1_000_000) / 1e6
            self.event_latency_ms = lag if not self.event_latency_ms else 0.9 * self.event_latency_ms + 0.1 * lag

    def _trade(self, data: dict, ts_recv: int, aggregated: bool) -> None:
        unified, ref = self._book_of(data)
        trade_id = data["a"] if aggregated else data["t"]
        if type(trade_id) is not int or trade_id < 0:
            raise ValueError(f"trade id {trade_id!r} is not an integer >= 0")
        last = self.last_trade_id.get(unified, -1)
        if trade_id <= last:
            self.duplicates += 1
            return
        self.last_trade_id[unified] = trade_id
        price, quantity = positive(data["p"]), positive(data["q"])
        event_ms = data.get("T") or data["E"]
        self._note_event_time(data.get("E"), ts_recv)
        side = SELL if data["m"] is True else BUY
        self.deliver(ref, TradeTick(self.config.exchange, unified, int(event_ms) * 1_000_000, ts_recv, price, quantity,
                                    side, trade_id))

    def _depth(self, data: dict, ts_recv: int) -> None:
        # The C parser declined this event (or the fast path is off): validate it here.
        unified, ref = self._book_of(data)
        first, last, prev = data["U"], data["u"], data.get("pu", -1)
        for name, value in (("U", first), ("u", last), ("pu", prev)):
            if type(value) is not int or value < -1:
                raise ValueError(f"'{name}' must be an integer, was {value!r}")
        if first > last:
            raise ValueError(f"'U' {first} is above 'u' {last}")
        bids = level_rows(data["b"], BINANCE_SCALE_DIGITS, "b")
        asks = level_rows(data["a"], BINANCE_SCALE_DIGITS, "a")
        event_ms = data["E"]
        self.deliver(ref, DepthUpdate.from_rows(data["s"].encode(), first, last, prev, int(event_ms) * 1_000_000,
                                                ts_recv, bids, asks, BINANCE_SCALE_DIGITS))

    def _book_ticker(self, data: dict, ts_recv: int) -> None:
        unified, ref = self._book_of(data)
        event_ms = data.get("E") or 0
        self._note_event_time(event_ms, ts_recv)
        bid, ask = positive(data["b"]), positive(data["a"])
        if bid > ask:
            raise ValueError(f"best bid {data['b']} is above best ask {data['a']}")
        self.deliver(ref, Quote(self.config.exchange, unified, int(event_ms) * 1_000_000 or ts_recv, ts_recv,
                                bid, non_negative(data["B"]), ask, non_negative(data["A"])))

    def _kline(self, data: dict) -> None:
        unified, _ = self._book_of(data)
        candle = data["k"]
        if candle.get("x") is not True:
            return
        interval = candle["i"]
        if interval not in TIMEFRAMES_NS:
            raise ValueError(f"kline interval {interval!r} is not one of {', '.join(TIMEFRAMES_NS)}")
        opened, trades = candle["t"], candle.get("n", 0)
        if type(opened) is not int or opened <= 0:
            raise ValueError(f"kline open time must be a positive integer, was {opened!r}")
        if type(trades) is not int or trades < 0:
            raise ValueError(f"kline trade count must be an integer >= 0, was {trades!r}")
        open_, high, low, close = (positive(candle[key]) for key in "ohlc")
        if not low <= min(open_, close) <= max(open_, close) <= high:
            raise ValueError(f"kline prices are inconsistent: open {open_}, high {high}, low {low}, close {close}")
        bar = Bar(self.config.exchange, unified, interval, opened * 1_000_000, open_, high, low, close,
                  non_negative(candle["v"]), trades)
        self.publish(topics.bars(self.config.exchange, unified, interval), bar)
