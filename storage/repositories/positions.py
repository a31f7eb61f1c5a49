"""Positions: the net holding of one owner and strategy in one symbol, built from fills.

A buy fill opens or grows a long position and shrinks a short one; a sell
does the opposite.  Growing averages the entry price; shrinking realizes
PnL against it.  A fill larger than the open quantity closes the position
and opens one on the other side with the remainder, at the fill price.

Fills of one position are applied one at a time, under a transaction-scoped
advisory lock on (owner, strategy, exchange, symbol).  So two engines that
fill into the same position cannot lose an update, even before a row exists
that they could lock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import asyncpg

from cryptobot.core.errors import NotFound, ValidationError
from cryptobot.core.ids import check_id, new_id
from cryptobot.core.orders import ZERO, Fill, price_of
from cryptobot.core.symbols import check_exchange, check_symbol, split_symbol
from cryptobot.storage.repositories.base import Filters, Page, Repository, record_to
from cryptobot.storage.values import check_choice

STATUSES = ("open", "closed")


@dataclass(frozen=True, slots=True)
class Position:
    """A position; money fields are in the symbol's quote currency.

    ``quantity`` is what is still open; ``closed_quantity``, ``closed_cost``
    (its entry value) and ``exit_price`` (average price of the closing
    fills) describe what was closed.  ``realized_pnl`` is before fees.
    """

    id: str
    owner_id: str | None
    strategy_id: str | None
    exchange: str
    symbol: str
    side: str
    quantity: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    fees: Decimal
    closed_quantity: Decimal
    closed_cost: Decimal
    exit_price: Decimal | None
    status: str
    opened_at: int
    closed_at: int | None
    updated_at: int
    entry_cost: Decimal = ZERO
    exit_value: Decimal = ZERO
    dust: Decimal = ZERO

    @property
    def realized_pnl_percent(self) -> Decimal | None:
        """Realized PnL as a percentage of the entry value of the closed quantity (None before any close)."""
        if not self.closed_cost:
            return None
        return self.realized_pnl / self.closed_cost * 100


def open_position(owner_id: str | None, strategy_id: str | None, exchange: str, symbol: str, side: str,
                  quantity: Decimal, price: Decimal, fee: Decimal, ts: int) -> Position:
    """Return a new open position (not yet stored) from its first fill."""
    return Position(new_id("position"), owner_id, strategy_id, exchange, symbol, side, quantity, price, ZERO, fee,
                    ZERO, ZERO, None, "open", ts, None, ts, entry_cost=price * quantity)


def apply_fill(position: Position, side: str, quantity: Decimal, price: Decimal, fee: Decimal,
               ts: int) -> tuple[Position, Position | None]:
    """Apply a fill to an open position.

    Returns the updated position and, when the fill was larger than the
    open quantity, the new position on the other side.  The fee is split
    between the two in proportion to quantity.
    """
    direction = "long" if side == "buy" else "short"
    if position.side == direction:
        total = position.quantity + quantity
        cost = position.entry_cost + price * quantity
        return replace(position, quantity=total, entry_price=price_of(cost, total), entry_cost=cost,
                       fees=position.fees + fee, updated_at=ts), None

    closing = min(quantity, position.quantity)
    per_unit = price - position.entry_price if position.side == "long" else position.entry_price - price
    closing_fee = fee if closing == quantity else fee * closing / quantity
    closed_quantity = position.closed_quantity + closing
    remaining = position.quantity - closing
    exit_value = position.exit_value + price * closing
    updated = replace(
        position,
        quantity=remaining,
        entry_cost=position.entry_price * remaining,
        realized_pnl=position.realized_pnl + per_unit * closing,
        fees=position.fees + closing_fee,
        closed_quantity=closed_quantity,
        closed_cost=position.closed_cost + position.entry_price * closing,
        exit_value=exit_value,
        exit_price=price_of(exit_value, closed_quantity),
        status="open" if remaining else "closed",
        closed_at=None if remaining else ts,
        updated_at=ts,
    )
    opened = None
    if quantity > closing:
        opened = open_position(position.owner_id, position.strategy_id, position.exchange, position.symbol, direction,
                               quantity - closing, price, fee - closing_fee, ts)
    return updated, opened


def fill_effect(fill: Fill) -> tuple[Decimal, Decimal]:
    """Return (quantity the position changes by, fee value in the quote currency) of a fill.

    A fee charged in the base asset is never held: it shrinks what a buy
    adds and grows what a sell removes, and is valued at the fill price.
    A fee in the quote currency counts as it is.

    NOTE: a fee in a third asset (an exchange token) is kept on the fill and
    the order only; valuing it would need a price the store does not have.
    """
    base, quote = split_symbol(fill.symbol)
    asset = fill.fee_asset.upper()
    if asset == base:
        quantity = fill.quantity - fill.fee if fill.side == "buy" else fill.quantity + fill.fee
        return quantity, fill.fee * fill.price
    return fill.quantity, fill.fee if asset == quote else ZERO


_INSERT = """INSERT INTO positions (id, owner_id, strategy_id, exchange, symbol, side, quantity, entry_price, realized_pnl, fees,
                                   closed_quantity, closed_cost, exit_price, status, opened_at, closed_at, updated_at,
                                   entry_cost, exit_value, dust)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"""

_UPDATE = """UPDATE positions SET quantity = $2, entry_price = $3, realized_pnl = $4, fees = $5, closed_quantity = $6,
                 closed_cost = $7, exit_price = $8, status = $9, closed_at = $10, updated_at = $11, entry_cost = $12,
                 exit_value = $13, dust = $14
             WHERE id = $1"""


async def apply_fill_in_transaction(conn: asyncpg.Connection, owner_id: str | None, fill: Fill) -> list[Position]:
    """Apply ``fill`` to its position inside the caller's transaction; return the positions written.

    The caller holds a transaction on ``conn``; the advisory lock taken here
    lasts until it ends.
    """
    lock_key = f"position|{owner_id or ''}|{fill.strategy_id or ''}|{fill.exchange}|{fill.symbol}"
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lock_key)
    row = await conn.fetchrow(
        """SELECT * FROM positions
           WHERE owner_id IS NOT DISTINCT FROM $1 AND strategy_id IS NOT DISTINCT FROM $2 AND exchange = $3 AND symbol = $4
             AND status = 'open' FOR UPDATE""",
        owner_id, fill.strategy_id, fill.exchange, fill.symbol,
    )
    quantity, fee = fill_effect(fill)
    if row is None:
        side = "long" if fill.side == "buy" else "short"
        created = open_position(owner_id, fill.strategy_id, fill.exchange, fill.symbol, side, quantity, fill.price,
                                fee, fill.ts_event)
        await _insert(conn, created)
        return [created]

    updated, opened = apply_fill(record_to(Position, row), fill.side, quantity, fill.price, fee, fill.ts_event)
    await conn.execute(_UPDATE, updated.id, updated.quantity, updated.entry_price, updated.realized_pnl, updated.fees,
                       updated.closed_quantity, updated.closed_cost, updated.exit_price, updated.status, updated.closed_at,
                       updated.updated_at, updated.entry_cost, updated.exit_value, updated.dust)
    if opened is None:
        return [updated]
    await _insert(conn, opened)
    return [updated, opened]


async def _insert(conn: asyncpg.Connection, p: Position) -> None:
    await conn.execute(_INSERT, p.id, p.owner_id, p.strategy_id, p.exchange, p.symbol, p.side, p.quantity, p.entry_price,
                       p.realized_pnl, p.fees, p.closed_quantity, p.closed_cost, p.exit_price, p.status, p.opened_at,
                       p.closed_at, p.updated_at, p.entry_cost, p.exit_value, p.dust)


class PositionRepository(Repository):
    """Read positions; they are written by :meth:`OrderRepository.record_fill`."""

    async def get(self, position_id: str, owner_id: str | None = None) -> Position:
        """Return position ``position_id``; with ``owner_id``, only if that user owns it (else NotFound)."""
        check_id(position_id, "position", "position_id")
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM positions WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)", position_id, owner_id
            )
        if row is None:
            raise NotFound(f"position {position_id} not found")
        return record_to(Position, row)

    async def get_open(self, exchange: str, symbol: str, *, strategy_id: str | None = None,
                       owner_id: str | None = None) -> Position | None:
        """Return the open position of exactly this owner and strategy (None meaning none) in ``symbol``, if any."""
        async with self._connection() as conn:
            row = await conn.fetchrow(
                """SELECT * FROM positions WHERE owner_id IS NOT DISTINCT FROM $1 AND strategy_id IS NOT DISTINCT FROM $2
                     AND exchange = $3 AND symbol = $4 AND status = 'open'""",
                owner_id, strategy_id, check_exchange(exchange), check_symbol(symbol),
            )
        return None if row is None else record_to(Position, row)

    async def list(self, *, owner_id: str | None = None, strategy_id: str | None = None, exchange: str | None = None,
                   symbol: str | None = None, status: str | None = "open", page: int = 1,
                   limit: int = 10) -> Page[Position]:
        """Return positions, most recently opened first; ``status`` open, closed, all or None (all)."""
        filters = Filters()
        filters.add_if("owner_id = {}", owner_id)
        filters.add_if("strategy_id = {}", strategy_id)
        filters.add_if("exchange = {}", None if exchange is None else check_exchange(exchange))
        filters.add_if("symbol = {}", None if symbol is None else check_symbol(symbol))
        if check_choice(status, "status", STATUSES + ("all",), optional=True) in STATUSES:
            filters.add("status = {}", status)
        async with self._connection() as conn:
            return await self._fetch_page(conn, "SELECT * FROM positions", filters, "opened_at DESC, id DESC", page, limit,
                                          lambda row: record_to(Position, row))

    async def write_off_dust(self, position_id: str, dust: Decimal) -> Position:
        """Close an open position whose remaining ``dust`` is too small to sell.

        The quantity moves to the ``dust`` column and the position closes at
        the current time, so nothing keeps trying to sell it.  The dust's
        entry value is booked as a realized loss: it stays in the account
        but leaves the position.

        Raises
        ------
        NotFound
            If the position is not open.
        ValidationError
            If ``dust`` is not the position's whole remaining quantity.
        """
        check_id(position_id, "position", "position_id")
        now = self._now()
        async with self._transaction() as conn:
            row = await conn.fetchrow("SELECT * FROM positions WHERE id = $1 AND status = 'open' FOR UPDATE", position_id)
            if row is None:
                raise NotFound(f"open position {position_id} not found")
            if row["quantity"] != dust:
                raise ValidationError(f"Cannot write off {dust} of position {position_id}: it holds {row['quantity']}",
                                      {"dust": "must equal the remaining quantity"})
            row = await conn.fetchrow(
                """UPDATE positions SET dust = quantity, quantity = 0, entry_cost = 0,
                       realized_pnl = realized_pnl - entry_price * quantity, status = 'closed', closed_at = $2,
                       updated_at = $2 WHERE id = $1 RETURNING *""", position_id, now)
        return record_to(Position, row)
