"""Candle replays: the C loop against every candle through the actors, a stop inside a candle, the averages."""

from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest

from cryptobot.actors.backtest import BacktestSpec, BarColumns, run_bars
from cryptobot.actors.backtest.harness import Harness
from cryptobot.core.clock import iso_to_ns
from cryptobot.core.instruments import Instrument
from cryptobot.hotpath.signals import Action, MeanReversionKernel

BTC = Instrument("binance", "BTC/USDT", "BTCUSDT", "BTC", "USDT", tick_size=D("0.01"), step_size=D("0.00001"),
                 min_qty=D("0.00001"), min_notional=D("5"))
MINUTE = 60_000_000_000
T0 = iso_to_ns("2024-08-01T00:00:00Z")


def bar_columns(rows):
    o, h, l, c = (np.array(column, dtype=np.float64) for column in zip(*rows))
    ts = T0 + MINUTE * np.arange(len(rows), dtype=np.int64)
    return BarColumns(ts, o, h, l, c, np.ones(len(rows)))


def test_stop_inside_candle_exits_at_next_open():
    # Momentum 1/2: the close of 101 after 99 crosses upwards, the buy fills at the next open (102, no latency).
    # The candle after that reaches 99 <= 102 * 0.98, so the stop fires at its close and fills at the next open.
    rows = [(100, 100, 100, 100), (100, 100, 99, 99), (99, 101, 99, 101), (102, 103, 101.5, 102),
            (101, 101, 99, 100.5), (100, 100, 100, 100)]
    spec = BacktestSpec.build("momentum", "binance", "BTC/USDT", T0, T0 + 6 * MINUTE, 10_000,
                              {"fast_period": 1, "slow_period": 2, "stop_loss": 2.0}, bars=True,
                              latency_ns=0).with_instrument(BTC)
    output = run_bars(spec, bar_columns(rows))
    assert len(output.closed_trades) == 1
    trade = output.closed_trades[0]
    quantity = D("94.05940")  # 95 % of 10,000 at the signal close 101, down to the 0.00001 step
    assert (trade.entry_price, trade.entry_time) == (D("102.00"), T0 + 3 * MINUTE)
    assert (trade.exit_price, trade.exit_time, trade.exit_reason) == (D("100.00"), T0 + 5 * MINUTE, "stop_loss")
    assert trade.quantity == quantity
    fees = quantity * D("102.00") * D("0.001") + quantity * D("100.00") * D("0.001")
    assert trade.fees == fees
    assert output.final_capital == D(10_000) + quantity * (D("100.00") - D("102.00")) - fees


def test_stop_candle_close_joins_zscore():
    kernel = MeanReversionKernel(3, 2.0, 0.5, 1.0, 0.0, 0)
    for close in (100.0, 101.0):
        assert kernel.on_bar(close, close, close) == Action.NONE
    kernel.position, kernel.entry_price = 1, 100.0
    assert kernel.on_bar(100.0, 98.0, 99.0) == Action.STOP_LOSS  # low 98 <= 100 * 0.99
    closes = np.array([100.0, 101.0, 99.0])
    assert kernel.last_z == pytest.approx((99.0 - closes.mean()) / closes.std(), rel=1e-12)


def every_candle(spec, columns):
    """Every candle to the exchange and to the strategy actor through the actors: nothing skipped."""
    harness = Harness(spec)
    for row in zip(*(column.tolist() for column in (columns.ts_open, columns.open, columns.high, columns.low,
                                                    columns.close, columns.volume))):
        harness.bar(*row)
    harness.finish(bars=True)
    return harness


@pytest.mark.parametrize("strategy, parameters", [
    ("mean_reversion", {"lookback_period": 10, "entry_threshold": 1.5, "exit_threshold": 0.3, "stop_loss": 0.3,
                        "take_profit": 0.5}),
    ("momentum", {"fast_period": 5, "slow_period": 20, "stop_loss": 0.4}),
])
@pytest.mark.parametrize("latency_ns", [0, 1_000_000])
def test_c_loop_matches_every_candle(sample_data, strategy, parameters, latency_ns):
    frames = [pd.read_csv(sample_data / "binance_vision_klines" / f"BTCUSDT-1m-2024-08-0{day}.csv", header=None)
              for day in (1, 2, 3)]
    raw = pd.concat(frames, ignore_index=True)
    columns = BarColumns(raw[0].to_numpy(np.int64) * 1_000_000, *(raw[i].to_numpy(float) for i in range(1, 6)))
    spec = BacktestSpec.build(strategy, "binance", "BTC/USDT", int(columns.ts_open[0]), int(columns.ts_open[-1]) + MINUTE,
                              10_000, parameters, bars=True, latency_ns=latency_ns).with_instrument(BTC)
    fast = run_bars(spec, columns)
    slow = every_candle(spec, columns)
    reasons = {t.exit_reason for t in fast.closed_trades}
    assert len(fast.closed_trades) >= 20  # entries, exits and stops all happen
    assert "stop_loss" in reasons
    key = lambda t: (t.entry_time, t.exit_time, t.entry_price, t.exit_price, t.quantity, t.fees, t.exit_reason)
    assert [key(t) for t in fast.closed_trades] == [key(t) for t in slow.closed_trades]
    assert fast.final_capital == slow.equity()
    assert fast.counters["market_calls"] < len(columns) / 2  # most candles never leave the C loop
