"""The actor that runs one strategy instance live or on paper.

It subscribes to its market's trades, book tops and book status and to the
updates of its own orders, hands each to the :class:`Strategy`, and sends
the intents the strategy emits to the risk manager with itself as
``reply_to``, so rejections come back here.
"""

from __future__ import annotations

from typing import Any, Callable

from cryptobot.actors.strategies import Strategy, StrategyConfig, StrategyCounters, strategy_class
from cryptobot.actors.strategies.market_making import MarketMaking
from cryptobot.core import topics
from cryptobot.core.actor import Actor, ActorRef, Supervision
from cryptobot.core.messages import BookStatus, BookTop, CancelRequest, OrderIntent, OrderUpdate, RiskRejection
from cryptobot.core.types import Bar, TradeTick


def actor_name(strategy_id: str) -> str:
    return f"strategy.{strategy_id}"


class StrategyActor(Actor):
    """Runs one strategy; a failing event is logged and skipped (the position state stays)."""

    supervision = Supervision.RESUME
    stop_order = 20
    conflate = {BookTop: lambda top: (top.exchange, top.symbol)}

    def __init__(self, config: StrategyConfig, risk: ActorRef | str, execution: ActorRef | str,
                 counters: StrategyCounters | None = None,
                 on_counters: Callable[[str, StrategyCounters], None] | None = None):
        super().__init__(actor_name(config.strategy_id))
        self.config = config
        self.risk = risk
        self.execution = execution
        self._counters = counters
        self.on_counters = on_counters
        self.strategy: Strategy | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    def on_start(self) -> None:
        cls = strategy_class(self.config.strategy_type)
        kwargs: dict[str, Any] = {}
        if cls is MarketMaking:
            kwargs["cancel"] = self._cancel
        self.strategy = cls(self.config, self._emit, self.engine.clock, self._counters, **kwargs)
        bus = self.engine.bus
        exchange, symbol = self.config.exchange, self.config.symbol
        for topic in (topics.trades(exchange, symbol), topics.book(exchange, symbol), topics.book_status(exchange, symbol),
                      topics.orders(self.config.strategy_id)):
            self._unsubscribe.append(bus.subscribe(topic, self.ref.deliver))

    def on_stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def on_message(self, message: Any) -> None:
        strategy = self.strategy
        kind = type(message)
        if kind is TradeTick:
            strategy.on_trade(message)
        elif kind is BookTop:
            strategy.on_book(message)
        elif kind is OrderUpdate:
            strategy.on_order_update(message)
            if message.fill is not None and self.on_counters is not None:
                self.on_counters(self.config.strategy_id, strategy.counters)
        elif kind is RiskRejection:
            strategy.on_rejection(message)
        elif kind is BookStatus:
            strategy.on_book_status(message)
        elif kind is Bar:
            strategy.on_bar(message)
        else:
            raise TypeError(f"strategy actor cannot handle {kind.__name__}")

    def _emit(self, intent: OrderIntent) -> None:
        intent.reply_to = self.ref
        self.send(self.risk, intent)

    def _cancel(self, request: CancelRequest) -> None:
        self.send(self.execution, request)
