"""Orders, fills and the order state machine.

Quantities, prices and fees are ``Decimal``: they are sent to exchanges as
plain decimal strings and booked in the ledger, where float rounding would
turn into rejected orders and cents that do not add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from enum import Enum

from cryptobot.core.errors import IllegalTransition

ZERO = Decimal(0)

ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
PRICE_SCALE = Decimal("1e-12")


def price_of(value: Decimal, quantity: Decimal) -> Decimal:
    """Return ``value / quantity`` rounded to 1e-12 (a unit price from an exact total)."""
    with localcontext() as context:
        context.prec = 60
        return (value / quantity).quantize(PRICE_SCALE).normalize()


def average_price(price_a: Decimal, quantity_a: Decimal, price_b: Decimal, quantity_b: Decimal) -> Decimal:
    """Return the quantity-weighted average of two prices, rounded to 1e-12.

    Exchange prices have at most 8 decimals, so 12 keep every average
    exact to far below a cent.  Rounding there, after a 60-digit division,
    also makes the result independent of the order in which fills are
    averaged: the residue a 28-digit context leaves in the last digit
    (1e-25) never reaches the 12th decimal.
    """
    with localcontext() as context:
        context.prec = 60
        average = (price_a * quantity_a + price_b * quantity_b) / (quantity_a + quantity_b)
        return average.quantize(PRICE_SCALE).normalize() if average else average
TIME_IN_FORCE = ("GTC", "IOC", "FOK")


class OrderStatus(str, Enum):
    """Where an order is in its life; the last four are terminal."""

    NEW = "new"  # accepted by us, not yet acknowledged by the exchange
    OPEN = "open"  # resting at the exchange, nothing filled
    PARTIALLY_FILLED = "partially_filled"  # resting, part filled
    FILLED = "filled"  # terminal: fully filled
    CANCELED = "canceled"  # terminal: canceled, possibly after partial fills
    REJECTED = "rejected"  # terminal: refused by risk or by the exchange
    EXPIRED = "expired"  # terminal: IOC/FOK remainder or exchange expiry

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})

# Trigger -> {from state: to state}.  Anything missing is an illegal move.
_TRANSITIONS: dict[str, dict[OrderStatus, OrderStatus]] = {
    "accept": {OrderStatus.NEW: OrderStatus.OPEN},
    "reject": {OrderStatus.NEW: OrderStatus.REJECTED},
    "partial_fill": {
        OrderStatus.NEW: OrderStatus.PARTIALLY_FILLED,
        OrderStatus.OPEN: OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PARTIALLY_FILLED: OrderStatus.PARTIALLY_FILLED,
    },
    "fill": {
        OrderStatus.NEW: OrderStatus.FILLED,
        OrderStatus.OPEN: OrderStatus.FILLED,
        OrderStatus.PARTIALLY_FILLED: OrderStatus.FILLED,
    },
    "cancel": {
        OrderStatus.NEW: OrderStatus.CANCELED,
        OrderStatus.OPEN: OrderStatus.CANCELED,
        OrderStatus.PARTIALLY_FILLED: OrderStatus.CANCELED,
    },
    "expire": {
        OrderStatus.NEW: OrderStatus.EXPIRED,
        OrderStatus.OPEN: OrderStatus.EXPIRED,
        OrderStatus.PARTIALLY_FILLED: OrderStatus.EXPIRED,
    },
}


def next_status(state: OrderStatus, trigger: str) -> OrderStatus:
    """Return the state after ``trigger``; raise IllegalTransition (``STATE -> TRIGGER``) if not allowed."""
    target = _TRANSITIONS.get(trigger, {}).get(state)
    if target is None:
        raise IllegalTransition(state.value.upper(), trigger.upper())
    return target


@dataclass(slots=True)
class Order:
    """An order from intent to terminal state.

    ``price`` is the limit price (None for market and stop orders),
    ``stop_price`` the trigger of stop and stop-limit orders.
    ``client_order_id`` makes submission idempotent: the same id twice is one
    order.  ``filled_value`` is the exact sum of price times quantity of the
    fills; ``average_price`` derives from it.
    """

    order_id: str
    client_order_id: str
    strategy_id: str | None
    exchange: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str = "GTC"
    post_only: bool = False
    reduce_only: bool = False
    status: OrderStatus = OrderStatus.NEW
    filled: Decimal = ZERO
    average_price: Decimal | None = None
    fee: Decimal = ZERO
    filled_value: Decimal = ZERO
    exchange_order_id: str | None = None
    reject_reason: str | None = None
    created_at: int = 0
    updated_at: int = 0
    owner_id: str | None = None
    tags: dict = field(default_factory=dict)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    def snapshot(self) -> "Order":
        """Return a copy to hand to other actors (``tags`` copied too); cheaper than ``copy.copy``."""
        return Order(self.order_id, self.client_order_id, self.strategy_id, self.exchange, self.symbol, self.side,
                     self.type, self.quantity, self.price, self.stop_price, self.time_in_force, self.post_only,
                     self.reduce_only, self.status, self.filled, self.average_price, self.fee, self.filled_value,
                     self.exchange_order_id, self.reject_reason, self.created_at, self.updated_at, self.owner_id,
                     dict(self.tags))

    def transition(self, trigger: str, ts_ns: int) -> None:
        """Move to the state ``trigger`` leads to; raise IllegalTransition otherwise."""
        self.status = next_status(self.status, trigger)
        self.updated_at = ts_ns

    def apply_fill(self, quantity: Decimal, price: Decimal, fee: Decimal, ts_ns: int) -> None:
        """Add a fill: update filled, average price, fee and state.

        Raises
        ------
        ValueError
            If the fill is not positive or exceeds the remaining quantity.
        IllegalTransition
            If the order is already terminal.
        """
        if quantity <= 0:
            raise ValueError(f"fill quantity must be > 0, was {quantity}")
        if quantity > self.remaining:
            raise ValueError(f"fill quantity {quantity} exceeds the remaining {self.remaining} of {self.order_id}")
        trigger = "fill" if quantity == self.remaining else "partial_fill"
        new_status = next_status(self.status, trigger)
        self.filled_value += price * quantity
        self.filled += quantity
        self.average_price = price_of(self.filled_value, self.filled)
        self.fee += fee
        self.status = new_status
        self.updated_at = ts_ns


@dataclass(slots=True)
class Fill:
    """One execution of an order.  ``liquidity`` is ``maker`` or ``taker``."""

    fill_id: str
    order_id: str
    strategy_id: str | None
    exchange: str
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: str
    ts_event: int
