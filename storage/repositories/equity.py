"""Account value over time: one row per account and sample time."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cryptobot.storage.repositories.base import Repository, record_to
from cryptobot.storage.values import check_decimal, check_text


@dataclass(frozen=True, slots=True)
class EquitySnapshot:
    account: str
    at: int
    equity: Decimal
    currency: str


class EquityRepository(Repository):
    """Write equity samples and read the value at a past time."""

    async def record(self, account: str, at: int, equity: Decimal, currency: str) -> None:
        """Store one sample; a second sample at the same time replaces the first."""
        check_text(account, "account", max_length=64)
        equity = check_decimal(equity, "equity")
        async with self._connection() as conn:
            await conn.execute(
                """INSERT INTO equity_snapshots (account, at, equity, currency) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (account, at) DO UPDATE SET equity = excluded.equity, currency = excluded.currency""",
                account, at, equity, currency,
            )

    async def at_or_before(self, account: str, at: int) -> EquitySnapshot | None:
        """Return the latest sample taken at or before ``at``, or the earliest one when none is that old."""
        async with self._connection() as conn:
            row = await conn.fetchrow(
                """(SELECT * FROM equity_snapshots WHERE account = $1 AND at <= $2 ORDER BY at DESC LIMIT 1)
                   UNION ALL
                   (SELECT * FROM equity_snapshots WHERE account = $1 ORDER BY at LIMIT 1)
                   LIMIT 1""",
                account, at,
            )
        return None if row is None else record_to(EquitySnapshot, row)

    async def latest(self, account: str) -> EquitySnapshot | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM equity_snapshots WHERE account = $1 ORDER BY at DESC LIMIT 1", account)
        return None if row is None else record_to(EquitySnapshot, row)
