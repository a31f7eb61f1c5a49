"""What every repository shares: its connection source, the clock, pagination and filters.

A repository reaches the database through a *source*: the pool, or one
connection inside :meth:`Database.transaction`.  Methods that write more
than one row open a transaction on it.  On a connection that is already in
a transaction, asyncpg makes that a savepoint, so repository calls compose
into one atomic unit.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import Any, Generic, Protocol, TypeVar

import asyncpg

from cryptobot.core.clock import Clock
from cryptobot.core.errors import StorageError, ValidationError
from cryptobot.storage.keyring import Keyring
from cryptobot.storage.passwords import PasswordHasher

T = TypeVar("T")

MAX_PAGE_LIMIT = 500


class ConnectionSource(Protocol):
    def acquire(self) -> Any:
        """Return an async context manager that yields an asyncpg connection."""


class BoundConnection:
    """A source that always yields one connection (the one a transaction runs on)."""

    def __init__(self, conn: asyncpg.Connection):
        self._conn = conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        yield self._conn


@dataclass(frozen=True, slots=True)
class StoreContext:
    """Everything a repository needs besides SQL."""

    source: ConnectionSource
    clock: Clock
    keyring: Keyring
    passwords: PasswordHasher
    max_login_failures: int = 5
    lockout_ns: int = 900 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: ``items`` plus the metadata of the API's ``pagination`` object."""

    items: list[T]
    total: int
    page: int
    limit: int

    @property
    def pages(self) -> int:
        """Number of pages (0 when the list is empty)."""
        return math.ceil(self.total / self.limit)


def check_page(page: Any, limit: Any) -> tuple[int, int]:
    """Validate ``page`` (>= 1) and ``limit`` (1 to MAX_PAGE_LIMIT)."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValidationError(f"'page' must be an integer >= 1, was {page!r}", {"page": "must be >= 1"})
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_LIMIT:
        raise ValidationError(
            f"'limit' out of range [1, {MAX_PAGE_LIMIT}], was {limit!r}", {"limit": f"out of range [1, {MAX_PAGE_LIMIT}]"}
        )
    return page, limit


class Filters:
    """A WHERE clause built from code-written conditions and bound parameters.

    Each condition is SQL text with ``{}`` where its parameter goes; values
    are never formatted into the text.
    """

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[Any] = []

    def add(self, condition: str, *values: Any) -> Filters:
        placeholders = []
        for value in values:
            self.args.append(value)
            placeholders.append(f"${len(self.args)}")
        self.conditions.append(condition.format(*placeholders))
        return self

    def add_if(self, condition: str, value: Any) -> Filters:
        """Add ``condition`` only when ``value`` is not None."""
        if value is not None:
            self.add(condition, value)
        return self

    def param(self, value: Any) -> str:
        """Bind ``value`` and return its placeholder, for use outside the WHERE clause."""
        self.args.append(value)
        return f"${len(self.args)}"

    @property
    def where(self) -> str:
        return ("WHERE " + " AND ".join(self.conditions)) if self.conditions else ""


def record_to(cls: type[T], record: asyncpg.Record, **overrides: Any) -> T:
    """Build dataclass ``cls`` from the columns of ``record`` that match its fields."""
    values = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in overrides:
            values[f.name] = overrides[f.name]
        elif f.name in record:
            values[f.name] = record[f.name]
    return cls(**values)


class Repository:
    """Base of the repositories: connection handling and paging helpers."""

    def __init__(self, ctx: StoreContext):
        self._ctx = ctx

    def _now(self) -> int:
        return self._ctx.clock.now_ns()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            async with self._ctx.source.acquire() as conn:
                yield conn
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise StorageError(f"Cannot reach PostgreSQL: {exc}") from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._connection() as conn:
            async with conn.transaction():
                yield conn

    async def _fetch_page(self, conn: asyncpg.Connection, select: str, filters: Filters, order_by: str,
                          page: int, limit: int, convert: Callable[[asyncpg.Record], T]) -> Page[T]:
        """Run ``select`` (without WHERE, ORDER BY, LIMIT) as one page, counting the total."""
        page, limit = check_page(page, limit)
        limit_at, offset_at = filters.param(limit), filters.param((page - 1) * limit)
        sql = f"{select} {filters.where} ORDER BY {order_by} LIMIT {limit_at} OFFSET {offset_at}"
        rows = await conn.fetch(sql.replace("SELECT ", "SELECT count(*) OVER () AS total_rows, ", 1), *filters.args)
        if rows:
            total = rows[0]["total_rows"]
        else:
            count_sql = f"SELECT count(*) FROM ({select} {filters.where}) AS matching"
            total = await conn.fetchval(count_sql, *filters.args[:-2])
        return Page([convert(row) for row in rows], total, page, limit)


def unique_violation(exc: asyncpg.UniqueViolationError, names: Sequence[str]) -> bool:
    """Tell whether ``exc`` was raised by one of the constraints or indexes ``names``."""
    return getattr(exc, "constraint_name", None) in names
