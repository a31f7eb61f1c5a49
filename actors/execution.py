"""The execution actor: order state machine, gateways, and persistence of every order and fill.

Approved orders from the risk manager go to the gateway of their exchange
at once; the order row is written to PostgreSQL behind them through a
:class:`WriteJournal`, and nothing is acknowledged (no OrderUpdate is
published) before the write that records it has committed.  Reports from
the gateway arrive in this actor's mailbox, move the order through its
state machine, are stored (a fill together with its order and position in
one transaction), and then are published: to the order's strategy topic,
to the topic of all orders, and to the risk manager and the portfolio.

On start, open orders are reloaded from the store and handed back to their
gateway: the simulated exchange rests them again, ccxt tracks and polls them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import replace
from decimal import Decimal
from typing import Any

from cryptobot.actors.journal import WriteJournal
from cryptobot.core import topics
from cryptobot.core.actor import Actor, ActorRef, Supervision
from cryptobot.core.errors import CryptobotError, ExchangeError, IllegalTransition
from cryptobot.core.ids import new_id
from cryptobot.core.messages import BalancesUpdate, BookTop, CancelRequest, OrderUpdate
from cryptobot.core.orders import Fill, Order, OrderStatus
from cryptobot.core.types import Bar, TradeTick
from cryptobot.gateways.base import ACCEPTED, CANCELED, EXPIRED, FILL, REJECTED, ExecutionReport
from cryptobot.gateways.simulated import SimulatedExchange

MAX_FINISHED = 10_000
_TRIGGERS = {ACCEPTED: "accept", REJECTED: "reject", CANCELED: "cancel", EXPIRED: "expire"}


class ExecutionActor(Actor):
    """Sends orders through gateways and keeps the authoritative state of every order.

    Parameters
    ----------
    gateways
        Exchange name to gateway (simulated or ccxt).
    store
        The PostgreSQL store, or None for backtests (nothing persisted).
    subscribers
        Actors that receive every OrderUpdate (risk, portfolio).
    paper_account
        Balance account name for the simulated exchange's balances in the store.
    """

    supervision = Supervision.STOP_ENGINE
    stop_order = 40
    conflate = {BookTop: lambda top: (top.exchange, top.symbol)}

    def __init__(self, gateways: dict[str, Any], store: Any = None, subscribers: list[ActorRef | str] = (),
                 name: str = "execution", paper_account: str = "paper", poll_seconds: float = 1.0):
        super().__init__(name)
        self.gateways = gateways
        self.store = store
        self.subscribers = list(subscribers)
        self.paper_account = paper_account
        self.poll_seconds = poll_seconds
        self.orders: dict[str, Order] = {}
        self.by_client: dict[tuple[str, str], str] = {}
        self.journal = WriteJournal(name) if store is not None else None
        self.submitted = 0
        self.reports = 0
        self.report_errors = 0
        self._balances: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._finished: deque[str] = deque()
        self._unsubscribe: list = []

    # -- lifecycle ----------------------------------------------------------------

    async def on_start(self) -> None:
        for gateway in self.gateways.values():
            gateway.set_listener(self.ref.tell)
        if self.journal is not None:
            self.journal.start()
        if self.store is not None:
            await self._load_paper_balances()
            await self._reload_open_orders()
        self._remember_balances()
        if any(hasattr(g, "poll_open_orders") for g in self.gateways.values()):
            self._spawn(self._poll_forever())

    async def on_stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for task in list(self._tasks):
            task.cancel()
        if self.journal is not None:
            await self.journal.close()

    def watch_market(self, exchange: str, symbol: str) -> None:
        """Feed the simulated exchange with this market's book and trades."""
        if isinstance(self.gateways.get(exchange), SimulatedExchange):
            bus = self.engine.bus
            self._unsubscribe.append(bus.subscribe(topics.book(exchange, symbol), self.ref.deliver))
            self._unsubscribe.append(bus.subscribe(topics.trades(exchange, symbol), self.ref.deliver))

    # -- messages -----------------------------------------------------------------

    def on_message(self, message: Any) -> None:
        kind = type(message)
        if kind is BookTop:
            gateway = self.gateways.get(message.exchange)
            if isinstance(gateway, SimulatedExchange):
                gateway.on_book(message)
        elif kind is TradeTick:
            gateway = self.gateways.get(message.exchange)
            if isinstance(gateway, SimulatedExchange):
                gateway.on_trade(message)
        elif kind is Bar:
            gateway = self.gateways.get(message.exchange)
            if isinstance(gateway, SimulatedExchange):
                gateway.on_bar(message)
        elif kind is ExecutionReport:
            self._on_report(message)
        elif kind is Order:
            self._on_order(message)
        elif kind is CancelRequest:
            self._on_cancel(message)
        else:
            raise TypeError(f"execution actor cannot handle {kind.__name__}")

    def _on_order(self, order: Order) -> None:
        key = (order.exchange, order.client_order_id)
        if key in self.by_client:
            # Idempotent submission: the same client order id is the same order.
            existing = self.orders.get(self.by_client[key])
            self.log.info("duplicate client order id %s on %s ignored", order.client_order_id, order.exchange,
                          extra={"actor": self.name, "order_id": self.by_client[key]})
            if existing is not None:
                self._publish(OrderUpdate(existing.snapshot(), "duplicate"))
            return
        gateway = self.gateways.get(order.exchange)
        self.orders[order.order_id] = order
        self.by_client[key] = order.order_id
        # Hand the order to the exchange first: storing and announcing it
        # must not delay it (nothing is acknowledged before it is stored).
        snapshot = order.snapshot()
        if gateway is None:
            self.ref.tell(ExecutionReport(REJECTED, order.order_id, order.created_at, reason=f"no gateway for {order.exchange}"))
        else:
            self.submitted += 1
            if isinstance(gateway, SimulatedExchange):
                gateway.submit_now(order)
            else:
                self._spawn(self._submit(gateway, order))
        if self.journal is not None:
            self.journal.append(lambda: self.store.orders.insert(snapshot),
                                lambda _: self._publish(OrderUpdate(snapshot.snapshot(), "created")))
        else:
            self._publish(OrderUpdate(snapshot, "created"))

    async def _submit(self, gateway: Any, order: Order) -> None:
        try:
            await gateway.submit(order)
        except ExchangeError as exc:
            state = exc.details.get("state") if exc.details else None
            if state == "unknown":
                self.log.warning("order %s state unknown after %s; polling will settle it", order.order_id, exc.message,
                                 extra={"actor": self.name, "order_id": order.order_id})
            elif not exc.retryable or state == "not_placed":
                self.ref.tell(ExecutionReport(REJECTED, order.order_id, self.engine.clock.now_ns(), reason=exc.message))

    def _on_cancel(self, request: CancelRequest) -> None:
        order = self.orders.get(request.order_id)
        if order is None or order.status.is_terminal:
            return
        gateway = self.gateways.get(order.exchange)
        order.updated_at = self.engine.clock.now_ns()
        if isinstance(gateway, SimulatedExchange):
            gateway.cancel_now(order.order_id, order.updated_at)
        elif gateway is not None:
            self._spawn(self._cancel(gateway, order))

    async def _cancel(self, gateway: Any, order: Order) -> None:
        try:
            await gateway.cancel(order)
        except CryptobotError as exc:
            self.log.error("cancel of %s failed: %s", order.order_id, exc.message,
                           extra={"actor": self.name, "order_id": order.order_id})

    # -- reports --------------------------------------------------------------------

    def _on_report(self, report: ExecutionReport) -> None:
        self.reports += 1
        order = self.orders.get(report.order_id)
        if order is None:
            self.report_errors += 1
            self.log.warning("report %s for unknown order %s ignored", report.kind, report.order_id, extra={"actor": self.name})
            return
        try:
            if report.kind == FILL:
                self._on_fill(order, report)
            else:
                self._on_status(order, report)
        except (IllegalTransition, ValueError) as exc:
            self.report_errors += 1
            self.log.error("report %s for order %s rejected: %s", report.kind, order.order_id, exc,
                           extra={"actor": self.name, "order_id": order.order_id})
            return
        if order.status.is_terminal:
            self._retire(order)
        self._after_change(order.exchange)

    def _retire(self, order: Order) -> None:
        # Terminal orders stay findable for late reports (a fill racing a
        # cancel) until MAX_FINISHED newer ones have ended.
        self._finished.append(order.order_id)
        while len(self._finished) > MAX_FINISHED:
            old = self.orders.pop(self._finished.popleft(), None)
            if old is not None:
                self.by_client.pop((old.exchange, old.client_order_id), None)

    def _on_status(self, order: Order, report: ExecutionReport) -> None:
        trigger = _TRIGGERS[report.kind]
        if report.kind == CANCELED and order.status is OrderStatus.NEW:
            trigger = "cancel"
        order.transition(trigger, report.ts_event)
        if report.exchange_order_id:
            order.exchange_order_id = report.exchange_order_id
        if report.kind == REJECTED:
            order.reject_reason = report.reason
        snapshot = order.snapshot()
        update = OrderUpdate(snapshot, report.kind, reason=report.reason)
        if self.journal is None:
            self._publish(update)
            return
        self.journal.append(
            lambda: self.store.orders.transition(snapshot.order_id, trigger, exchange_order_id=report.exchange_order_id,
                                                 reject_reason=report.reason),
            lambda _: self._publish(update),
        )

    def _on_fill(self, order: Order, report: ExecutionReport) -> None:
        fill = Fill(
            fill_id=new_id("fill"), order_id=order.order_id, strategy_id=order.strategy_id, exchange=order.exchange,
            symbol=order.symbol, side=order.side, price=report.price, quantity=report.quantity, fee=report.fee or Decimal(0),
            fee_asset=report.fee_asset or "", liquidity="maker" if report.maker else "taker", ts_event=report.ts_event,
        )
        order.apply_fill(fill.quantity, fill.price, fill.fee, report.ts_event)
        snapshot = order.snapshot()
        if self.journal is None:
            self._publish(OrderUpdate(snapshot, FILL, fill))
            return

        def stored(result: Any) -> None:
            self._publish(OrderUpdate(snapshot, FILL, fill, positions=list(result.positions)))

        self.journal.append(lambda: self.store.orders.record_fill(replace(fill)), stored)

    def _publish(self, update: OrderUpdate) -> None:
        bus = self.engine.bus
        bus.publish(topics.orders(update.order.strategy_id), update)
        bus.publish(topics.ALL_ORDERS, update)
        if update.event == "created":
            # Risk and portfolio track orders from approval and fills; a
            # "created" note would only queue behind the risk check that is
            # still running up the call stack.
            return
        for subscriber in self.subscribers:
            ref = self.engine.ref(subscriber) if isinstance(subscriber, str) else subscriber
            if ref.is_alive:
                ref.deliver(update)

    # -- balances of the simulated account -------------------------------------------

    def _after_change(self, exchange: str) -> None:
        gateway = self.gateways.get(exchange)
        if not isinstance(gateway, SimulatedExchange):
            return
        balances = gateway.account.balances()
        previous = self._balances.get(exchange, {})
        current = {asset: (b.free, b.used) for asset, b in balances.items()}
        if current == previous:
            return
        self._balances[exchange] = current
        self._publish_balances(exchange, balances)
        if self.journal is None:
            return
        for asset, (free, used) in current.items():
            old_free, old_used = previous.get(asset, (Decimal(0), Decimal(0)))
            if (free, used) != (old_free, old_used):
                self.journal.append(lambda a=asset, f=free - old_free, u=used - old_used: self._adjust_balance(a, f, u))

    async def _adjust_balance(self, asset: str, free_delta: Decimal, used_delta: Decimal) -> None:
        await self.store.balances.seed(self.paper_account, {asset: Decimal(0)})
        await self.store.balances.adjust(self.paper_account, asset, free_delta=free_delta, used_delta=used_delta)

    def _remember_balances(self) -> None:
        # Published at once as well, so the portfolio values the account before the first order.
        for exchange, gateway in self.gateways.items():
            if isinstance(gateway, SimulatedExchange):
                balances = gateway.account.balances()
                self._balances[exchange] = {a: (b.free, b.used) for a, b in balances.items()}
                self._publish_balances(exchange, balances)

    def _publish_balances(self, exchange: str, balances: dict) -> None:
        self.engine.bus.publish(topics.BALANCES, BalancesUpdate(exchange, balances, self.engine.clock.now_ns()))

    async def _load_paper_balances(self) -> None:
        for gateway in self.gateways.values():
            if not isinstance(gateway, SimulatedExchange):
                continue
            stored = await self.store.balances.list(self.paper_account)
            if not stored:
                seed = {a: b.free for a, b in gateway.account.balances().items()}
                await self.store.balances.seed(self.paper_account, seed)
                continue
            # Reservations are rebuilt when open orders are restored, so all of it starts free.
            gateway.account._free = {b.asset: b.total for b in stored}
            gateway.account._used = {}
            for b in stored:
                if b.used:
                    await self.store.balances.adjust(self.paper_account, b.asset, free_delta=b.used, used_delta=-b.used)

    async def _reload_open_orders(self) -> None:
        page = 1
        while True:
            result = await self.store.orders.list_open(page=page, limit=500)
            for order in result.items:
                self._restore(order)
            if page >= result.pages:
                break
            page += 1

    def _restore(self, order: Order) -> None:
        self.orders[order.order_id] = order
        self.by_client[(order.exchange, order.client_order_id)] = order.order_id
        gateway = self.gateways.get(order.exchange)
        if isinstance(gateway, SimulatedExchange):
            if order.type == "market" or order.status is OrderStatus.NEW:
                # It never reached the simulated venue before the stop: it did not happen.
                self.ref.tell(ExecutionReport(EXPIRED, order.order_id, self.engine.clock.now_ns(),
                                              reason="not executed before the engine stopped"))
            else:
                gateway.restore(order)
        elif gateway is not None and hasattr(gateway, "track"):
            gateway.track(order)
        self.log.info("restored open order %s (%s %s %s)", order.order_id, order.side, order.quantity, order.symbol,
                      extra={"actor": self.name, "order_id": order.order_id, "symbol": order.symbol})

    # -- background work ---------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            for gateway in self.gateways.values():
                poll = getattr(gateway, "poll_open_orders", None)
                if poll is not None:
                    await poll()

    def _spawn(self, coroutine) -> None:
        task = self.engine.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if not o.status.is_terminal]
