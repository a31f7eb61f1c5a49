import asyncio
from decimal import Decimal

import pytest

from cryptobot.core.errors import NotFound
from cryptobot.core.ids import new_id
from cryptobot.core.orders import Fill, Order
from cryptobot.storage.repositories.positions import apply_fill, open_position
from cryptobot.storage.testing import CLOCK_START_NS

D = Decimal
MINUTE = 60 * 1_000_000_000


def test_position_buys_average_entry():
    position = open_position(None, None, "binance", "BTC/USDT", "long", D("1"), D("100"), D("0.1"), 1)
    grown, opened = apply_fill(position, "buy", D("1"), D("200"), D("0.2"), 2)
    assert opened is None
    assert (grown.quantity, grown.entry_price, grown.fees, grown.realized_pnl) == (D("2"), D("150"), D("0.3"), D("0"))


def test_position_partial_close_realizes_pnl():
    position = open_position(None, None, "binance", "BTC/USDT", "long", D("2"), D("150"), D("0"), 1)
    reduced, opened = apply_fill(position, "sell", D("0.5"), D("180"), D("0.09"), 2)
    # (180 - 150) * 0.5 = 15 realized; 0.5 * 150 = 75 of entry value closed.
    assert opened is None
    assert (reduced.quantity, reduced.entry_price, reduced.status) == (D("1.5"), D("150"), "open")
    assert (reduced.realized_pnl, reduced.closed_quantity, reduced.closed_cost, reduced.exit_price) == (D("15"), D("0.5"), D("75"), D("180"))
    assert reduced.realized_pnl_percent == D("20")


def test_position_flip_closes_and_opens_other_side():
    position = open_position("user_x", "strategy_x", "binance", "BTC/USDT", "long", D("1.5"), D("150"), D("0"), 1)
    closed, short = apply_fill(position, "sell", D("2"), D("160"), D("0.4"), 7)
    # Closing 1.5 at 160 realizes (160 - 150) * 1.5 = 15; 0.5 opens short at 160.
    # The fee 0.4 splits 1.5/2 = 0.3 to the close and 0.1 to the new position.
    assert (closed.quantity, closed.status, closed.closed_at) == (D("0"), "closed", 7)
    assert (closed.realized_pnl, closed.fees, closed.exit_price) == (D("15"), D("0.3"), D("160"))
    assert (short.side, short.quantity, short.entry_price, short.fees) == ("short", D("0.5"), D("160"), D("0.1"))
    assert (short.owner_id, short.strategy_id, short.opened_at) == ("user_x", "strategy_x", 7)


def test_position_short_profits_when_price_falls():
    position = open_position(None, None, "binance", "BTC/USDT", "short", D("2"), D("100"), D("0"), 1)
    reduced, _ = apply_fill(position, "buy", D("1"), D("90"), D("0"), 2)
    more, _ = apply_fill(reduced, "buy", D("1"), D("110"), D("0"), 3)
    # +10 on the first unit, -10 on the second; exits average to 100.
    assert (more.realized_pnl, more.exit_price, more.status) == (D("0"), D("100"), "closed")


@pytest.fixture
async def owner(db):
    return await db.users.create("alice", "correct horse")


@pytest.fixture
async def strategy(db, owner):
    return await db.strategies.create(name="MR", exchange="binance", symbol="BTC/USDT", timeframe="1h",
                                      strategy_type="mean_reversion", owner_id=owner.id)


async def _filled(db, owner_id, strategy_id, side, quantity, price, fee="0", fee_asset="USDT", ts=CLOCK_START_NS):
    order = Order(new_id("order"), new_id("order")[-16:], strategy_id, "binance", "BTC/USDT", side, "market", D(quantity),
                  owner_id=owner_id)
    await db.orders.insert(order)
    fill = Fill(new_id("fill"), order.order_id, None, "", "", "", D(price), D(quantity), D(fee), fee_asset, "taker", ts)
    return await db.orders.record_fill(fill)


async def test_position_opened_by_first_fill(db, owner, strategy):
    result = await _filled(db, owner.id, strategy.id, "buy", "0.1", "50000", fee="5")
    [position] = result.positions
    stored = await db.positions.get(position.id, owner.id)
    assert stored == position
    assert (stored.side, stored.quantity, stored.entry_price, stored.fees) == ("long", D("0.1"), D("50000"), D("5"))
    assert (stored.strategy_id, stored.owner_id, stored.status, stored.opened_at) == (strategy.id, owner.id, "open", CLOCK_START_NS)


async def test_position_ignores_fee_in_other_asset(db, owner, strategy):
    result = await _filled(db, owner.id, strategy.id, "buy", "0.1", "50000", fee="0.01", fee_asset="BNB")
    assert result.positions[0].fees == 0
    assert result.order.fee == D("0.01")


async def test_position_closed_by_opposite_fill(db, owner, strategy):
    await _filled(db, owner.id, strategy.id, "buy", "0.1", "50000")
    result = await _filled(db, owner.id, strategy.id, "sell", "0.1", "52500", ts=CLOCK_START_NS + MINUTE)
    [closed] = result.positions
    # (52500 - 50000) * 0.1 = 250, which is 5 % of the 5000 entry value.
    assert (closed.status, closed.closed_at, closed.realized_pnl, closed.exit_price) == ("closed", CLOCK_START_NS + MINUTE, D("250.0"), D("52500"))
    assert closed.realized_pnl_percent == D("5")
    assert await db.positions.get_open("binance", "BTC/USDT", strategy_id=strategy.id, owner_id=owner.id) is None


async def test_position_flip_writes_two_rows(db, owner, strategy):
    await _filled(db, owner.id, strategy.id, "buy", "1", "100")
    result = await _filled(db, owner.id, strategy.id, "sell", "3", "90")
    closed, short = result.positions
    assert (closed.status, closed.realized_pnl) == ("closed", D("-10"))
    assert (short.side, short.quantity, short.entry_price) == ("short", D("2"), D("90"))
    current = await db.positions.get_open("binance", "BTC/USDT", strategy_id=strategy.id, owner_id=owner.id)
    assert current == short


async def test_position_concurrent_fills_from_two_engines(db, open_store, owner, strategy):
    other = await open_store()
    await asyncio.gather(*(_filled(store, owner.id, strategy.id, "buy", "0.5", str(100 + i)) for i, store in
                           enumerate([db, other] * 4)))
    page = await db.positions.list(owner_id=owner.id, status="all")
    assert page.total == 1
    [position] = page.items
    # Eight buys of 0.5 at 100..107 make 4 at an average of 103.5.
    assert (position.quantity, position.entry_price) == (D("4.0"), D("103.5"))


async def test_position_list_filters(db, owner, strategy):
    await _filled(db, owner.id, strategy.id, "buy", "1", "100")
    await _filled(db, owner.id, strategy.id, "sell", "1", "110")
    await _filled(db, owner.id, None, "buy", "2", "100")
    open_page = await db.positions.list(owner_id=owner.id)
    assert [p.strategy_id for p in open_page.items] == [None]
    closed_page = await db.positions.list(owner_id=owner.id, status="closed", strategy_id=strategy.id)
    assert [p.realized_pnl for p in closed_page.items] == [D("10")]
    assert (await db.positions.list(status="all")).total == 2
    assert (await db.positions.list(exchange="kraken")).total == 0


async def test_position_get_other_owner_not_found(db, owner, strategy):
    result = await _filled(db, owner.id, strategy.id, "buy", "1", "100")
    other = await db.users.create("mallory", "correct horse")
    with pytest.raises(NotFound, match="position .* not found"):
        await db.positions.get(result.positions[0].id, other.id)


async def test_position_base_fee_matches_ledger(db, owner, strategy):
    from cryptobot.actors.positions import Ledger

    ledger = Ledger()
    fills = [("buy", "0.001", "60000", "0.000001", "BTC"), ("buy", "0.002", "61000", "0.000002", "BTC"),
             ("sell", "0.001", "62000", "0.062", "USDT")]
    for side, quantity, price, fee, asset in fills:
        result = await _filled(db, owner.id, strategy.id, side, quantity, price, fee=fee, fee_asset=asset)
        ledger.apply_fill(strategy.id, "binance", "BTC/USDT", side, D(quantity), D(price), D(fee), asset, "BTC", 1)
    [stored] = result.positions
    mirror = ledger.positions[(None, strategy.id, "binance", "BTC/USDT")]
    # Held: 0.000999 + 0.001998 - 0.001 = 0.001997 BTC; fees 0.06 + 0.122 + 0.062 = 0.244 USDT.
    assert stored.quantity == mirror.quantity == D("0.001997")
    assert stored.entry_price == mirror.entry_price
    assert stored.realized_pnl == mirror.realized_pnl
    assert stored.fees == mirror.fees == D("0.244")
