"""Open orders as the risk manager counts them, with running totals.

Exposure checks run on every intent, so they must not walk every open
order: this keeps, per strategy, the notional of open orders that carry a
price, the open quantity of those that do not (market and stop orders,
valued at the current mid when asked), and the open quantity per market
and side.  Each add, change and removal updates the totals in O(1).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

from cryptobot.core.orders import Order

ZERO = Decimal(0)


class OpenOrders:
    """The orders the risk manager approved that have not ended yet."""

    def __init__(self) -> None:
        # What was counted for each order, kept apart from the Order object,
        # which the execution actor goes on changing.
        self._orders: dict[str, tuple] = {}
        self._priced: dict[str | None, Decimal] = {}
        self._unpriced: dict[tuple, Decimal] = {}
        self._side: dict[tuple, Decimal] = {}

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: str) -> bool:
        return order_id in self._orders

    def ids(self) -> list[str]:
        return list(self._orders)

    def put(self, order: Order) -> None:
        """Add ``order`` or replace the copy kept of it (its remaining quantity may have changed)."""
        old = self._orders.get(order.order_id)
        if old is not None:
            self._count(old, -1)
        counted = (order.strategy_id, order.exchange, order.symbol, order.side, order.remaining, order.price,
                   order.reduce_only)
        self._orders[order.order_id] = counted
        self._count(counted, 1)

    def remove(self, order_id: str) -> None:
        old = self._orders.pop(order_id, None)
        if old is not None:
            self._count(old, -1)

    def _count(self, counted: tuple, sign: int) -> None:
        strategy_id, exchange, symbol, side, remaining, price, reduce_only = counted
        remaining *= sign
        side_key = (strategy_id, exchange, symbol, side)
        self._side[side_key] = self._side.get(side_key, ZERO) + remaining
        if reduce_only:
            return
        if price is not None:
            self._priced[strategy_id] = self._priced.get(strategy_id, ZERO) + remaining * price
        else:
            key = (strategy_id, exchange, symbol)
            self._unpriced[key] = self._unpriced.get(key, ZERO) + remaining

    def pending(self, strategy_id: str | None, exchange: str, symbol: str, side: str) -> Decimal:
        """Open quantity of one strategy's orders on one market and side (negative for sells)."""
        quantity = self._side.get((strategy_id, exchange, symbol, side), ZERO)
        return quantity if side == "buy" else -quantity

    def notional(self, strategy_id: str | None, mid: Callable[[tuple[str, str]], Decimal | None]) -> Decimal:
        """Value of one strategy's open orders that add exposure: limit price, or ``mid(market)`` for orders without one."""
        total = self._priced.get(strategy_id, ZERO)
        for (owner, exchange, symbol), quantity in self._unpriced.items():
            if owner == strategy_id and quantity:
                total += quantity * (mid((exchange, symbol)) or ZERO)
        return total
