"""nautilus_trader's BacktestEngine on the trades that ``backtest_speed.py --dump`` wrote.

Run in its own virtual environment (nautilus_trader is not a Cryptobot
dependency)::

    python3 -m venv /tmp/ntvenv && /tmp/ntvenv/bin/pip install nautilus_trader pandas
    .venv/bin/python benchmarks/backtest_speed.py --sample-data ../shared/data/real --dump /tmp/trades.npz
    /tmp/ntvenv/bin/python benchmarks/nautilus_speed.py /tmp/trades.npz

The strategy matches the Cryptobot run: 1-minute bars aggregated inside
the engine from the trades, the z-score of the last 10 closes, a market buy
of about 95 % of the cash at z <= -1.5, and a market sell at z >= -0.3 or a
2 % loss or 5 % gain.  Every trade passes through nautilus's data engine,
bar aggregator and matching engine.  Only ``engine.run()`` is timed; turning
the arrays into TradeTick objects is timed separately.
"""

from __future__ import annotations

import statistics
import sys
import time
from decimal import Decimal

import numpy as np
import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, TraderId, Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.wranglers import TradeTickDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

LOOKBACK, ENTRY, EXIT = 10, 1.5, 0.3


class ZScoreConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType


class ZScore(Strategy):
    def __init__(self, config: ZScoreConfig):
        super().__init__(config)
        self.closes: list[float] = []
        self.entry = 0.0
        self.round_trips = 0

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        close = float(bar.close)
        self.closes.append(close)
        window = self.closes[-LOOKBACK:]
        if len(window) < LOOKBACK:
            return
        deviation = statistics.pstdev(window)
        if deviation == 0:
            return
        z = (close - statistics.fmean(window)) / deviation
        flat = self.portfolio.is_flat(self.config.instrument_id)
        if flat and z <= -ENTRY:
            cash = float(self.portfolio.account(self.config.instrument_id.venue).balance_free(USDT).as_double())
            quantity = self.instrument.make_qty(Decimal(repr(cash * 0.95 / close)).quantize(Decimal("0.00001")))
            self.submit_order(self.order_factory.market(self.config.instrument_id, OrderSide.BUY, quantity))
            self.entry = close
        elif not flat and (z >= -EXIT or close <= self.entry * 0.98 or close >= self.entry * 1.05):
            self.close_all_positions(self.config.instrument_id)
            self.round_trips += 1


def main(path: str) -> None:
    data = np.load(path)
    instrument = TestInstrumentProvider.btcusdt_binance()
    frame = pd.DataFrame({"price": data["price"], "quantity": data["size"],
                          "side": np.where(data["side"] == 1, "BUY", "SELL"),
                          "trade_id": np.arange(len(data["price"]))},
                         index=pd.to_datetime(data["ts_event"], utc=True))
    started = time.perf_counter()
    ticks = TradeTickDataWrangler(instrument).process(frame)
    wrangle = time.perf_counter() - started

    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BENCH-001"),
                                                 logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(Venue("BINANCE"), oms_type=OmsType.NETTING, account_type=AccountType.CASH,
                     starting_balances=[Money(10_000, USDT), Money(0, BTC)], base_currency=None)
    engine.add_instrument(instrument)
    engine.add_data(ticks)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-INTERNAL")
    strategy = ZScore(ZScoreConfig(instrument_id=instrument.id, bar_type=bar_type))
    engine.add_strategy(strategy)
    started = time.perf_counter()
    engine.run()
    run = time.perf_counter() - started
    count = len(ticks)
    print(f"nautilus_trader: {count:,} trades, run {count / run:,.0f} trades/s ({run:.2f} s), "
          f"TradeTick creation {count / wrangle:,.0f} trades/s ({wrangle:.2f} s), "
          f"round trips {strategy.round_trips}")
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
