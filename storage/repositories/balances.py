"""Balances of paper accounts: free and used amount per asset.

Live accounts keep their balances at the exchange; the simulated exchange
keeps its own here so a paper account survives a restart.  Every change is
one atomic statement (an increment), so concurrent adjustments all count,
and the table's ``free >= 0`` and ``used >= 0`` checks turn an overdraft
into :class:`InsufficientFunds` with nothing changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from cryptobot.core.errors import InsufficientFunds, NotFound
from cryptobot.core.orders import ZERO
from cryptobot.storage.repositories.base import Repository, record_to
from cryptobot.storage.values import check_decimal, check_text

_ACCOUNT = re.compile(r"[a-z0-9_:.-]{1,64}")
_ASSET = re.compile(r"[A-Z0-9]{1,20}")

_ADD = """UPDATE balances SET free = free + $3, used = used + $4, updated_at = $5
          WHERE account = $1 AND asset = $2 RETURNING *"""


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset of one account; ``total`` is ``free + used``."""

    account: str
    asset: str
    free: Decimal
    used: Decimal
    total: Decimal
    updated_at: int


def _check_account(account: object) -> str:
    return check_text(account, "account", max_length=64, pattern=_ACCOUNT, hint="1 to 64 of a-z 0-9 _ : . -")


def _check_asset(asset: object) -> str:
    return check_text(asset, "asset", max_length=20, pattern=_ASSET, hint="an upper-case asset code such as USDT")


class BalanceRepository(Repository):
    """Read and change paper-account balances."""

    async def list(self, account: str) -> list[Balance]:
        """Return every asset of ``account``, by asset code."""
        async with self._connection() as conn:
            rows = await conn.fetch("SELECT * FROM balances WHERE account = $1 ORDER BY asset", _check_account(account))
        return [record_to(Balance, row) for row in rows]

    async def get(self, account: str, asset: str) -> Balance:
        """Return one balance; raise NotFound if the account never held ``asset``."""
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM balances WHERE account = $1 AND asset = $2", _check_account(account), _check_asset(asset)
            )
        if row is None:
            raise NotFound(f"no {asset} balance in account {account}")
        return record_to(Balance, row)

    async def seed(self, account: str, amounts: dict[str, Decimal | int | str]) -> list[Balance]:
        """Give ``account`` free starting amounts for assets it does not hold yet; return the rows created.

        Assets that already have a row keep their balance, so seeding at
        every start never resets a paper account.
        """
        account = _check_account(account)
        rows = [(_check_asset(asset), check_decimal(amount, f"amounts[{asset}]", non_negative=True))
                for asset, amount in amounts.items()]
        now = self._now()
        created = []
        async with self._transaction() as conn:
            for asset, amount in rows:
                row = await conn.fetchrow(
                    """INSERT INTO balances (account, asset, free, used, updated_at) VALUES ($1, $2, $3, 0, $4)
                       ON CONFLICT (account, asset) DO NOTHING RETURNING *""",
                    account, asset, amount, now,
                )
                if row is not None:
                    created.append(record_to(Balance, row))
        return created

    async def adjust(self, account: str, asset: str, *, free_delta: Decimal | int | str = ZERO,
                     used_delta: Decimal | int | str = ZERO) -> Balance:
        """Add the deltas (either may be negative) to one balance and return it.

        Moving an amount from free to used (an order's reservation) is
        ``free_delta=-x, used_delta=x``.

        Raises
        ------
        InsufficientFunds
            If free or used would drop below zero; nothing changes.
        """
        account, asset = _check_account(account), _check_asset(asset)
        free_delta = check_decimal(free_delta, "free_delta")
        used_delta = check_decimal(used_delta, "used_delta")
        now = self._now()
        try:
            # A savepoint inside a caller's transaction, so a refused change leaves that transaction usable.
            async with self._transaction() as conn:
                row = await conn.fetchrow(_ADD, account, asset, free_delta, used_delta, now)
                if row is None:
                    # CHECK constraints apply to the row an upsert proposes before
                    # it finds the conflict, so a negative delta cannot go through
                    # INSERT ... ON CONFLICT; insert only when no row exists.
                    row = await conn.fetchrow(
                        """INSERT INTO balances (account, asset, free, used, updated_at) VALUES ($1, $2, $3, $4, $5)
                           ON CONFLICT (account, asset) DO NOTHING RETURNING *""",
                        account, asset, free_delta, used_delta, now,
                    )
                if row is None:  # inserted by a concurrent call in between
                    row = await conn.fetchrow(_ADD, account, asset, free_delta, used_delta, now)
        except asyncpg.CheckViolationError:
            async with self._connection() as conn:
                current = await conn.fetchrow("SELECT free, used FROM balances WHERE account = $1 AND asset = $2", account, asset)
            free, used = (current["free"], current["used"]) if current else (ZERO, ZERO)
            raise InsufficientFunds(
                f"Cannot change {asset} balance of {account}: free {free} + ({free_delta}) or used {used} + ({used_delta}) "
                "would be negative",
                details={"asset": asset, "free": str(free), "used": str(used)},
            ) from None
        return record_to(Balance, row)
