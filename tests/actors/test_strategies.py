from decimal import Decimal as D

import numpy as np
import pytest

from cryptobot.actors.strategies import StrategyConfig, strategy_class
from cryptobot.core.clock import ReplayClock
from cryptobot.core.errors import ValidationError
from cryptobot.core.messages import BookStatus, BookTop, OrderUpdate
from cryptobot.core.orders import Fill, Order
from cryptobot.core.types import Bar, TradeTick
from cryptobot.hotpath.signals import Action, MeanReversionKernel, MomentumKernel

MINUTE = 60 * 10**9


def make(kind, parameters=None, timeframe="1m", capital="1000", max_positions=1):
    intents = []
    config = StrategyConfig("strategy_01jaaaaaaaaaaaaaaaaaaaaaaa", kind, "binance", "BTC/USDT", timeframe,
                            parameters or {}, D(capital), max_positions)
    strategy = strategy_class(kind)(config, intents.append, ReplayClock(0))
    return strategy, intents


def fill_intent(strategy, intent, price, fee="0", fee_asset="USDT"):
    order = Order("order_x", intent.client_order_id, intent.strategy_id, "binance", "BTC/USDT", intent.side, intent.type,
                  intent.quantity, tags={"reason": intent.reason})
    order.apply_fill(intent.quantity, D(price), D(fee), 1)
    fill = Fill("fill_x", "order_x", intent.strategy_id, "binance", "BTC/USDT", intent.side, D(price), intent.quantity,
                D(fee), fee_asset, "taker", 1)
    strategy.on_order_update(OrderUpdate(order, "fill", fill))


def trade(ts, price):
    return TradeTick("binance", "BTC/USDT", ts, ts, price, 1.0, "buy", ts)


def test_mean_reversion_enters_on_low_z_and_exits_on_reversion():
    strategy, intents = make("mean_reversion", {"lookback_period": 3, "entry_threshold": 1.0, "exit_threshold": 0.2,
                                                "stop_loss": 0, "take_profit": 0}, timeframe="1m")
    # Closes 100, 100, 90: z of 90 in [100, 100, 90] is (90 - 96.667) / 4.714 = -1.414.
    for minute, price in enumerate([100, 100, 90]):
        strategy.on_trade(trade(minute * MINUTE, price))
    assert intents == []  # the bar of 90 is not closed yet
    strategy.on_trade(trade(3 * MINUTE, 91))
    (entry,) = intents
    assert (entry.side, entry.type, entry.reason) == ("buy", "market", "entry")
    # 1000 / 1 position / price 91 (the trade that closed the bar)
    assert entry.quantity == D(1000) / D(91)
    fill_intent(strategy, entry, "91")
    # Closes [100, 90, 91] then 99: z of 99 in [90, 91, 99] = (99 - 93.333) / 4.028 = 1.41 >= -0.2
    strategy.on_trade(trade(4 * MINUTE, 99))
    strategy.on_trade(trade(5 * MINUTE, 99))
    exit_ = intents[1]
    assert (exit_.side, exit_.reduce_only, exit_.reason) == ("sell", True, "exit_signal")
    assert exit_.quantity == entry.quantity


def test_mean_reversion_stop_loss_and_take_profit_per_trade():
    kernel = MeanReversionKernel(20, 2.0, 0.5, 2.0, 5.0, MINUTE)
    kernel.position = 1
    kernel.entry_price = 100.0
    assert kernel.on_trade(1, 98.01) == Action.NONE
    assert kernel.on_trade(2, 98.0) == Action.STOP_LOSS
    assert kernel.on_trade(3, 105.0) == Action.TAKE_PROFIT
    kernel.pending = True
    assert kernel.on_trade(4, 90.0) == Action.NONE


def test_short_stop_loss_mirrors():
    kernel = MeanReversionKernel(20, 2.0, 0.5, 2.0, 5.0, MINUTE, True)
    kernel.position = -1
    kernel.entry_price = 100.0
    assert kernel.on_trade(1, 102.0) == Action.STOP_LOSS
    assert kernel.on_trade(2, 95.0) == Action.TAKE_PROFIT


def test_momentum_signals_at_every_sma_cross_of_a_naive_computation():
    rng = np.random.default_rng(5)
    closes = 100 + np.cumsum(rng.normal(0, 1, 400))
    kernel = MomentumKernel(5, 20, "sma", 0, 0, 0, True)
    actions = []
    for i, close in enumerate(closes):
        action = kernel.on_trade(i, float(close))
        if action in (Action.ENTER_LONG, Action.ENTER_SHORT):
            kernel.position = 1 if action == Action.ENTER_LONG else -1
        elif action == Action.EXIT:
            kernel.position = 0
        if action:
            actions.append(i)
    fast = np.convolve(closes, np.ones(5) / 5, "valid")[15:]
    slow = np.convolve(closes, np.ones(20) / 20, "valid")
    side = np.sign(fast - slow)
    expected, position = [], 0
    for i in range(1, len(side)):
        if side[i] == side[i - 1] or side[i] == 0:
            continue
        up = side[i] > 0
        if position == 0:
            position = 1 if up else -1
        elif (position < 0) == up:
            position = 0
        else:
            continue
        expected.append(i + 19)
    assert expected
    assert actions == expected


def test_momentum_strategy_on_bars_goes_long_on_upward_cross():
    strategy, intents = make("momentum", {"fast_period": 2, "slow_period": 3})
    for i, close in enumerate([10, 9, 8, 9, 12]):
        strategy.on_bar(Bar("binance", "BTC/USDT", "1m", i * MINUTE, close, close, close, close, 1))
    # SMA2 / SMA3: bar 2: 8.5 < 9; bar 3: 8.5 < 8.667; bar 4: 10.5 > 9.667 -> cross up
    assert [i.side for i in intents] == ["buy"]


def test_market_making_quotes_skew_with_inventory():
    strategy, intents = make("market_making", {"spread_bps": 20, "order_size": 0.5, "max_inventory": 1,
                                               "inventory_skew": 1.0, "requote_bps": 5})
    strategy.on_book_status(BookStatus("binance", "BTC/USDT", True, "synced", 0))
    empty = np.zeros((0, 2))
    strategy.on_book(BookTop("binance", "BTC/USDT", 1, 1, 1, 99.0, 1, 101.0, 1, empty, empty))
    (bid,) = intents  # flat: no inventory to sell yet
    assert (bid.side, bid.type, bid.post_only) == ("buy", "limit", True)
    assert bid.price == D(repr(100 * (1 - 0.001)))
    fill_intent(strategy, bid, "99.9")
    strategy.on_book(BookTop("binance", "BTC/USDT", 2, 2, 2, 99.0, 1, 101.0, 1, empty, empty))
    # Inventory 0.5 of max 1 lowers both quotes by 1.0 * 0.5 * 0.001 * 100 = 0.05.
    new_bid, new_ask = intents[1], intents[2]
    assert float(new_bid.price) == pytest.approx(99.9 - 0.05)
    assert float(new_ask.price) == pytest.approx(100.1 - 0.05)
    assert new_ask.reduce_only


@pytest.mark.parametrize("kind, params, field", [
    ("mean_reversion", {"lookback_period": 1}, "lookback_period"),
    ("mean_reversion", {"entry_threshold": 1.0, "exit_threshold": 1.5}, "exit_threshold"),
    ("mean_reversion", {"stop_loss": "2"}, "stop_loss"),
    ("mean_reversion", {"bogus": 1}, "bogus"),
    ("momentum", {"fast_period": 30, "slow_period": 10}, "fast_period"),
    ("momentum", {"average": "hull"}, "average"),
    ("market_making", {"spread_bps": 0}, "spread_bps"),
])
def test_bad_parameters_name_the_field_and_range(kind, params, field):
    with pytest.raises(ValidationError) as info:
        make(kind, params)
    assert field in info.value.details


def test_parameter_error_states_range():
    with pytest.raises(ValidationError, match=r"invalid parameter 'lookback_period': expected int in \[2, 10000\], was 1"):
        make("mean_reversion", {"lookback_period": 1})


def test_unknown_strategy_type():
    with pytest.raises(ValidationError, match="'strategy_type' must be one of mean_reversion, momentum, market_making"):
        strategy_class("arbitrage")


def test_base_fee_buy_then_close_sells_held_quantity():
    strategy, intents = make("mean_reversion", {"lookback_period": 2, "entry_threshold": 0.5, "exit_threshold": 0.1},
                             timeframe="1m")
    entry = strategy.emit("buy", D("0.001"), "entry")
    fill_intent(strategy, intents[0], "60000", fee="0.000001", fee_asset="BTC")
    assert strategy.position == D("0.000999")
    strategy.close_position("close")
    assert intents[1].quantity == D("0.000999")
    assert entry != intents[1].client_order_id


def test_counters_count_wins_and_losses():
    strategy, intents = make("mean_reversion")
    strategy.emit("buy", D("1"), "entry")
    fill_intent(strategy, intents[0], "100")
    strategy.close_position("take_profit")
    fill_intent(strategy, intents[1], "110")
    strategy.emit("buy", D("1"), "entry")
    fill_intent(strategy, intents[2], "100")
    strategy.close_position("stop_loss")
    fill_intent(strategy, intents[3], "95")
    counters = strategy.counters
    assert (counters.trades, counters.winning_trades, counters.losing_trades) == (2, 1, 1)
    assert counters.realized_pnl == D("5")
    assert strategy.position == 0
    assert intents[0].client_order_id != intents[2].client_order_id


def test_stored_parameters_missing_some_get_defaults():
    from cryptobot.actors.strategies.mean_reversion import MeanReversion

    full = MeanReversion.validate_parameters({"entry_threshold": 3.0}, base={"lookback_period": 30})
    assert full["lookback_period"] == 30
    assert full["entry_threshold"] == 3.0
    assert full["exit_threshold"] == 0.5  # default
