"""``/strategies``: define, change, delete, start and stop strategies.

A user sees and changes only their own strategies; another user's id
gets 404 as if it did not exist.  An admin sees every strategy.
"""

from __future__ import annotations

from aiohttp import web

from cryptobot.api import views
from cryptobot.api.responses import json_response
from cryptobot.api.state import audit, principal_of, state_of
from cryptobot.api.validation import (Problems, body_bool, body_choice, body_int, body_number, body_text, pagination,
                                      pagination_block, query_choice, query_text, read_json_object)
from cryptobot.core.errors import Conflict, ValidationError
from cryptobot.core.ids import check_id
from cryptobot.core.symbols import check_exchange, check_symbol
from cryptobot.storage.repositories.strategies import TIMEFRAMES

_CREATE_FIELDS = ("name", "description", "exchange", "symbol", "timeframe", "strategy_type", "parameters")
_MARKET_FIELDS = ("exchange", "symbol", "timeframe", "strategy_type")


def _strategy_id(request: web.Request) -> str:
    return check_id(request.match_info["strategy_id"], "strategy", "strategy_id")


async def list_strategies(request: web.Request) -> web.Response:
    """GET /strategies: the caller's strategies, newest first, filtered by status and exchange."""
    problems = Problems()
    status = query_choice(request, "status", problems, ("active", "inactive", "all"), "all")
    exchange = query_text(request, "exchange", problems, check_exchange)
    symbol = query_text(request, "symbol", problems, check_symbol)
    page, limit = pagination(request, problems)
    problems.raise_if_any()
    result = await state_of(request).db.strategies.list(owner_id=principal_of(request).owner_filter, status=status,
                                                        exchange=exchange, symbol=symbol, page=page, limit=limit)
    return json_response({"data": [views.strategy(s, parameters=False, figures="summary") for s in result.items],
                          "pagination": pagination_block(result.total, page, limit)})


async def get_strategy(request: web.Request) -> web.Response:
    """GET /strategies/{strategy_id}: one strategy with its parameters and performance."""
    record = await state_of(request).db.strategies.get(_strategy_id(request), principal_of(request).owner_filter)
    return json_response(views.strategy(record, parameters=True, figures="detailed"))


def validated_parameters(system: object, strategy_type: str, raw: object, base: dict | None = None) -> dict:
    """Return the full parameters of ``strategy_type``; raise ValidationError naming ``parameters.<name>`` fields."""
    try:
        return system.strategies.validate(strategy_type, raw if raw is not None else {}, base)
    except ValidationError as exc:
        details = {k if k in ("strategy_type", "parameters") else f"parameters.{k}": v for k, v in exc.details.items()}
        raise ValidationError(exc.message, details) from None


def _market_fields(body: dict, problems: Problems, required: bool) -> dict:
    fields = {}
    for name, check in (("exchange", check_exchange), ("symbol", check_symbol)):
        if name in body or required:
            raw = body.get(name)
            fields[name] = problems.check(name, lambda raw=raw, check=check: check(raw))
    if "timeframe" in body or required:
        fields["timeframe"] = body_choice(body, "timeframe", problems, TIMEFRAMES)
    if "strategy_type" in body or required:
        fields["strategy_type"] = body_text(body, "strategy_type", problems, max_length=64)
    return fields


async def create_strategy(request: web.Request) -> web.Response:
    """POST /strategies: a new inactive strategy; parameters are checked against the strategy type."""
    body = await read_json_object(request, _CREATE_FIELDS, ("name", "exchange", "symbol", "timeframe", "strategy_type"))
    state, principal = state_of(request), principal_of(request)
    problems = Problems()
    name = body_text(body, "name", problems, max_length=200)
    description = body_text(body, "description", problems, max_length=2000, min_length=0, default="")
    market = _market_fields(body, problems, required=True)
    problems.raise_if_any()
    parameters = validated_parameters(state.system, market["strategy_type"], body.get("parameters"))
    principal.require_exchange(market["exchange"])
    record = await state.db.strategies.create(name=name, description=description or "", parameters=parameters,
                                              owner_id=principal.user_id, **market)
    await audit(request, "strategy.create", "strategy", record.id, {"name": record.name, **market})
    return json_response(views.strategy(record, parameters=True, figures=None), status=201)


async def update_strategy(request: web.Request) -> web.Response:
    """PUT /strategies/{strategy_id}: change the name, description, parameters or (when inactive) the market."""
    body = await read_json_object(request, _CREATE_FIELDS)
    state, principal = state_of(request), principal_of(request)
    strategy_id = _strategy_id(request)
    current = await state.db.strategies.get(strategy_id, principal.owner_filter)
    problems = Problems()
    changes: dict = {}
    if "name" in body:
        changes["name"] = body_text(body, "name", problems, max_length=200)
    if "description" in body:
        changes["description"] = body_text(body, "description", problems, max_length=2000, min_length=0) or ""
    changes.update(_market_fields(body, problems, required=False))
    problems.raise_if_any()
    if current.status == "active" and ("parameters" in body or any(f in body for f in _MARKET_FIELDS)):
        raise Conflict(f"Cannot change the parameters or market of strategy {strategy_id}: it is active; stop it first",
                       {"status": "active"})
    strategy_type = changes.get("strategy_type", current.strategy_type)
    if "parameters" in body or "strategy_type" in changes:
        raw = body.get("parameters") if "parameters" in body else current.parameters
        changes["parameters"] = validated_parameters(state.system, strategy_type, raw)
    principal.require_exchange(changes.get("exchange", current.exchange))
    record = await state.db.strategies.update(strategy_id, owner_id=principal.owner_filter,
                                              expected_version=current.version, **changes)
    await audit(request, "strategy.update", "strategy", strategy_id, {"fields": sorted(body)})
    return json_response(views.strategy(record, parameters=True, figures=None))


async def delete_strategy(request: web.Request) -> web.Response:
    """DELETE /strategies/{strategy_id}: remove an inactive strategy (its orders and backtests stay)."""
    state, principal = state_of(request), principal_of(request)
    strategy_id = _strategy_id(request)
    record = await state.db.strategies.get(strategy_id, principal.owner_filter)
    principal.require_exchange(record.exchange)
    await state.db.strategies.delete(strategy_id, principal.owner_filter)
    await audit(request, "strategy.delete", "strategy", strategy_id, {"name": record.name})
    return json_response({"detail": "Strategy deleted successfully"})


async def start_strategy(request: web.Request) -> web.Response:
    """POST /strategies/{strategy_id}/start: run the strategy with a capital allocation and position limit."""
    body = await read_json_object(request, ("capital_allocation", "max_positions"), ("capital_allocation",))
    problems = Problems()
    capital = body_number(body, "capital_allocation", problems, positive=True)
    max_positions = body_int(body, "max_positions", problems, minimum=1, maximum=10_000, default=1)
    problems.raise_if_any()
    state, principal = state_of(request), principal_of(request)
    strategy_id = _strategy_id(request)
    current = await state.db.strategies.get(strategy_id, principal.owner_filter)
    principal.require_exchange(current.exchange)
    record = await state.system.strategies.start(strategy_id, capital, max_positions, principal.owner_filter)
    await audit(request, "strategy.start", "strategy", strategy_id,
                {"capital_allocation": str(capital), "max_positions": max_positions})
    return json_response({"id": record.id, "name": record.name, "status": record.status,
                          "started_at": views.iso(record.started_at), "capital_allocation": record.capital_allocation,
                          "max_positions": record.max_positions})


async def stop_strategy(request: web.Request) -> web.Response:
    """POST /strategies/{strategy_id}/stop: stop the strategy, closing its positions when asked."""
    body = await read_json_object(request, ("close_positions",), empty_ok=True)
    problems = Problems()
    close_positions = body_bool(body, "close_positions", problems, False)
    problems.raise_if_any()
    state, principal = state_of(request), principal_of(request)
    strategy_id = _strategy_id(request)
    current = await state.db.strategies.get(strategy_id, principal.owner_filter)
    principal.require_exchange(current.exchange)
    record, closed = await state.system.strategies.stop(strategy_id, close_positions, principal.owner_filter)
    await audit(request, "strategy.stop", "strategy", strategy_id, {"close_positions": close_positions})
    return json_response({"id": record.id, "name": record.name, "status": record.status,
                          "stopped_at": views.iso(record.stopped_at), "positions_closed": closed})
