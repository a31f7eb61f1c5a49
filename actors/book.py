"""The book actor: one order book per exchange and symbol, kept in sync and published.

It receives from its feed the diff events, snapshots, trades and quotes of
one symbol, keeps the compiled order book in sync (see
:mod:`cryptobot.gateways.feeds.book_sync`) and publishes on the engine bus:

- ``topics.book``: a :class:`BookTop` after every applied update while the
  book is ready (only built when someone subscribes);
- ``topics.book_status``: a :class:`BookStatus` whenever readiness changes;
- ``topics.trades``: every :class:`TradeTick`;
- ``topics.ticker``: a :class:`Ticker` at most once per ``ticker_interval``.

Every event it receives from the exchange goes to the recorder actor as it
arrived (diff events as :class:`BookDeltas`, snapshots as
:class:`BookSnapshot`, trades), whether or not the book could use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cryptobot.core import topics
from cryptobot.core.actor import Actor, ActorRef, Supervision, answer
from cryptobot.core.errors import BookError, ValidationError
from cryptobot.core.messages import BookStatus, BookTop, Query
from cryptobot.core.types import BookDeltas, BookSnapshot, Quote, Ticker, TradeTick
from cryptobot.gateways.feeds.book_sync import APPLIED, BinanceBookSync, KrakenBookSync, OutOfSync
from cryptobot.gateways.feeds.messages import (
    ExchangeTicker, KrakenBookUpdate, ResyncRequest, SnapshotFailed, SnapshotReady, StreamReset,
)
from cryptobot.gateways.feeds.ticker import RollingTicker
from cryptobot.hotpath.depth_wire import DepthUpdate

MAX_QUERY_DEPTH = 5000


class _PublishTicker:
    """Timer message: publish the ticker now."""


class _RetrySnapshot:
    """Timer message: ask the feed for a snapshot again after a failure."""


class BookActor(Actor):
    """Owns the order book of one symbol on one exchange.

    Parameters
    ----------
    exchange
        ``binance``, ``binance_usdm`` or ``kraken``.
    symbol
        Unified symbol (``BTC/USDT``).
    feed
        The feed actor (reference or name) that serves this book's snapshots.
    recorder
        The recorder actor (reference or name), or None to record nothing.
    top_depth
        Levels per side in each published BookTop.
    ticker_interval
        Minimum seconds between two Ticker messages.
    max_buffered
        Diff events buffered while a Binance snapshot is fetched.
    retry_delay
        Seconds before asking again after the feed reported a failed snapshot.
    """

    supervision = Supervision.RESTART
    stop_order = 10
    mailbox_capacity = 50_000

    def __init__(self, exchange: str, symbol: str, *, feed: ActorRef | str | None = None,
                 recorder: ActorRef | str | None = None, top_depth: int = 20, ticker_interval: float = 0.5,
                 max_buffered: int = 10_000, retry_delay: float = 1.0):
        super().__init__(f"book.{exchange}.{symbol}")
        self.exchange = exchange
        self.symbol = symbol
        self.feed = feed
        self.recorder = recorder
        self.top_depth = top_depth
        self.ticker_interval = ticker_interval
        self.max_buffered = max_buffered
        self.retry_delay = retry_delay
        self.sync: BinanceBookSync | KrakenBookSync | None = None
        self.rolling = RollingTicker()
        self.ready = False
        self.reason = "waiting for the first snapshot"
        self.resyncs = 0
        self.resync_reasons: dict[str, int] = {}
        self.snapshots = 0
        self.published = 0
        self.trades = 0
        self.last_update_ns = 0
        self.last_event_ns = 0
        self.last_quote: Quote | None = None
        self.exchange_ticker: ExchangeTicker | None = None
        self.last_ticker: Ticker | None = None
        self._ticker_due = False
        self._topic_book = topics.book(exchange, symbol)
        self._topic_status = topics.book_status(exchange, symbol)
        self._topic_trades = topics.trades(exchange, symbol)
        self._topic_ticker = topics.ticker(exchange, symbol)
        self._recorder_ref: ActorRef | None = None

    # ---- lifecycle ---------------------------------------------------------

    def on_start(self) -> None:
        if self.exchange == "kraken":
            self.sync = KrakenBookSync(self.symbol)
        else:
            self.sync = BinanceBookSync(self.symbol, self.exchange == "binance_usdm", self.max_buffered)
        if self.recorder is not None:
            self._recorder_ref = self.engine.ref(self.recorder) if isinstance(self.recorder, str) else self.recorder
        self._publish_status(False, self.reason, force=True)
        # After a restart the feed is already streaming: ask it for a snapshot now.
        if self._feed_alive():
            self.send(self.feed, ResyncRequest(self.symbol, "book started"))

    def _feed_alive(self) -> bool:
        if self.feed is None:
            return False
        if isinstance(self.feed, str):
            return self.engine.has_actor(self.feed)
        return self.feed.is_alive

    # ---- messages ------------------------------------------------------------

    def on_message(self, message: Any) -> None:
        kind = type(message)
        if kind is DepthUpdate:
            self._on_depth(message)
        elif kind is TradeTick:
            self._on_trade(message)
        elif kind is KrakenBookUpdate:
            self._on_kraken(message)
        elif kind is SnapshotReady:
            self._on_snapshot(message)
        elif kind is Quote:
            self.last_quote = message
            self._ticker_changed()
        elif kind is ExchangeTicker:
            self.exchange_ticker = message
            self._ticker_changed()
        elif kind is StreamReset:
            self.sync.reset()
            self._publish_status(False, message.reason)
        elif kind is SnapshotFailed:
            self._publish_status(False, f"snapshot failed: {message.reason}")
            self.engine.loop.call_later(self.retry_delay, self._tell_self, _RetrySnapshot())
        elif kind is _RetrySnapshot:
            if not self.sync.ready:
                self._request_snapshot("retry after a failed snapshot")
        elif kind is _PublishTicker:
            self._publish_ticker()
        elif kind is Query:
            answer(message, lambda: self._query(message.kind, message.args))
        else:
            raise TypeError(f"book actor {self.name} cannot handle {kind.__name__}")

    def _on_depth(self, update: DepthUpdate) -> None:
        if self._recorder_ref is not None:
            self.send(self._recorder_ref, BookDeltas(
                self.exchange, self.symbol, update.ts_event, update.ts_recv, update.first_id, update.last_id,
                update.prev_id, update.bids_float(), update.asks_float()))
        try:
            status = self.sync.on_update(update)
        except OutOfSync as exc:
            self._out_of_sync(exc)
            return
        if status == APPLIED:
            self._applied(update.ts_event, update.ts_recv)

    def _on_kraken(self, update: KrakenBookUpdate) -> None:
        if self._recorder_ref is not None:
            price_scale, size_scale = 10.0 ** update.price_precision, 10.0 ** update.size_precision
            self.send(self._recorder_ref, BookDeltas(
                self.exchange, self.symbol, update.ts_event, update.ts_recv, 0, 0, -1,
                _to_float(update.bids, price_scale, size_scale), _to_float(update.asks, price_scale, size_scale),
                update.checksum))
        try:
            status = self.sync.on_update(update)
        except OutOfSync as exc:
            self._out_of_sync(exc)
            return
        if status == APPLIED:
            self._applied(update.ts_event, update.ts_recv)

    def _on_snapshot(self, snapshot: SnapshotReady) -> None:
        self.snapshots += 1
        if self._recorder_ref is not None:
            price_scale, size_scale = 10.0 ** snapshot.price_precision, 10.0 ** snapshot.size_precision
            self.send(self._recorder_ref, BookSnapshot(
                self.exchange, self.symbol, snapshot.ts_event, snapshot.ts_recv, snapshot.sequence,
                _to_float(snapshot.bids, price_scale, size_scale), _to_float(snapshot.asks, price_scale, size_scale)))
        try:
            self.sync.on_snapshot(snapshot)
        except OutOfSync as exc:
            self._out_of_sync(exc)
            return
        except BookError as exc:
            self._out_of_sync(OutOfSync(f"invalid snapshot: {exc.message}", "invalid_snapshot"))
            return
        self._publish_status(True, "synced")
        self._applied(snapshot.ts_event, snapshot.ts_recv)

    def _on_trade(self, trade: TradeTick) -> None:
        self.trades += 1
        self.publish(self._topic_trades, trade)
        if self._recorder_ref is not None:
            self.send(self._recorder_ref, trade)
        self.rolling.add_trade(trade.ts_event, trade.price, trade.quantity)
        if trade.ts_event > self.last_event_ns:
            self.last_event_ns = trade.ts_event
        self._ticker_changed()

    # ---- sync state ----------------------------------------------------------

    def _out_of_sync(self, exc: OutOfSync) -> None:
        self.resyncs += 1
        self.resync_reasons[exc.kind] = self.resync_reasons.get(exc.kind, 0) + 1
        self.log.warning("book %s out of sync, resyncing: %s", self.name, exc.reason, extra={"actor": self.name})
        self._publish_status(False, exc.reason)
        self._request_snapshot(exc.reason)

    def _request_snapshot(self, reason: str) -> None:
        if self._feed_alive():
            self.send(self.feed, ResyncRequest(self.symbol, reason))

    def _publish_status(self, ready: bool, reason: str, force: bool = False) -> None:
        if ready == self.ready and not force:
            return
        self.ready = ready
        self.reason = reason
        self.publish(self._topic_status, BookStatus(self.exchange, self.symbol, ready, reason, self.engine.clock.now_ns()))

    def _applied(self, ts_event: int, ts_recv: int) -> None:
        self.last_update_ns = ts_recv
        if ts_event > self.last_event_ns:
            self.last_event_ns = ts_event
        if self.engine.bus.has_subscribers(self._topic_book):
            book = self.sync.book
            bids, asks = book.top(self.top_depth)
            if len(bids) and len(asks):
                self.published += 1
                self.publish(self._topic_book, BookTop(
                    self.exchange, self.symbol, ts_event, ts_recv, book.sequence, float(bids[0, 0]), float(bids[0, 1]),
                    float(asks[0, 0]), float(asks[0, 1]), bids, asks))
        self._ticker_changed()

    # ---- ticker ------------------------------------------------------------------

    def _tell_self(self, message: Any) -> None:
        if self.ref.is_alive:
            self.ref.tell(message)

    def _ticker_changed(self) -> None:
        if not self._ticker_due:
            self._ticker_due = True
            self.engine.loop.call_later(self.ticker_interval, self._tell_self, _PublishTicker())

    def _publish_ticker(self) -> None:
        self._ticker_due = False
        ticker = self.current_ticker()
        if ticker is not None:
            self.last_ticker = ticker
            self.publish(self._topic_ticker, ticker)

    def current_ticker(self) -> Ticker | None:
        """Return the ticker as of now, or None before any price is known."""
        bid = ask = 0.0
        if self.sync.ready and self.sync.book is not None:
            bid = self.sync.book.best_bid() or 0.0
            ask = self.sync.book.best_ask() or 0.0
        elif self.last_quote is not None:
            bid, ask = self.last_quote.bid, self.last_quote.ask
        rolling = self.rolling
        rolling.advance(self.last_event_ns)
        figures = rolling.figures()
        if not (bid or ask or rolling.trades):
            return None
        extra = {"window_complete": figures["window_complete"], "window_seconds": figures["window_seconds"],
                 "book_ready": self.ready}
        if self.exchange_ticker is not None:
            extra["exchange_volume_24h"] = self.exchange_ticker.volume_24h
            extra["exchange_open_24h"] = self.exchange_ticker.open_24h
        return Ticker(self.exchange, self.symbol, self.last_event_ns, bid, ask, figures["last"], figures["volume"],
                      figures["change"], figures["change_percent"], extra)

    # ---- queries -----------------------------------------------------------------

    def _query(self, kind: str, args: dict) -> Any:
        if kind == "orderbook":
            return self.orderbook(args.get("depth", 20))
        if kind == "ticker":
            return self.current_ticker()
        if kind == "status":
            return self.status()
        raise ValidationError(f"'kind' must be orderbook, ticker or status, was {kind!r}", {"kind": kind})

    def orderbook(self, depth: int) -> dict:
        """Return the best ``depth`` levels per side as the API shows them (empty while not ready)."""
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_QUERY_DEPTH:
            raise ValidationError(f"'depth' out of range [1, {MAX_QUERY_DEPTH}], was {depth!r}", {"depth": depth})
        book = self.sync.book if self.sync.ready else None
        if book is None:
            return {"exchange": self.exchange, "symbol": self.symbol, "timestamp": 0, "sequence": 0, "ready": False,
                    "bids": [], "asks": []}
        bids, asks = book.top(depth)
        return {"exchange": self.exchange, "symbol": self.symbol, "timestamp": book.ts_event or self.last_update_ns,
                "sequence": book.sequence, "ready": True, "bids": bids.tolist(), "asks": asks.tolist()}

    def status(self) -> dict:
        """Return the book's counters."""
        sync = self.sync
        counters = {"exchange": self.exchange, "symbol": self.symbol, "ready": self.ready, "reason": self.reason,
                    "applied": sync.applied, "resyncs": self.resyncs, "resync_reasons": dict(self.resync_reasons),
                    "snapshots": self.snapshots, "trades": self.trades, "published": self.published,
                    "last_update_ns": self.last_update_ns}
        if isinstance(sync, BinanceBookSync):
            counters.update(stale=sync.stale, gaps=sync.gaps, checksum_failures=0, buffered=len(sync.buffer),
                            stale_snapshots=sync.stale_snapshots, buffer_overflows=sync.buffer_overflows,
                            band_exhausted=sync.band_exhausted)
        else:
            counters.update(stale=0, gaps=0, checksum_failures=sync.checksum_failures, checksums_verified=sync.verified,
                            ignored=sync.ignored)
        return counters


def _to_float(rows: np.ndarray, price_scale: float, size_scale: float) -> np.ndarray:
    out = np.empty(rows.shape, dtype=np.float64)
    out[:, 0] = rows[:, 0] / price_scale
    out[:, 1] = rows[:, 1] / size_scale
    return out
