from decimal import Decimal

import pytest

from cryptobot.core.errors import IllegalTransition
from cryptobot.core.orders import Order, OrderStatus, next_status


def make_order(quantity="1.0"):
    return Order(order_id="order_x", client_order_id="c1", strategy_id=None, exchange="binance",
                 symbol="BTC/USDT", side="buy", type="limit", quantity=Decimal(quantity), price=Decimal("100"))


def test_order_lifecycle_new_open_partial_filled():
    order = make_order("1.0")
    order.transition("accept", 1)
    order.apply_fill(Decimal("0.4"), Decimal("100"), Decimal("0.04"), 2)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    order.apply_fill(Decimal("0.6"), Decimal("101"), Decimal("0.06"), 3)
    assert order.status is OrderStatus.FILLED
    # (0.4*100 + 0.6*101) / 1.0 = 100.6
    assert order.average_price == Decimal("100.6")
    assert order.remaining == 0
    assert order.fee == Decimal("0.10")


def test_fill_on_terminal_order_is_illegal():
    order = make_order()
    order.transition("cancel", 1)
    with pytest.raises(IllegalTransition, match="CANCELED -> PARTIAL_FILL"):
        order.apply_fill(Decimal("0.1"), Decimal("100"), Decimal(0), 2)


def test_overfill_is_rejected_and_order_unchanged():
    order = make_order("1.0")
    with pytest.raises(ValueError, match="exceeds the remaining 1.0"):
        order.apply_fill(Decimal("1.5"), Decimal("100"), Decimal(0), 2)
    assert order.filled == 0
    assert order.status is OrderStatus.NEW


@pytest.mark.parametrize("state", [OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED])
@pytest.mark.parametrize("trigger", ["accept", "reject", "partial_fill", "fill", "cancel", "expire"])
def test_terminal_states_accept_no_trigger(state, trigger):
    assert state.is_terminal
    with pytest.raises(IllegalTransition):
        next_status(state, trigger)


def test_open_order_cannot_be_accepted_twice():
    with pytest.raises(IllegalTransition, match="OPEN -> ACCEPT"):
        next_status(OrderStatus.OPEN, "accept")


def test_snapshot_copies_every_field_and_is_independent():
    from dataclasses import fields

    order = make_order("2")
    order.tags = {"reason": "entry"}
    order.apply_fill(Decimal("0.5"), Decimal("100"), Decimal("0.1"), 7)
    copy = order.snapshot()
    assert all(getattr(copy, f.name) == getattr(order, f.name) for f in fields(order))
    copy.tags["reason"] = "changed"
    order.apply_fill(Decimal("0.5"), Decimal("100"), Decimal("0.1"), 8)
    assert (copy.filled, order.tags["reason"]) == (Decimal("0.5"), "entry")
