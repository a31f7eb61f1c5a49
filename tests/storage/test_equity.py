from decimal import Decimal as D

from cryptobot.storage.testing import CLOCK_START_NS

DAY = 86_400 * 10**9


async def test_equity_at_or_before_picks_latest_older_sample(db):
    for day, value in enumerate(["1000", "1010", "990"]):
        await db.equity.record("paper", CLOCK_START_NS + day * DAY, D(value), "USDT")
    sample = await db.equity.at_or_before("paper", CLOCK_START_NS + DAY + DAY // 2)
    assert (sample.at, sample.equity) == (CLOCK_START_NS + DAY, D("1010"))
    latest = await db.equity.latest("paper")
    assert latest.equity == D("990")


async def test_equity_before_history_falls_back_to_earliest(db):
    await db.equity.record("paper", CLOCK_START_NS, D("1000"), "USDT")
    sample = await db.equity.at_or_before("paper", CLOCK_START_NS - 365 * DAY)
    assert sample.equity == D("1000")
    assert await db.equity.at_or_before("other", CLOCK_START_NS) is None


async def test_position_dust_write_off_closes_it(db):
    from cryptobot.core.ids import new_id
    from cryptobot.core.orders import Fill, Order

    user = await db.users.create("dusty", "correct horse")
    order = Order(new_id("order"), "c1", None, "binance", "BTC/USDT", "buy", "market", D("0.001"), owner_id=user.id)
    await db.orders.insert(order)
    result = await db.orders.record_fill(Fill(new_id("fill"), order.order_id, None, "", "", "", D("60000"), D("0.001"),
                                              D("0.000001"), "BTC", "taker", CLOCK_START_NS))
    [position] = result.positions
    assert position.quantity == D("0.000999")
    closed = await db.positions.write_off_dust(position.id, D("0.000999"))
    assert (closed.status, closed.quantity, closed.dust) == ("closed", 0, D("0.000999"))
