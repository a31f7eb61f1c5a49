"""Replay loops over trades and candles, with equity sampling.

:func:`run_trades` and :func:`run_bars` hand the columns to
:class:`cryptobot.hotpath.replay.Replay`, which feeds the strategy's
kernel in C and calls the host (:class:`_TradeHost`, :class:`_BarHost`)
only when the exchange or the strategy must act.  A candle reaches the
exchange (through the execution actor) at its open and the strategy at its
close.

Both check :class:`Control` between chunks of ``CHUNK_ROWS`` events, so a
cancel stops a run within one chunk, and report progress there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

import numpy as np

from cryptobot.actors.backtest.control import Control
from cryptobot.actors.backtest.harness import Harness
from cryptobot.actors.backtest.spec import BacktestSpec
from cryptobot.actors.positions import ClosedTrade
from cryptobot.core.errors import ValidationError
from cryptobot.hotpath.replay import Replay

CHUNK_ROWS = 65_536
NEVER = 2**63 - 1
_NS = 1_000_000_000
# Equity sampling intervals, shortest first.  A run uses the shortest that
# keeps the curve within spec.max_equity_points.  On candles it must also be
# a multiple of the candle length.
SAMPLE_INTERVALS_NS = tuple(s * _NS for s in (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86_400,
                                              7 * 86_400, 28 * 86_400))


@dataclass(slots=True)
class TradeColumns:
    """Trades in replay order: int64 ns times, float64 prices and sizes, int8 aggressor side (1 buy, 2 sell)."""

    ts_event: np.ndarray
    price: np.ndarray
    size: np.ndarray
    side: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_event)


@dataclass(slots=True)
class BarColumns:
    """Candles in time order: int64 ns open times and float64 OHLCV."""

    ts_open: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_open)


@dataclass
class RunOutput:
    """The raw product of a replay: equity samples, final capital and round trips, before the metrics."""

    spec: BacktestSpec
    sample_ns: int
    equity_ts: np.ndarray
    equity: np.ndarray
    final_capital: Decimal
    closed_trades: list[ClosedTrade]
    events: int
    counters: dict[str, Any] = field(default_factory=dict)


def sample_interval(spec: BacktestSpec) -> int:
    """Return the equity sampling interval in ns for ``spec`` (see SAMPLE_INTERVALS_NS)."""
    span = spec.end_ns - spec.start_ns
    step = spec.timeframe_ns if spec.bars else 0
    for interval in SAMPLE_INTERVALS_NS:
        if interval >= step and (step == 0 or interval % step == 0) and span // interval + 1 <= spec.max_equity_points - 1:
            return interval
    return max(SAMPLE_INTERVALS_NS[-1], -(-span // (spec.max_equity_points - 2)))


def _check_columns(ts: np.ndarray, spec: BacktestSpec, what: str) -> None:
    if len(ts) == 0:
        raise ValidationError(f"no {what} for {spec.symbol} on {spec.exchange} between the start and end dates",
                              {"start_date": f"no {what} in range"})
    if ts[0] < spec.start_ns or ts[-1] >= spec.end_ns:
        raise ValidationError(f"{what} outside [start, end) were passed to the replay", {"data": "out of range"})
    if len(ts) > 1 and bool((ts[1:] < ts[:-1]).any()):
        raise ValidationError(f"{what} are not in time order", {"data": "not sorted"})


class _Host:
    """The Python side of the C loop: hands events to the exchange and actions to the strategy."""

    def __init__(self, harness: Harness):
        self.harness = harness
        self.replay: Replay | None = None

    def sync(self) -> None:
        """Copy the exchange's wake-up conditions and the account totals into the C loop."""
        replay, harness = self.replay, self.harness
        due, buy_below, sell_above, buy_stop, sell_stop = harness.exchange.wake_conditions(harness.symbol)
        replay.wake_ns = NEVER if due is None else due
        replay.buy_below, replay.sell_above = buy_below, sell_above
        replay.buy_stop, replay.sell_stop = buy_stop, sell_stop
        quote, base = harness.totals()
        replay.cash, replay.base = float(quote), float(base)


class _TradeHost(_Host):
    """A host for trades: each trade goes to the exchange, and the strategy acts at its price."""

    def __init__(self, harness: Harness, columns: TradeColumns):
        super().__init__(harness)
        self.ts = columns.ts_event
        self.price = columns.price
        self.size = columns.size
        self.side = columns.side

    def on_market(self, i: int) -> None:
        self.harness.trade(int(self.ts[i]), float(self.price[i]), float(self.size[i]), int(self.side[i]))
        self.sync()

    def on_action(self, i: int, action: int) -> None:
        price = float(self.price[i])
        self.harness.mark(int(self.ts[i]), price)
        self.harness.strategy.act(action, price)
        self.sync()


class _BarHost(_Host):
    """A host for candles: each candle goes to the exchange at its open, and the strategy acts at its close."""

    def __init__(self, harness: Harness, columns: BarColumns):
        super().__init__(harness)
        self.columns = columns
        self.timeframe_ns = harness.spec.timeframe_ns

    def on_market(self, i: int) -> None:
        c = self.columns
        self.harness.bar_to_exchange(int(c.ts_open[i]), float(c.open[i]), float(c.high[i]), float(c.low[i]),
                                     float(c.close[i]), float(c.volume[i]))
        self.sync()

    def on_action(self, i: int, action: int) -> None:
        close = float(self.columns.close[i])
        self.harness.mark(int(self.columns.ts_open[i]) + self.timeframe_ns, close)
        self.harness.strategy.act(action, close)
        self.sync()


def run_trades(spec: BacktestSpec, columns: TradeColumns, control: Control | None = None) -> RunOutput:
    """Replay trades through the strategy, risk, simulated exchange and portfolio."""
    _check_columns(columns.ts_event, spec, "trades")
    ts = np.ascontiguousarray(columns.ts_event, dtype=np.int64)
    price = np.ascontiguousarray(columns.price, dtype=np.float64)

    def run_chunk(replay: Replay, start: int, stop: int) -> None:
        replay.run_trades(ts, price, start, stop)

    host = _TradeHost(Harness(spec), columns)
    return _drive(spec, host, len(ts), run_chunk, control, (int(ts[-1]), float(price[-1])), bars=False)


def run_bars(spec: BacktestSpec, columns: BarColumns, control: Control | None = None) -> RunOutput:
    """Replay candles through the strategy, risk, simulated exchange and portfolio."""
    _check_columns(columns.ts_open, spec, "candles")
    columns = BarColumns(*(np.ascontiguousarray(column, dtype=dtype) for column, dtype in (
        (columns.ts_open, np.int64), (columns.open, np.float64), (columns.high, np.float64),
        (columns.low, np.float64), (columns.close, np.float64), (columns.volume, np.float64))))

    def run_chunk(replay: Replay, start: int, stop: int) -> None:
        replay.run_bars(columns.ts_open, columns.high, columns.low, columns.close, start, stop)

    host = _BarHost(Harness(spec), columns)
    last_close = (int(columns.ts_open[-1]) + spec.timeframe_ns, float(columns.close[-1]))
    return _drive(spec, host, len(columns), run_chunk, control, last_close, bars=True)


def _drive(spec: BacktestSpec, host: _Host, total: int, run_chunk: Callable[[Replay, int, int], None],
           control: Control | None, last: tuple[int, float], bars: bool) -> RunOutput:
    """Run the C loop over ``total`` events in chunks, then close out at ``last`` (time, price) and sample equity."""
    harness = host.harness
    interval = sample_interval(spec)
    capacity = (spec.end_ns - spec.start_ns) // interval + 1
    sample_ts = np.empty(capacity, dtype=np.int64)
    sample_equity = np.empty(capacity, dtype=np.float64)
    replay = Replay(harness.strategy.kernel, host, sample_ts, sample_equity, spec.start_ns, interval)
    host.replay = replay
    host.sync()
    for start in range(0, total, CHUNK_ROWS):
        if control is not None:
            control.check()
        stop = min(total, start + CHUNK_ROWS)
        run_chunk(replay, start, stop)
        if control is not None:
            control.progress = stop / total * 100
    replay.sample_until(spec.end_ns - 1)
    # The C loop skips events nothing outside the kernel needs, so the clock and the last
    # price may lag: bring them to the final event before closing out there.
    harness.mark(*last)
    harness.finish(bars=bars)
    counters = {"market_calls": replay.market_calls, "action_calls": replay.action_calls}
    return _output(spec, harness, interval, sample_ts[:replay.samples], sample_equity[:replay.samples], total, counters)


def _output(spec: BacktestSpec, harness: Harness, interval: int, times: np.ndarray, values: np.ndarray, events: int,
            counters: dict) -> RunOutput:
    final = harness.equity()
    equity_ts = np.append(times, np.int64(spec.end_ns))
    equity = np.append(values, float(final))
    counters = {**counters, "signals": harness.strategy.counters.signals, "orders": harness.strategy.counters.orders,
                "rejections": harness.strategy.counters.rejections, "messages": harness.engine.delivered}
    return RunOutput(spec, interval, equity_ts, equity, final, list(harness.closed_trades), events, counters)
