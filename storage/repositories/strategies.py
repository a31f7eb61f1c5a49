"""Strategies: definition, start/stop, performance figures and the state kept across restarts.

Every write increments ``version``.  Callers that read, change and write
back (the API's PUT, an actor saving its state) pass ``expected_version``
and get :class:`Conflict` if someone else wrote in between, instead of
silently overwriting that write.  Counter increments and status changes are
single conditional statements, so they need no version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from cryptobot.core.errors import Conflict, NotFound
from cryptobot.core.ids import check_id, new_id
from cryptobot.core.symbols import check_exchange, check_symbol
from cryptobot.storage.repositories.base import Filters, Page, Repository, record_to
from cryptobot.storage.values import (check_choice, check_decimal, check_float, check_int, check_json_object,
                                      check_text)

STATUSES = ("active", "inactive")
TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")
PERFORMANCE_FIGURES = ("total_return", "win_rate", "sharpe_ratio", "drawdown")
TRADE_COUNTERS = ("trades", "winning_trades", "losing_trades")

_STRATEGY_TYPE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_UNSET: Any = object()
_LIVE = "deleted_at IS NULL"


@dataclass(frozen=True, slots=True)
class Strategy:
    """A strategy's definition, run settings, performance and saved state."""

    id: str
    owner_id: str | None
    name: str
    description: str
    strategy_type: str
    exchange: str
    symbol: str
    timeframe: str
    parameters: dict
    status: str
    capital_allocation: Decimal | None
    max_positions: int | None
    started_at: int | None
    stopped_at: int | None
    total_return: float | None
    win_rate: float | None
    sharpe_ratio: float | None
    drawdown: float | None
    trades: int
    winning_trades: int
    losing_trades: int
    state: dict
    version: int
    created_at: int
    updated_at: int


def _strategy(record: asyncpg.Record) -> Strategy:
    return record_to(Strategy, record)


def _check_name(value: Any) -> str:
    return check_text(value, "name", max_length=200)


class StrategyRepository(Repository):
    """Store strategies; lists and lookups never return deleted ones."""

    async def create(self, *, name: str, exchange: str, symbol: str, timeframe: str, strategy_type: str,
                     parameters: dict | None = None, description: str = "", owner_id: str | None = None) -> Strategy:
        """Create an inactive strategy."""
        values = {
            "name": _check_name(name),
            "description": check_text(description, "description", max_length=2000, min_length=0),
            "strategy_type": check_text(strategy_type, "strategy_type", max_length=64, pattern=_STRATEGY_TYPE,
                                        hint="lower-case letters, digits and _ starting with a letter"),
            "exchange": check_exchange(exchange),
            "symbol": check_symbol(symbol),
            "timeframe": check_choice(timeframe, "timeframe", TIMEFRAMES),
            "parameters": check_json_object({} if parameters is None else parameters, "parameters"),
        }
        if owner_id is not None:
            check_id(owner_id, "user", "owner_id")
        now = self._now()
        async with self._transaction() as conn:
            try:
                row = await conn.fetchrow(
                    """INSERT INTO strategies (id, owner_id, name, description, strategy_type, exchange, symbol, timeframe,
                                               parameters, created_at, updated_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING *""",
                    new_id("strategy"), owner_id, *values.values(), now,
                )
            except asyncpg.ForeignKeyViolationError:
                raise NotFound(f"user {owner_id} not found") from None
        return _strategy(row)

    async def get(self, strategy_id: str, owner_id: str | None = None) -> Strategy:
        """Return strategy ``strategy_id``; with ``owner_id``, only if that user owns it (else NotFound)."""
        check_id(strategy_id, "strategy", "strategy_id")
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT * FROM strategies WHERE id = $1 AND {_LIVE} AND ($2::text IS NULL OR owner_id = $2)",
                strategy_id, owner_id,
            )
        if row is None:
            raise NotFound(f"strategy {strategy_id} not found")
        return _strategy(row)

    async def list(self, *, owner_id: str | None = None, status: str | None = None, exchange: str | None = None,
                   symbol: str | None = None, page: int = 1, limit: int = 10) -> Page[Strategy]:
        """Return strategies, newest first; ``status`` is active, inactive, all or None (all)."""
        filters = Filters().add(_LIVE)
        filters.add_if("owner_id = {}", owner_id)
        if check_choice(status, "status", STATUSES + ("all",), optional=True) in STATUSES:
            filters.add("status = {}", status)
        filters.add_if("exchange = {}", None if exchange is None else check_exchange(exchange))
        filters.add_if("symbol = {}", None if symbol is None else check_symbol(symbol))
        async with self._connection() as conn:
            return await self._fetch_page(conn, "SELECT * FROM strategies", filters, "created_at DESC, id DESC",
                                          page, limit, _strategy)

    async def list_active(self) -> list[Strategy]:
        """Return every active strategy of every owner, oldest first (for resuming after a restart)."""
        async with self._connection() as conn:
            rows = await conn.fetch(f"SELECT * FROM strategies WHERE status = 'active' AND {_LIVE} ORDER BY created_at, id")
        return [_strategy(row) for row in rows]

    async def counts(self) -> dict[str, int]:
        """Return ``{"active": n, "total": n}`` over strategies that are not deleted."""
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT count(*) FILTER (WHERE status = 'active') AS active, count(*) AS total FROM strategies WHERE {_LIVE}"
            )
        return {"active": row["active"], "total": row["total"]}

    async def update(self, strategy_id: str, *, owner_id: str | None = None, expected_version: int | None = None,
                     name: str = _UNSET, description: str = _UNSET, parameters: dict = _UNSET,
                     strategy_type: str = _UNSET, exchange: str = _UNSET, symbol: str = _UNSET,
                     timeframe: str = _UNSET) -> Strategy:
        """Change the given fields; ``parameters`` replaces the whole object.

        Exchange, symbol, timeframe and strategy type cannot change while
        the strategy is active.

        Raises
        ------
        Conflict
            If ``expected_version`` is given and differs from the stored
            version, or a market field changes on an active strategy.
        """
        changes: dict[str, Any] = {}
        if name is not _UNSET:
            changes["name"] = _check_name(name)
        if description is not _UNSET:
            changes["description"] = check_text(description, "description", max_length=2000, min_length=0)
        if parameters is not _UNSET:
            changes["parameters"] = check_json_object(parameters, "parameters")
        market: dict[str, Any] = {}
        if strategy_type is not _UNSET:
            market["strategy_type"] = check_text(strategy_type, "strategy_type", max_length=64, pattern=_STRATEGY_TYPE,
                                                 hint="lower-case letters, digits and _ starting with a letter")
        if exchange is not _UNSET:
            market["exchange"] = check_exchange(exchange)
        if symbol is not _UNSET:
            market["symbol"] = check_symbol(symbol)
        if timeframe is not _UNSET:
            market["timeframe"] = check_choice(timeframe, "timeframe", TIMEFRAMES)
        changes.update(market)
        condition = "status = 'inactive'" if market else None
        return await self._write(strategy_id, owner_id, changes, expected_version, condition,
                                 "update", "it is active; stop it before changing its market")

    async def start(self, strategy_id: str, *, capital_allocation: Decimal | float | str, max_positions: int,
                    owner_id: str | None = None) -> Strategy:
        """Mark the strategy active with its capital and position limit; Conflict if it is active already."""
        changes = {
            "status": "active",
            "capital_allocation": check_decimal(capital_allocation, "capital_allocation", positive=True),
            "max_positions": check_int(max_positions, "max_positions", minimum=1, maximum=10_000),
            "started_at": self._now(),
            "stopped_at": None,
        }
        return await self._write(strategy_id, owner_id, changes, None, "status = 'inactive'", "start", "it is already active")

    async def stop(self, strategy_id: str, owner_id: str | None = None) -> Strategy:
        """Mark the strategy inactive; Conflict if it is not active."""
        changes = {"status": "inactive", "stopped_at": self._now()}
        return await self._write(strategy_id, owner_id, changes, None, "status = 'active'", "stop", "it is not active")

    async def delete(self, strategy_id: str, owner_id: str | None = None) -> None:
        """Delete the strategy (its orders and backtests keep referring to it); Conflict if it is active."""
        await self._write(strategy_id, owner_id, {"deleted_at": self._now()}, None, "status = 'inactive'",
                          "delete", "it is active; stop it first")

    async def save_state(self, strategy_id: str, state: dict, expected_version: int | None = None) -> Strategy:
        """Replace the saved state blob (counters, indicator seeds) the strategy restores after a restart."""
        return await self._write(strategy_id, None, {"state": check_json_object(state, "state")}, expected_version)

    async def set_performance(self, strategy_id: str, *, expected_version: int | None = None,
                              **figures: float | int | None) -> Strategy:
        """Set performance figures (total_return, win_rate, sharpe_ratio, drawdown) and trade counters."""
        changes: dict[str, Any] = {}
        for name, value in figures.items():
            if name in PERFORMANCE_FIGURES:
                changes[name] = check_float(value, name, optional=True)
            elif name in TRADE_COUNTERS:
                changes[name] = check_int(value, name, minimum=0)
            else:
                check_choice(name, "figure", PERFORMANCE_FIGURES + TRADE_COUNTERS)
        return await self._write(strategy_id, None, changes, expected_version)

    async def record_trade(self, strategy_id: str, won: bool) -> Strategy:
        """Count one closed trade as won or lost (an atomic increment, safe under concurrency)."""
        check_id(strategy_id, "strategy", "strategy_id")
        column = "winning_trades" if won else "losing_trades"
        now = self._now()
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"""UPDATE strategies SET trades = trades + 1, {column} = {column} + 1, version = version + 1, updated_at = $2
                    WHERE id = $1 AND {_LIVE} RETURNING *""",
                strategy_id, now,
            )
        if row is None:
            raise NotFound(f"strategy {strategy_id} not found")
        return _strategy(row)

    async def _write(self, strategy_id: str, owner_id: str | None, changes: dict[str, Any], expected_version: int | None,
                     condition: str | None = None, action: str = "update", refusal: str = "") -> Strategy:
        check_id(strategy_id, "strategy", "strategy_id")
        check_int(expected_version, "expected_version", minimum=1, optional=True)
        filters = Filters().add("id = {}", strategy_id).add(_LIVE)
        filters.add_if("owner_id = {}", owner_id)
        filters.add_if("version = {}", expected_version)
        if condition:
            filters.add(condition)
        assignments = [f"{column} = {filters.param(value)}" for column, value in changes.items()]
        assignments.append(f"updated_at = {filters.param(self._now())}")
        sql = f"UPDATE strategies SET {', '.join(assignments)}, version = version + 1 {filters.where} RETURNING *"
        async with self._connection() as conn:
            row = await conn.fetchrow(sql, *filters.args)
            if row is not None:
                return _strategy(row)
            current = await conn.fetchrow(
                f"SELECT version, status FROM strategies WHERE id = $1 AND {_LIVE} AND ($2::text IS NULL OR owner_id = $2)",
                strategy_id, owner_id,
            )
        if current is None:
            raise NotFound(f"strategy {strategy_id} not found")
        if expected_version is not None and current["version"] != expected_version:
            raise Conflict(
                f"Cannot {action} strategy {strategy_id}: it was changed concurrently (version {current['version']}, "
                f"expected {expected_version}); reload it and retry",
                {"version": current["version"]},
            )
        raise Conflict(f"Cannot {action} strategy {strategy_id}: {refusal}", {"status": current["status"]})
