"""Cross-check: a moving-average cross on real 1-minute candles, in Cryptobot and in backtesting.py.

Fill rules aligned on both sides:

* market orders fill at the next candle's open (backtesting.py's default,
  ``trade_on_close=False``; Cryptobot's bar replay with 0 latency);
* commission 0.1 % of each fill's value, charged in cash (Cryptobot
  ``fee_mode="quote"``), no spread and no slippage;
* one long position at a time, entered on an upward cross when flat and
  closed on a downward cross (``exclusive_orders`` is not needed);
* an entry buys 95 % of the equity at the signal candle's close, rounded
  down to 0.00001 BTC (Binance's step size): backtesting.py trades whole
  units, so it runs as ``FractionalBacktest`` with a unit of 0.00001 BTC
  and the strategy passes that count of units.

backtesting.py leaves a position open at the end of the data, marked at the
last close; Cryptobot closes it there and pays the fee, which the
comparison subtracts.  Prices, times and quantities agree exactly up to
float rounding; the tolerance on money (1e-9 relative) covers the float
arithmetic of backtesting.py against Cryptobot's decimal arithmetic.
"""

import warnings
from decimal import ROUND_FLOOR, Decimal as D

import numpy as np
import pandas as pd
import pytest

from cryptobot.actors.backtest import BacktestSpec, BarColumns, run_bars
from cryptobot.core.instruments import Instrument

backtesting = pytest.importorskip("backtesting")
from backtesting import Strategy  # noqa: E402
from backtesting.lib import FractionalBacktest, crossover  # noqa: E402

STEP = D("0.00001")
FEE = 0.001
FAST, SLOW = 10, 30
BTC = Instrument("binance", "BTC/USDT", "BTCUSDT", "BTC", "USDT", tick_size=D("0.01"), step_size=STEP)
DAYS = [f"2024-08-{day:02d}" for day in range(1, 11)]


def load_klines(sample_data):
    frames = [pd.read_csv(sample_data / "binance_vision_klines" / f"BTCUSDT-1m-{day}.csv", header=None)
              for day in DAYS]
    raw = pd.concat(frames, ignore_index=True)
    ts_ns = raw[0].to_numpy(dtype=np.int64) * 1_000_000
    return ts_ns, raw[1].to_numpy(float), raw[2].to_numpy(float), raw[3].to_numpy(float), raw[4].to_numpy(float), \
        raw[5].to_numpy(float)


def cryptobot_run(ts, o, h, l, c, v):
    spec = BacktestSpec.build("momentum", "binance", "BTC/USDT", int(ts[0]), int(ts[-1]) + 60_000_000_000, 10_000,
                              {"fast_period": FAST, "slow_period": SLOW}, bars=True, latency_ns=0, fee_mode="quote",
                              maker_fee=FEE, taker_fee=FEE, position_size="0.95").with_instrument(BTC)
    return run_bars(spec, BarColumns(ts, o, h, l, c, v))


def sma(values, period):
    return pd.Series(values).rolling(period).mean().to_numpy()


def peer_run(ts, o, h, l, c, v):
    closes = dict(zip(pd.to_datetime(ts, utc=True), c.tolist()))

    class Cross(Strategy):
        def init(self):
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self):
            if crossover(self.fast, self.slow) and not self.position:
                close = closes[self.data.index[-1]]
                quantity = (D(repr(float(self.equity))) * D("0.95") / D(repr(close))).quantize(STEP, rounding=ROUND_FLOOR)
                self.buy(size=int(quantity / STEP))
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    frame = pd.DataFrame({"Open": o, "High": h, "Low": l, "Close": c, "Volume": v},
                         index=pd.to_datetime(ts, utc=True))
    test = FractionalBacktest(frame, Cross, cash=10_000, commission=FEE, fractional_unit=float(STEP),
                              trade_on_close=False, exclusive_orders=False, finalize_trades=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*remain open.*")
        return test.run()


@pytest.fixture(scope="module")
def both(sample_data):
    data = load_klines(sample_data)
    return data, cryptobot_run(*data), peer_run(*data)


def test_peer_trade_count_matches(both):
    _, ours, theirs = both
    closed = [t for t in ours.closed_trades if t.exit_reason != "end_of_backtest"]
    assert len(closed) == len(theirs["_trades"]) > 50


def test_peer_entries_and_exits_match(both):
    _, ours, theirs = both
    peer = theirs["_trades"]
    closed = [t for t in ours.closed_trades if t.exit_reason != "end_of_backtest"]
    assert [t.entry_time for t in closed] == [ts.value for ts in peer["EntryTime"]]
    assert [t.exit_time for t in closed] == [ts.value for ts in peer["ExitTime"]]
    assert [float(t.entry_price) for t in closed] == pytest.approx(peer["EntryPrice"].tolist(), rel=1e-12)
    assert [float(t.exit_price) for t in closed] == pytest.approx(peer["ExitPrice"].tolist(), rel=1e-12)
    assert [float(t.quantity) for t in closed] == pytest.approx(peer["Size"].tolist(), rel=1e-12)


def test_peer_profits_match(both):
    _, ours, theirs = both
    closed = [t for t in ours.closed_trades if t.exit_reason != "end_of_backtest"]
    assert [float(t.profit_loss - t.fees) for t in closed] == pytest.approx(theirs["_trades"]["PnL"].tolist(),
                                                                             rel=1e-9, abs=1e-9)


def test_peer_final_equity_matches(both):
    data, ours, theirs = both
    last_close = data[4][-1]
    open_trade = [t for t in ours.closed_trades if t.exit_reason == "end_of_backtest"]
    exit_fee = float(open_trade[0].quantity) * last_close * FEE if open_trade else 0.0
    assert float(ours.final_capital) == pytest.approx(theirs["Equity Final [$]"] - exit_fee, rel=1e-9)
