"""``/backtest``: run, follow, read and cancel backtests.

Running needs the engine's backtest service (``system.backtests``); an
engine without one responds 503.  Status, results and cancellation read and
write the stored backtest, so they work either way.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cryptobot.api import views
from cryptobot.api.handlers.strategies import validated_parameters
from cryptobot.api.responses import json_response
from cryptobot.api.state import audit, principal_of, state_of
from cryptobot.api.validation import Problems, body_number, read_json_object
from cryptobot.core.clock import iso_to_ns
from cryptobot.core.errors import ServiceUnavailable
from cryptobot.core.ids import check_id

RESULT_FIELDS = (
    "final_capital", "total_return", "annualized_return", "sharpe_ratio", "sortino_ratio", "max_drawdown", "win_rate",
    "profit_factor", "trades", "winning_trades", "losing_trades", "average_win", "average_loss", "largest_win",
    "largest_loss", "equity_curve", "monthly_returns", "trades_list",
)


def _backtest_id(request: web.Request) -> str:
    return check_id(request.match_info["backtest_id"], "backtest", "backtest_id")


def _header(record: Any) -> dict[str, Any]:
    return {"backtest_id": record.id, "strategy_id": record.strategy_id, "status": record.status,
            "start_date": views.iso(record.start_date), "end_date": views.iso(record.end_date),
            "initial_capital": record.initial_capital}


def _service(request: web.Request) -> Any:
    return getattr(state_of(request).system, "backtests", None)


async def run_backtest(request: web.Request) -> web.Response:
    """POST /backtest: queue a backtest of a strategy over a time range."""
    body = await read_json_object(request, ("strategy_id", "start_date", "end_date", "initial_capital", "parameters"),
                                  ("strategy_id", "start_date", "end_date", "initial_capital"))
    problems = Problems()
    strategy_id = problems.check("strategy_id", lambda: check_id(body["strategy_id"], "strategy", "strategy_id"))
    start_ns = problems.check("start_date", lambda: iso_to_ns(body["start_date"], "start_date"))
    end_ns = problems.check("end_date", lambda: iso_to_ns(body["end_date"], "end_date"))
    capital = body_number(body, "initial_capital", problems, positive=True)
    if start_ns is not None and end_ns is not None and end_ns <= start_ns:
        problems.add("end_date", "must be after start_date", "'end_date' must be after 'start_date'")
    problems.raise_if_any()
    service = _service(request)
    if service is None:
        raise ServiceUnavailable("Cannot run backtests: this engine runs no backtest service",
                                 {"service": "backtest service unavailable"})
    state, principal = state_of(request), principal_of(request)
    strategy = await state.db.strategies.get(strategy_id, principal.owner_filter)
    parameters = validated_parameters(state.system, strategy.strategy_type, body.get("parameters"), strategy.parameters)
    record = await service.submit(strategy, start_ns, end_ns, capital, parameters, principal.user_id)
    await audit(request, "backtest.run", "backtest", record.id, {"strategy_id": strategy_id})
    view = _header(record)
    view["estimated_completion_time"] = views.iso(record.estimated_completion_at)
    return json_response(view, status=201)


async def get_backtest(request: web.Request) -> web.Response:
    """GET /backtest/{backtest_id}: status and progress."""
    record = await state_of(request).db.backtests.get(_backtest_id(request), principal_of(request).owner_filter)
    view = _header(record)
    view.update(completion_time=views.iso(record.completed_at), progress=record.progress,
                estimated_completion_time=views.iso(record.estimated_completion_at), error=record.error,
                created_at=views.iso(record.created_at))
    return json_response(view)


async def get_results(request: web.Request) -> web.Response:
    """GET /backtest/{backtest_id}/results: the figures, equity curve, monthly returns and trades of a completed run."""
    backtest_id = _backtest_id(request)
    db, owner = state_of(request).db, principal_of(request).owner_filter
    record = await db.backtests.get(backtest_id, owner)
    results = await db.backtests.get_results(backtest_id, owner)
    view = _header(record)
    for name in RESULT_FIELDS:
        view[name] = results.get(name, [] if name in ("equity_curve", "monthly_returns", "trades_list") else None)
    return json_response(view)


async def cancel_backtest(request: web.Request) -> web.Response:
    """DELETE /backtest/{backtest_id}: cancel a backtest that has not finished."""
    backtest_id = _backtest_id(request)
    state, principal = state_of(request), principal_of(request)
    await state.db.backtests.get(backtest_id, principal.owner_filter)
    service = _service(request)
    if service is not None:
        await service.cancel(backtest_id, principal.owner_filter)
    else:
        await state.db.backtests.cancel(backtest_id, principal.owner_filter)
    await audit(request, "backtest.cancel", "backtest", backtest_id)
    return json_response({"detail": "Backtest cancelled successfully"})

