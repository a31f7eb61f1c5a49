"""Trade replays: fill timing (no look-ahead, latency), the C loop against a plain loop, determinism, cancel."""

import csv
from decimal import Decimal as D

import numpy as np
import pytest

from cryptobot.actors.backtest import (BacktestCancelled, BacktestSpec, Control, TradeColumns, build_results,
                                       results_bytes, run_trades)
from cryptobot.actors.backtest.harness import Harness
from cryptobot.actors.backtest.run import CHUNK_ROWS
from cryptobot.core.clock import iso_to_ns
from cryptobot.core.instruments import Instrument
from cryptobot.core.types import TradeTick

BTC = Instrument("binance", "BTC/USDT", "BTCUSDT", "BTC", "USDT", tick_size=D("0.01"), step_size=D("0.00001"),
                 min_qty=D("0.00001"), min_notional=D("5"))
MINUTE = 60_000_000_000
MS = 1_000_000
T0 = iso_to_ns("2024-08-01T00:00:00Z")
# Momentum with fast 1 and slow 2 crosses upwards on the first close above the
# previous one after a fall: closes 100, 99, 101 enter long when the fourth
# minute's first trade closes the 101 bar.
CROSS = {"fast_period": 1, "slow_period": 2}


def spec(end_ns, parameters=CROSS, strategy="momentum", **terms):
    return BacktestSpec.build(strategy, "binance", "BTC/USDT", T0, end_ns, 10_000, parameters, **terms).with_instrument(BTC)


def columns(rows):
    ts, price = zip(*rows)
    n = len(rows)
    return TradeColumns(np.array(ts, dtype=np.int64), np.array(price, dtype=np.float64), np.full(n, 1.0),
                        np.ones(n, dtype=np.int8))


CROSS_TRADES = [(T0, 100.0), (T0 + MINUTE, 99.0), (T0 + 2 * MINUTE, 101.0),
                (T0 + 3 * MINUTE, 150.0),  # closes the 101 bar: the signal, on this trade
                (T0 + 3 * MINUTE + MS // 2, 151.0),  # before the order can arrive (1 ms latency)
                (T0 + 3 * MINUTE + MS, 152.0)]  # the first trade at or after arrival


def test_signal_trade_never_fills_its_own_order():
    output = run_trades(spec(T0 + 4 * MINUTE), columns(CROSS_TRADES))
    trade = output.closed_trades[0]
    assert trade.entry_price == D("152.00")
    assert trade.entry_time == T0 + 3 * MINUTE + MS


def test_zero_latency_fills_on_next_trade():
    output = run_trades(spec(T0 + 4 * MINUTE, latency_ns=0), columns(CROSS_TRADES))
    assert output.closed_trades[0].entry_price == D("151.00")


def test_slippage_moves_market_fill_against_order():
    output = run_trades(spec(T0 + 4 * MINUTE, slippage_bps=10), columns(CROSS_TRADES))
    assert output.closed_trades[0].entry_price == D("152.15")  # 152 * 1.001 = 152.152, on the 0.01 grid


def test_end_of_backtest_closes_at_last_price_with_fees():
    output = run_trades(spec(T0 + 4 * MINUTE), columns(CROSS_TRADES))
    trade = output.closed_trades[0]
    assert trade.exit_reason == "end_of_backtest"
    assert trade.exit_price == D("152.00")
    # Entry spends 95 % of 10,000 at the signal price 150: 63.33333 BTC on the 0.00001 grid.
    assert trade.quantity == D("63.33333")
    # 0.1 % taker fee in USDT on both fills.
    assert trade.fees == D("63.33333") * D("152.00") * D("0.002")
    assert output.final_capital == D(10_000) - trade.fees


def test_end_of_backtest_uses_last_skipped_trade():
    # Once the position is open, the C loop calls nothing for the trades at 160 and 170.
    rows = CROSS_TRADES + [(T0 + 3 * MINUTE + 5 * MS, 160.0), (T0 + 3 * MINUTE + 9 * MS, 170.0)]
    output = run_trades(spec(T0 + 4 * MINUTE), columns(rows))
    trade = output.closed_trades[0]
    assert trade.exit_price == D("170.00")
    assert trade.exit_time == T0 + 3 * MINUTE + 10 * MS  # the last trade plus 1 ms latency
    quantity = D("63.33333")
    fees = quantity * D("152.00") * D("0.001") + quantity * D("170.00") * D("0.001")
    assert output.final_capital == D(10_000) + quantity * (D("170.00") - D("152.00")) - fees


def test_equity_samples_before_first_trade_are_initial_capital():
    output = run_trades(spec(T0 + 4 * MINUTE), columns(CROSS_TRADES))
    assert output.equity[0] == 10_000.0
    assert output.equity_ts[0] == T0
    assert output.equity_ts[-1] == T0 + 4 * MINUTE


def tardis_trades(sample_data):
    with open(sample_data / "nautilus_trader" / "tardis" / "trades.csv") as handle:
        rows = list(csv.DictReader(handle))
    ts = np.array([int(r["timestamp"]) * 1000 for r in rows], dtype=np.int64)
    price = np.array([float(r["price"]) for r in rows])
    size = np.array([float(r["amount"]) for r in rows])
    side = np.array([1 if r["side"] == "buy" else 2 for r in rows], dtype=np.int8)
    return TradeColumns(ts, price, size, side)


MEAN_REVERSION = {"lookback_period": 5, "entry_threshold": 1.2, "exit_threshold": 0.2, "stop_loss": 0.05,
                  "take_profit": 0.1}


def real_spec(data, **terms):
    return BacktestSpec.build("mean_reversion", "binance", "BTC/USDT", int(data.ts_event[0]), int(data.ts_event[-1]) + 1,
                              10_000, MEAN_REVERSION, **terms).with_instrument(BTC)


def plain_loop(run_spec, data):
    """Every trade to the exchange and to the strategy actor, as live: no C loop, nothing skipped."""
    harness = Harness(run_spec)
    for ts, price, size, side in zip(data.ts_event.tolist(), data.price.tolist(), data.size.tolist(),
                                     data.side.tolist()):
        harness.trade(ts, price, size, side)
        harness.strategy_ref.tell(TradeTick("binance", "BTC/USDT", ts, ts, price, size, "buy", 0))
    harness.finish(bars=False)
    return harness


def test_c_loop_matches_plain_loop_on_real_trades(sample_data):
    data = tardis_trades(sample_data)
    run_spec = real_spec(data)
    fast = run_trades(run_spec, data)
    slow = plain_loop(run_spec, data)
    assert len(fast.closed_trades) >= 5  # the case exercises entries, exits and stops
    key = lambda t: (t.entry_time, t.exit_time, t.entry_price, t.exit_price, t.quantity, t.fees, t.exit_reason)
    assert [key(t) for t in fast.closed_trades] == [key(t) for t in slow.closed_trades]
    assert fast.final_capital == slow.equity()


def test_c_loop_calls_python_rarely(sample_data):
    data = tardis_trades(sample_data)
    output = run_trades(real_spec(data), data)
    calls = output.counters["market_calls"] + output.counters["action_calls"]
    assert calls < len(data) / 50


def test_same_inputs_give_identical_result_bytes(sample_data):
    data = tardis_trades(sample_data)
    first = results_bytes(build_results(run_trades(real_spec(data), data)))
    second = results_bytes(build_results(run_trades(real_spec(data), data)))
    assert first == second


def test_results_trades_add_up_to_final_capital(sample_data):
    data = tardis_trades(sample_data)
    results = build_results(run_trades(real_spec(data), data))
    total = sum(t["profit_loss"] for t in results["trades_list"])
    assert results["initial_capital"] + total == pytest.approx(results["final_capital"], abs=1e-6)
    assert results["equity_curve"][-1]["equity"] == results["final_capital"]


class CancelAt(Control):
    """Sets its own cancel flag once the reported progress reaches ``percent``."""

    def __init__(self, percent):
        super().__init__()
        self.percent = percent
        self.reports = []

    @Control.progress.setter
    def progress(self, value):
        Control.progress.fset(self, value)
        self.reports.append(value)
        if value >= self.percent:
            self.cancel()


def test_cancel_stops_replay_at_next_chunk():
    n = 4 * CHUNK_ROWS
    ts = T0 + np.arange(n, dtype=np.int64) * 10 * MS
    data = TradeColumns(ts, np.full(n, 100.0), np.ones(n), np.ones(n, dtype=np.int8))
    control = CancelAt(50.0)
    with pytest.raises(BacktestCancelled):
        run_trades(spec(int(ts[-1]) + 1, MEAN_REVERSION, "mean_reversion"), data, control)
    assert control.reports == [25.0, 50.0]


def test_wake_conditions_report_due_orders_and_resting_prices():
    from cryptobot.core.orders import Order
    from cryptobot.gateways.sim_account import SimulatedAccount
    from cryptobot.gateways.simulated import SimulatedExchange

    exchange = SimulatedExchange("binance", {"BTC/USDT": BTC}, SimulatedAccount({"USDT": D(10_000), "BTC": D(1)}),
                                 latency_ns=MS)
    assert exchange.wake_conditions("BTC/USDT") == (None, float("-inf"), float("inf"), float("inf"), float("-inf"))
    exchange.on_trade(TradeTick("binance", "BTC/USDT", T0, T0, 100.0, 1.0, "buy", 1))
    exchange.submit_now(Order("o1", "c1", None, "binance", "BTC/USDT", "buy", "limit", D("0.1"), price=D("99"),
                              created_at=T0))
    exchange.submit_now(Order("o2", "c2", None, "binance", "BTC/USDT", "sell", "limit", D("0.1"), price=D("105"),
                              created_at=T0))
    assert exchange.wake_conditions("BTC/USDT")[0] == T0 + MS
    exchange.on_trade(TradeTick("binance", "BTC/USDT", T0 + MS, T0 + MS, 100.0, 1.0, "buy", 2))
    assert exchange.wake_conditions("BTC/USDT") == (None, 99.0, 105.0, float("inf"), float("-inf"))
