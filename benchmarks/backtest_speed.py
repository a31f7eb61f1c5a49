"""Backtest replay speed: the full loop on real trades, against baselines measured in the same run.

The trades are the real Binance spot BTCUSDT trades of
``hftbacktest/spot/btcusdt_2024080{8,9}.gz`` (19,904 trades, 11 minutes),
REPEATED with shifted timestamps (and trade ids) until there are
``--trades`` of them.  They are written to a temporary embedded ClickHouse,
then timed:

* full loop: ClickHouse -> ReplayReader -> C loop with the mean_reversion
  kernel -> strategy, risk, simulated exchange, portfolio (defaults:
  lookback 10, entry at z <= -1.5, on 1-minute bars, 1 ms latency, 0.1 % fees);
* the replay alone, on columns already in memory;
* baseline 1, the plain loop: every trade handed to the execution actor
  and the strategy actor in Python, as live (on the first ``--plain`` trades);
* baseline 2, backtesting.py 0.6 on the 1-minute candles of the same trades,
  with a z-score strategy of the same rules, next to Cryptobot's candle replay.

Run: ``python benchmarks/backtest_speed.py --sample-data ../shared/data/real``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from cryptobot.actors.backtest import BacktestSpec, BarColumns, TradeColumns, run_bars, run_trades
from cryptobot.actors.backtest.data import load_trades
from cryptobot.actors.backtest.harness import Harness
from cryptobot.core.types import TradeTick
from cryptobot.storage.clickhouse import ClickHouseStore, arrow_repeat
from cryptobot.storage.importers.loader import import_file
from cryptobot.storage.tick_batches import to_arrow
from cryptobot.storage.tick_queries import candles_from_trades, trades

MINUTE = 60_000_000_000
# Looser than the defaults, so the repeated 11 minutes of trades give round trips.
PARAMETERS = {"lookback_period": 10, "entry_threshold": 1.5, "exit_threshold": 0.3, "stop_loss": 2.0,
              "take_profit": 5.0}


def repeated_trades(store: ClickHouseStore, sample_data: Path, total: int) -> tuple[int, int]:
    for name in ("btcusdt_20240808.gz", "btcusdt_20240809.gz"):
        import_file(store, sample_data / "hftbacktest" / "spot" / name, "binance", "BTC/USDT", "trades")
    real = trades(store, "binance", "BTC/USDT", 0, 2**62)
    store.command(f"TRUNCATE TABLE {store.table('trades')}")
    span = int(real["ts_event"][-1] - real["ts_event"][0]) + 1_000_000
    copies = -(-total // len(real["ts_event"]))
    for copy in range(copies):
        columns = {"ts_event": real["ts_event"] + copy * span, "ts_recv": real["ts_recv"] + copy * span,
                   "price": real["price"], "quantity": real["quantity"], "side": real["side"],
                   "trade_id": real["trade_id"] + copy * 10_000_000}
        n = len(columns["ts_event"])
        store.insert_arrow("trades", to_arrow(columns, arrow_repeat("binance", n), arrow_repeat("BTC/USDT", n)))
    start = int(real["ts_event"][0]) // MINUTE * MINUTE
    return start, int(real["ts_event"][0]) + copies * span


def plain_loop(spec: BacktestSpec, data: TradeColumns, rows: int) -> float:
    harness = Harness(spec)
    started = time.perf_counter()
    for ts, price, size in zip(data.ts_event[:rows].tolist(), data.price[:rows].tolist(), data.size[:rows].tolist()):
        harness.trade(ts, price, size, 1)
        harness.strategy_ref.tell(TradeTick("binance", "BTC/USDT", ts, ts, price, size, "buy", 0))
    return rows / (time.perf_counter() - started)


def backtesting_py(candles) -> tuple[float, int]:
    from backtesting import Backtest, Strategy

    def zscore(close, n):
        series = pd.Series(close)
        return ((series - series.rolling(n).mean()) / series.rolling(n).std(ddof=0)).to_numpy()

    class MeanReversion(Strategy):
        def init(self):
            self.z = self.I(zscore, self.data.Close, PARAMETERS["lookback_period"])

        def next(self):
            z = self.z[-1]
            if not self.position and z <= -PARAMETERS["entry_threshold"]:
                self.buy(size=0.95)
            elif self.position and (z >= -PARAMETERS["exit_threshold"] or self.position.pl_pct <= -0.02 or self.position.pl_pct >= 0.05):
                self.position.close()

    frame = pd.DataFrame({"Open": candles.open, "High": candles.high, "Low": candles.low, "Close": candles.close,
                          "Volume": candles.volume}, index=pd.to_datetime(candles.ts_open, utc=True))
    test = Backtest(frame, MeanReversion, cash=10_000_000, commission=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        stats = test.run()
    return len(frame) / (time.perf_counter() - started), int(stats["# Trades"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample-data", default="../shared/data/real", help="folder of the recorded real data")
    parser.add_argument("--trades", type=int, default=4_000_000, help="trades to replay (repeated real trades)")
    parser.add_argument("--plain", type=int, default=100_000, help="trades for the plain-loop baseline")
    parser.add_argument("--dump", help="also write the trades to this .npz file (for nautilus_speed.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = ClickHouseStore(path=Path(folder) / "clickhouse")
        store.apply_schema()
        start, end = repeated_trades(store, Path(args.sample_data), args.trades)
        spec = BacktestSpec.build("mean_reversion", "binance", "BTC/USDT", start, end, 10_000, PARAMETERS)

        started = time.perf_counter()
        data = load_trades(store, spec)
        read = time.perf_counter() - started
        output = run_trades(spec, data)
        full = time.perf_counter() - started
        replay_started = time.perf_counter()
        run_trades(spec, data)
        replay = time.perf_counter() - replay_started
        rows = len(data)
        candles = candles_from_trades(store, "binance", "BTC/USDT", "1m", start, end)
        store.close()

    if args.dump:
        np.savez(args.dump, ts_event=data.ts_event, price=data.price, size=data.size, side=data.side)
    plain = plain_loop(spec, data, min(args.plain, rows))
    bar_spec = BacktestSpec.build("mean_reversion", "binance", "BTC/USDT", start, end, 10_000, PARAMETERS, bars=True,
                                  latency_ns=0)
    bars = BarColumns(candles.ts_open, candles.open, candles.high, candles.low, candles.close, candles.volume)
    bar_started = time.perf_counter()
    bar_output = run_bars(bar_spec, bars)
    ours_bars = len(bars) / (time.perf_counter() - bar_started)
    peer_bars, peer_trades = backtesting_py(candles)

    print(f"trades: {rows:,} (real trades repeated), round trips: {len(output.closed_trades)}, "
          f"Python calls: {output.counters['market_calls'] + output.counters['action_calls']}")
    print(f"full loop (ClickHouse read + replay): {rows / full:,.0f} trades/s ({full:.2f} s; read {read:.2f} s)")
    print(f"replay from memory:                   {rows / replay:,.0f} trades/s ({replay:.2f} s)")
    print(f"baseline, plain Python loop:          {plain:,.0f} trades/s -> full loop is {rows / full / plain:,.0f}x")
    print(f"candles: {len(bars):,} 1m bars; Cryptobot {ours_bars:,.0f} bars/s ({len(bar_output.closed_trades)} trips), "
          f"backtesting.py {peer_bars:,.0f} bars/s ({peer_trades} trades) -> {ours_bars / peer_bars:.2f}x")
    print(f"trade replay vs backtesting.py on bars: {rows / full / peer_bars:,.1f}x events/s")


if __name__ == "__main__":
    main()
