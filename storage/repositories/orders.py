"""Orders and their fills.

:meth:`OrderRepository.insert` is idempotent on (owner, exchange,
client_order_id).  Status changes and fills lock the order row
(``SELECT ... FOR UPDATE``) and run the state machine of
:class:`cryptobot.core.orders.Order` on the locked copy, so two fills of one
order arriving at once are applied one after the other.  A fill, its order
update and its position update commit together or not at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

import asyncpg

from cryptobot.core.errors import Conflict, NotFound, ValidationError
from cryptobot.core.ids import check_id
from cryptobot.core.orders import ORDER_TYPES, TIME_IN_FORCE, Fill, Order, OrderStatus
from cryptobot.core.symbols import check_exchange, check_symbol
from cryptobot.storage.repositories.base import Filters, Page, Repository
from cryptobot.storage.repositories.positions import Position, apply_fill_in_transaction
from cryptobot.storage.values import check_bool, check_choice, check_decimal, check_json_object, check_text

SIDES = ("buy", "sell")
OPEN_STATUSES = ("new", "open", "partially_filled")
_ORDER_COLUMNS = [f.name for f in fields(Order)]
_CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# Fields that must match when a client_order_id is submitted again.
_IDENTITY = ("strategy_id", "symbol", "side", "type", "quantity", "price", "stop_price")


@dataclass(frozen=True, slots=True)
class FillResult:
    """The rows :meth:`OrderRepository.record_fill` wrote.

    ``duplicate`` is True when the fill id was recorded before; then
    nothing changed and ``positions`` is empty.
    """

    order: Order
    fill: Fill
    positions: list[Position]
    duplicate: bool


def _order(record: asyncpg.Record) -> Order:
    values = {name: record[name] for name in _ORDER_COLUMNS if name != "order_id"}
    values["order_id"] = record["id"]
    values["status"] = OrderStatus(record["status"])
    return Order(**values)


def _fill(record: asyncpg.Record) -> Fill:
    return Fill(fill_id=record["id"], **{f.name: record[f.name] for f in fields(Fill) if f.name != "fill_id"})


def check_order(order: Order) -> Order:
    """Return a normalized copy of ``order``; raise ValidationError naming the first bad field."""
    if not isinstance(order, Order):
        raise ValidationError(f"'order' must be an Order, was {type(order).__name__}", {"order": "expected an Order"})
    order = replace(order, tags=dict(order.tags) if isinstance(order.tags, dict) else order.tags)

    check_id(order.order_id, "order", "order_id")
    check_text(order.client_order_id, "client_order_id", max_length=64, pattern=_CLIENT_ORDER_ID,
               hint="1 to 64 letters, digits or _ . : -")
    if order.strategy_id is not None:
        check_id(order.strategy_id, "strategy", "strategy_id")
    if order.owner_id is not None:
        check_id(order.owner_id, "user", "owner_id")
    order.exchange = check_exchange(order.exchange)
    order.symbol = check_symbol(order.symbol)
    check_choice(order.side, "side", SIDES)
    check_choice(order.type, "type", ORDER_TYPES)
    check_choice(order.time_in_force, "time_in_force", TIME_IN_FORCE)
    check_bool(order.post_only, "post_only")
    check_bool(order.reduce_only, "reduce_only")

    order.quantity = check_decimal(order.quantity, "quantity", positive=True)
    order.price = check_decimal(order.price, "price", positive=True, optional=True)
    order.stop_price = check_decimal(order.stop_price, "stop_price", positive=True, optional=True)
    if order.type in ("limit", "stop_limit") and order.price is None:
        raise ValidationError(f"'price' is required for a {order.type} order", {"price": "required"})
    if order.type in ("stop", "stop_limit") and order.stop_price is None:
        raise ValidationError(f"'stop_price' is required for a {order.type} order", {"stop_price": "required"})

    order.filled = check_decimal(order.filled, "filled", non_negative=True)
    if order.filled > order.quantity:
        raise ValidationError(f"'filled' must be <= quantity {order.quantity}, was {order.filled}", {"filled": "exceeds quantity"})
    order.fee = check_decimal(order.fee, "fee")
    order.average_price = check_decimal(order.average_price, "average_price", positive=True, optional=True)
    check_json_object(order.tags, "tags")

    if not isinstance(order.status, OrderStatus):
        order.status = OrderStatus(check_choice(order.status, "status", [s.value for s in OrderStatus]))
    return order


def check_fill(fill: Fill) -> Fill:
    """Return a normalized copy of ``fill``; raise ValidationError naming the first bad field."""
    if not isinstance(fill, Fill):
        raise ValidationError(f"'fill' must be a Fill, was {type(fill).__name__}", {"fill": "expected a Fill"})
    fill = replace(fill)
    check_id(fill.fill_id, "fill", "fill_id")
    check_id(fill.order_id, "order", "order_id")
    fill.price = check_decimal(fill.price, "price", positive=True)
    fill.quantity = check_decimal(fill.quantity, "quantity", positive=True)
    fill.fee = check_decimal(fill.fee, "fee")
    check_text(fill.fee_asset, "fee_asset", max_length=20, pattern=re.compile(r"[A-Za-z0-9]{1,20}"), hint="an asset code")
    check_choice(fill.liquidity, "liquidity", ("maker", "taker"))
    if isinstance(fill.ts_event, bool) or not isinstance(fill.ts_event, int):
        raise ValidationError(f"'ts_event' must be int nanoseconds, was {fill.ts_event!r}", {"ts_event": "expected an integer"})
    return fill


class OrderRepository(Repository):
    """Store orders, apply their state changes and fills."""

    async def insert(self, order: Order) -> tuple[Order, bool]:
        """Store a new order; return (stored order, True), or (existing order, False) for a repeated client_order_id.

        ``created_at`` and ``updated_at`` of 0 are set to the clock's time.

        Raises
        ------
        Conflict
            If the client_order_id was used before for a different order, or
            the order_id exists already.
        """
        order = check_order(order)
        now = self._now()
        order.created_at = order.created_at or now
        order.updated_at = order.updated_at or order.created_at
        columns = ["id" if name == "order_id" else name for name in _ORDER_COLUMNS]
        values = [order.status.value if name == "status" else getattr(order, name) for name in _ORDER_COLUMNS]
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        async with self._transaction() as conn:
            try:
                row = await conn.fetchrow(
                    f"""INSERT INTO orders ({', '.join(columns)}) VALUES ({placeholders})
                        ON CONFLICT (owner_id, exchange, client_order_id) DO NOTHING RETURNING *""",
                    *values,
                )
            except asyncpg.UniqueViolationError:
                raise Conflict(f"Cannot store order {order.order_id}: an order with this id exists", {"order_id": "duplicate"}) from None
            except asyncpg.ForeignKeyViolationError as exc:
                raise NotFound(f"Cannot store order {order.order_id}: {exc.detail or exc}") from None
            if row is not None:
                return _order(row), True
            existing = await conn.fetchrow(
                "SELECT * FROM orders WHERE owner_id IS NOT DISTINCT FROM $1 AND exchange = $2 AND client_order_id = $3",
                order.owner_id, order.exchange, order.client_order_id,
            )
        stored = _order(existing)
        different = [name for name in _IDENTITY if getattr(stored, name) != getattr(order, name)]
        if different:
            raise Conflict(
                f"Cannot submit order: client_order_id {order.client_order_id!r} was already used for order "
                f"{stored.order_id} with a different {different[0]}",
                {"client_order_id": "already used for a different order"},
            )
        return stored, False

    async def get(self, order_id: str, owner_id: str | None = None) -> Order:
        """Return order ``order_id``; with ``owner_id``, only if that user owns it (else NotFound)."""
        check_id(order_id, "order", "order_id")
        async with self._connection() as conn:
            row = await conn.fetchrow("SELECT * FROM orders WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)", order_id, owner_id)
        if row is None:
            raise NotFound(f"order {order_id} not found")
        return _order(row)

    async def get_by_client_order_id(self, exchange: str, client_order_id: str, owner_id: str | None = None) -> Order:
        """Return the order of ``owner_id`` (None: the engine's own) with this client_order_id on ``exchange``."""
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM orders WHERE owner_id IS NOT DISTINCT FROM $1 AND exchange = $2 AND client_order_id = $3",
                owner_id, check_exchange(exchange), client_order_id,
            )
        if row is None:
            raise NotFound(f"order with client_order_id {client_order_id!r} on {exchange} not found")
        return _order(row)

    async def get_by_exchange_order_id(self, exchange: str, exchange_order_id: str) -> Order:
        """Return the order whose id at ``exchange`` is ``exchange_order_id``."""
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM orders WHERE exchange = $1 AND exchange_order_id = $2", check_exchange(exchange), exchange_order_id
            )
        if row is None:
            raise NotFound(f"order {exchange_order_id!r} on {exchange} not found")
        return _order(row)

    async def list_open(self, *, owner_id: str | None = None, exchange: str | None = None, symbol: str | None = None,
                        strategy_id: str | None = None, page: int = 1, limit: int = 10) -> Page[Order]:
        """Return orders that are new, open or partially filled, newest first."""
        filters = self._filters(owner_id, exchange, symbol, strategy_id)
        filters.add("status = ANY({}::text[])", list(OPEN_STATUSES))
        async with self._connection() as conn:
            return await self._fetch_page(conn, "SELECT * FROM orders", filters, "created_at DESC, id DESC", page, limit, _order)

    async def list_history(self, *, owner_id: str | None = None, exchange: str | None = None, symbol: str | None = None,
                           strategy_id: str | None = None, status: str | None = None, start: int | None = None,
                           end: int | None = None, page: int = 1, limit: int = 10) -> Page[Order]:
        """Return orders of any status created in [start, end), newest first."""
        filters = self._filters(owner_id, exchange, symbol, strategy_id)
        filters.add_if("status = {}", check_choice(status, "status", [s.value for s in OrderStatus], optional=True))
        filters.add_if("created_at >= {}", start)
        filters.add_if("created_at < {}", end)
        async with self._connection() as conn:
            return await self._fetch_page(conn, "SELECT * FROM orders", filters, "created_at DESC, id DESC", page, limit, _order)

    async def counts(self, *, owner_id: str | None = None, start: int | None = None, end: int | None = None) -> dict[str, int]:
        """Return the number of orders created in [start, end) per status (every status present, zeros included)."""
        filters = Filters()
        filters.add_if("owner_id = {}", owner_id)
        filters.add_if("created_at >= {}", start)
        filters.add_if("created_at < {}", end)
        async with self._connection() as conn:
            rows = await conn.fetch(f"SELECT status, count(*) AS n FROM orders {filters.where} GROUP BY status", *filters.args)
        counts = dict.fromkeys((s.value for s in OrderStatus), 0)
        counts.update({row["status"]: row["n"] for row in rows})
        return counts

    @staticmethod
    def _filters(owner_id: str | None, exchange: str | None, symbol: str | None, strategy_id: str | None) -> Filters:
        filters = Filters()
        filters.add_if("owner_id = {}", owner_id)
        filters.add_if("exchange = {}", None if exchange is None else check_exchange(exchange))
        filters.add_if("symbol = {}", None if symbol is None else check_symbol(symbol))
        filters.add_if("strategy_id = {}", strategy_id)
        return filters

    async def transition(self, order_id: str, trigger: str, *, exchange_order_id: str | None = None,
                         reject_reason: str | None = None) -> Order:
        """Apply ``trigger`` (accept, reject, cancel, expire) to the order's state machine and store the result.

        Raises
        ------
        IllegalTransition
            If the order's status does not accept ``trigger``; nothing is written.
        """
        check_id(order_id, "order", "order_id")
        check_choice(trigger, "trigger", ("accept", "reject", "cancel", "expire"))
        check_text(exchange_order_id, "exchange_order_id", max_length=128, optional=True)
        check_text(reject_reason, "reject_reason", max_length=500, optional=True)
        now = self._now()
        async with self._transaction() as conn:
            order = await self._lock(conn, order_id)
            order.transition(trigger, now)
            row = await conn.fetchrow(
                """UPDATE orders SET status = $2, updated_at = $3, exchange_order_id = coalesce($4, exchange_order_id),
                       reject_reason = coalesce($5, reject_reason)
                   WHERE id = $1 RETURNING *""",
                order_id, order.status.value, now, exchange_order_id, reject_reason,
            )
        return _order(row)

    async def record_fill(self, fill: Fill) -> FillResult:
        """Store ``fill``, apply it to its order and to the owner's position, all in one transaction.

        A fill id seen before is not applied again (exchanges repeat fill
        reports after reconnects).  The fill's strategy, exchange, symbol
        and side are taken from the order when absent and must match it.

        Raises
        ------
        NotFound
            If the order does not exist.
        ValidationError
            If the fill does not match its order or exceeds its remaining quantity.
        IllegalTransition
            If the order is already terminal.
        """
        fill = check_fill(fill)
        async with self._transaction() as conn:
            order = await self._lock(conn, fill.order_id)
            existing = await conn.fetchrow("SELECT * FROM fills WHERE id = $1", fill.fill_id)
            if existing is not None:
                if existing["order_id"] != fill.order_id:
                    raise Conflict(f"Cannot record fill {fill.fill_id}: it was recorded for order {existing['order_id']}")
                return FillResult(order, _fill(existing), [], True)

            fill = _complete_from_order(fill, order)
            try:
                order.apply_fill(fill.quantity, fill.price, fill.fee, fill.ts_event)
            except ValueError as exc:
                raise ValidationError(f"Cannot apply fill {fill.fill_id}: {exc}", {"quantity": "exceeds the remaining quantity"}) from None
            await conn.execute(
                """INSERT INTO fills (id, order_id, strategy_id, exchange, symbol, side, price, quantity, fee, fee_asset,
                                      liquidity, ts_event, recorded_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
                fill.fill_id, fill.order_id, fill.strategy_id, fill.exchange, fill.symbol, fill.side, fill.price,
                fill.quantity, fill.fee, fill.fee_asset, fill.liquidity, fill.ts_event, self._now(),
            )
            row = await conn.fetchrow(
                """UPDATE orders SET status = $2, filled = $3, average_price = $4, fee = $5, updated_at = $6, filled_value = $7
                   WHERE id = $1 RETURNING *""",
                order.order_id, order.status.value, order.filled, order.average_price, order.fee, order.updated_at,
                order.filled_value,
            )
            positions = await apply_fill_in_transaction(conn, order.owner_id, fill)
        return FillResult(_order(row), fill, positions, False)

    async def list_fills(self, *, order_id: str | None = None, strategy_id: str | None = None, start: int | None = None,
                         end: int | None = None, page: int = 1, limit: int = 100) -> Page[Fill]:
        """Return fills in event-time order, by order or strategy, with ts_event in [start, end)."""
        filters = Filters()
        filters.add_if("order_id = {}", order_id)
        filters.add_if("strategy_id = {}", strategy_id)
        filters.add_if("ts_event >= {}", start)
        filters.add_if("ts_event < {}", end)
        async with self._connection() as conn:
            return await self._fetch_page(conn, "SELECT * FROM fills", filters, "ts_event, id", page, limit, _fill)

    @staticmethod
    async def _lock(conn: asyncpg.Connection, order_id: str) -> Order:
        row = await conn.fetchrow("SELECT * FROM orders WHERE id = $1 FOR UPDATE", order_id)
        if row is None:
            raise NotFound(f"order {order_id} not found")
        return _order(row)


def _complete_from_order(fill: Fill, order: Order) -> Fill:
    given: dict[str, Any] = {"strategy_id": fill.strategy_id, "exchange": fill.exchange, "symbol": fill.symbol, "side": fill.side}
    for name, value in given.items():
        expected = getattr(order, name)
        if value in (None, ""):
            setattr(fill, name, expected)
        elif value != expected:
            raise ValidationError(
                f"Cannot apply fill {fill.fill_id}: its {name} {value!r} differs from order {order.order_id}'s {expected!r}",
                {name: "differs from the order"},
            )
    return fill

