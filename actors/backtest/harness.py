"""The actors of one backtest, wired as the live composition root wires them.

:class:`Harness` builds a :class:`~cryptobot.gateways.simulated.SimulatedExchange`
on a fresh :class:`~cryptobot.gateways.sim_account.SimulatedAccount`, then the
risk, portfolio, execution and strategy actors with the names, limits and
subscriptions ``TradingSystem`` and ``StrategyManager`` give them, on a
:class:`~cryptobot.actors.backtest.runtime.DirectEngine`.  Replay loops
drive it through :meth:`Harness.mark`, :meth:`Harness.trade`,
:meth:`Harness.bar` and :meth:`Harness.finish`.

Trades carry no book, so before any actor sees an event the harness
publishes a book top with bid = ask = the last trade price (or the bar's
close) to the risk manager, which needs a mid and a ready book to check an
order, and to the portfolio, which marks positions with it.  The simulated
exchange never sees that top: it fills from trades (or bars) only.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from cryptobot.actors.backtest.runtime import DirectEngine
from cryptobot.actors.backtest.spec import BacktestSpec
from cryptobot.actors.execution import ExecutionActor
from cryptobot.actors.portfolio import PortfolioActor
from cryptobot.actors.risk import RiskActor
from cryptobot.actors.risk_checks import RiskLimits
from cryptobot.actors.strategies import StrategyConfig
from cryptobot.actors.strategy_actor import StrategyActor
from cryptobot.core import topics
from cryptobot.core.clock import ReplayClock
from cryptobot.core.messages import BookStatus, BookTop, CancelRequest, InstrumentsUpdate, SetRiskLimits
from cryptobot.core.types import Bar, TradeTick
from cryptobot.gateways.sim_account import SimulatedAccount
from cryptobot.gateways.simulated import SimulatedExchange

END_OF_BACKTEST = "end_of_backtest"
_NO_LEVELS = np.zeros((0, 2))
_SIDES = {1: "buy", 2: "sell"}


class Harness:
    """One backtest's exchange, account and actors; see the module docstring."""

    def __init__(self, spec: BacktestSpec):
        self.spec = spec
        self.instrument = spec.make_instrument()
        self.exchange_name = spec.exchange
        self.symbol = spec.symbol
        self.clock = ReplayClock(spec.start_ns)
        self.engine = DirectEngine(self.clock)
        self.account = SimulatedAccount({self.instrument.quote: spec.initial_capital})
        self.exchange = SimulatedExchange(
            spec.exchange, {spec.symbol: self.instrument}, self.account, maker_fee=spec.maker_fee,
            taker_fee=spec.taker_fee, latency_ns=spec.latency_ns, slippage_bps=spec.slippage_bps,
            fee_mode=spec.fee_mode)
        self.last_price = 0.0
        self._wire()

    def _wire(self) -> None:
        engine, spec = self.engine, self.spec
        # The same actors and names as TradingSystem.start.
        self.risk = engine.add(RiskActor("execution", RiskLimits(), engine_orders_per_second=100))
        self.portfolio_actor = PortfolioActor("risk", None, self.instrument.quote, "backtest")
        # Its on_start only adds the store load and a timer task; the bus subscriptions it makes are made here.
        self.portfolio = engine.add(self.portfolio_actor, start=False)
        self.execution_actor = ExecutionActor({spec.exchange: self.exchange}, None, ["risk", "portfolio"])
        self.execution = engine.add(self.execution_actor)
        bus = engine.bus
        bus.subscribe(topics.BALANCES, self.portfolio.tell)
        bus.subscribe(topics.RISK_DUST, self.portfolio.tell)
        self._book_topic = topics.book(spec.exchange, spec.symbol)
        bus.subscribe(self._book_topic, self.risk.tell)
        bus.subscribe(self._book_topic, self.portfolio.tell)
        bus.subscribe(topics.book_status(spec.exchange, spec.symbol), self.risk.tell)
        update = InstrumentsUpdate(spec.exchange, {spec.symbol: self.instrument})
        self.risk.tell(update)
        self.portfolio.tell(update)

        allocation = spec.initial_capital * spec.position_size
        config = StrategyConfig(spec.strategy_id, spec.strategy_type, spec.exchange, spec.symbol, spec.timeframe,
                                dict(spec.parameters), capital_allocation=allocation, max_positions=1,
                                owner_id=spec.owner_id, name="backtest")
        # The same limits StrategyManager installs for a started strategy.
        self.risk.tell(SetRiskLimits(spec.strategy_id, RiskLimits(capital_allocation=allocation, max_positions=1)))
        self.strategy_actor = StrategyActor(config, "risk", "execution")
        self.strategy_ref = engine.add(self.strategy_actor)
        self.strategy = self.strategy_actor.strategy
        bus.publish(topics.book_status(spec.exchange, spec.symbol),
                    BookStatus(spec.exchange, spec.symbol, True, "replay", spec.start_ns))
        bus.subscribe(topics.ALL_ORDERS, self._resize)

    def _resize(self, update) -> None:
        # Compounding: once flat again, the next entry spends position_size of the equity then.
        # Bus subscribers run as the update is published, before any actor handles it.
        if update.fill is None:
            return
        quote, base = self.totals()
        if base != 0:
            return
        allocation = quote * self.spec.position_size
        self.strategy.config.capital_allocation = allocation
        self.risk.tell(SetRiskLimits(self.spec.strategy_id, RiskLimits(capital_allocation=allocation, max_positions=1)))

    # -- events -----------------------------------------------------------------

    def mark(self, ts: int, price: float) -> None:
        """Move the clock to ``ts`` and publish ``price`` as the top of the book (risk and portfolio only)."""
        if ts > self.clock.now_ns():
            self.clock.set(ts)
        self.exchange.observe(ts)
        self.last_price = price
        top = BookTop(self.exchange_name, self.symbol, ts, ts, 0, price, 0.0, price, 0.0, _NO_LEVELS, _NO_LEVELS)
        self.engine.bus.publish(self._book_topic, top)

    def trade(self, ts: int, price: float, size: float, side: int) -> None:
        """Let the simulated exchange (through the execution actor) see one trade."""
        self.mark(ts, price)
        self.execution.tell(TradeTick(self.exchange_name, self.symbol, ts, ts, price, size, _SIDES.get(side, "buy"), 0))

    def bar(self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float) -> None:
        """Replay one closed candle: the exchange sees it at its open, the strategy at its close."""
        bar = self.bar_to_exchange(ts_open, open_, high, low, close, volume)
        self.strategy_ref.tell(bar)

    def bar_to_exchange(self, ts_open: int, open_: float, high: float, low: float, close: float,
                        volume: float) -> Bar:
        """Let the simulated exchange see one candle at its open, then mark its close; return the candle."""
        bar = Bar(self.exchange_name, self.symbol, self.spec.timeframe, ts_open, open_, high, low, close, volume)
        self.mark(ts_open, open_)
        self.execution.tell(bar)
        self.mark(ts_open + self.spec.timeframe_ns, close)
        return bar

    def finish(self, bars: bool) -> None:
        """Cancel open orders and close the position at the last price, one latency after the last event.

        The closing order is a reduce-only market order with reason
        ``end_of_backtest``; it pays the taker fee and the slippage like any
        other.  A synthetic event at the last price (a trade of size 0, or a
        bar with open = high = low = close) lets the exchange fill it.
        """
        now = self.clock.now_ns()
        price = self.last_price
        if price <= 0:
            return
        self.mark(now, price)
        for order in self.execution_actor.open_orders():
            self.execution.tell(CancelRequest(order.order_id, reason=END_OF_BACKTEST))
        self.strategy.close_position(END_OF_BACKTEST)
        at = now + self.spec.latency_ns
        if bars:
            bar = Bar(self.exchange_name, self.symbol, self.spec.timeframe, at, price, price, price, price, 0.0)
            self.mark(at, price)
            self.execution.tell(bar)
        else:
            self.trade(at, price, 0.0, 1)

    # -- state ------------------------------------------------------------------------

    def totals(self) -> tuple[Decimal, Decimal]:
        """Return the account's (quote, base) totals, reserved amounts included."""
        account, instrument = self.account, self.instrument
        return (account.free(instrument.quote) + account.used(instrument.quote),
                account.free(instrument.base) + account.used(instrument.base))

    def equity(self) -> Decimal:
        """Account value in the quote asset at the last price."""
        quote, base = self.totals()
        return quote + base * Decimal(repr(self.last_price)) if base else quote

    @property
    def closed_trades(self) -> list:
        return self.portfolio_actor.ledger.closed_trades
