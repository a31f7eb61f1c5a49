"""The order path through risk, execution (simulated exchange) and portfolio, stored in a real PostgreSQL."""

from decimal import Decimal as D

import numpy as np
from cryptobot.actors.execution import ExecutionActor
from cryptobot.actors.portfolio import PortfolioActor
from cryptobot.actors.risk import RiskActor
from cryptobot.actors.risk_checks import RiskLimits
from cryptobot.core import topics
from cryptobot.core.actor import ask
from cryptobot.core.clock import ReplayClock
from cryptobot.core.engine import Engine
from cryptobot.core.instruments import Instrument
from cryptobot.core.messages import BookStatus, BookTop, CancelRequest, ClosePosition, InstrumentsUpdate, OrderIntent
from cryptobot.core.orders import OrderStatus
from cryptobot.core.types import TradeTick
from cryptobot.gateways.sim_account import SimulatedAccount
from cryptobot.gateways.simulated import SimulatedExchange
from cryptobot.storage.testing import CLOCK_START_NS

BTC = Instrument("binance", "BTC/USDT", "BTCUSDT", "BTC", "USDT", tick_size=D("0.01"), step_size=D("0.00001"),
                 min_qty=D("0.00001"), min_notional=D("10"))


class Pipeline:
    def __init__(self, engine, clock, db, sim, risk, execution, portfolio):
        self.engine, self.clock, self.db, self.sim = engine, clock, db, sim
        self.risk, self.execution, self.portfolio = risk, execution, portfolio
        self.updates = []
        engine.bus.subscribe(topics.ALL_ORDERS, self.updates.append)

    def book(self, bid, ask_, size=5.0):
        self.clock.advance(1_000_000)
        now = self.clock.now_ns()
        top = BookTop("binance", "BTC/USDT", now, now, 1, bid, size, ask_, size, np.array([[bid, size]]), np.array([[ask_, size]]))
        self.engine.bus.publish(topics.book("binance", "BTC/USDT"), top)
        self.risk.tell(top)

    def trade(self, price, qty):
        self.clock.advance(1_000_000)
        now = self.clock.now_ns()
        self.engine.bus.publish(topics.trades("binance", "BTC/USDT"), TradeTick("binance", "BTC/USDT", now, now, price, qty, "sell", 1))

    async def settle(self):
        for _ in range(4):
            for cell in list(self.engine._cells.values()):
                await cell.drained()
            await self.engine._cells["execution"].actor.journal.drain(5)


async def start(db, balance="10000"):
    clock = ReplayClock(CLOCK_START_NS)
    engine = Engine(clock=clock)
    sim = SimulatedExchange("binance", {"BTC/USDT": BTC}, SimulatedAccount({"USDT": D(balance)}), taker_fee=D("0.001"),
                            maker_fee=D("0.001"))
    risk = await engine.spawn(RiskActor("execution", RiskLimits(price_band_percent=D("10"))))
    execution_actor = ExecutionActor({"binance": sim}, db, ["risk", "portfolio"])
    portfolio_actor = PortfolioActor("risk", db, "USDT", sample_seconds=3600)
    portfolio = await engine.spawn(portfolio_actor)
    execution = await engine.spawn(execution_actor)
    execution_actor.watch_market("binance", "BTC/USDT")
    portfolio_actor.watch_market("binance", "BTC/USDT")
    risk.tell(InstrumentsUpdate("binance", {"BTC/USDT": BTC}))
    portfolio.tell(InstrumentsUpdate("binance", {"BTC/USDT": BTC}))
    risk.tell(BookStatus("binance", "BTC/USDT", True, "synced", CLOCK_START_NS))
    return Pipeline(engine, clock, db, sim, risk, execution, portfolio)


def intent(client_id, side, type_, qty, price=None, **kw):
    return OrderIntent(client_id, None, "binance", "BTC/USDT", side, type_, D(qty), None if price is None else D(price), **kw)


async def test_portfolio_values_account_before_first_order(db):
    p = await start(db, balance="2500")
    await p.settle()
    summary = await ask(p.portfolio, "portfolio")
    assert summary["total_value"] == 2500.0
    assert [(a["asset"], a["free"], a["total"]) for a in summary["assets"]] == [("USDT", 2500.0, 2500.0)]


async def test_market_buy_is_stored_filled_and_booked(db):
    p = await start(db)
    p.book(99.0, 101.0)
    await p.settle()
    p.risk.tell(intent("c1", "buy", "market", "1"))
    await p.settle()
    p.book(99.0, 101.0)
    await p.settle()
    [order] = p.execution._cell.actor.orders.values()
    assert order.status is OrderStatus.FILLED
    stored = await db.orders.get(order.order_id)
    assert (stored.status, stored.filled, stored.average_price) == (OrderStatus.FILLED, D("1"), D("101"))
    fills = (await db.orders.list_fills(order_id=order.order_id)).items
    assert [(f.quantity, f.price, f.fee, f.fee_asset) for f in fills] == [(D("1"), D("101.00"), D("0.001"), "BTC")]
    # Events reached the bus only after the store had them, in order.
    assert [u.event for u in p.updates] == ["created", "accepted", "fill"]
    positions = await ask(p.portfolio, "positions")
    assert [(row["quantity"], row["entry_price"]) for row in positions] == [(D("0.999"), D("101.00"))]
    balances = {b.asset: (b.free, b.used) for b in await db.balances.list("paper")}
    assert balances == {"USDT": (D("9899"), D("0")), "BTC": (D("0.999"), D("0"))}


async def test_resting_limit_survives_restart_and_fills_after(db, open_store):
    p = await start(db)
    p.book(99.0, 101.0)
    await p.settle()
    p.risk.tell(intent("c1", "buy", "limit", "1", "98"))
    await p.settle()
    p.book(99.0, 101.0)
    await p.settle()
    order_id = next(iter(p.execution._cell.actor.orders))
    assert (await db.orders.get(order_id)).status is OrderStatus.OPEN
    await p.engine.shutdown()

    second = await open_store()
    q = await start(second)
    actor = q.execution._cell.actor
    assert actor.orders[order_id].status is OrderStatus.OPEN
    # The reservation was rebuilt: 98 * 1.001 of the 10000 USDT is used again.
    assert q.sim.account.used("USDT") == D("98.098")
    q.book(97.5, 99.0)
    q.trade(97.0, 0.4)
    await q.settle()
    stored = await second.orders.get(order_id)
    assert (stored.status, stored.filled) == (OrderStatus.PARTIALLY_FILLED, D("0.4"))
    q.execution.tell(CancelRequest(order_id))
    q.trade(99.0, 0.1)
    await q.settle()
    assert (await second.orders.get(order_id)).status is OrderStatus.CANCELED
    assert q.sim.account.used("USDT") == 0


async def test_duplicate_client_order_id_places_one_order(db):
    p = await start(db)
    p.book(99.0, 101.0)
    await p.settle()
    p.risk.tell(intent("same", "buy", "limit", "1", "98"))
    p.risk.tell(intent("same", "buy", "limit", "1", "98"))
    await p.settle()
    assert len(p.execution._cell.actor.orders) == 1
    assert (await db.orders.list_open()).total == 1


async def test_close_position_sells_held_quantity_through_risk(db):
    p = await start(db)
    p.book(99.0, 101.0)
    await p.settle()
    p.risk.tell(intent("c1", "buy", "market", "1"))
    await p.settle()
    p.book(99.0, 101.0)
    await p.settle()
    [row] = await ask(p.portfolio, "positions")
    p.portfolio.tell(ClosePosition(position_id=row["position_id"]))
    await p.settle()
    p.book(100.0, 102.0)
    await p.settle()
    closing = [o for o in p.execution._cell.actor.orders.values() if o.side == "sell"]
    assert [(o.quantity, o.reduce_only, o.status) for o in closing] == [(D("0.999"), True, OrderStatus.FILLED)]
    assert await ask(p.portfolio, "positions") == []
    stored = await db.positions.get(row["position_id"])
    # Sold 0.999 at 100 after buying at 101: -0.999 realized.
    assert (stored.status, stored.realized_pnl) == ("closed", D("-0.999"))


async def test_accounting_identity_after_round_trips(db):
    p = await start(db)
    start_cash = D("10000")
    p.book(99.0, 101.0)
    await p.settle()
    for i, (bid, ask_) in enumerate([(100.0, 100.5), (102.0, 102.5), (98.0, 98.5)]):
        p.risk.tell(intent(f"b{i}", "buy", "market", "0.5"))
        await p.settle()
        p.book(bid, ask_)
        await p.settle()
    p.risk.tell(intent("s1", "sell", "market", "0.7"))
    await p.settle()
    p.book(99.0, 99.5)
    await p.settle()
    ledger = p.portfolio._cell.actor.ledger
    mid = D("99.25")
    cash = p.sim.account.free("USDT") + p.sim.account.used("USDT")
    held = p.sim.account.free("BTC") + p.sim.account.used("BTC")
    left = cash + held * mid
    right = start_cash + ledger.realized_total + ledger.unrealized_total - ledger.fees_total
    assert left == right
