"""Starting, stopping and restoring strategy actors, and keeping their figures in the store.

The API calls these methods; each keeps the store and the running actors
in step: a strategy marked active in the store runs, and after an engine
restart every active strategy is started again with its saved counters.
"""

from __future__ import annotations

import asyncio
import logging
import math
from decimal import Decimal
from typing import Any

from cryptobot.actors.risk_checks import RiskLimits
from cryptobot.actors.strategies import StrategyConfig, StrategyCounters, strategy_class
from cryptobot.actors.strategy_actor import StrategyActor, actor_name
from cryptobot.core import topics
from cryptobot.core.messages import ClosePosition, SetRiskLimits

log = logging.getLogger("cryptobot.actors.strategy_manager")


def config_from_record(record: Any) -> StrategyConfig:
    """Build the run configuration of a stored strategy."""
    return StrategyConfig(
        strategy_id=record.id, strategy_type=record.strategy_type, exchange=record.exchange, symbol=record.symbol,
        timeframe=record.timeframe, parameters=dict(record.parameters),
        capital_allocation=Decimal(record.capital_allocation or 0), max_positions=record.max_positions or 1,
        owner_id=record.owner_id, name=record.name,
    )


class StrategyManager:
    """Runs the strategies of one engine.

    Parameters
    ----------
    engine
        The actor engine.
    store
        The PostgreSQL store.
    markets
        (exchange, symbol) pairs this engine has market data for; a
        strategy on another market cannot start.
    """

    def __init__(self, engine: Any, store: Any, markets: set[tuple[str, str]], risk: str = "risk",
                 execution: str = "execution"):
        self.engine = engine
        self.store = store
        self.markets = markets
        self.risk = risk
        self.execution = execution
        self._equity: dict[str, list[float]] = {}
        self._pending_saves: dict[str, StrategyCounters] = {}
        self._save_task: asyncio.Task | None = None

    def validate(self, strategy_type: str, parameters: Any, base: dict | None = None) -> dict:
        """Return the full parameters of a strategy type; raise ValidationError naming bad ones."""
        return strategy_class(strategy_type).validate_parameters(parameters, base)

    def is_running(self, strategy_id: str) -> bool:
        return self.engine.has_actor(actor_name(strategy_id))

    async def restore(self) -> int:
        """Start every strategy the store marks active; return how many started."""
        started = 0
        for record in await self.store.strategies.list_active():
            try:
                await self._spawn(record)
                started += 1
            except Exception:  # noqa: BLE001 - one broken strategy must not stop the others
                log.exception("cannot restore strategy %s", record.id, extra={"strategy_id": record.id})
        return started

    async def start(self, strategy_id: str, capital_allocation: Any, max_positions: int, owner_id: str | None = None) -> Any:
        """Mark the strategy active and run it; raise Conflict if it is active already."""
        record = await self.store.strategies.get(strategy_id, owner_id)
        self._check_market(record)
        strategy_class(record.strategy_type).validate_parameters(record.parameters)
        record = await self.store.strategies.start(strategy_id, capital_allocation=capital_allocation,
                                                   max_positions=max_positions, owner_id=owner_id)
        try:
            await self._spawn(record)
        except Exception:
            await self.store.strategies.stop(strategy_id)
            raise
        self.engine.bus.publish(topics.STRATEGY_EVENTS, ("started", strategy_id, record))
        return record

    async def stop(self, strategy_id: str, close_positions: bool, owner_id: str | None = None) -> tuple[Any, bool]:
        """Stop the strategy (closing its positions first if asked); return (record, positions_closed)."""
        await self.store.strategies.get(strategy_id, owner_id)
        closed = False
        name = actor_name(strategy_id)
        if self.engine.has_actor(name):
            await self.engine.stop_actor(name)
        if close_positions:
            self.engine.ref("portfolio").tell(ClosePosition(strategy_id=strategy_id, reason="strategy_stopped"))
            closed = True
        self.engine.ref(self.risk).tell(SetRiskLimits(strategy_id, None))
        record = await self.store.strategies.stop(strategy_id, owner_id)
        await self._flush_saves()
        self.engine.bus.publish(topics.STRATEGY_EVENTS, ("stopped", strategy_id, record))
        return record, closed

    async def stop_all(self) -> None:
        """Stop the actors (not the stored status) at engine shutdown, saving counters."""
        await self._flush_saves()

    def _check_market(self, record: Any) -> None:
        from cryptobot.core.errors import Conflict

        if (record.exchange, record.symbol) not in self.markets:
            served = ", ".join(f"{e}:{s}" for e, s in sorted(self.markets)) or "none"
            raise Conflict(f"Cannot start strategy {record.id}: this engine has no market data for {record.symbol} on "
                           f"{record.exchange} (served: {served})", {"symbol": record.symbol, "exchange": record.exchange})

    async def _spawn(self, record: Any) -> None:
        self._check_market(record)
        config = config_from_record(record)
        counters = StrategyCounters.from_json((record.state or {}).get("counters"))
        limits = RiskLimits(capital_allocation=config.capital_allocation, max_positions=config.max_positions)
        self.engine.ref(self.risk).tell(SetRiskLimits(record.id, limits))
        actor = StrategyActor(config, self.risk, self.execution, counters, self._counters_changed)
        await self.engine.spawn(actor)

    # -- figures --------------------------------------------------------------------

    def _counters_changed(self, strategy_id: str, counters: StrategyCounters) -> None:
        self._pending_saves[strategy_id] = counters
        if self._save_task is None or self._save_task.done():
            self._save_task = asyncio.get_running_loop().create_task(self._save_soon())

    async def _save_soon(self) -> None:
        await asyncio.sleep(0.2)
        await self._flush_saves()

    async def _flush_saves(self) -> None:
        pending, self._pending_saves = self._pending_saves, {}
        for strategy_id, counters in pending.items():
            try:
                record = await self.store.strategies.get(strategy_id)
                capital = float(record.capital_allocation or 0)
                await self.store.strategies.save_state(strategy_id, {**(record.state or {}), "counters": counters.to_json()})
                await self.store.strategies.set_performance(strategy_id, **performance_figures(
                    counters, capital, self._equity.setdefault(strategy_id, [])))
            except Exception:  # noqa: BLE001 - figures are retried at the next change
                self._pending_saves.setdefault(strategy_id, counters)
                log.exception("saving figures of strategy %s failed", strategy_id, extra={"strategy_id": strategy_id})


def performance_figures(counters: StrategyCounters, capital: float, equity: list[float]) -> dict[str, Any]:
    """Figures the API shows for a strategy, from its counters and its equity after each closed trade.

    ``total_return`` and ``drawdown`` are percent of the capital allocation;
    ``sharpe_ratio`` is the mean over the standard deviation of per-trade
    returns (not annualized: live trades are not evenly spaced in time), or
    None with fewer than two trades.
    """
    pnl = float(counters.realized_pnl)
    if capital > 0:
        value = capital + pnl
        if not equity or equity[-1] != value:
            equity.append(value)
    figures: dict[str, Any] = {
        "trades": counters.trades, "winning_trades": counters.winning_trades, "losing_trades": counters.losing_trades,
        "win_rate": counters.winning_trades / counters.trades * 100 if counters.trades else None,
        "total_return": pnl / capital * 100 if capital > 0 else None,
    }
    if capital > 0:
        series = [capital] + equity
        peak, worst = series[0], 0.0
        for value in series:
            peak = max(peak, value)
            worst = max(worst, (peak - value) / peak * 100 if peak else 0.0)
        figures["drawdown"] = worst
        returns = [b / a - 1 for a, b in zip(series, series[1:]) if a]
        if len(returns) >= 2:
            mean = sum(returns) / len(returns)
            deviation = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
            figures["sharpe_ratio"] = mean / deviation if deviation else None
    return figures
