import asyncio
from decimal import Decimal

import pytest

from cryptobot.core.errors import Conflict, NotFound, ValidationError
from cryptobot.storage.testing import CLOCK_START_NS

HOUR = 3600 * 1_000_000_000

# The parameters of the API's strategy examples.
PARAMETERS = {"lookback_period": 20, "entry_threshold": 2.0, "exit_threshold": 0.5, "stop_loss": 2.0, "take_profit": 5.0}


@pytest.fixture
async def owner(db):
    return await db.users.create("alice", "correct horse")


async def _create(db, owner_id=None, **overrides):
    fields = dict(name="Mean Reversion", description="Mean reversion strategy for BTC/USD", exchange="binance",
                  symbol="BTC/USD", timeframe="1h", strategy_type="mean_reversion", parameters=PARAMETERS)
    fields.update(overrides)
    return await db.strategies.create(owner_id=owner_id, **fields)


async def test_strategy_create_round_trip(db, owner):
    created = await _create(db, owner.id)
    fetched = await db.strategies.get(created.id, owner.id)
    assert fetched == created
    assert (fetched.name, fetched.description, fetched.status) == ("Mean Reversion", "Mean reversion strategy for BTC/USD", "inactive")
    assert (fetched.exchange, fetched.symbol, fetched.timeframe, fetched.strategy_type) == ("binance", "BTC/USD", "1h", "mean_reversion")
    assert fetched.parameters == PARAMETERS
    assert (fetched.created_at, fetched.updated_at, fetched.version) == (CLOCK_START_NS, CLOCK_START_NS, 1)


async def test_strategy_performance_round_trip(db, owner):
    created = await _create(db, owner.id)
    await db.strategies.set_performance(created.id, total_return=15.5, win_rate=65.0, sharpe_ratio=1.2, drawdown=5.0,
                                        trades=100, winning_trades=65, losing_trades=35)
    fetched = await db.strategies.get(created.id)
    assert (fetched.total_return, fetched.win_rate, fetched.sharpe_ratio, fetched.drawdown) == (15.5, 65.0, 1.2, 5.0)
    assert (fetched.trades, fetched.winning_trades, fetched.losing_trades) == (100, 65, 35)


async def test_strategy_set_performance_rejects_unknown_figure(db, owner):
    created = await _create(db, owner.id)
    with pytest.raises(ValidationError, match="'figure' must be one of"):
        await db.strategies.set_performance(created.id, alpha=1.0)


async def test_strategy_get_other_owner_not_found(db, owner):
    created = await _create(db, owner.id)
    other = await db.users.create("mallory", "correct horse")
    with pytest.raises(NotFound, match=f"strategy {created.id} not found"):
        await db.strategies.get(created.id, other.id)


async def test_strategy_start_and_stop(db, owner, store_clock):
    created = await _create(db, owner.id)
    store_clock.advance(HOUR)
    started = await db.strategies.start(created.id, capital_allocation=1000.0, max_positions=5, owner_id=owner.id)
    assert (started.status, started.started_at) == ("active", CLOCK_START_NS + HOUR)
    assert (started.capital_allocation, started.max_positions) == (Decimal("1000.0"), 5)
    store_clock.advance(HOUR)
    stopped = await db.strategies.stop(created.id, owner.id)
    assert (stopped.status, stopped.stopped_at) == ("inactive", CLOCK_START_NS + 2 * HOUR)


async def test_strategy_start_active_conflicts(db, owner):
    created = await _create(db, owner.id)
    await db.strategies.start(created.id, capital_allocation=1000, max_positions=5)
    with pytest.raises(Conflict, match="Cannot start strategy .*: it is already active"):
        await db.strategies.start(created.id, capital_allocation=1000, max_positions=5)


async def test_strategy_stop_inactive_conflicts(db, owner):
    created = await _create(db, owner.id)
    with pytest.raises(Conflict, match="Cannot stop strategy .*: it is not active"):
        await db.strategies.stop(created.id)


async def test_strategy_concurrent_starts_one_wins(db, open_store, owner):
    other = await open_store()
    created = await _create(db, owner.id)
    results = await asyncio.gather(
        *(store.strategies.start(created.id, capital_allocation=1000, max_positions=5) for store in (db, other, db, other)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Conflict) for r in results) == 3
    assert (await db.strategies.get(created.id)).version == 2


async def test_strategy_update_replaces_fields(db, owner, store_clock):
    created = await _create(db, owner.id)
    store_clock.advance(HOUR)
    new_parameters = {"lookback_period": 30, "entry_threshold": 2.5}
    updated = await db.strategies.update(created.id, owner_id=owner.id, description="Updated", parameters=new_parameters)
    assert (updated.description, updated.parameters, updated.name) == ("Updated", new_parameters, "Mean Reversion")
    assert (updated.version, updated.updated_at) == (2, CLOCK_START_NS + HOUR)


async def test_strategy_update_stale_version_conflicts(db, owner):
    created = await _create(db, owner.id)
    await db.strategies.update(created.id, name="First", expected_version=1)
    with pytest.raises(Conflict, match=r"changed concurrently \(version 2, expected 1\)"):
        await db.strategies.update(created.id, name="Second", expected_version=1)
    assert (await db.strategies.get(created.id)).name == "First"


async def test_strategy_concurrent_versioned_updates_one_wins(db, open_store, owner):
    other = await open_store()
    created = await _create(db, owner.id)
    results = await asyncio.gather(
        db.strategies.update(created.id, name="From engine A", expected_version=1),
        other.strategies.update(created.id, name="From engine B", expected_version=1),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert (await db.strategies.get(created.id)).name == winners[0].name


async def test_strategy_concurrent_trade_records_all_count(db, open_store, owner):
    other = await open_store()
    created = await _create(db, owner.id)
    await asyncio.gather(*(store.strategies.record_trade(created.id, won=i % 3 != 0)
                           for i, store in enumerate([db, other] * 15)))
    fetched = await db.strategies.get(created.id)
    assert (fetched.trades, fetched.winning_trades, fetched.losing_trades) == (30, 20, 10)
    assert fetched.version == 31


async def test_strategy_market_change_refused_while_active(db, owner):
    created = await _create(db, owner.id)
    await db.strategies.start(created.id, capital_allocation=1000, max_positions=5)
    with pytest.raises(Conflict, match="it is active; stop it before changing its market"):
        await db.strategies.update(created.id, symbol="ETH/USDT")
    assert (await db.strategies.update(created.id, description="allowed")).description == "allowed"


async def test_strategy_delete_hides_it(db, owner):
    created = await _create(db, owner.id)
    await db.strategies.delete(created.id, owner.id)
    with pytest.raises(NotFound):
        await db.strategies.get(created.id)
    assert (await db.strategies.list(owner_id=owner.id)).total == 0


async def test_strategy_delete_active_conflicts(db, owner):
    created = await _create(db, owner.id)
    await db.strategies.start(created.id, capital_allocation=1000, max_positions=5)
    with pytest.raises(Conflict, match="Cannot delete strategy .*: it is active; stop it first"):
        await db.strategies.delete(created.id)


async def test_strategy_list_filters_and_pages(db, owner, store_clock):
    ids = []
    for symbol, exchange in [("BTC/USDT", "binance"), ("ETH/USDT", "binance"), ("XBT/USD", "kraken"), ("SOL/USDT", "binance")]:
        ids.append((await _create(db, owner.id, symbol=symbol, exchange=exchange)).id)
        store_clock.advance(HOUR)
    await db.strategies.start(ids[1], capital_allocation=10, max_positions=1)
    await _create(db, None, name="Operator's")

    binance = await db.strategies.list(owner_id=owner.id, exchange="binance", page=1, limit=2)
    assert [s.id for s in binance.items] == [ids[3], ids[1]]
    assert (binance.total, binance.pages) == (3, 2)
    active = await db.strategies.list(owner_id=owner.id, status="active")
    assert [s.id for s in active.items] == [ids[1]]
    inactive = await db.strategies.list(owner_id=owner.id, status="inactive")
    assert inactive.total == 3
    assert (await db.strategies.list(status="all")).total == 5
    assert await db.strategies.counts() == {"active": 1, "total": 5}


async def test_strategy_list_past_last_page_keeps_total(db, owner):
    await _create(db, owner.id)
    page = await db.strategies.list(page=3, limit=10)
    assert (page.items, page.total, page.pages) == ([], 1, 1)


async def test_strategy_state_survives_restart(db, open_store, owner):
    created = await _create(db, owner.id)
    await db.strategies.start(created.id, capital_allocation=1000, max_positions=5)
    state = {"position_count": 2, "last_signal": "long", "ema": [1.5, 2.25], "cash": Decimal("10.10")}
    saved = await db.strategies.save_state(created.id, state, expected_version=2)
    await db.close()
    restarted = await open_store()
    [resumed] = await restarted.strategies.list_active()
    assert resumed.id == created.id
    assert resumed.state == {"position_count": 2, "last_signal": "long", "ema": [1.5, 2.25], "cash": "10.10"}
    assert resumed.version == saved.version == 3


INVALID_STRATEGIES = [
    ({"timeframe": "2h"}, "'timeframe' must be one of 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w, was '2h'"),
    ({"symbol": "BTCUSD"}, "'symbol' must look like BTC/USDT, was 'BTCUSD'"),
    ({"name": ""}, "'name' must have 1 to 200 characters, had 0"),
    ({"strategy_type": "Mean Reversion"}, "'strategy_type' must be lower-case letters"),
    ({"parameters": {"when": object()}}, "'parameters' cannot be stored as JSON"),
    ({"parameters": [1, 2]}, "'parameters' must be a JSON object, was list"),
]


async def test_strategy_create_rejects_invalid_input(db):
    for overrides, message in INVALID_STRATEGIES:
        with pytest.raises(ValidationError, match=message):
            await _create(db, **overrides)
    assert (await db.strategies.list()).total == 0


async def test_strategy_start_rejects_bad_capital(db, owner):
    created = await _create(db, owner.id)
    with pytest.raises(ValidationError, match="'capital_allocation' must be > 0, was -5"):
        await db.strategies.start(created.id, capital_allocation=-5, max_positions=1)
    with pytest.raises(ValidationError, match="'capital_allocation' must be finite, was nan"):
        await db.strategies.start(created.id, capital_allocation=float("nan"), max_positions=1)
