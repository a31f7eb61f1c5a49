"""Orders and trades of the Binance spot REST emulator, and their JSON shapes.

The shapes follow Binance's spot REST documentation: decimals as strings
with eight places, times in milliseconds, ``orderListId`` -1 outside OCO
lists.  Fills in a FULL order response carry ``tradeId`` as the current
documentation shows, so a client can match them with ``GET /api/v3/myTrades``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cryptobot.gateways.binance_rest_rules import ZERO, fmt

WITH_STOP = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


@dataclass(slots=True)
class VenueOrder:
    """One order at the emulated venue; ``working`` is False for a stop order not yet triggered."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    quantity: Decimal
    price: Decimal
    stop_price: Decimal
    time: int
    status: str = "NEW"
    executed: Decimal = ZERO
    cumulative_quote: Decimal = ZERO
    update_time: int = 0
    working: bool = True
    reserve_asset: str = ""
    reserved: Decimal = ZERO


@dataclass(slots=True)
class VenueTrade:
    """One execution of an emulated order."""

    trade_id: int
    order_id: int
    symbol: str
    price: Decimal
    quantity: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    buyer: bool
    maker: bool


def result_view(order: VenueOrder) -> dict:
    """Return the order fields of a RESULT response and of a cancel response."""
    view = {
        "symbol": order.symbol, "orderId": order.order_id, "orderListId": -1, "clientOrderId": order.client_order_id,
        "price": fmt(order.price), "origQty": fmt(order.quantity), "executedQty": fmt(order.executed),
        "cummulativeQuoteQty": fmt(order.cumulative_quote), "status": order.status,
        "timeInForce": order.time_in_force, "type": order.type, "side": order.side,
    }
    if order.type in WITH_STOP:
        view["stopPrice"] = fmt(order.stop_price)
    return view


def order_view(order: VenueOrder) -> dict:
    """Return an order as ``GET /api/v3/order`` and ``GET /api/v3/openOrders`` show it."""
    view = result_view(order)
    view.update({"stopPrice": fmt(order.stop_price), "icebergQty": fmt(ZERO), "time": order.time,
                 "updateTime": order.update_time, "isWorking": order.working, "origQuoteOrderQty": fmt(ZERO)})
    return view


def new_order_response(order: VenueOrder, fills: list[VenueTrade], response_type: str, now: int) -> dict:
    """Return the response to ``POST /api/v3/order`` in the ACK, RESULT or FULL shape."""
    response = {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
              "clientOrderId": order.client_order_id, "transactTime": now}
    if response_type == "ACK":
        return response
    response.update({k: v for k, v in result_view(order).items() if k not in response})
    if response_type == "FULL":
        response["fills"] = [{"price": fmt(t.price), "qty": fmt(t.quantity), "commission": fmt(t.commission),
                            "commissionAsset": t.commission_asset, "tradeId": t.trade_id} for t in fills]
    return response


def trade_view(trade: VenueTrade) -> dict:
    """Return a trade as ``GET /api/v3/myTrades`` shows it."""
    return {
        "symbol": trade.symbol, "id": trade.trade_id, "orderId": trade.order_id, "orderListId": -1,
        "price": fmt(trade.price), "qty": fmt(trade.quantity), "quoteQty": fmt(trade.price * trade.quantity),
        "commission": fmt(trade.commission), "commissionAsset": trade.commission_asset, "time": trade.time,
        "isBuyer": trade.buyer, "isMaker": trade.maker, "isBestMatch": True,
    }
