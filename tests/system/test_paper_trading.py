"""Real recorded Binance data through feed, book, mean_reversion, risk, execution, simulated exchange and portfolio."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from cryptobot.core.actor import ask
from cryptobot.core.orders import OrderStatus

SPOT_TRADES = 9_757 + 10_147  # trade frames in the two spot BTCUSDT captures


async def run_to_end(system, timeout=60.0):
    """Wait until the book actor has seen every recorded trade and every actor is idle."""
    book = system.market_data.book_ref("BTC/USDT")
    deadline = asyncio.get_running_loop().time() + timeout
    while (await ask(book, "status"))["trades"] < SPOT_TRADES:
        assert asyncio.get_running_loop().time() < deadline, "the replay did not finish in time"
        await asyncio.sleep(0.2)
    for _ in range(3):
        for cell in list(system.engine._cells.values()):
            await cell.drained()
        await system.engine.ref("execution")._cell.actor.journal.drain(10)


async def active_strategy(db, **parameters):
    user = await db.users.create("trader1", "correct horse battery")
    record = await db.strategies.create(name="MR", exchange="binance", symbol="BTC/USDT", timeframe="1m",
                                        strategy_type="mean_reversion", parameters=parameters, owner_id=user.id)
    await db.strategies.start(record.id, capital_allocation=D("10000"), max_positions=1)
    return record


async def test_real_replay_trades_and_adds_up_to_the_cent(make_system, db):
    strategy = await active_strategy(db, lookback_period=3, entry_threshold=0.5, exit_threshold=0.1,
                                     stop_loss=0.05, take_profit=0.05)
    system = await make_system(engine_initial_balance=100_000.0)
    await run_to_end(system)

    orders = (await db.orders.list_history(strategy_id=strategy.id, limit=500)).items
    filled = [o for o in orders if o.status is OrderStatus.FILLED]
    assert len(filled) >= 2, f"the strategy should have traded on ten minutes of real data, orders: {orders}"

    # Every fill pays 0.1 %: in BTC on a buy (taken from what was received), in USDT on a sell.
    fills = (await db.orders.list_fills(strategy_id=strategy.id, limit=500)).items
    for fill in fills:
        if fill.side == "buy":
            assert (fill.fee_asset, fill.fee) == ("BTC", fill.quantity * D("0.001"))
        else:
            assert (fill.fee_asset, fill.fee) == ("USDT", fill.quantity * fill.price * D("0.001"))

    # Cash and coins recomputed by hand from the fills alone.
    cash, coins, fee_value = D("100000"), D(0), D(0)
    for fill in fills:
        if fill.side == "buy":
            cash -= fill.quantity * fill.price
            coins += fill.quantity - fill.fee
            fee_value += fill.fee * fill.price
        else:
            cash += fill.quantity * fill.price - fill.fee
            coins -= fill.quantity
            fee_value += fill.fee
    account = system.engine.ref("execution")._cell.actor.gateways["binance"].account
    assert account.free("USDT") + account.used("USDT") == cash
    assert account.free("BTC") + account.used("BTC") == coins
    stored = {b.asset: b.total for b in await db.balances.list("paper")}
    assert (stored["USDT"], stored.get("BTC", D(0))) == (cash, coins)

    # cash + positions at mid = start + realized + unrealized - fees, to the cent.  Dust
    # (too small to sell) was written off at its cost: the account holds positions plus dust.
    ledger = system.engine.ref("portfolio")._cell.actor.ledger
    [position] = [p for p in ledger.positions.values() if p.strategy_id == strategy.id]
    dust = ledger.dust.get(("binance", "BTC/USDT"), D(0))
    assert position.quantity + dust == coins
    mid = position.mark_price
    left = cash + position.quantity * mid
    right = D("100000") + ledger.realized_total + ledger.unrealized_total - ledger.fees_total
    assert abs(left - right) < D("0.01")
    assert ledger.fees_total == fee_value

    # The stored position agrees with the ledger.
    stored_position = await db.positions.get(position.position_id)
    assert stored_position.quantity == abs(position.quantity)


async def test_ticks_reach_clickhouse(make_system, ch_store):
    system = await make_system()
    await run_to_end(system)
    await ask(system.engine.ref("recorder"), "flush", timeout=30)
    columns = ch_store.query_columns(f"SELECT trade_id FROM {ch_store.database}.trades WHERE symbol = 'BTC/USDT'")
    trade_ids = next(iter(columns.values())) if isinstance(columns, dict) else columns[0]
    assert len(trade_ids) == SPOT_TRADES
    assert len(set(trade_ids.tolist())) == SPOT_TRADES
