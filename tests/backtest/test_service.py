"""Backtest jobs on a real PostgreSQL and ClickHouse, run in worker processes."""

import asyncio
import dataclasses

import pytest

from cryptobot.actors.backtest.service import RESTART_REASON, BacktestService
from cryptobot.core.clock import LiveClock, iso_to_ns
from cryptobot.core.errors import ValidationError
from cryptobot.storage.importers.loader import import_file

START = iso_to_ns("2020-02-22T00:00:00Z")
END = iso_to_ns("2020-02-22T03:00:00Z")
STRATEGY_PARAMETERS = {"lookback_period": 5, "entry_threshold": 1.2, "exit_threshold": 0.2, "stop_loss": 0.05,
                       "take_profit": 0.1}
API_FIELDS = ("backtest_id", "strategy_id", "status", "start_date", "end_date", "initial_capital", "final_capital",
              "total_return", "annualized_return", "sharpe_ratio", "sortino_ratio", "max_drawdown", "win_rate",
              "profit_factor", "trades", "winning_trades", "losing_trades", "average_win", "average_loss",
              "largest_win", "largest_loss", "equity_curve", "monthly_returns", "trades_list")
TRADE_FIELDS = ("id", "symbol", "side", "entry_price", "exit_price", "entry_time", "exit_time", "quantity",
                "profit_loss", "profit_loss_percent", "exit_reason")


@pytest.fixture
def store_clock():
    """Real time, so started_at and completed_at show the order in which jobs ran."""
    return LiveClock()


@pytest.fixture
def trades_store(ch_store, sample_data):
    import_file(ch_store, sample_data / "nautilus_trader" / "tardis" / "trades.csv", "binance", "BTC/USDT", "trades")
    return ch_store


@pytest.fixture
async def strategy(db):
    return await db.strategies.create(name="MR", exchange="binance", symbol="BTC/USDT", timeframe="1m",
                                      strategy_type="mean_reversion", parameters=STRATEGY_PARAMETERS)


@pytest.fixture
async def service_factory(db, trades_store, store_settings):
    services = []

    async def make(workers=2):
        settings = dataclasses.replace(store_settings, backtest_workers=workers)
        service = BacktestService(settings, db, trades_store)
        await service.start()
        services.append(service)
        return service

    yield make
    for service in services:
        await service.stop()


async def wait_for(db, backtest_id, statuses=("completed", "failed", "cancelled"), timeout=60.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        record = await db.backtests.get(backtest_id)
        if record.status in statuses:
            return record
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"backtest {backtest_id} still {record.status} after {timeout} s")
        await asyncio.sleep(0.05)


async def test_service_completes_with_every_api_field(db, service_factory, strategy):
    service = await service_factory()
    record = await service.submit(strategy, START, END, 10_000, {}, None)
    assert record.status == "created"
    assert record.estimated_completion_at > record.created_at
    done = await wait_for(db, record.id)
    assert done.status == "completed", done.error
    results = await db.backtests.get_results(record.id)
    assert [name for name in API_FIELDS if name not in results] == []
    assert results["trades"] == len(results["trades_list"]) > 0
    assert [name for name in TRADE_FIELDS if name not in results["trades_list"][0]] == []
    assert results["backtest_id"] == record.id


async def test_service_parameter_override_for_one_run(db, service_factory, strategy):
    service = await service_factory()
    record = await service.submit(strategy, START, END, 10_000, {"lookback_period": 7}, None)
    assert record.parameters["lookback_period"] == 7
    assert record.parameters["entry_threshold"] == 1.2  # the strategy's own value where not overridden
    await wait_for(db, record.id)
    assert (await db.backtests.get_results(record.id))["parameters"]["lookback_period"] == 7
    assert (await db.strategies.get(strategy.id)).parameters["lookback_period"] == 5


async def test_service_rejects_bad_parameter(service_factory, strategy):
    service = await service_factory()
    with pytest.raises(ValidationError) as caught:
        await service.submit(strategy, START, END, 10_000, {"lookback_period": 1, "bogus": 3}, None)
    assert set(caught.value.details) == {"lookback_period", "bogus"}


async def test_service_rejects_range_without_data(service_factory, strategy):
    service = await service_factory()
    with pytest.raises(ValidationError, match="no trades or candles"):
        await service.submit(strategy, END, END + 3_600_000_000_000, 10_000, {}, None)


async def test_service_queues_beyond_worker_limit(db, service_factory, strategy):
    service = await service_factory(workers=1)
    first = await service.submit(strategy, START, END, 10_000, {}, None)
    second = await service.submit(strategy, START, END, 10_000, {}, None)
    first_done = await wait_for(db, first.id)
    second_done = await wait_for(db, second.id)
    assert first_done.status == second_done.status == "completed"
    assert second_done.started_at >= first_done.completed_at


async def test_service_cancel_running_job(db, service_factory, strategy):
    service = await service_factory(workers=1)
    record = await service.submit(strategy, START, END, 10_000, {}, None)
    await wait_for(db, record.id, statuses=("running", "completed"))
    cancelled = await service.cancel(record.id)
    assert cancelled.status == "cancelled"
    # The slot is free again: the next job runs to the end, and the cancelled one stays cancelled.
    after = await service.submit(strategy, START, END, 10_000, {}, None)
    assert (await wait_for(db, after.id)).status == "completed"
    assert (await db.backtests.get(record.id)).status == "cancelled"
    assert not (service.root / record.id).exists()


async def test_service_cancel_waiting_job(db, service_factory, strategy):
    service = await service_factory(workers=1)
    first = await service.submit(strategy, START, END, 10_000, {}, None)
    second = await service.submit(strategy, START, END, 10_000, {}, None)
    await service.cancel(second.id)
    await wait_for(db, first.id)
    second_done = await db.backtests.get(second.id)
    assert second_done.status == "cancelled"
    assert second_done.started_at is None


async def test_service_restart_marks_running_job_failed(db, service_factory, strategy):
    stale = await db.backtests.create(strategy.id, start_date=START, end_date=END, initial_capital=10_000)
    await db.backtests.start(stale.id)
    await service_factory()
    failed = await db.backtests.get(stale.id)
    assert failed.status == "failed"
    assert failed.error == RESTART_REASON


async def test_service_restart_queues_waiting_job(db, service_factory, strategy):
    waiting = await db.backtests.create(strategy.id, start_date=START, end_date=END, initial_capital=10_000,
                                        parameters=STRATEGY_PARAMETERS)
    await service_factory()
    assert (await wait_for(db, waiting.id)).status == "completed"


async def test_service_counts_by_status(db, service_factory, strategy):
    service = await service_factory()
    record = await service.submit(strategy, START, END, 10_000, {}, None)
    await wait_for(db, record.id)
    counts = await service.counts()
    assert counts["completed"] == 1
    assert counts["running"] == 0
