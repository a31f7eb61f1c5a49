from decimal import Decimal as D

import numpy as np
import pytest

from cryptobot.actors.risk import RiskActor
from cryptobot.actors.risk_checks import RiskLimits, Throttle
from cryptobot.core.actor import Actor
from cryptobot.core.clock import ReplayClock
from cryptobot.core.engine import Engine
from cryptobot.core.errors import ValidationError
from cryptobot.core.instruments import Instrument
from cryptobot.core.messages import (
    BookStatus, BookTop, CancelRequest, InstrumentsUpdate, KillSwitch, OrderIntent, OrderUpdate, RiskRejection,
    SetRiskLimits, StrategyPnl,
)
from cryptobot.core.orders import Fill, OrderStatus

BTC = Instrument("binance", "BTC/USDT", "BTCUSDT", "BTC", "USDT", tick_size=D("0.01"), step_size=D("0.00001"),
                 min_qty=D("0.00001"), max_qty=D("9000"), min_notional=D("10"))


class Sink(Actor):
    def __init__(self, name):
        super().__init__(name)
        self.seen = []

    def on_message(self, message):
        self.seen.append(message)


async def setup(limits=None, ready=True, mid=(59999.0, 60001.0)):
    clock = ReplayClock(1_000_000_000_000)
    engine = Engine(clock=clock)
    execution = Sink("execution")
    await engine.spawn(execution)
    replies = Sink("strategy")
    replies_ref = await engine.spawn(replies)
    risk = RiskActor("execution", defaults=limits or RiskLimits())
    ref = await engine.spawn(risk)
    ref.tell(InstrumentsUpdate("binance", {"BTC/USDT": BTC}))
    bid, ask = mid
    ref.tell(BookTop("binance", "BTC/USDT", 1, 1, 1, bid, 1.0, ask, 1.0, np.zeros((0, 2)), np.zeros((0, 2))))
    ref.tell(BookStatus("binance", "BTC/USDT", ready, "synced", 1))
    return engine, clock, risk, ref, execution, replies, replies_ref


async def settle(engine):
    for _ in range(3):
        for cell in list(engine._cells.values()):
            await cell.drained()


def intent(qty="0.001", side="buy", type_="limit", price="60000", strategy="strategy_a", reply=None, **kw):
    return OrderIntent(f"c-{qty}-{side}-{price}", strategy, "binance", "BTC/USDT", side, type_, D(qty),
                       price=None if price is None else D(price), reply_to=reply, **kw)


async def test_approved_limit_is_rounded_passively_and_forwarded():
    engine, _, risk, ref, execution, _, _ = await setup()
    ref.tell(intent(qty="0.0012345", price="60000.019"))
    await settle(engine)
    (order,) = execution.seen
    assert order.quantity == D("0.00123")
    assert order.price == D("60000.01")
    assert order.status is OrderStatus.NEW
    assert order.order_id.startswith("order_")
    assert order.tags == {"reason": "entry"}


async def test_rejection_reaches_reply_to_and_bus_with_reason():
    engine, _, risk, ref, execution, replies, replies_ref = await setup()
    published = []
    engine.bus.subscribe("risk.rejections", published.append)
    ref.tell(intent(qty="0.0001", price="60000", reply=replies_ref))  # notional 6 < 10
    await settle(engine)
    assert execution.seen == []
    (rejection,) = replies.seen
    assert isinstance(rejection, RiskRejection)
    assert rejection.reason == "min_notional"
    assert rejection.message == "notional 6 is below the minimum 10 of BTC/USDT"
    assert published == [rejection]


@pytest.mark.parametrize("price, reason", [("70000", "price_band"), ("50000", "price_band")])
async def test_fat_finger_price_is_rejected(price, reason):
    engine, _, risk, ref, execution, replies, replies_ref = await setup(RiskLimits(price_band_percent=D("5")))
    ref.tell(intent(price=price, reply=replies_ref))
    await settle(engine)
    assert replies.seen[0].reason == reason
    assert "the band is ±5 %" in replies.seen[0].message


async def test_book_not_ready_rejects():
    engine, _, risk, ref, execution, replies, replies_ref = await setup(ready=False)
    ref.tell(intent(reply=replies_ref))
    await settle(engine)
    assert replies.seen[0].reason == "book_not_ready"


async def test_throttle_counts_a_sliding_second():
    engine, clock, risk, ref, execution, replies, replies_ref = await setup(RiskLimits(orders_per_second=2))
    for i in range(3):
        ref.tell(OrderIntent(f"c{i}", "strategy_a", "binance", "BTC/USDT", "buy", "limit", D("0.001"), D("60000"), reply_to=replies_ref))
    await settle(engine)
    assert len(execution.seen) == 2
    assert replies.seen[0].reason == "throttled"
    clock.advance(1_000_000_000)
    ref.tell(OrderIntent("c3", "strategy_a", "binance", "BTC/USDT", "buy", "limit", D("0.001"), D("60000"), reply_to=replies_ref))
    await settle(engine)
    assert len(execution.seen) == 3


async def test_capital_allocation_counts_open_orders():
    engine, _, risk, ref, execution, replies, replies_ref = await setup(RiskLimits(price_band_percent=None))
    ref.tell(SetRiskLimits("strategy_a", RiskLimits(capital_allocation=D("1000"))))
    # 0.01 * 60000 = 600 each: the first fits, the second would make 1200.
    ref.tell(intent(qty="0.01", reply=replies_ref))
    ref.tell(OrderIntent("c2", "strategy_a", "binance", "BTC/USDT", "buy", "limit", D("0.01"), D("60000"), reply_to=replies_ref))
    await settle(engine)
    assert len(execution.seen) == 1
    assert replies.seen[0].reason == "capital_allocation"


async def test_limit_changes_apply_to_next_intent():
    engine, _, risk, ref, execution, replies, replies_ref = await setup(RiskLimits(price_band_percent=None))
    ref.tell(SetRiskLimits("strategy_a", RiskLimits(max_order_quantity=D("1"))))
    ref.tell(intent(qty="0.01", reply=replies_ref))  # approved under both limits
    # New defaults: a 500 notional cap, while the strategy keeps its own quantity cap.
    ref.tell(SetRiskLimits(None, RiskLimits(price_band_percent=None, max_order_notional=D("500"))))
    ref.tell(OrderIntent("c2", "strategy_a", "binance", "BTC/USDT", "buy", "limit", D("0.01"), D("60000"),
                         reply_to=replies_ref))  # notional 600
    ref.tell(SetRiskLimits("strategy_a", RiskLimits(max_order_quantity=D("0.001"))))
    ref.tell(OrderIntent("c4", "strategy_a", "binance", "BTC/USDT", "buy", "limit", D("0.002"), D("60000"),
                         reply_to=replies_ref))  # notional 120, quantity above 0.001
    await settle(engine)
    assert len(execution.seen) == 1
    assert [r.reason for r in replies.seen] == ["max_order_notional", "max_order_quantity"]


async def test_daily_loss_limit_blocks_new_exposure():
    engine, _, risk, ref, execution, replies, replies_ref = await setup()
    ref.tell(SetRiskLimits("strategy_a", RiskLimits(daily_loss_limit=D("100"))))
    ref.tell(StrategyPnl("strategy_a", D("-100.5"), 1))
    ref.tell(intent(reply=replies_ref))
    await settle(engine)
    assert replies.seen[0].reason == "daily_loss_limit"


def filled(order, qty, price, fee="0", fee_asset="USDT"):
    order.apply_fill(D(qty), D(price), D(fee), 2)
    fill = Fill("fill_x", order.order_id, order.strategy_id, order.exchange, order.symbol, order.side, D(price), D(qty),
                D(fee), fee_asset, "taker", 2)
    return OrderUpdate(order, "fill", fill)


async def test_close_after_base_fee_sells_rounded_quantity_and_reports_dust():
    engine, _, risk, ref, execution, replies, replies_ref = await setup()
    dust = []
    engine.bus.subscribe("risk.dust", dust.append)
    ref.tell(intent(qty="0.001", type_="market", price=None))
    await settle(engine)
    (bought,) = execution.seen
    bought.transition("accept", 1)
    ref.tell(filled(bought, "0.001", "60000", fee="0.000001", fee_asset="BTC"))
    ref.tell(OrderIntent("close-1", "strategy_a", "binance", "BTC/USDT", "sell", "market", D("0.000999"),
                         reduce_only=True, reason="close"))
    await settle(engine)
    close = execution.seen[1]
    assert close.quantity == D("0.00099")
    assert close.reduce_only
    assert dust[0].quantity == D("0.000009")


async def test_close_of_pure_dust_is_rejected_not_sent():
    engine, _, risk, ref, execution, replies, replies_ref = await setup()
    risk.positions[("strategy_a", "binance", "BTC/USDT")] = D("0.0001")  # 6 USDT < min notional
    ref.tell(OrderIntent("close-1", "strategy_a", "binance", "BTC/USDT", "sell", "market", D("0.0001"),
                         reduce_only=True, reason="close", reply_to=replies_ref))
    await settle(engine)
    assert execution.seen == []
    assert replies.seen[0].reason == "dust"


async def test_reduce_only_without_position_is_rejected():
    engine, _, risk, ref, execution, replies, replies_ref = await setup()
    ref.tell(OrderIntent("r1", "strategy_a", "binance", "BTC/USDT", "sell", "market", D("0.01"), reduce_only=True,
                         reply_to=replies_ref))
    await settle(engine)
    assert replies.seen[0].reason == "reduce_only"


async def test_kill_switch_rejects_and_cancels_open_orders():
    engine, _, risk, ref, execution, replies, replies_ref = await setup()
    ref.tell(intent())
    await settle(engine)
    open_id = execution.seen[0].order_id
    ref.tell(KillSwitch(True, "operator"))
    ref.tell(intent(qty="0.002", reply=replies_ref))
    await settle(engine)
    assert execution.seen[1] == CancelRequest(open_id, reason="kill_switch")
    assert replies.seen[0].reason == "kill_switch"
    assert replies.seen[0].message == "the kill switch is engaged (operator); no new orders"


async def test_malformed_intents_are_rejected_with_the_field():
    engine, _, risk, ref, execution, replies, replies_ref = await setup()
    ref.tell(intent(type_="limit", price=None, reply=replies_ref))
    ref.tell(intent(type_="market", price="60000", reply=replies_ref))
    ref.tell(intent(qty="-1", reply=replies_ref))
    await settle(engine)
    messages = [r.message for r in replies.seen]
    assert messages == ["a limit order needs a price > 0, was None", "a market order takes no price, was 60000",
                        "quantity must be > 0, was -1"]


def test_limits_from_mapping_validates():
    limits = RiskLimits.from_mapping({"capital_allocation": 1000.0, "max_positions": 5})
    assert limits.capital_allocation == D("1000.0")
    assert limits.price_band_percent is None
    with pytest.raises(ValidationError, match="'max_positions' must be an integer >= 1, was 0"):
        RiskLimits.from_mapping({"max_positions": 0})
    with pytest.raises(ValidationError, match="unknown risk limit 'bogus'"):
        RiskLimits.from_mapping({"bogus": 1})


def test_throttle_without_limit_keeps_one_second():
    throttle = Throttle()
    for i in range(5000):
        throttle.record(i * 1_000_000)  # one order per millisecond for five seconds
        throttle.check(None, i * 1_000_000, "this account")
    assert len(throttle) == 1000  # the orders of the last second: 4.000 s to 4.999 s
