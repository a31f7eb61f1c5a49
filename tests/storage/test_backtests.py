import asyncio
from decimal import Decimal

import pytest

from cryptobot.core.errors import Conflict, NotFound, ValidationError
from cryptobot.storage.testing import CLOCK_START_NS

MINUTE = 60 * 1_000_000_000
YEAR_START = 1_704_067_200 * 1_000_000_000  # 2024-01-01T00:00:00Z
YEAR_END = 1_735_689_599 * 1_000_000_000  # 2024-12-31T23:59:59Z
PARAMETERS = {"lookback_period": 20, "entry_threshold": 2.0, "exit_threshold": 0.5, "stop_loss": 2.0, "take_profit": 5.0}

# The shape of the API's backtest results example.
RESULTS = {
    "final_capital": 11550.0, "total_return": 15.5, "annualized_return": 15.5, "sharpe_ratio": 1.2, "sortino_ratio": 1.8,
    "max_drawdown": 5.0, "win_rate": 65.0, "profit_factor": 1.8, "trades": 100, "winning_trades": 65, "losing_trades": 35,
    "average_win": 2.5, "average_loss": 1.2, "largest_win": 8.0, "largest_loss": 2.0,
    "equity_curve": [{"timestamp": "2024-01-01T00:00:00Z", "equity": 10000.0},
                     {"timestamp": "2024-12-31T23:59:59Z", "equity": 11550.0}],
    "monthly_returns": [{"month": "2024-01", "return": 2.5}, {"month": "2024-12", "return": 1.2}],
    "trades_list": [{"id": "trade_01hq0000000000000000000000", "symbol": "BTC/USD", "side": "buy", "entry_price": 50000.0,
                     "exit_price": 52500.0, "entry_time": "2024-01-05T10:00:00Z", "exit_time": "2024-01-07T14:00:00Z",
                     "quantity": 0.1, "profit_loss": 250.0, "profit_loss_percent": 5.0, "exit_reason": "take_profit"}],
}


@pytest.fixture
async def owner(db):
    return await db.users.create("alice", "correct horse")


@pytest.fixture
async def strategy(db, owner):
    return await db.strategies.create(name="MR", exchange="binance", symbol="BTC/USD", timeframe="1h",
                                      strategy_type="mean_reversion", owner_id=owner.id)


async def _create(db, strategy, owner_id=None):
    return await db.backtests.create(strategy.id, start_date=YEAR_START, end_date=YEAR_END, initial_capital=10000.0,
                                     parameters=PARAMETERS, owner_id=owner_id, estimated_completion_at=CLOCK_START_NS + 5 * MINUTE)


async def test_backtest_create_round_trip(db, owner, strategy):
    created = await _create(db, strategy, owner.id)
    fetched = await db.backtests.get(created.id, owner.id)
    assert fetched == created
    assert (fetched.status, fetched.progress, fetched.strategy_id) == ("created", 0.0, strategy.id)
    assert (fetched.start_date, fetched.end_date, fetched.initial_capital) == (YEAR_START, YEAR_END, Decimal("10000.0"))
    assert (fetched.parameters, fetched.estimated_completion_at) == (PARAMETERS, CLOCK_START_NS + 5 * MINUTE)


async def test_backtest_lifecycle_to_results(db, owner, strategy, store_clock):
    created = await _create(db, strategy, owner.id)
    store_clock.advance(MINUTE)
    running = await db.backtests.start(created.id, estimated_completion_at=CLOCK_START_NS + 6 * MINUTE)
    assert (running.status, running.started_at, running.estimated_completion_at) == ("running", CLOCK_START_NS + MINUTE, CLOCK_START_NS + 6 * MINUTE)
    assert (await db.backtests.set_progress(created.id, 42.5)).progress == 42.5
    store_clock.advance(4 * MINUTE)
    done = await db.backtests.complete(created.id, RESULTS)
    assert (done.status, done.progress, done.completed_at, done.has_results) == ("completed", 100.0, CLOCK_START_NS + 5 * MINUTE, True)
    assert await db.backtests.get_results(created.id, owner.id) == RESULTS


async def test_backtest_results_before_completion_conflict(db, strategy):
    created = await _create(db, strategy)
    with pytest.raises(Conflict, match="Cannot return results of backtest .*: it is created"):
        await db.backtests.get_results(created.id)


async def test_backtest_cancel_then_complete_conflicts(db, strategy):
    created = await _create(db, strategy)
    await db.backtests.start(created.id)
    cancelled = await db.backtests.cancel(created.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(Conflict, match="Cannot complete backtest .*: it is cancelled"):
        await db.backtests.complete(created.id, RESULTS)
    with pytest.raises(Conflict, match="Cannot cancel backtest .*: it is cancelled"):
        await db.backtests.cancel(created.id)


async def test_backtest_complete_and_cancel_race_one_wins(db, open_store, strategy):
    other = await open_store()
    created = await _create(db, strategy)
    await db.backtests.start(created.id)
    results = await asyncio.gather(db.backtests.complete(created.id, RESULTS), other.backtests.cancel(created.id),
                                   return_exceptions=True)
    assert sum(isinstance(r, Conflict) for r in results) == 1
    winner = next(r for r in results if not isinstance(r, Exception))
    assert (await db.backtests.get(created.id)).status == winner.status


async def test_backtest_fail_records_error(db, strategy):
    created = await _create(db, strategy)
    failed = await db.backtests.fail(created.id, "no market data for BTC/USD in 2024")
    assert (failed.status, failed.error) == ("failed", "no market data for BTC/USD in 2024")


async def test_backtest_progress_needs_running(db, strategy):
    created = await _create(db, strategy)
    with pytest.raises(Conflict, match="Cannot update the progress of backtest .*: it is created"):
        await db.backtests.set_progress(created.id, 10)
    await db.backtests.start(created.id)
    with pytest.raises(ValidationError, match=r"'progress' out of range \[0, 100\], was 101"):
        await db.backtests.set_progress(created.id, 101)


async def test_backtest_for_other_owners_strategy_not_found(db, strategy):
    other = await db.users.create("mallory", "correct horse")
    with pytest.raises(NotFound, match=f"strategy {strategy.id} not found"):
        await _create(db, strategy, other.id)


async def test_backtest_dates_must_be_ordered(db, strategy):
    with pytest.raises(ValidationError, match="'end_date' must be after 'start_date'"):
        await db.backtests.create(strategy.id, start_date=YEAR_END, end_date=YEAR_START, initial_capital=1)


async def test_backtest_list_and_counts(db, owner, strategy, store_clock):
    ids = []
    for _ in range(3):
        ids.append((await _create(db, strategy, owner.id)).id)
        store_clock.advance(MINUTE)
    await db.backtests.start(ids[0])
    await db.backtests.fail(ids[1], "broken")
    page = await db.backtests.list(owner_id=owner.id, limit=2)
    assert [b.id for b in page.items] == [ids[2], ids[1]]
    assert (page.total, page.pages) == (3, 2)
    assert [b.id for b in (await db.backtests.list(status="running")).items] == [ids[0]]
    assert await db.backtests.counts() == {"created": 1, "running": 1, "completed": 0, "failed": 1, "cancelled": 0}
