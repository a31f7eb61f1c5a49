"""The risk manager: the one actor every order passes on its way to an exchange.

It keeps its own view of what it needs (mids, book readiness, open orders,
positions per strategy, the day's PnL) from the messages it receives, runs
the checks of ``risk_checks`` on each intent, rounds price and quantity to
the instrument's filters with exact decimal arithmetic, and forwards an
:class:`Order` to the execution actor.  Every rejection is published on the
bus topic ``risk.rejections`` and sent back to the intent's ``reply_to``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cryptobot.actors.risk_exposure import OpenOrders
from cryptobot.actors.risk_checks import (
    RiskLimits, Throttle, check_capital, check_daily_loss, check_max_positions, check_order_size,
    check_position_limit, check_price_band, check_shape,
)
from cryptobot.core import topics
from cryptobot.core.actor import Actor, ActorRef, Supervision
from cryptobot.core.errors import OrderRejected
from cryptobot.core.ids import new_id
from cryptobot.core.instruments import Instrument, plain, to_decimal
from cryptobot.core.messages import (
    BookStatus, BookTop, CancelRequest, DustReport, InstrumentsUpdate, KillSwitch, OrderIntent, OrderUpdate,
    RiskRejection, SetRiskLimits, StrategyPnl,
)
from cryptobot.core.orders import Order

ZERO = Decimal(0)
REJECTIONS_TOPIC = topics.RISK_REJECTIONS


class RiskActor(Actor):
    """Pre-trade checks, rounding to exchange filters, and the kill switch.

    Parameters
    ----------
    execution
        Where approved orders go.
    defaults
        Limits for every strategy without its own (and for manual orders).
    engine_orders_per_second
        Orders per second across all strategies together.
    """

    supervision = Supervision.STOP_ENGINE
    stop_order = 30
    conflate = {BookTop: lambda top: (top.exchange, top.symbol)}

    def __init__(self, execution: ActorRef | str, defaults: RiskLimits | None = None, name: str = "risk",
                 engine_orders_per_second: int = 100):
        super().__init__(name)
        self.engine_orders_per_second = engine_orders_per_second
        self.execution = execution
        self.defaults = defaults or RiskLimits()
        self.strategy_limits: dict[str, RiskLimits] = {}
        # The defaults merged with each strategy's own limits, built once per change, not per intent.
        self._effective_limits: dict[str, RiskLimits] = {}
        self.instruments: dict[tuple[str, str], Instrument] = {}
        # Mids arrive on every book update and are needed only per intent:
        # kept as floats, turned into Decimal when a check reads them.
        self.mid_floats: dict[tuple[str, str], float] = {}
        self.ready: dict[tuple[str, str], bool] = {}
        self.open_orders = OpenOrders()
        self.positions: dict[tuple[str | None, str, str], Decimal] = {}
        self.day_pnl: dict[str, Decimal] = {}
        self.throttles: dict[str | None, Throttle] = {}
        self.global_throttle = Throttle()
        self.kill_switch = False
        self.kill_reason = ""
        self.approved = 0
        self.rejected = 0

    # -- dispatch -------------------------------------------------------------

    def on_message(self, message: Any) -> None:
        kind = type(message)
        if kind is BookTop:
            if message.bid == message.bid and message.ask == message.ask:
                self.mid_floats[(message.exchange, message.symbol)] = (message.bid + message.ask) * 0.5
        elif kind is OrderIntent:
            self._on_intent(message)
        elif kind is OrderUpdate:
            self._on_order_update(message)
        elif kind is BookStatus:
            self.ready[(message.exchange, message.symbol)] = message.ready
        elif kind is KillSwitch:
            self._on_kill_switch(message)
        elif kind is SetRiskLimits:
            self._on_set_limits(message)
        elif kind is InstrumentsUpdate:
            for symbol, instrument in message.instruments.items():
                self.instruments[(message.exchange, symbol)] = instrument
        elif kind is StrategyPnl:
            self.day_pnl[message.strategy_id] = message.day_pnl
        else:
            raise TypeError(f"risk actor cannot handle {kind.__name__}")

    def mid(self, key: tuple[str, str]) -> Decimal | None:
        """The last mid of a market as a Decimal, or None before its first book update."""
        value = self.mid_floats.get(key)
        return None if value is None else to_decimal(value, "mid")

    def _throttle(self, strategy_id: str | None) -> Throttle:
        throttle = self.throttles.get(strategy_id)
        if throttle is None:
            throttle = self.throttles[strategy_id] = Throttle()
        return throttle

    def limits_for(self, strategy_id: str | None) -> RiskLimits:
        if not strategy_id:
            return self.defaults
        limits = self._effective_limits.get(strategy_id)
        if limits is None:
            limits = self._effective_limits[strategy_id] = self.defaults.merged(self.strategy_limits.get(strategy_id))
        return limits

    # -- intents --------------------------------------------------------------

    def _on_intent(self, intent: OrderIntent) -> None:
        now = self.engine.clock.now_ns()
        try:
            order = self._check(intent, now)
        except OrderRejected as rejection:
            self._reject(intent, rejection, now)
            return
        self.approved += 1
        self.global_throttle.record(now)
        self._throttle(intent.strategy_id).record(now)
        self.open_orders.put(order)
        self.send(self.execution, order)

    def _check(self, intent: OrderIntent, now: int) -> Order:
        if self.kill_switch:
            raise OrderRejected(f"the kill switch is engaged ({self.kill_reason}); no new orders", "kill_switch")
        check_shape(intent)
        key = (intent.exchange, intent.symbol)
        instrument = self.instruments.get(key)
        if instrument is None:
            raise OrderRejected(f"no instrument data for {intent.symbol} on {intent.exchange}", "unknown_instrument")
        limits = self.limits_for(intent.strategy_id)
        who = f"strategy {intent.strategy_id}" if intent.strategy_id else "this account"
        self.global_throttle.check(self.engine_orders_per_second, now, "the engine")
        self._throttle(intent.strategy_id).check(limits.orders_per_second, now, who)
        mid = self.mid(key)
        if mid is None or not self.ready.get(key, False):
            raise OrderRejected(f"the {intent.symbol} book on {intent.exchange} is not ready; no reference price",
                                "book_not_ready")

        position = self.positions.get((intent.strategy_id, intent.exchange, intent.symbol), ZERO)
        market = intent.type in ("market", "stop")
        quantity = self._quantity(intent, instrument, position, mid, market)
        price = instrument.round_price(intent.price, intent.side) if intent.price is not None else None
        stop_price = instrument.round_price_nearest(intent.stop_price) if intent.stop_price is not None else None
        reference = price if price is not None else (stop_price if stop_price is not None else mid)
        instrument.check(quantity, reference, market=market)
        if price is not None:
            check_price_band(price, mid, limits.price_band_percent)
        if stop_price is not None:
            check_price_band(stop_price, mid, limits.price_band_percent, "stop_price")
        notional = quantity * reference
        check_order_size(quantity, notional, limits)

        signed = quantity if intent.side == "buy" else -quantity
        increases = not intent.reduce_only and (position == 0 or (position > 0) == (signed > 0) or abs(signed) > abs(position))
        if increases and intent.strategy_id:
            pending = self.open_orders.pending(intent.strategy_id, intent.exchange, intent.symbol, intent.side)
            check_position_limit(position + signed + pending, reference, limits, intent.symbol)
            check_capital(self._exposure(intent.strategy_id) + notional, limits)
            check_max_positions(self._open_symbols(intent.strategy_id), position == 0, limits)
            check_daily_loss(self.day_pnl.get(intent.strategy_id, ZERO), limits)

        return Order(
            order_id=new_id("order"), client_order_id=intent.client_order_id, strategy_id=intent.strategy_id,
            exchange=intent.exchange, symbol=intent.symbol, side=intent.side, type=intent.type, quantity=quantity,
            price=price, stop_price=stop_price, time_in_force=intent.time_in_force, post_only=intent.post_only,
            reduce_only=intent.reduce_only, created_at=now, updated_at=now, owner_id=intent.owner_id,
            tags={"reason": intent.reason},
        )

    def _quantity(self, intent: OrderIntent, instrument: Instrument, position: Decimal, mid: Decimal, market: bool) -> Decimal:
        if not intent.reduce_only:
            return instrument.round_quantity(intent.quantity, market=market)
        closes_long = intent.side == "sell" and position > 0
        closes_short = intent.side == "buy" and position < 0
        if not (closes_long or closes_short):
            raise OrderRejected(f"reduce-only {intent.side} has no {'long' if intent.side == 'sell' else 'short'} position to reduce",
                                "reduce_only", {"position": plain(position)})
        wanted = min(intent.quantity, abs(position))
        price = intent.price if intent.price is not None else mid
        sellable, dust = instrument.closable_quantity(wanted, price)
        leftover = abs(position) - sellable if wanted == abs(position) else dust
        if leftover > 0:
            self.publish(topics.RISK_DUST, DustReport(intent.strategy_id, intent.exchange, intent.symbol, leftover,
                                                 "below the step size, minimum quantity or minimum notional",
                                                 self.engine.clock.now_ns()))
            # The dust leaves the position (the portfolio writes it off), so
            # the position reaches zero once the sellable part has filled.
            key = (intent.strategy_id, intent.exchange, intent.symbol)
            self.positions[key] = position - leftover if position > 0 else position + leftover
        if sellable <= 0:
            raise OrderRejected(f"{plain(wanted)} {instrument.base} is dust: too small to sell on {intent.exchange}",
                                "dust", {"quantity": plain(wanted)})
        return sellable

    def _exposure(self, strategy_id: str) -> Decimal:
        total = ZERO
        for (owner, exchange, symbol), quantity in self.positions.items():
            if owner == strategy_id and quantity:
                total += abs(quantity) * (self.mid((exchange, symbol)) or ZERO)
        return total + self.open_orders.notional(strategy_id, self.mid)

    def _open_symbols(self, strategy_id: str) -> int:
        return sum(1 for (owner, _, _), quantity in self.positions.items() if owner == strategy_id and quantity)

    def _reject(self, intent: OrderIntent, rejection: OrderRejected, now: int) -> None:
        self.rejected += 1
        event = RiskRejection(intent, rejection.reason, rejection.message, now, rejection.details)
        self.log.info("rejected %s %s %s: %s", intent.side, intent.symbol, intent.client_order_id, rejection.message,
                      extra={"actor": self.name, "symbol": intent.symbol, "strategy_id": intent.strategy_id,
                             "reason": rejection.reason})
        self.publish(REJECTIONS_TOPIC, event)
        reply = intent.reply_to
        if isinstance(reply, ActorRef):
            self.send(reply, event)
        elif callable(reply):
            reply(event)

    # -- state from other actors ---------------------------------------------

    def _on_order_update(self, update: OrderUpdate) -> None:
        order = update.order
        fill = update.fill
        if fill is not None:
            instrument = self.instruments.get((order.exchange, order.symbol))
            delta = fill.quantity if fill.side == "buy" else -fill.quantity
            if instrument is not None and fill.fee_asset == instrument.base:
                delta -= fill.fee
            key = (order.strategy_id, order.exchange, order.symbol)
            self.positions[key] = self.positions.get(key, ZERO) + delta
        if order.status.is_terminal:
            self.open_orders.remove(order.order_id)
        elif order.order_id in self.open_orders:
            self.open_orders.put(order)

    def _on_kill_switch(self, message: KillSwitch) -> None:
        self.kill_switch = message.engaged
        self.kill_reason = message.reason
        self.log.warning("kill switch %s: %s", "engaged" if message.engaged else "released", message.reason,
                         extra={"actor": self.name})
        self.publish(topics.KILL_SWITCH, message)
        if message.engaged:
            for order_id in self.open_orders.ids():
                self.send(self.execution, CancelRequest(order_id, reason="kill_switch"))

    def _on_set_limits(self, message: SetRiskLimits) -> None:
        if message.strategy_id is None:
            self.defaults = message.limits or RiskLimits()
            self._effective_limits.clear()
            return
        self._effective_limits.pop(message.strategy_id, None)
        if message.limits is None:
            self.strategy_limits.pop(message.strategy_id, None)
        else:
            self.strategy_limits[message.strategy_id] = message.limits
