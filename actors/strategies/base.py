"""What every strategy is: trading logic fed events, emitting order intents.

A :class:`Strategy` does not know how its events arrive.  Live and on
paper, a :class:`cryptobot.actors.strategy_actor.StrategyActor` feeds it
from its mailbox; in a backtest the replay loop calls it directly.  Either
way it sees the same event types in event-time order and hands intents to
the ``emit`` callable it was given, which leads to the risk manager.

Signal math lives in a compiled kernel (``cryptobot.hotpath.signals``); the
Python class turns the kernel's action codes into intents, tracks its own
position from the fills of its orders, and counts its trades.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, ClassVar

from cryptobot.actors.strategies.params import Param, validate
from cryptobot.core.clock import Clock
from cryptobot.core.messages import BookStatus, BookTop, OrderIntent, OrderUpdate, RiskRejection
from cryptobot.core.orders import OrderStatus, average_price
from cryptobot.core.types import TIMEFRAMES_NS, Bar, TradeTick

ZERO = Decimal(0)


@dataclass
class StrategyConfig:
    """Everything a strategy instance needs to run: identity, market, parameters, allocation."""

    strategy_id: str
    strategy_type: str
    exchange: str
    symbol: str
    timeframe: str
    parameters: dict[str, Any]
    capital_allocation: Decimal = Decimal("1000")
    max_positions: int = 1
    owner_id: str | None = None
    name: str = ""


@dataclass
class StrategyCounters:
    """Counters that survive an engine restart (persisted with the strategy)."""

    signals: int = 0
    orders: int = 0
    rejections: int = 0
    trades: int = 0
    winning_trades: int = 0
    losing_trades: int = 0
    realized_pnl: Decimal = ZERO
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"signals": self.signals, "orders": self.orders, "rejections": self.rejections, "trades": self.trades,
                "winning_trades": self.winning_trades, "losing_trades": self.losing_trades,
                "realized_pnl": str(self.realized_pnl)}

    @classmethod
    def from_json(cls, data: dict | None) -> "StrategyCounters":
        data = data or {}
        return cls(signals=int(data.get("signals", 0)), orders=int(data.get("orders", 0)),
                   rejections=int(data.get("rejections", 0)), trades=int(data.get("trades", 0)),
                   winning_trades=int(data.get("winning_trades", 0)), losing_trades=int(data.get("losing_trades", 0)),
                   realized_pnl=Decimal(str(data.get("realized_pnl", "0"))))


class Strategy:
    """Base class of the built-in strategies.

    Subclasses set ``type_name`` and ``params`` and override the ``on_*``
    hooks they need.  ``emit`` receives each OrderIntent.
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, config: StrategyConfig, emit: Callable[[OrderIntent], None], clock: Clock,
                 counters: StrategyCounters | None = None):
        self.config = config
        self.parameters = self.validate_parameters(config.parameters)
        self.emit_intent = emit
        self.clock = clock
        self.counters = counters or StrategyCounters()
        self.position = ZERO
        self.entry_price = ZERO
        self.entry_notional = ZERO
        self.book_ready = False
        self.pending: dict[str, str] = {}
        self.timeframe_ns = TIMEFRAMES_NS.get(config.timeframe, 0)
        self._sequence = itertools.count(1)

    @classmethod
    def validate_parameters(cls, values: Any, base: dict | None = None) -> dict[str, Any]:
        return validate(cls.params, values, cls.cross_check, base)

    @classmethod
    def cross_check(cls, values: dict[str, Any]) -> dict[str, str]:
        """Return problems between parameters (name -> message); empty when consistent."""
        return {}

    # -- events ---------------------------------------------------------------

    def on_trade(self, trade: TradeTick) -> None:
        """A public trade in the strategy's symbol."""

    def on_book(self, top: BookTop) -> None:
        """The top of the strategy's book changed."""

    def on_bar(self, bar: Bar) -> None:
        """A closed candle (used when replaying candles)."""

    def on_book_status(self, status: BookStatus) -> None:
        self.book_ready = status.ready

    def on_order_update(self, update: OrderUpdate) -> None:
        order = update.order
        fill = update.fill
        if fill is not None:
            self._apply_fill(fill.side, fill.quantity, fill.price, fill.fee if fill.fee_asset == self.base_asset else ZERO,
                             order.tags.get("reason", ""))
        if order.status.is_terminal:
            self.pending.pop(order.client_order_id, None)
            if order.status in (OrderStatus.REJECTED, OrderStatus.EXPIRED, OrderStatus.CANCELED) and order.filled == 0:
                self.on_order_failed(order.client_order_id, order.status.value)

    def on_rejection(self, rejection: RiskRejection) -> None:
        self.counters.rejections += 1
        self.pending.pop(rejection.intent.client_order_id, None)
        if rejection.intent.reduce_only and rejection.reason in ("dust", "reduce_only"):
            # What is left cannot be sold (or is gone): the position is over for this strategy.
            self._set_position(ZERO, ZERO)
        self.on_order_failed(rejection.intent.client_order_id, rejection.reason)

    def on_order_failed(self, client_order_id: str, reason: str) -> None:
        """An order of ours ended without any fill (rejected, expired or canceled)."""

    # -- helpers for subclasses ---------------------------------------------

    @property
    def base_asset(self) -> str:
        return self.config.symbol.partition("/")[0]

    def emit(self, side: str, quantity: Decimal, reason: str, type_: str = "market", price: Decimal | None = None,
             reduce_only: bool = False, post_only: bool = False, time_in_force: str = "GTC") -> str:
        """Create and emit an order intent; return its client order id."""
        client_order_id = f"{self.config.strategy_id[-12:]}-{next(self._sequence)}-{self.clock.now_ns() // 1_000_000}"
        intent = OrderIntent(client_order_id, self.config.strategy_id, self.config.exchange, self.config.symbol, side,
                             type_, quantity, price=price, time_in_force=time_in_force, post_only=post_only,
                             reduce_only=reduce_only, reason=reason, owner_id=self.config.owner_id,
                             ts_created=self.clock.now_ns())
        self.pending[client_order_id] = reason
        self.counters.orders += 1
        self.emit_intent(intent)
        return client_order_id

    def entry_quantity(self, price: float) -> Decimal:
        """Size of one entry: the allocation split over ``max_positions``, at ``price``."""
        budget = self.config.capital_allocation / max(self.config.max_positions, 1)
        return budget / Decimal(repr(price))

    def close_position(self, reason: str) -> str | None:
        """Emit a reduce-only market order that flattens the position."""
        if self.position == 0:
            return None
        side = "sell" if self.position > 0 else "buy"
        return self.emit(side, abs(self.position), reason, reduce_only=True)

    def _apply_fill(self, side: str, quantity: Decimal, price: Decimal, base_fee: Decimal, reason: str) -> None:
        # A fee taken in the base asset is never held: it shrinks a buy and adds to a sell.
        delta = (quantity if side == "buy" else -quantity) - base_fee
        before = self.position
        after = before + delta
        if before == 0 or (before > 0) == (delta > 0):
            self._set_position(after, average_price(self.entry_price, abs(before), price, abs(delta)) if after else ZERO)
            return
        closing = min(abs(delta), abs(before))
        pnl = (price - self.entry_price) * closing * (1 if before > 0 else -1)
        self.counters.realized_pnl += pnl
        if after == 0 or (after > 0) != (before > 0):
            self.counters.trades += 1
            if pnl > 0:
                self.counters.winning_trades += 1
            else:
                self.counters.losing_trades += 1
        self._set_position(after, self.entry_price if (after > 0) == (before > 0) and after else (price if after else ZERO))

    def _set_position(self, quantity: Decimal, entry_price: Decimal) -> None:
        self.position = quantity
        self.entry_price = entry_price
        self.on_position_changed()

    def on_position_changed(self) -> None:
        """Hook: the strategy's own position or entry price changed."""

    def state(self) -> dict[str, Any]:
        return {"position": str(self.position), "entry_price": str(self.entry_price), "pending": len(self.pending),
                "book_ready": self.book_ready}
