"""The composition root: one engine process with its stores, actors and services.

:class:`TradingSystem` opens PostgreSQL and ClickHouse, chooses the market
data source (the exchange emulator replaying recorded data, or the live
exchange), loads the instruments, and spawns the actors: recorder, risk,
execution, portfolio, a feed and a book per symbol, and the strategies the
store marks active.  The API edge drives it through the methods here and
the services it holds (``strategies``, ``orders``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from decimal import Decimal
from typing import Any

from cryptobot import __version__
from cryptobot.actors.backtest.service import BacktestService
from cryptobot.actors.execution import ExecutionActor
from cryptobot.actors.market_data import MarketData
from cryptobot.actors.order_desk import OrderDesk
from cryptobot.actors.portfolio import PortfolioActor
from cryptobot.actors.risk import RiskActor
from cryptobot.actors.risk_checks import RiskLimits
from cryptobot.actors.strategy_manager import StrategyManager
from cryptobot.core import topics
from cryptobot.core.clock import Clock, LiveClock
from cryptobot.core.config import Settings
from cryptobot.core.engine import Engine
from cryptobot.core.messages import InstrumentsUpdate, KillSwitch
from cryptobot.gateways.sim_account import SimulatedAccount
from cryptobot.gateways.simulated import SimulatedExchange
from cryptobot.storage.clickhouse import ClickHouseStore
from cryptobot.storage.database import Database

log = logging.getLogger("cryptobot.actors.system")

PAPER_ACCOUNT = "paper"


class TradingSystem:
    """Everything one ``cryptobot run`` process runs, started and stopped as a unit.

    Parameters
    ----------
    settings
        The engine's settings.
    clock
        Engine time; the live clock by default.
    ticks
        A ClickHouse store to use instead of the one the settings name (the
        caller keeps and closes it).
    emulator_options
        Settings of the exchange emulator when it is the market data source
        (``pace``, ``loop``, ``rebase_time``...), for tests and demos.
    """

    def __init__(self, settings: Settings, clock: Clock | None = None, emulator_options: dict | None = None,
                 ticks: ClickHouseStore | None = None):
        self.settings = settings
        self.emulator_options = emulator_options
        self._given_ticks = ticks
        self.clock = clock or LiveClock()
        self.started_ns = 0
        self.started_monotonic = 0.0
        self.db: Database | None = None
        self.ticks: ClickHouseStore | None = None
        self.engine: Engine | None = None
        self.market_data: MarketData | None = None
        self.strategies: StrategyManager | None = None
        self.orders: OrderDesk | None = None
        self.backtests: BacktestService | None = None
        self.instruments: dict[str, dict] = {}
        self.kill_switch = False
        self.counters = {"trades_total": 0, "trades_error": 0, "trade_latency_ns": 0}
        self._closers: list = []

    @property
    def exchange(self) -> str:
        return self.settings.engine_exchange

    @property
    def symbols(self) -> list[str]:
        return self.settings.symbol_list

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Open the stores, start market data, spawn the actors and restore strategies."""
        settings = self.settings
        self.started_ns = self.clock.now_ns()
        self.started_monotonic = time.monotonic()
        os.makedirs(settings.data_path, exist_ok=True)
        self.db = await Database.open(settings, clock=self.clock)
        self._closers.append(("postgres", self.db.close))
        if self._given_ticks is not None:
            self.ticks = self._given_ticks
            await asyncio.to_thread(self._open_ticks)
        else:
            self.ticks = ClickHouseStore.from_settings(settings)
            await asyncio.to_thread(self._open_ticks)
            self._closers.append(("clickhouse", lambda: asyncio.to_thread(self.ticks.close)))

        self.engine = Engine(clock=self.clock)
        self.market_data = MarketData(settings, self.engine, self.ticks, self.emulator_options)
        await self.market_data.prepare()
        self._closers.append(("market data source", self.market_data.close_source))
        instruments = await self.market_data.load_instruments()
        self.instruments[self.exchange] = instruments

        await self.market_data.start_recorder()
        risk = await self.engine.spawn(RiskActor("execution", RiskLimits(), engine_orders_per_second=100))
        gateway = self._execution_gateway(instruments)
        portfolio_actor = PortfolioActor("risk", self.db, settings.engine_base_currency, PAPER_ACCOUNT)
        await self.engine.spawn(portfolio_actor)
        execution_actor = ExecutionActor({self.exchange: gateway}, self.db, ["risk", "portfolio"],
                                         poll_seconds=getattr(settings, "exchange_poll_seconds", 1.0))
        await self.engine.spawn(execution_actor)
        update = InstrumentsUpdate(self.exchange, instruments)
        risk.tell(update)
        self.engine.ref("portfolio").tell(update)

        for symbol in self.symbols:
            if symbol not in instruments:
                log.warning("no instrument data for %s on %s; orders in it will be rejected", symbol, self.exchange,
                            extra={"symbol": symbol})
            execution_actor.watch_market(self.exchange, symbol)
            portfolio_actor.watch_market(self.exchange, symbol)
            bus = self.engine.bus
            bus.subscribe(topics.book(self.exchange, symbol), risk.deliver)
            bus.subscribe(topics.book_status(self.exchange, symbol), risk.deliver)
        self.strategies = StrategyManager(self.engine, self.db, {(self.exchange, s) for s in self.symbols})
        self.orders = OrderDesk(self.engine, self.db)
        self.engine.bus.subscribe(topics.ALL_ORDERS, self._count_trade)
        # Strategies first, so they see the market data from its first tick.
        restored = await self.strategies.restore()
        await self.market_data.start_feeds(self.symbols, instruments)
        self.backtests = BacktestService(settings, self.db, self.ticks, instruments=self.instruments)
        await self.backtests.start()
        self._closers.append(("backtests", self.backtests.stop))
        log.info("engine started: %s %s on %s, %d strategies restored, market data from %s", settings.engine_mode,
                 ",".join(self.symbols), self.exchange, restored, self.market_data.source)

    def _open_ticks(self) -> None:
        self.ticks.connect()
        self.ticks.apply_schema()

    def _execution_gateway(self, instruments: dict) -> Any:
        settings = self.settings
        if settings.engine_mode == "live":
            from cryptobot.gateways.ccxt_gateway import CcxtGateway

            return CcxtGateway.from_settings(settings)
        account = SimulatedAccount({settings.engine_base_currency: Decimal(repr(settings.engine_initial_balance))})
        return SimulatedExchange(self.exchange, instruments, account, maker_fee=Decimal("0.001"), taker_fee=Decimal("0.001"),
                                 latency_ns=1_000_000)

    async def stop(self) -> None:
        """Stop strategies and feeds, drain the actors, flush ticks, then close the stores."""
        if self.engine is not None:
            if self.strategies is not None:
                await self.strategies.stop_all()
            await self.engine.shutdown()
        for name, close in reversed(self._closers):
            try:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # noqa: BLE001 - keep closing the rest
                log.exception("closing %s failed", name)
        self._closers.clear()
        log.info("engine stopped")

    # -- controls ---------------------------------------------------------------------

    def set_kill_switch(self, engaged: bool, reason: str) -> None:
        self.kill_switch = engaged
        self.engine.ref("risk").tell(KillSwitch(engaged, reason, self.clock.now_ns()))

    def _count_trade(self, update: Any) -> None:
        if update.event == "fill":
            self.counters["trades_total"] += 1
            self.counters["trade_latency_ns"] += max(0, update.order.updated_at - update.order.created_at)
        elif update.event == "rejected":
            self.counters["trades_error"] += 1

    # -- status ---------------------------------------------------------------------------

    @property
    def uptime(self) -> int:
        return int(time.monotonic() - self.started_monotonic) if self.started_monotonic else 0

    @property
    def version(self) -> str:
        return __version__
