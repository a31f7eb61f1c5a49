"""``/portfolio``: the account's value and assets, open positions, and closing a position.

The portfolio actor handles these queries inside its mailbox, so the
figures of one reply are consistent with each other.  ``/portfolio``
describes the engine's trading account, which every user with the read
permission may see; positions belong to users and each user sees only
their own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from cryptobot.api import views
from cryptobot.api.responses import json_response
from cryptobot.api.state import audit, principal_of, state_of
from cryptobot.api.validation import Problems, paginate, pagination, query_text
from cryptobot.core import topics
from cryptobot.core.actor import ask
from cryptobot.core.errors import Conflict, NotFound, OrderRejected
from cryptobot.core.ids import check_id
from cryptobot.core.messages import ClosePosition
from cryptobot.core.symbols import check_exchange, check_symbol

CLOSE_TIMEOUT = 5.0


def _portfolio_actor(request: web.Request) -> Any:
    return state_of(request).system.engine.ref("portfolio")


async def get_portfolio(request: web.Request) -> web.Response:
    """GET /portfolio: total value, assets valued in the base currency, and the change over each period."""
    ref = _portfolio_actor(request)
    summary = await ask(ref, "portfolio")
    # performance() reads the equity history from the store and only reads the actor's state.
    # It runs on the actor's own event loop, so calling it from here is safe.
    performance = await ref._cell.actor.performance()
    assets = [{"asset": row["asset"], "free": row["free"], "used": row["used"], "total": row["total"],
               "value_usd": row["value"]} for row in summary["assets"]]
    return json_response({"total_value": summary["total_value"], "base_currency": summary["base_currency"],
                          "last_updated": views.iso(summary["last_updated"]), "assets": assets,
                          "performance": performance})


async def list_positions(request: web.Request) -> web.Response:
    """GET /portfolio/positions: the caller's open positions, marked to the book's mid price."""
    problems = Problems()
    strategy_id = query_text(request, "strategy_id", problems, lambda v: check_id(v, "strategy", "strategy_id"))
    exchange = query_text(request, "exchange", problems, check_exchange)
    symbol = query_text(request, "symbol", problems, check_symbol)
    page, limit = pagination(request, problems)
    problems.raise_if_any()
    rows = await ask(_portfolio_actor(request), "positions", owner_id=principal_of(request).owner_filter)
    rows = [r for r in rows if (strategy_id is None or r["strategy_id"] == strategy_id)
            and (exchange is None or r["exchange"] == exchange) and (symbol is None or r["symbol"] == symbol)]
    rows.sort(key=lambda r: (r["opened_at"], r["position_id"]), reverse=True)
    return json_response(paginate([views.position(r) for r in rows], page, limit))


async def close_position(request: web.Request) -> web.Response:
    """POST /portfolio/positions/{position_id}/close: close with a reduce-only market order; wait for the fill.

    Responds 202 with status ``closing`` when the fill has not arrived within
    a few seconds.
    """
    position_id = check_id(request.match_info["position_id"], "position", "position_id")
    state, principal = state_of(request), principal_of(request)
    ref = _portfolio_actor(request)
    row = await ask(ref, "position", position_id=position_id)
    if principal.owner_filter is not None and row.get("owner_id") != principal.user_id:
        raise NotFound(f"position {position_id} not found")
    if not row["quantity"]:
        raise Conflict(f"Cannot close position {position_id}: it is closed", {"status": "closed"})
    principal.require_exchange(row["exchange"])

    loop = asyncio.get_running_loop()
    outcome: asyncio.Future = loop.create_future()

    def on_update(update: Any) -> None:
        if update.position_id == position_id and (update.closed_at is not None or not update.quantity) and not outcome.done():
            outcome.set_result(update)

    def on_rejection(rejection: Any) -> None:
        if not outcome.done():
            outcome.set_exception(OrderRejected(f"Cannot close position {position_id}: {rejection.message}",
                                                rejection.reason, {"reason": rejection.reason}))

    unsubscribe = state.system.engine.bus.subscribe(topics.ALL_POSITIONS, on_update)
    try:
        ref.tell(ClosePosition(position_id=position_id, reason="manual", reply_to=on_rejection))
        await audit(request, "position.close", "position", position_id, {"symbol": row["symbol"]})
        await asyncio.wait_for(asyncio.shield(outcome), CLOSE_TIMEOUT)
    except asyncio.TimeoutError:
        return json_response({"position_id": position_id, "status": "closing", "close_price": None, "realized_pnl": None,
                              "realized_pnl_percent": None, "closed_at": None}, status=202)
    finally:
        unsubscribe()
    stored = await state.db.positions.get(position_id)
    return json_response({"position_id": position_id, "status": stored.status, "close_price": stored.exit_price,
                          "realized_pnl": stored.realized_pnl, "realized_pnl_percent": stored.realized_pnl_percent,
                          "closed_at": views.iso(stored.closed_at)})
