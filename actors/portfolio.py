"""The portfolio actor: balances, positions marked to the book's mid, PnL, and the equity history.

It books every fill it receives from the execution actor into a
:class:`Ledger`, adopting the stored position's id and figures when the
fill was persisted, marks positions to the mid of each book top, tells the
risk manager each strategy's PnL of the day, samples the account's value
into the store for the daily to yearly change, and turns a close request
into an opposite reduce-only market order sent through the risk manager.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from cryptobot.actors.positions import Ledger, Position
from cryptobot.core import topics
from cryptobot.core.actor import Actor, ActorRef, Supervision, answer
from cryptobot.core.errors import NotFound, ValidationError
from cryptobot.core.instruments import to_decimal
from cryptobot.core.messages import (
    BalancesUpdate, BookTop, ClosePosition, DustReport, InstrumentsUpdate, OrderIntent, OrderUpdate, PositionUpdate,
    Query, StrategyPnl,
)
from cryptobot.core.symbols import split_symbol

ZERO = Decimal(0)
DAY_NS = 86_400 * 1_000_000_000
RECENT_CLOSED_TRADES = 1_000
"""Round trips an engine with a store keeps in memory; all of them are in PostgreSQL."""
PERIODS_NS = {"daily_change": DAY_NS, "weekly_change": 7 * DAY_NS, "monthly_change": 30 * DAY_NS,
              "yearly_change": 365 * DAY_NS}


class PortfolioActor(Actor):
    """Positions and balances of the engine's account(s).

    Parameters
    ----------
    risk
        Where close orders and StrategyPnl go.
    store
        The PostgreSQL store (None in backtests).
    base_currency
        Currency the account is valued in (``USDT``).
    account
        Name of the account in the equity history.
    sample_seconds
        How often equity is sampled and PnL sent to risk.
    """

    supervision = Supervision.RESTART
    stop_order = 50
    conflate = {BookTop: lambda top: (top.exchange, top.symbol)}

    def __init__(self, risk: ActorRef | str, store: Any = None, base_currency: str = "USDT", account: str = "paper",
                 name: str = "portfolio", sample_seconds: float = 60.0):
        super().__init__(name)
        self.risk = risk
        self.store = store
        self.base_currency = base_currency
        self.account = account
        self.sample_seconds = sample_seconds
        self.ledger = Ledger(keep_closed=None if store is None else RECENT_CLOSED_TRADES)
        self.balances: dict[str, dict] = {}
        self.marks: dict[tuple[str, str], Decimal] = {}
        self.instruments: dict[tuple[str, str], Any] = {}
        self.last_updated = 0
        self._day = -1
        self._day_start: dict[str, Decimal] = {}
        self._dust_expected: dict[tuple, Decimal] = {}
        self._unsubscribe: list = []
        self._task: asyncio.Task | None = None

    async def on_start(self) -> None:
        if self.store is not None:
            page = 1
            while True:
                result = await self.store.positions.list(status="open", page=page, limit=500)
                for stored in result.items:
                    self.ledger.adopt(stored)
                if page >= result.pages:
                    break
                page += 1
        bus = self.engine.bus
        self._unsubscribe += [bus.subscribe(topics.BALANCES, self.ref.tell), bus.subscribe(topics.RISK_DUST, self.ref.tell)]
        self._task = self.engine.loop.create_task(self._sample_forever())

    async def on_stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._task is not None:
            self._task.cancel()
        if self.store is not None:
            await self._record_equity()

    def watch_market(self, exchange: str, symbol: str) -> None:
        self._unsubscribe.append(self.engine.bus.subscribe(topics.book(exchange, symbol), self.ref.deliver))

    # -- messages ---------------------------------------------------------------

    def on_message(self, message: Any) -> None:
        kind = type(message)
        if kind is BookTop:
            if message.bid == message.bid and message.ask == message.ask and message.bid > 0:
                mid = to_decimal((message.bid + message.ask) / 2, "mid")
                self.marks[(message.exchange, message.symbol)] = mid
                self.ledger.mark(message.exchange, message.symbol, mid)
        elif kind is OrderUpdate:
            if message.fill is not None:
                return self._on_fill(message)
        elif kind is BalancesUpdate:
            self.balances[message.exchange] = message.balances
            self.last_updated = message.ts_event
        elif kind is DustReport:
            return self._on_dust(message)
        elif kind is ClosePosition:
            self._on_close(message)
        elif kind is InstrumentsUpdate:
            for symbol, instrument in message.instruments.items():
                self.instruments[(message.exchange, symbol)] = instrument
        elif kind is Query:
            answer(message, lambda: self._query(message.kind, message.args))
        else:
            raise TypeError(f"portfolio actor cannot handle {kind.__name__}")

    def _on_fill(self, update: OrderUpdate) -> None:
        order, fill = update.order, update.fill
        base, _ = split_symbol(order.symbol)
        position = self.ledger.apply_fill(order.strategy_id, order.exchange, order.symbol, fill.side, fill.quantity,
                                          fill.price, fill.fee, fill.fee_asset, base, fill.ts_event,
                                          order.tags.get("reason", ""), owner_id=order.owner_id)
        for stored in update.positions or ():
            adopted = self.ledger.adopt(stored)
            if stored.status == "open" and adopted.quantity != position.quantity and adopted is position:
                self.log.error("position %s differs from the store: %s held here, %s stored", stored.id,
                               position.quantity, adopted.quantity, extra={"actor": self.name, "symbol": order.symbol})
        self.last_updated = fill.ts_event
        self._publish_position(position, fill.ts_event)
        self._send_pnl(order.strategy_id)
        return self._write_off_if_dust((order.strategy_id, order.exchange, order.symbol), fill.ts_event)

    def _publish_position(self, position: Position, ts: int) -> None:
        update = PositionUpdate(position.position_id, position.strategy_id, position.exchange, position.symbol,
                                position.side, position.quantity, position.entry_price, position.mark_price,
                                position.realized_pnl, position.unrealized_pnl, position.fees, position.opened_at,
                                position.closed_at, ts)
        self.engine.bus.publish(topics.positions(position.strategy_id), update)
        self.engine.bus.publish(topics.ALL_POSITIONS, update)

    def _on_dust(self, report: DustReport):
        # The risk manager reports dust when it sends (or refuses) the closing
        # order: write it off now if only dust is left, else once the closing
        # fill leaves exactly that much.
        key = (report.strategy_id, report.exchange, report.symbol)
        self._dust_expected[key] = report.quantity
        return self._write_off_if_dust(key, report.ts_event)

    def _write_off_if_dust(self, key: tuple, ts: int):
        expected = self._dust_expected.get(key)
        if expected is None:
            return None
        for position in self.ledger.positions.values():
            if (position.strategy_id, position.exchange, position.symbol) != key or not position.is_open:
                continue
            if abs(position.quantity) != expected:
                return None
            del self._dust_expected[key]
            position_id = position.position_id
            self.ledger.write_off(position, ts, "dust")
            self.log.info("wrote off %s %s of dust in position %s", expected, position.symbol, position_id,
                          extra={"actor": self.name, "symbol": position.symbol, "strategy_id": position.strategy_id})
            self._publish_position(position, ts)
            if self.store is not None:
                return self.store.positions.write_off_dust(position_id, expected)
        return None

    def _on_close(self, request: ClosePosition) -> None:
        targets = [p for p in self.ledger.open_positions()
                   if (request.position_id is None or p.position_id == request.position_id)
                   and (request.strategy_id is None or p.strategy_id == request.strategy_id)]
        if request.position_id is not None and not targets:
            raise NotFound(f"open position {request.position_id} not found")
        now = self.engine.clock.now_ns()
        for position in targets:
            side = "sell" if position.quantity > 0 else "buy"
            intent = OrderIntent(f"close-{position.position_id[-12:]}-{now // 1_000_000}", position.strategy_id,
                                 position.exchange, position.symbol, side, "market", abs(position.quantity),
                                 reduce_only=True, reason=request.reason, owner_id=position.owner_id, ts_created=now,
                                 reply_to=request.reply_to)
            self.send(self.risk, intent)

    # -- valuation ------------------------------------------------------------------

    def price_in_base(self, asset: str) -> Decimal | None:
        if asset == self.base_currency:
            return Decimal(1)
        for (exchange, symbol), mid in self.marks.items():
            base, quote = split_symbol(symbol)
            if base == asset and quote == self.base_currency:
                return mid
            if quote == asset and base == self.base_currency and mid:
                return 1 / mid
        return None

    def assets(self) -> list[dict]:
        rows: dict[str, dict] = {}
        for balances in self.balances.values():
            for asset, balance in balances.items():
                row = rows.setdefault(asset, {"asset": asset, "free": ZERO, "used": ZERO, "total": ZERO})
                row["free"] += balance.free
                row["used"] += balance.used
                row["total"] += balance.free + balance.used
        for row in rows.values():
            price = self.price_in_base(row["asset"])
            row["value"] = row["total"] * price if price is not None else None
        return sorted(rows.values(), key=lambda r: r["asset"])

    def total_value(self) -> Decimal:
        return sum((row["value"] for row in self.assets() if row["value"] is not None), ZERO)

    def strategy_totals(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for position in self.ledger.positions.values():
            if position.strategy_id is None:
                continue
            value = position.realized_pnl + position.unrealized_pnl - position.fees
            totals[position.strategy_id] = totals.get(position.strategy_id, ZERO) + value
        return totals

    def _send_pnl(self, strategy_id: str | None) -> None:
        now = self.engine.clock.now_ns()
        day = now // DAY_NS
        totals = self.strategy_totals()
        if day != self._day:
            self._day = day
            self._day_start = dict(totals)
        targets = [strategy_id] if strategy_id else list(totals)
        for sid in targets:
            if sid is None:
                continue
            pnl = totals.get(sid, ZERO) - self._day_start.setdefault(sid, ZERO)
            self.send(self.risk, StrategyPnl(sid, pnl, now))

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sample_seconds)
            try:
                self.ref.tell(Query("tick", {}, self.engine.loop.create_future()))
                if self.store is not None:
                    await self._record_equity()
            except Exception:  # noqa: BLE001 - sampling must go on
                self.log.exception("equity sample failed", extra={"actor": self.name})

    async def _record_equity(self) -> None:
        if not self.balances:
            return
        await self.store.equity.record(self.account, self.engine.clock.now_ns(), self.total_value(), self.base_currency)

    # -- queries (answered inside the actor, so figures are consistent) ------------------

    def _query(self, kind: str, args: dict) -> Any:
        if kind == "tick":
            self._send_pnl(None)
            return None
        if kind == "positions":
            return [self._position_row(p) for p in self.ledger.open_positions()
                    if args.get("owner_id") is None or p.owner_id == args["owner_id"]]
        if kind == "position":
            for p in self.ledger.positions.values():
                if p.position_id == args["position_id"]:
                    return self._position_row(p)
            raise NotFound(f"position {args['position_id']} not found")
        if kind == "portfolio":
            return {"total_value": self.total_value(), "base_currency": self.base_currency,
                    "last_updated": self.last_updated, "assets": self.assets()}
        raise ValidationError(f"unknown portfolio query '{kind}'", {"kind": "unknown query"})

    @staticmethod
    def _position_row(p: Position) -> dict:
        return {"position_id": p.position_id, "owner_id": p.owner_id, "strategy_id": p.strategy_id,
                "exchange": p.exchange, "symbol": p.symbol, "side": p.side, "quantity": abs(p.quantity),
                "entry_price": p.entry_price, "current_price": p.mark_price, "unrealized_pnl": p.unrealized_pnl,
                "unrealized_pnl_percent": p.unrealized_pnl_percent, "realized_pnl": p.realized_pnl, "fees": p.fees,
                "opened_at": p.opened_at}

    async def performance(self) -> dict[str, float | None]:
        """Percent change of the account value over each period, from the equity history."""
        now_value = self.total_value()
        result: dict[str, float | None] = {}
        for name, span in PERIODS_NS.items():
            past = await self.store.equity.at_or_before(self.account, self.engine.clock.now_ns() - span) if self.store else None
            result[name] = float((now_value / past.equity - 1) * 100) if past is not None and past.equity else 0.0
        return result
