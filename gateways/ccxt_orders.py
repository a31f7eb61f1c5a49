"""Translate an engine :class:`Order` into the arguments of ccxt's ``create_order``.

Type mapping (Binance names in brackets):

========== =========================== ===================================
engine     spot                        USD-M futures
========== =========================== ===================================
market     market (MARKET)             market (MARKET)
limit      limit (LIMIT, or LIMIT_MAKER limit (LIMIT, post-only as GTX)
           when post-only)
stop       market + triggerPrice       market + triggerPrice (STOP_MARKET)
           (STOP_LOSS)
stop_limit limit + triggerPrice        limit + triggerPrice (STOP)
           (STOP_LOSS_LIMIT)
========== =========================== ===================================

Quantities and prices are sent as the plain decimal strings of the risk
manager's rounded values.  ccxt passes them through its own precision
rounding, which silently truncates an off-grid price.  So for the Binance
family the exact strings are also set as the ``quantity`` and ``price``
request parameters, which take precedence over ccxt's values, and an
off-grid value is rejected by the exchange instead of changed.
Reduce-only is sent on futures only: Binance spot has no such parameter,
and the risk manager already limits a reduce-only order to the position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cryptobot.core.errors import OrderRejected
from cryptobot.core.instruments import Instrument, plain
from cryptobot.core.orders import ORDER_TYPES, TIME_IN_FORCE, Order
from cryptobot.gateways.ccxt_markets import BINANCE_FAMILY

# Binance accepts client order ids of 1 to 36 letters, digits, '-' and '_'.
BINANCE_CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """The arguments of one ``create_order`` call."""

    symbol: str
    type: str
    side: str
    amount: str
    price: str | None
    client_order_id: str
    params: dict[str, Any] = field(default_factory=dict)


def _rejection(message: str, reason: str = "invalid_order") -> OrderRejected:
    return OrderRejected(f"Cannot send order: {message}", reason)


def order_request(order: Order, instrument: Instrument | None, ccxt_symbol: str | None, exchange: str,
                  contract: bool = False) -> OrderRequest:
    """Check ``order`` and build its ``create_order`` arguments.

    Raises
    ------
    OrderRejected
        For an order the exchange cannot take as given (unknown symbol,
        missing price, post-only with a time in force other than GTC, a
        client order id the exchange does not accept...).
    """
    if instrument is None or ccxt_symbol is None:
        raise _rejection(f"{order.symbol} is not a {exchange} instrument", "unknown_symbol")
    if order.side not in ("buy", "sell"):
        raise _rejection(f"'side' must be buy or sell, was {order.side!r}")
    if order.type not in ORDER_TYPES:
        raise _rejection(f"'type' must be one of {', '.join(ORDER_TYPES)}, was {order.type!r}")
    if order.time_in_force not in TIME_IN_FORCE:
        raise _rejection(f"'time_in_force' must be one of {', '.join(TIME_IN_FORCE)}, was {order.time_in_force!r}")
    if order.quantity <= 0:
        raise _rejection(f"'quantity' must be > 0, was {plain(order.quantity)}")
    limit = order.type in ("limit", "stop_limit")
    if limit and (order.price is None or order.price <= 0):
        raise _rejection(f"a {order.type} order needs a price > 0, was {order.price}")
    if order.type in ("stop", "stop_limit") and (order.stop_price is None or order.stop_price <= 0):
        raise _rejection(f"a {order.type} order needs a stop price > 0, was {order.stop_price}")
    if order.post_only and (order.type != "limit" or order.time_in_force != "GTC"):
        raise _rejection("a post-only order must be a GTC limit order, because it rests on the book")

    client_order_id = order.client_order_id or order.order_id
    binance = exchange in BINANCE_FAMILY
    if binance and not BINANCE_CLIENT_ID.match(client_order_id):
        raise _rejection(f"client order id {client_order_id!r} must be 1 to 36 letters, digits, '-' or '_' on {exchange}")

    amount = plain(order.quantity)
    price = plain(order.price) if limit and order.price is not None else None
    params: dict[str, Any] = {"clientOrderId": client_order_id}
    if limit and not order.post_only:
        params["timeInForce"] = order.time_in_force
    if order.post_only:
        params["postOnly"] = True
    if order.stop_price is not None and order.type in ("stop", "stop_limit"):
        params["triggerPrice"] = plain(order.stop_price)
    if order.reduce_only and contract:
        params["reduceOnly"] = True
    if binance:
        params["quantity"] = amount
        if price is not None:
            params["price"] = price
    ccxt_type = "limit" if limit else "market"
    return OrderRequest(ccxt_symbol, ccxt_type, order.side, amount, price, client_order_id, params)
