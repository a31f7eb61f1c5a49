"""Strategies: create, read, list with filters and pages, update, delete, start and stop."""

from __future__ import annotations

V1 = "/api/v1"

PARAMETERS = {"lookback_period": 20, "entry_threshold": 2.0, "exit_threshold": 0.5, "stop_loss": 2.0, "take_profit": 5.0}


def definition(**changes):
    body = {"name": "Mean Reversion", "description": "Mean reversion strategy for BTC/USDT", "exchange": "binance",
            "symbol": "BTC/USDT", "timeframe": "1h", "strategy_type": "mean_reversion", "parameters": dict(PARAMETERS)}
    body.update(changes)
    return body


async def call(engine, http, method, path, headers, body=None, params=None):
    async with http.request(method, f"{engine.url}{V1}{path}", headers=headers, json=body, params=params) as response:
        return response.status, await response.json()


async def create(engine, http, user, **changes):
    status, body = await call(engine, http, "POST", "/strategies", user.key(), definition(**changes))
    assert status == 201, body
    return body


async def test_create_strategy_fields(engine, http):
    user = await engine.new_user()
    body = await create(engine, http, user)
    assert body["id"].startswith("strategy_")
    assert body["status"] == "inactive"
    assert body["name"] == "Mean Reversion"
    assert body["description"] == "Mean reversion strategy for BTC/USDT"
    assert (body["exchange"], body["symbol"], body["timeframe"]) == ("binance", "BTC/USDT", "1h")
    # The given parameters, plus the type's defaults for those left out.
    assert body["parameters"] == {**PARAMETERS, "allow_short": False}
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")
    assert (body["capital_allocation"], body["max_positions"]) == (None, None)  # never started


async def test_create_strategy_bad_parameters(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/strategies", user.key(),
                              definition(parameters={"lookback_period": 1, "nonsense": 3}))
    assert status == 400
    assert set(body["error"]["details"]) == {"parameters.lookback_period", "parameters.nonsense"}


async def test_create_strategy_missing_fields(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/strategies", user.key(), {"name": "x"})
    assert status == 400
    assert body["error"]["details"] == {"exchange": "required", "symbol": "required", "timeframe": "required",
                                        "strategy_type": "required"}


async def test_get_strategy_detail(engine, http):
    user = await engine.new_user()
    created = await create(engine, http, user)
    status, body = await call(engine, http, "GET", f"/strategies/{created['id']}", user.key())
    assert status == 200
    assert body["parameters"] == created["parameters"]
    assert body["performance"] == {"total_return": None, "win_rate": None, "sharpe_ratio": None, "drawdown": None,
                                   "trades": 0, "winning_trades": 0, "losing_trades": 0}


async def test_get_other_users_strategy_not_found(engine, http):
    owner, other = await engine.new_user(), await engine.new_user()
    created = await create(engine, http, owner)
    status, body = await call(engine, http, "GET", f"/strategies/{created['id']}", other.key())
    assert status == 404
    assert body["error"]["code"] == "not_found"


async def test_admin_sees_other_users_strategy(engine, http, admin):
    owner = await engine.new_user()
    created = await create(engine, http, owner)
    status, body = await call(engine, http, "GET", f"/strategies/{created['id']}", admin)
    assert status == 200
    assert body["id"] == created["id"]


async def test_list_strategies_pages(engine, http):
    user = await engine.new_user()
    ids = [(await create(engine, http, user, name=f"s{i}"))["id"] for i in range(3)]
    status, first = await call(engine, http, "GET", "/strategies", user.key(), params={"page": "1", "limit": "2"})
    assert status == 200
    assert first["pagination"] == {"total": 3, "page": 1, "limit": 2, "pages": 2}
    assert [s["id"] for s in first["data"]] == [ids[2], ids[1]]
    _, second = await call(engine, http, "GET", "/strategies", user.key(), params={"page": "2", "limit": "2"})
    assert [s["id"] for s in second["data"]] == [ids[0]]
    assert set(first["data"][0]) >= {"id", "name", "description", "status", "exchange", "symbol", "timeframe",
                                     "created_at", "updated_at", "performance"}


async def test_list_strategies_filters(engine, http):
    user = await engine.new_user()
    await create(engine, http, user)
    await create(engine, http, user, exchange="kraken", symbol="BTC/USD")
    _, body = await call(engine, http, "GET", "/strategies", user.key(), params={"exchange": "kraken"})
    assert [s["exchange"] for s in body["data"]] == ["kraken"]
    _, body = await call(engine, http, "GET", "/strategies", user.key(), params={"status": "active"})
    assert body["data"] == []


async def test_list_strategies_bad_page(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "GET", "/strategies", user.key(),
                              params={"page": "0", "limit": "1000", "status": "sleeping"})
    assert status == 400
    assert set(body["error"]["details"]) == {"page", "limit", "status"}


async def test_update_strategy(engine, http):
    user = await engine.new_user()
    created = await create(engine, http, user)
    new_parameters = {"lookback_period": 30, "entry_threshold": 2.5, "exit_threshold": 0.7, "stop_loss": 2.5,
                      "take_profit": 6.0}
    status, body = await call(engine, http, "PUT", f"/strategies/{created['id']}", user.key(),
                              {"name": "Mean Reversion", "description": "Updated", "parameters": new_parameters})
    assert status == 200
    assert body["description"] == "Updated"
    assert body["parameters"] == {**new_parameters, "allow_short": False}
    assert body["updated_at"] >= created["updated_at"]


async def test_delete_strategy(engine, http):
    user = await engine.new_user()
    created = await create(engine, http, user)
    status, body = await call(engine, http, "DELETE", f"/strategies/{created['id']}", user.key())
    assert status == 200
    assert body == {"detail": "Strategy deleted successfully"}
    assert (await call(engine, http, "GET", f"/strategies/{created['id']}", user.key()))[0] == 404


async def test_start_stop_strategy(engine, http):
    user = await engine.new_user()
    created = await create(engine, http, user)
    status, started = await call(engine, http, "POST", f"/strategies/{created['id']}/start", user.key(),
                                 {"capital_allocation": 1000.0, "max_positions": 5})
    assert status == 200
    assert started["status"] == "active"
    assert started["capital_allocation"] == 1000.0
    assert started["max_positions"] == 5
    assert started["name"] == "Mean Reversion"
    assert await engine.run(lambda: engine.system.strategies.is_running(created["id"]))
    status, body = await call(engine, http, "POST", f"/strategies/{created['id']}/start", user.key(),
                              {"capital_allocation": 1000.0})
    assert status == 409
    status, body = await call(engine, http, "DELETE", f"/strategies/{created['id']}", user.key())
    assert status == 409
    status, stopped = await call(engine, http, "POST", f"/strategies/{created['id']}/stop", user.key(),
                                 {"close_positions": True})
    assert status == 200
    assert stopped == {"id": created["id"], "name": "Mean Reversion", "status": "inactive",
                       "stopped_at": stopped["stopped_at"], "positions_closed": True}
    assert not await engine.run(lambda: engine.system.strategies.is_running(created["id"]))
    _, detail = await call(engine, http, "GET", f"/strategies/{created['id']}", user.key())
    assert (detail["capital_allocation"], detail["max_positions"]) == (1000.0, 5)  # kept for the next start


async def test_start_unserved_market_conflict(engine, http):
    user = await engine.new_user()
    created = await create(engine, http, user, exchange="kraken", symbol="ETH/USD")
    status, body = await call(engine, http, "POST", f"/strategies/{created['id']}/start", user.key(),
                              {"capital_allocation": 100})
    assert status == 409
    assert body["error"]["details"] == {"symbol": "ETH/USD", "exchange": "kraken"}


async def test_update_active_strategy_parameters_conflict(engine, http):
    user = await engine.new_user()
    created = await create(engine, http, user)
    await call(engine, http, "POST", f"/strategies/{created['id']}/start", user.key(), {"capital_allocation": 500})
    try:
        status, body = await call(engine, http, "PUT", f"/strategies/{created['id']}", user.key(),
                                  {"parameters": {"lookback_period": 40}})
        assert status == 409
        status, body = await call(engine, http, "PUT", f"/strategies/{created['id']}", user.key(), {"name": "Renamed"})
        assert status == 200
        assert body["name"] == "Renamed"
    finally:
        await call(engine, http, "POST", f"/strategies/{created['id']}/stop", user.key(), {})


async def test_strategy_actions_audited(engine, http):
    user = await engine.new_user()
    created = await create(engine, http, user)
    await call(engine, http, "POST", f"/strategies/{created['id']}/start", user.key(), {"capital_allocation": 100})
    await call(engine, http, "POST", f"/strategies/{created['id']}/stop", user.key(), {})
    entries = await engine.run(lambda: engine.system.db.audit.list(target_id=created["id"]))
    actions = [e.action for e in reversed(entries.items)]
    assert actions == ["strategy.create", "strategy.start", "strategy.stop"]
    assert entries.items[0].actor_type == "api_key"
    assert entries.items[0].actor_id == user.key_id
