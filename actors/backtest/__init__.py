"""Backtests: recorded ticks or candles replayed through the actors that trade live.

See ``docs/backtesting.md`` for the fill rules, the metrics and the job
life cycle.  Entry points: :func:`run_trades` and :func:`run_bars` (one run
in this process), :class:`BacktestService` (jobs in worker processes, for
the API) and the ``cryptobot backtest`` command.
"""

from cryptobot.actors.backtest.control import BacktestCancelled, Control
from cryptobot.actors.backtest.results import build_results, results_bytes
from cryptobot.actors.backtest.run import BarColumns, RunOutput, TradeColumns, run_bars, run_trades
from cryptobot.actors.backtest.spec import BacktestSpec

__all__ = ["BacktestCancelled", "BacktestSpec", "BarColumns", "Control", "RunOutput", "TradeColumns", "build_results",
           "results_bytes", "run_bars", "run_trades"]
