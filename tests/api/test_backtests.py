"""Backtests: run (through the engine's backtest service), status, results and cancellation."""

from __future__ import annotations

import asyncio


from cryptobot.core.clock import iso_to_ns

V1 = "/api/v1"
START, END = "2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z"
RESULTS = {
    "final_capital": 11550.0, "total_return": 15.5, "annualized_return": 15.5, "sharpe_ratio": 1.2, "sortino_ratio": 1.8,
    "max_drawdown": 5.0, "win_rate": 65.0, "profit_factor": 1.8, "trades": 100, "winning_trades": 65, "losing_trades": 35,
    "average_win": 2.5, "average_loss": 1.2, "largest_win": 8.0, "largest_loss": 2.0,
    "equity_curve": [{"timestamp": "2024-01-01T00:00:00Z", "equity": 10000.0},
                     {"timestamp": "2024-12-31T23:59:59Z", "equity": 11550.0}],
    "monthly_returns": [{"month": "2024-01", "return": 2.5}],
    "trades_list": [{"id": "trade_01", "symbol": "BTC/USDT", "side": "buy", "entry_price": 50000.0, "exit_price": 52500.0,
                     "entry_time": "2024-01-05T10:00:00Z", "exit_time": "2024-01-07T14:00:00Z", "quantity": 0.1,
                     "profit_loss": 250.0, "profit_loss_percent": 5.0, "exit_reason": "take_profit"}],
}


async def call(engine, http, method, path, headers, body=None):
    async with http.request(method, f"{engine.url}{V1}{path}", headers=headers, json=body) as response:
        return response.status, await response.json()


async def strategy_of(engine, user):
    return await engine.run(lambda: engine.system.db.strategies.create(
        name="bt", exchange="binance", symbol="BTC/USDT", timeframe="1h", strategy_type="mean_reversion", owner_id=user.id))


async def stored_backtest(engine, user, status="created"):
    """A backtest written straight to the store, moved to ``status``."""
    strategy = await strategy_of(engine, user)

    async def create():
        repo = engine.system.db.backtests
        record = await repo.create(strategy.id, start_date=iso_to_ns(START), end_date=iso_to_ns(END),
                                   initial_capital=10000, owner_id=user.id)
        if status in ("running", "completed"):
            record = await repo.start(record.id)
        if status == "completed":
            record = await repo.complete(record.id, RESULTS)
        return record

    return await engine.run(create)


async def test_run_without_service_unavailable(engine, http):
    user = await engine.new_user()
    strategy = await strategy_of(engine, user)
    service = engine.system.backtests
    # An engine without its backtest service (it failed to start, or is shutting down).
    engine.system.backtests = None
    try:
        status, body = await call(engine, http, "POST", "/backtest", user.key(),
                                  {"strategy_id": strategy.id, "start_date": START, "end_date": END,
                                   "initial_capital": 10000.0})
    finally:
        engine.system.backtests = service
    assert status == 503
    assert body["error"]["code"] == "service_unavailable"
    assert body["error"]["details"] == {"service": "backtest service unavailable"}


async def test_run_backtest(engine, http, sample_data):
    from cryptobot.storage.importers import import_file

    # Recorded spot trades of 2024-08-08 23:54 to 23:59, imported into the engine's tick store.
    path = sample_data / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    await engine.run(lambda: asyncio.to_thread(import_file, engine.system.ticks, path, "binance", "BTC/USDT", "trades"))
    start, end = "2024-08-08T23:50:00Z", "2024-08-09T00:00:00Z"
    user = await engine.new_user()
    strategy = await strategy_of(engine, user)
    status, body = await call(engine, http, "POST", "/backtest", user.key(),
                              {"strategy_id": strategy.id, "start_date": start, "end_date": end, "initial_capital": 10000.0,
                               "parameters": {"lookback_period": 20}})
    assert status == 201, body
    assert body["strategy_id"] == strategy.id
    assert body["start_date"] == start
    assert body["end_date"] == end
    assert body["initial_capital"] == 10000.0
    assert body["status"] in ("created", "running", "completed")


async def test_run_validation(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/backtest", user.key(),
                              {"strategy_id": "nope", "start_date": END, "end_date": START, "initial_capital": -1})
    assert status == 400
    assert set(body["error"]["details"]) == {"strategy_id", "initial_capital", "end_date"}


async def test_backtest_status(engine, http):
    user = await engine.new_user()
    record = await stored_backtest(engine, user, "running")
    status, body = await call(engine, http, "GET", f"/backtest/{record.id}", user.key())
    assert status == 200
    assert body["backtest_id"] == record.id
    assert body["strategy_id"] == record.strategy_id
    assert body["status"] == "running"
    assert (body["start_date"], body["end_date"]) == (START, END)
    assert body["initial_capital"] == 10000.0
    assert body["progress"] == 0
    assert body["completion_time"] is None


async def test_backtest_results(engine, http):
    user = await engine.new_user()
    record = await stored_backtest(engine, user, "completed")
    status, body = await call(engine, http, "GET", f"/backtest/{record.id}/results", user.key())
    assert status == 200
    assert body["status"] == "completed"
    for name, value in RESULTS.items():
        assert body[name] == value, name
    _, progress = await call(engine, http, "GET", f"/backtest/{record.id}", user.key())
    assert progress["progress"] == 100
    assert progress["completion_time"].endswith("Z")


async def test_results_of_running_conflict(engine, http):
    user = await engine.new_user()
    record = await stored_backtest(engine, user, "running")
    status, body = await call(engine, http, "GET", f"/backtest/{record.id}/results", user.key())
    assert status == 409
    assert body["error"]["details"] == {"status": "running"}


async def test_cancel_backtest(engine, http):
    user = await engine.new_user()
    record = await stored_backtest(engine, user, "running")
    status, body = await call(engine, http, "DELETE", f"/backtest/{record.id}", user.key())
    assert status == 200
    assert body == {"detail": "Backtest cancelled successfully"}
    _, after = await call(engine, http, "GET", f"/backtest/{record.id}", user.key())
    assert after["status"] == "cancelled"
    status, _ = await call(engine, http, "DELETE", f"/backtest/{record.id}", user.key())
    assert status == 409


async def test_other_users_backtest_not_found(engine, http):
    owner, other = await engine.new_user(), await engine.new_user()
    record = await stored_backtest(engine, owner)
    assert (await call(engine, http, "GET", f"/backtest/{record.id}", other.key()))[0] == 404
    assert (await call(engine, http, "DELETE", f"/backtest/{record.id}", other.key()))[0] == 404


async def test_read_key_cannot_cancel(engine, http):
    user = await engine.new_user(permissions=("read",))
    record = await stored_backtest(engine, user)
    assert (await call(engine, http, "DELETE", f"/backtest/{record.id}", user.key()))[0] == 403
