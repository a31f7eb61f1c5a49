"""The feed actor: one exchange connection group delivering market data to its book actors.

It owns the WebSocket connection (:class:`FeedConnection`), the venue
protocol (Binance or Kraken) and, for Binance, the REST snapshot client.
Frames are handled in the socket callback, outside this actor's mailbox:
depth updates parsed in C and the messages parsed by the protocol go
straight to the book actors' mailboxes, so a frame costs one actor hop.
The actor's own mailbox receives the book actors' resync requests and the
status queries.

:func:`spawn_market_data` starts a feed with its book actors in the order
they need.
"""

from __future__ import annotations

import time
from typing import Any

from cryptobot.actors.book import BookActor
from cryptobot.core.actor import Actor, ActorRef, Supervision, answer
from cryptobot.core.engine import Engine
from cryptobot.core.errors import ConfigError, ValidationError
from cryptobot.core.messages import Query
from cryptobot.gateways.feeds.binance import BinanceProtocol
from cryptobot.gateways.feeds.config import FeedConfig
from cryptobot.gateways.feeds.connection import FeedConnection
from cryptobot.gateways.feeds.kraken import KrakenProtocol
from cryptobot.gateways.feeds.messages import ResyncRequest
from cryptobot.gateways.feeds.problems import ProblemLog


class InlineDelivery:
    """Hands messages from a socket callback to one actor, running its handler at once when it is idle.

    An actor whose mailbox is empty, that is not handling, awaiting or
    blocked, would take the message on the next loop iteration anyway; a
    socket callback runs on the loop's thread, outside every handler, so
    calling ``on_message`` now keeps the one-message-at-a-time rule and the
    order, and saves the wait for the next loop iteration (the median
    socket-to-handler time fell from 17 us to 10 us on a paced stream,
    ``benchmarks/frame_to_book.py`` on a 2-core VM).
    Otherwise the message is queued as ``ActorRef.tell`` queues it
    (see ``ActorCell.deliver``).
    """

    __slots__ = ("ref", "tell")

    def __init__(self, ref: ActorRef):
        self.ref = ref
        # tell(message) -> bool: handle or enqueue ``message``; False when the mailbox is at capacity.
        # The cell's own method, bound here, spares every frame one Python call.
        self.tell = ref._cell.deliver

    async def wait_for_room(self) -> None:
        await self.ref.wait_for_room()

    @property
    def is_alive(self) -> bool:
        return self.ref.is_alive


class FeedActor(Actor):
    """Market data of one exchange for a set of symbols.

    Parameters
    ----------
    config
        The feed configuration; the actor is named ``feed.<exchange>``.

    Notes
    -----
    The book actors ``book.<exchange>.<symbol>`` of every configured symbol
    must be running when the feed starts (:func:`spawn_market_data` spawns
    them first).
    """

    supervision = Supervision.RESTART
    stop_order = 0

    def __init__(self, config: FeedConfig):
        super().__init__(config.actor_name)
        self.config = config
        self.protocol: BinanceProtocol | KrakenProtocol | None = None
        self.connection: FeedConnection | None = None
        self.problems: ProblemLog | None = None
        self.resync_requests = 0

    async def on_start(self) -> None:
        config = self.config
        books: dict[str, InlineDelivery] = {}
        for symbol in config.symbols:
            name = config.book_name(symbol)
            if not self.engine.has_actor(name):
                raise ConfigError(f"Cannot start feed {self.name}: book actor {name!r} is not running",
                                  {"symbols": symbol})
            books[symbol] = InlineDelivery(self.engine.ref(name))
        self.problems = ProblemLog(self.log, config.log_interval)
        protocol_class = KrakenProtocol if config.exchange == "kraken" else BinanceProtocol
        self.protocol = protocol_class(config, books, self._deliver, self.engine.bus.publish, self.problems)
        self.connection = FeedConnection(config, self.protocol)
        self.protocol.start()
        self.connection.start()

    async def on_stop(self) -> None:
        if self.connection is not None:
            await self.connection.stop()
        if self.protocol is not None:
            await self.protocol.stop()

    def _deliver(self, ref: InlineDelivery, message: Any) -> None:
        # Called from socket callbacks and snapshot tasks: a full mailbox pauses the socket.
        if not ref.is_alive:
            return
        if not ref.tell(message) and self.connection is not None:
            self.connection._on_full(ref)

    def on_message(self, message: Any) -> None:
        if type(message) is ResyncRequest:
            self.resync_requests += 1
            self.protocol.resync(message.symbol, message.reason)
        elif type(message) is Query:
            answer(message, lambda: self._query(message.kind))
        else:
            raise TypeError(f"feed actor {self.name} cannot handle {type(message).__name__}")

    def _query(self, kind: str) -> dict:
        if kind != "status":
            raise ValidationError(f"'kind' must be status, was {kind!r}", {"kind": kind})
        return self.status()

    def status(self) -> dict:
        """Return connection state, latency and message counters."""
        connection, protocol = self.connection, self.protocol
        listener = connection.link.listener if connection.link is not None else None
        if self.config.exchange == "kraken":
            latency, latency_kind = protocol.ping_rtt_ms, "ping_rtt"
        else:
            latency, latency_kind = protocol.event_latency_ms, "event_time"
        counters = self.problems.counts
        result = {
            "exchange": self.config.exchange,
            "state": connection.state.value,
            "latency_ms": round(latency, 3),
            "latency_kind": latency_kind,
            "ping_rtt_ms": round(protocol.ping_rtt_ms, 3),
            "messages": connection.messages(),
            "fast_path": listener.fast_path if listener is not None else 0,
            "reconnects": connection.reconnects,
            "rollovers": connection.rollovers,
            "silent_disconnects": connection.silences,
            "malformed": counters["malformed"],
            "unknown": counters["unknown"],
            "out_of_range": counters["out_of_range"],
            "last_message_ns": connection.last_message_ns,
            "url": protocol.url(),
            "snapshots": protocol.snapshots,
            "snapshot_failures": protocol.snapshot_failures,
            "resync_requests": self.resync_requests,
            "last_error": connection.last_error,
            "age_seconds": round(time.monotonic() - connection.link.opened, 3) if connection.link else 0.0,
        }
        rest = getattr(protocol, "rest", None)
        if rest is not None:
            budget = rest.budget
            result["rest"] = {"requests": rest.requests, "failures": rest.failures, "weight_used": budget.used,
                              "weight_budget": budget.budget, "budget_waits": budget.waits,
                              "rate_limited": budget.rate_limited, "banned": budget.banned}
        return result


async def spawn_market_data(engine: Engine, config: FeedConfig, *, recorder: ActorRef | str | None = None,
                            top_depth: int = 20) -> tuple[ActorRef, dict[str, ActorRef]]:
    """Spawn the book actors of ``config`` and then its feed; return (feed, symbol -> book).

    Each actor gets a factory, so the RESTART policy builds a fresh one
    after a failure.  ``recorder`` is the recorder actor (or None).
    """
    books: dict[str, ActorRef] = {}
    for symbol in config.symbols:
        def make_book(symbol: str = symbol) -> BookActor:
            return BookActor(config.exchange, symbol, feed=config.actor_name, recorder=recorder, top_depth=top_depth,
                             ticker_interval=config.ticker_interval, max_buffered=config.max_buffered_updates)
        books[symbol] = await engine.spawn(make_book(), factory=make_book)
    feed = await engine.spawn(FeedActor(config), factory=lambda: FeedActor(config))
    return feed, books
