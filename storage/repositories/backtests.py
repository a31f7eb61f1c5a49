"""Backtests: their request, progress, outcome and results.

The status moves created -> running -> completed | failed | cancelled, and
created -> failed | cancelled.  Each move is one conditional UPDATE, so when
a worker completes a backtest while a user cancels it, exactly one of them
wins and the other gets :class:`Conflict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from cryptobot.core.errors import Conflict, NotFound, ValidationError
from cryptobot.core.ids import check_id, new_id
from cryptobot.storage.repositories.base import Filters, Page, Repository, record_to
from cryptobot.storage.values import check_choice, check_decimal, check_float, check_json_object, check_text

STATUSES = ("created", "running", "completed", "failed", "cancelled")
UNFINISHED = ("created", "running")

# Every column but results, which can be megabytes; get_results reads it.
_COLUMNS = """id, strategy_id, owner_id, status, progress, parameters, start_date, end_date, initial_capital, error,
              created_at, updated_at, started_at, completed_at, estimated_completion_at, results IS NOT NULL AS has_results"""


@dataclass(frozen=True, slots=True)
class Backtest:
    """A backtest run; ``progress`` is percent, ``completed_at`` is when it completed, failed or was cancelled."""

    id: str
    strategy_id: str
    owner_id: str | None
    status: str
    progress: float
    parameters: dict
    start_date: int
    end_date: int
    initial_capital: Decimal
    error: str | None
    created_at: int
    updated_at: int
    started_at: int | None
    completed_at: int | None
    estimated_completion_at: int | None
    has_results: bool


def _backtest(record: asyncpg.Record) -> Backtest:
    return record_to(Backtest, record)


def _check_time(value: Any, field: str, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"'{field}' must be int nanoseconds since the epoch, was {value!r}", {field: "expected a time"})
    return value


class BacktestRepository(Repository):
    """Store backtests and move them through their statuses."""

    async def create(self, strategy_id: str, *, start_date: int, end_date: int, initial_capital: Decimal | float | str,
                     parameters: dict | None = None, owner_id: str | None = None,
                     estimated_completion_at: int | None = None) -> Backtest:
        """Record a requested backtest in status ``created``.

        Raises
        ------
        NotFound
            If the strategy does not exist, or (with ``owner_id``) is not that user's.
        """
        check_id(strategy_id, "strategy", "strategy_id")
        start_date, end_date = _check_time(start_date, "start_date"), _check_time(end_date, "end_date")
        if end_date <= start_date:
            raise ValidationError("'end_date' must be after 'start_date'", {"end_date": "must be after start_date"})
        capital = check_decimal(initial_capital, "initial_capital", positive=True)
        parameters = check_json_object({} if parameters is None else parameters, "parameters")
        _check_time(estimated_completion_at, "estimated_completion_at", optional=True)
        now = self._now()
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"""INSERT INTO backtests (id, strategy_id, owner_id, status, parameters, start_date, end_date, initial_capital,
                                           created_at, updated_at, estimated_completion_at)
                    SELECT $1, s.id, $3, 'created', $4, $5, $6, $7, $8, $8, $9 FROM strategies s
                    WHERE s.id = $2 AND s.deleted_at IS NULL AND ($3::text IS NULL OR s.owner_id = $3)
                    RETURNING {_COLUMNS}""",
                new_id("backtest"), strategy_id, owner_id, parameters, start_date, end_date, capital, now,
                estimated_completion_at,
            )
        if row is None:
            raise NotFound(f"strategy {strategy_id} not found")
        return _backtest(row)

    async def get(self, backtest_id: str, owner_id: str | None = None) -> Backtest:
        """Return backtest ``backtest_id`` without its results."""
        check_id(backtest_id, "backtest", "backtest_id")
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM backtests WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)", backtest_id, owner_id
            )
        if row is None:
            raise NotFound(f"backtest {backtest_id} not found")
        return _backtest(row)

    async def get_results(self, backtest_id: str, owner_id: str | None = None) -> dict:
        """Return the results object of a completed backtest.

        Raises
        ------
        Conflict
            If the backtest has not completed.
        """
        check_id(backtest_id, "backtest", "backtest_id")
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT status, results FROM backtests WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)", backtest_id, owner_id
            )
        if row is None:
            raise NotFound(f"backtest {backtest_id} not found")
        if row["status"] != "completed":
            raise Conflict(f"Cannot return results of backtest {backtest_id}: it is {row['status']}", {"status": row["status"]})
        return row["results"]

    async def list(self, *, owner_id: str | None = None, strategy_id: str | None = None, status: str | None = None,
                   page: int = 1, limit: int = 10) -> Page[Backtest]:
        """Return backtests, newest first."""
        filters = Filters()
        filters.add_if("owner_id = {}", owner_id)
        filters.add_if("strategy_id = {}", strategy_id)
        filters.add_if("status = {}", check_choice(status, "status", STATUSES, optional=True))
        async with self._connection() as conn:
            return await self._fetch_page(conn, f"SELECT {_COLUMNS} FROM backtests", filters, "created_at DESC, id DESC",
                                          page, limit, _backtest)

    async def counts(self) -> dict[str, int]:
        """Return the number of backtests in each status (every status present, zeros included)."""
        async with self._connection() as conn:
            rows = await conn.fetch("SELECT status, count(*) AS n FROM backtests GROUP BY status")
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({row["status"]: row["n"] for row in rows})
        return counts

    async def start(self, backtest_id: str, estimated_completion_at: int | None = None) -> Backtest:
        """Move a created backtest to running."""
        _check_time(estimated_completion_at, "estimated_completion_at", optional=True)
        return await self._move(backtest_id, ("created",), "start", "status = 'running', started_at = {now}, "
                                "estimated_completion_at = coalesce({0}, estimated_completion_at)", estimated_completion_at)

    async def set_progress(self, backtest_id: str, progress: float, estimated_completion_at: int | None = None) -> Backtest:
        """Record the progress (percent, 0 to 100) of a running backtest."""
        progress = check_float(progress, "progress", minimum=0, maximum=100)
        _check_time(estimated_completion_at, "estimated_completion_at", optional=True)
        return await self._move(backtest_id, ("running",), "update the progress of",
                                "progress = {0}, estimated_completion_at = coalesce({1}, estimated_completion_at)",
                                progress, estimated_completion_at)

    async def complete(self, backtest_id: str, results: dict) -> Backtest:
        """Store the results of a running backtest and mark it completed at 100 %."""
        results = check_json_object(results, "results")
        return await self._move(backtest_id, ("running",), "complete",
                                "status = 'completed', progress = 100, results = {0}, completed_at = {now}", results)

    async def fail(self, backtest_id: str, error: str) -> Backtest:
        """Mark a created or running backtest failed with ``error`` (what went wrong, for the user)."""
        error = check_text(error, "error", max_length=4000)
        return await self._move(backtest_id, UNFINISHED, "fail", "status = 'failed', error = {0}, completed_at = {now}", error)

    async def cancel(self, backtest_id: str, owner_id: str | None = None) -> Backtest:
        """Cancel a created or running backtest."""
        return await self._move(backtest_id, UNFINISHED, "cancel", "status = 'cancelled', completed_at = {now}",
                                owner_id=owner_id)

    async def _move(self, backtest_id: str, allowed: tuple[str, ...], action: str, assignments: str, *values: Any,
                    owner_id: str | None = None) -> Backtest:
        check_id(backtest_id, "backtest", "backtest_id")
        filters = Filters().add("id = {}", backtest_id).add("status = ANY({}::text[])", list(allowed))
        filters.add_if("owner_id = {}", owner_id)
        now_at = filters.param(self._now())
        placeholders = [filters.param(value) for value in values]
        sql = (f"UPDATE backtests SET {assignments.format(*placeholders, now=now_at)}, updated_at = {now_at} "
               f"{filters.where} RETURNING {_COLUMNS}")
        async with self._connection() as conn:
            row = await conn.fetchrow(sql, *filters.args)
        if row is not None:
            return _backtest(row)
        current = await self.get(backtest_id, owner_id)
        raise Conflict(f"Cannot {action} backtest {backtest_id}: it is {current.status}", {"status": current.status})
