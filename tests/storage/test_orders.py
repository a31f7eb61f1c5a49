import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest

from cryptobot.core.errors import Conflict, IllegalTransition, NotFound, ValidationError
from cryptobot.core.ids import new_id
from cryptobot.core.orders import Fill, Order, OrderStatus
from cryptobot.storage.testing import CLOCK_START_NS

MINUTE = 60 * 1_000_000_000


@pytest.fixture
async def owner(db):
    return await db.users.create("alice", "correct horse")


@pytest.fixture
async def strategy(db, owner):
    return await db.strategies.create(name="MR", exchange="binance", symbol="BTC/USD", timeframe="1h",
                                      strategy_type="mean_reversion", owner_id=owner.id)


def _order(owner_id=None, strategy_id=None, **overrides):
    fields = dict(order_id=new_id("order"), client_order_id=new_id("order")[-20:], strategy_id=strategy_id, exchange="binance",
                  symbol="BTC/USD", side="buy", type="limit", quantity=Decimal("0.1"), price=Decimal("50000"),
                  owner_id=owner_id)
    fields.update(overrides)
    return Order(**fields)


def _fill(order, quantity, price, fee="0", fee_asset="USD", ts=CLOCK_START_NS):
    return Fill(new_id("fill"), order.order_id, None, "", "", "", Decimal(price), Decimal(quantity), Decimal(fee), fee_asset,
                "taker", ts)


async def test_order_insert_round_trip_every_field(db, owner, strategy):
    order = _order(owner.id, strategy.id, type="stop_limit", stop_price=Decimal("49000"), time_in_force="IOC", post_only=True,
                   reduce_only=True, exchange_order_id="12345", tags={"source": "api"}, created_at=CLOCK_START_NS + 123_456_000,
                   updated_at=CLOCK_START_NS + 123_456_000)
    stored, created = await db.orders.insert(order)
    assert created
    assert stored == order
    assert await db.orders.get(order.order_id, owner.id) == order


async def test_order_insert_stamps_clock_time(db, owner):
    stored, _ = await db.orders.insert(_order(owner.id))
    assert (stored.created_at, stored.updated_at) == (CLOCK_START_NS, CLOCK_START_NS)
    assert (stored.status, stored.filled, stored.remaining) == (OrderStatus.NEW, Decimal(0), Decimal("0.1"))


async def test_order_times_keep_microseconds(db, owner):
    # PostgreSQL stores microseconds; the nanosecond digits read back as zero.
    stored, _ = await db.orders.insert(_order(owner.id, created_at=CLOCK_START_NS + 1_234_567_891))
    assert (await db.orders.get(stored.order_id)).created_at == CLOCK_START_NS + 1_234_567_000


async def test_order_insert_is_idempotent_on_client_order_id(db, owner):
    first = _order(owner.id, client_order_id="my-order-1")
    again = replace(first, order_id=new_id("order"))
    stored, created = await db.orders.insert(first)
    repeated, created_again = await db.orders.insert(again)
    assert (created, created_again) == (True, False)
    assert repeated.order_id == first.order_id
    assert (await db.orders.list_history(owner_id=owner.id)).total == 1


async def test_order_concurrent_duplicate_submissions_store_one(db, open_store, owner):
    other = await open_store()
    orders = [_order(owner.id, client_order_id="same-id") for _ in range(6)]
    results = await asyncio.gather(*(store.orders.insert(o) for store, o in zip([db, other] * 3, orders)))
    assert sum(created for _, created in results) == 1
    assert len({stored.order_id for stored, _ in results}) == 1


async def test_order_reused_client_id_conflicts(db, owner):
    await db.orders.insert(_order(owner.id, client_order_id="my-order-1"))
    with pytest.raises(Conflict, match="client_order_id 'my-order-1' was already used .* with a different quantity"):
        await db.orders.insert(_order(owner.id, client_order_id="my-order-1", quantity=Decimal("0.2")))


async def test_order_client_id_scope(db, owner):
    other = await db.users.create("bob", "correct horse")
    results = [await db.orders.insert(_order(owner_id, client_order_id="c1", exchange=exchange))
               for owner_id, exchange in [(owner.id, "binance"), (other.id, "binance"), (owner.id, "kraken"), (None, "binance")]]
    assert all(created for _, created in results)
    assert (await db.orders.get_by_client_order_id("kraken", "c1", owner.id)).order_id == results[2][0].order_id
    assert (await db.orders.get_by_client_order_id("binance", "c1")).order_id == results[3][0].order_id


INVALID_ORDERS = [
    ({"side": "hold"}, "'side' must be one of buy, sell, was 'hold'"),
    ({"type": "limit", "price": None}, "'price' is required for a limit order"),
    ({"type": "stop", "price": None}, "'stop_price' is required for a stop order"),
    ({"quantity": Decimal("0")}, "'quantity' must be > 0, was Decimal"),
    ({"time_in_force": "GTD"}, "'time_in_force' must be one of GTC, IOC, FOK"),
    ({"client_order_id": "has space"}, "'client_order_id' must be 1 to 64 letters"),
    ({"order_id": "order_1"}, "'order_id' must be an id of the form order_<26 characters>"),
    ({"exchange": "mtgox"}, "'exchange' must be one of"),
]


async def test_order_insert_rejects_invalid_order(db):
    for overrides, message in INVALID_ORDERS:
        with pytest.raises(ValidationError, match=message):
            await db.orders.insert(_order(**overrides))
    assert (await db.orders.list_history()).total == 0


async def test_order_insert_unknown_strategy_not_found(db):
    with pytest.raises(NotFound, match="Cannot store order"):
        await db.orders.insert(_order(strategy_id="strategy_0000000000000000000000000a"))


async def test_order_accept_records_exchange_id(db, owner, store_clock):
    stored, _ = await db.orders.insert(_order(owner.id))
    store_clock.advance(MINUTE)
    accepted = await db.orders.transition(stored.order_id, "accept", exchange_order_id="ex-1")
    assert (accepted.status, accepted.exchange_order_id, accepted.updated_at) == (OrderStatus.OPEN, "ex-1", CLOCK_START_NS + MINUTE)
    assert (await db.orders.get_by_exchange_order_id("binance", "ex-1")).order_id == stored.order_id


async def test_order_illegal_transition_writes_nothing(db, owner):
    stored, _ = await db.orders.insert(_order(owner.id))
    await db.orders.transition(stored.order_id, "cancel")
    with pytest.raises(IllegalTransition, match="CANCELED -> ACCEPT"):
        await db.orders.transition(stored.order_id, "accept", exchange_order_id="late")
    after = await db.orders.get(stored.order_id)
    assert (after.status, after.exchange_order_id) == (OrderStatus.CANCELED, None)


async def test_order_reject_keeps_reason(db, owner):
    stored, _ = await db.orders.insert(_order(owner.id))
    rejected = await db.orders.transition(stored.order_id, "reject", reject_reason="max_position_exceeded")
    assert (rejected.status, rejected.reject_reason) == (OrderStatus.REJECTED, "max_position_exceeded")


async def test_order_fills_update_average_and_status(db, owner, store_clock):
    stored, _ = await db.orders.insert(_order(owner.id, quantity=Decimal("0.3")))
    await db.orders.transition(stored.order_id, "accept")
    first = await db.orders.record_fill(_fill(stored, "0.1", "50000", fee="5"))
    assert (first.order.status, first.order.filled, first.order.average_price) == (OrderStatus.PARTIALLY_FILLED, Decimal("0.1"), Decimal("50000"))
    second = await db.orders.record_fill(_fill(stored, "0.2", "50300", fee="10.06", ts=CLOCK_START_NS + MINUTE))
    # (0.1 * 50000 + 0.2 * 50300) / 0.3 = 15060 / 0.3 = 50200
    assert (second.order.status, second.order.filled, second.order.average_price) == (OrderStatus.FILLED, Decimal("0.3"), Decimal("50200"))
    assert second.order.fee == Decimal("15.06")
    assert second.order.remaining == 0
    assert second.order.updated_at == CLOCK_START_NS + MINUTE
    assert await db.orders.get(stored.order_id) == second.order


async def test_order_fill_takes_market_fields_from_order(db, owner, strategy):
    stored, _ = await db.orders.insert(_order(owner.id, strategy.id))
    result = await db.orders.record_fill(_fill(stored, "0.05", "50000"))
    [fill] = (await db.orders.list_fills(order_id=stored.order_id)).items
    assert fill == result.fill
    assert (fill.strategy_id, fill.exchange, fill.symbol, fill.side) == (strategy.id, "binance", "BTC/USD", "buy")
    assert [f.fill_id for f in (await db.orders.list_fills(strategy_id=strategy.id)).items] == [fill.fill_id]


async def test_order_fill_mismatching_order_rejected(db, owner):
    stored, _ = await db.orders.insert(_order(owner.id))
    fill = replace(_fill(stored, "0.05", "50000"), side="sell")
    with pytest.raises(ValidationError, match="its side 'sell' differs from order"):
        await db.orders.record_fill(fill)


async def test_order_duplicate_fill_applied_once(db, owner):
    stored, _ = await db.orders.insert(_order(owner.id))
    fill = _fill(stored, "0.05", "50000")
    first = await db.orders.record_fill(fill)
    again = await db.orders.record_fill(fill)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.order.filled == Decimal("0.05")
    assert (await db.orders.list_fills(order_id=stored.order_id)).total == 1


async def test_order_overfill_rejected_and_nothing_written(db, owner):
    stored, _ = await db.orders.insert(_order(owner.id))
    await db.orders.record_fill(_fill(stored, "0.08", "50000"))
    with pytest.raises(ValidationError, match="exceeds the remaining 0.02"):
        await db.orders.record_fill(_fill(stored, "0.03", "50000"))
    assert (await db.orders.get(stored.order_id)).filled == Decimal("0.08")
    assert (await db.orders.list_fills(order_id=stored.order_id)).total == 1
    assert (await db.positions.list(owner_id=owner.id)).items[0].quantity == Decimal("0.08")


async def test_order_fill_on_canceled_order_refused(db, owner):
    stored, _ = await db.orders.insert(_order(owner.id))
    await db.orders.transition(stored.order_id, "cancel")
    with pytest.raises(IllegalTransition, match="CANCELED -> PARTIAL_FILL"):
        await db.orders.record_fill(_fill(stored, "0.05", "50000"))


async def test_order_fill_for_unknown_order_not_found(db):
    with pytest.raises(NotFound, match="order order_0000000000000000000000000a not found"):
        await db.orders.record_fill(_fill(_order(order_id="order_0000000000000000000000000a"), "1", "1"))


async def test_order_concurrent_fills_from_two_engines_all_apply(db, open_store, owner):
    other = await open_store()
    stored, _ = await db.orders.insert(_order(owner.id, quantity=Decimal("1")))
    fills = [_fill(stored, "0.1", str(50000 + 10 * i), fee="1") for i in range(10)]
    await asyncio.gather(*(store.orders.record_fill(f) for store, f in zip([db, other] * 5, fills)))
    final = await db.orders.get(stored.order_id)
    assert (final.status, final.filled, final.fee) == (OrderStatus.FILLED, Decimal("1.0"), Decimal("10"))
    # Prices 50000, 50010, ..., 50090 in equal parts average to 50045.
    assert final.average_price == Decimal("50045")
    assert (await db.orders.list_fills(order_id=stored.order_id)).total == 10


async def test_order_concurrent_overfill_race_rejects_excess(db, open_store, owner):
    other = await open_store()
    stored, _ = await db.orders.insert(_order(owner.id, quantity=Decimal("1")))
    fills = [_fill(stored, "0.25", "50000") for _ in range(5)]
    results = await asyncio.gather(*(store.orders.record_fill(f) for store, f in zip([db, other] * 3, fills)),
                                   return_exceptions=True)
    assert sum(isinstance(r, (ValidationError, IllegalTransition)) for r in results) == 1
    assert (await db.orders.get(stored.order_id)).filled == Decimal("1.00")
    assert (await db.orders.list_fills(order_id=stored.order_id)).total == 4


async def test_order_list_open_filters(db, owner, strategy, store_clock):
    a, _ = await db.orders.insert(_order(owner.id, strategy.id))
    store_clock.advance(MINUTE)
    b, _ = await db.orders.insert(_order(owner.id, symbol="ETH/USD"))
    store_clock.advance(MINUTE)
    c, _ = await db.orders.insert(_order(owner.id))
    await db.orders.transition(c.order_id, "cancel")
    page = await db.orders.list_open(owner_id=owner.id)
    assert [o.order_id for o in page.items] == [b.order_id, a.order_id]
    assert [o.order_id for o in (await db.orders.list_open(symbol="ETH/USD")).items] == [b.order_id]
    assert [o.order_id for o in (await db.orders.list_open(strategy_id=strategy.id)).items] == [a.order_id]
    assert (await db.orders.list_open(exchange="kraken")).total == 0


async def test_order_history_time_range_and_pages(db, owner):
    orders = []
    for minute in range(5):
        stored, _ = await db.orders.insert(_order(owner.id, created_at=CLOCK_START_NS + minute * MINUTE))
        orders.append(stored)
    await db.orders.transition(orders[2].order_id, "cancel")
    window = await db.orders.list_history(owner_id=owner.id, start=CLOCK_START_NS + MINUTE, end=CLOCK_START_NS + 4 * MINUTE,
                                          page=1, limit=2)
    assert [o.order_id for o in window.items] == [orders[3].order_id, orders[2].order_id]
    assert (window.total, window.pages) == (3, 2)
    canceled = await db.orders.list_history(status="canceled")
    assert [o.order_id for o in canceled.items] == [orders[2].order_id]
    with pytest.raises(ValidationError, match=r"'limit' out of range \[1, 500\], was 0"):
        await db.orders.list_history(limit=0)


async def test_order_counts_by_status(db, owner):
    for minute in range(4):
        await db.orders.insert(_order(owner.id, created_at=CLOCK_START_NS + minute * MINUTE))
    [first, second, *_] = (await db.orders.list_history(owner_id=owner.id)).items
    await db.orders.transition(first.order_id, "reject", reject_reason="risk")
    await db.orders.transition(second.order_id, "accept")
    counts = await db.orders.counts(owner_id=owner.id)
    assert counts == {"new": 2, "open": 1, "partially_filled": 0, "filled": 0, "canceled": 0, "rejected": 1, "expired": 0}
    assert sum((await db.orders.counts(start=CLOCK_START_NS + 2 * MINUTE)).values()) == 2
