"""``/trade``: submit and cancel orders, look them up, list open orders and history.

Orders go through the engine's risk manager like a strategy's.  An order
the risk manager or the exchange rejects gets 400 ``order_rejected``
with the reason.  A user sees only their own orders.
"""

from __future__ import annotations

from aiohttp import web

from cryptobot.api import views
from cryptobot.api.responses import json_response
from cryptobot.api.state import audit, principal_of, state_of
from cryptobot.api.validation import (Problems, body_choice, body_number, pagination, pagination_block,
                                      query_choice, query_text, query_time, read_json_object)
from cryptobot.core.errors import Conflict, OrderRejected, PermissionDenied, ValidationError
from cryptobot.core.ids import check_id
from cryptobot.core.messages import OrderIntent
from cryptobot.core.orders import ORDER_TYPES, TIME_IN_FORCE, OrderStatus
from cryptobot.core.symbols import check_exchange, check_symbol

SIDES = ("buy", "sell")
_ORDER_FIELDS = ("exchange", "symbol", "side", "type", "quantity", "price", "stop_price", "time_in_force", "strategy_id")


def _order_id(request: web.Request) -> str:
    return check_id(request.match_info["order_id"], "order", "order_id")


def _order_body(body: dict, problems: Problems) -> dict:
    values = {
        "exchange": problems.check("exchange", lambda: check_exchange(body.get("exchange"))),
        "symbol": problems.check("symbol", lambda: check_symbol(body.get("symbol"))),
        "side": body_choice(body, "side", problems, SIDES),
        "type": body_choice(body, "type", problems, ORDER_TYPES),
        "quantity": body_number(body, "quantity", problems, positive=True),
        "price": body_number(body, "price", problems, positive=True, default=None),
        "stop_price": body_number(body, "stop_price", problems, positive=True, default=None),
        "time_in_force": body_choice(body, "time_in_force", problems, TIME_IN_FORCE, default="GTC"),
    }
    order_type = values["type"]
    if order_type in ("limit", "stop_limit") and values["price"] is None and "price" not in problems.details:
        problems.add("price", "required for a limit order", f"'price' is required for a {order_type} order")
    if order_type in ("market", "stop") and values["price"] is not None:
        problems.add("price", f"not allowed for a {order_type} order", f"'price' is not allowed for a {order_type} order")
    if order_type in ("stop", "stop_limit") and values["stop_price"] is None and "stop_price" not in problems.details:
        problems.add("stop_price", "required for a stop order", f"'stop_price' is required for a {order_type} order")
    if order_type in ("market", "limit") and values["stop_price"] is not None:
        problems.add("stop_price", f"not allowed for a {order_type} order")
    strategy_id = body.get("strategy_id")
    if strategy_id is not None:
        values["strategy_id"] = problems.check("strategy_id", lambda: check_id(strategy_id, "strategy", "strategy_id"))
    return values


async def execute_order(request: web.Request) -> web.Response:
    """POST /trade/execute: submit an order; respond with its state once accepted or filled."""
    body = await read_json_object(request, _ORDER_FIELDS, ("exchange", "symbol", "side", "type", "quantity"))
    problems = Problems()
    values = _order_body(body, problems)
    problems.raise_if_any()
    state, principal = state_of(request), principal_of(request)
    system = state.system
    principal.require_exchange(values["exchange"])
    if principal.is_test and system.settings.engine_mode == "live":
        raise PermissionDenied(f"Cannot trade live with test API key {principal.key_id}: test keys trade only on paper",
                               {"X-API-Key": "test key on a live engine"})
    if values["exchange"] != system.exchange or values["symbol"] not in system.symbols:
        served = ", ".join(system.symbols)
        raise ValidationError(f"Cannot trade {values['symbol']} on {values['exchange']}: this engine trades {served} on "
                              f"{system.exchange}", {"symbol": "market not traded by this engine"})
    strategy_id = values.get("strategy_id")
    if strategy_id is not None:
        await state.db.strategies.get(strategy_id, principal.owner_filter)
    intent = OrderIntent(
        client_order_id=system.orders.new_client_order_id(), strategy_id=strategy_id,
        exchange=values["exchange"], symbol=values["symbol"], side=values["side"], type=values["type"],
        quantity=values["quantity"], price=values["price"], stop_price=values["stop_price"],
        time_in_force=values["time_in_force"], reason="manual", owner_id=principal.user_id,
    )
    details = {"client_order_id": intent.client_order_id, "symbol": intent.symbol, "side": intent.side,
               "type": intent.type, "quantity": str(intent.quantity), "price": None if intent.price is None else str(intent.price)}
    try:
        order = await system.orders.submit(intent)
    except OrderRejected as exc:
        await audit(request, "order.rejected", "order", None, {**details, "reason": exc.reason})
        raise
    await audit(request, "order.submit", "order", order.order_id, {**details, "status": order.status.value})
    if order.status is OrderStatus.REJECTED:
        raise OrderRejected(f"The exchange rejected order {order.order_id}: {order.reject_reason or 'no reason given'}",
                            order.reject_reason or "rejected", {"order_id": order.order_id, "reason": order.reject_reason})
    return json_response(views.order(order), status=201)


async def get_order(request: web.Request) -> web.Response:
    """GET /trade/order/{order_id}: an order's current state."""
    order = await state_of(request).db.orders.get(_order_id(request), principal_of(request).owner_filter)
    return json_response(views.order(order))


async def cancel_order(request: web.Request) -> web.Response:
    """DELETE /trade/order/{order_id}: cancel an open order (202 when the exchange has not confirmed yet)."""
    state, principal = state_of(request), principal_of(request)
    order = await state.db.orders.get(_order_id(request), principal.owner_filter)
    principal.require_exchange(order.exchange)
    if order.status.is_terminal:
        raise Conflict(f"Cannot cancel order {order.order_id}: it is {order.status.value}", {"status": order.status.value})
    result = await state.system.orders.cancel(order)
    await audit(request, "order.cancel", "order", order.order_id, {"status": result.status.value})
    if result.status is OrderStatus.CANCELED:
        return json_response({"order_id": result.order_id, "status": "canceled", "canceled_at": views.iso(result.updated_at)})
    if result.status.is_terminal:
        raise Conflict(f"Cannot cancel order {order.order_id}: it is {result.status.value}", {"status": result.status.value})
    return json_response({"order_id": result.order_id, "status": result.status.value, "canceled_at": None}, status=202)


def _list_filters(request: web.Request, problems: Problems) -> dict:
    strategy_id = query_text(request, "strategy_id", problems, lambda v: check_id(v, "strategy", "strategy_id"))
    return {"exchange": query_text(request, "exchange", problems, check_exchange),
            "symbol": query_text(request, "symbol", problems, check_symbol), "strategy_id": strategy_id}


async def list_open_orders(request: web.Request) -> web.Response:
    """GET /trade/orders/open: orders that are new, open or partially filled, newest first."""
    problems = Problems()
    filters = _list_filters(request, problems)
    page, limit = pagination(request, problems)
    problems.raise_if_any()
    result = await state_of(request).db.orders.list_open(owner_id=principal_of(request).owner_filter, page=page,
                                                         limit=limit, **filters)
    return json_response({"data": [views.order(o) for o in result.items],
                          "pagination": pagination_block(result.total, page, limit)})


async def list_order_history(request: web.Request) -> web.Response:
    """GET /trade/orders/history: orders of any status created in [start, end), newest first."""
    problems = Problems()
    filters = _list_filters(request, problems)
    start, end = query_time(request, "start", problems), query_time(request, "end", problems)
    status = query_choice(request, "status", problems, tuple(s.value for s in OrderStatus))
    page, limit = pagination(request, problems)
    problems.raise_if_any()
    if start is not None and end is not None and end <= start:
        raise ValidationError("'end' must be after 'start'", {"end": "must be after start"})
    result = await state_of(request).db.orders.list_history(owner_id=principal_of(request).owner_filter, start=start,
                                                            end=end, status=status, page=page, limit=limit, **filters)
    return json_response({"data": [views.order(o) for o in result.items],
                          "pagination": pagination_block(result.total, page, limit)})
