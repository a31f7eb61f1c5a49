"""Benchmarks of the indicators: per-update cost from Python, and batch speed.

Run: ``python -m pytest benchmarks/bench_indicators.py --benchmark-only``.

Every figure is reported next to a baseline measured in the same run:

- streaming: a Python loop calling ``update`` on 10,000 prices, against the
  same loop calling an empty Python method (the floor any Python-visible
  call pays) and against a plain-Python implementation of the indicator;
- batch: the batch function on 1,000,000 prices, against TA-Lib's.

The ratio table is printed after the module's benchmarks finish.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
import talib

from cryptobot.hotpath import indicators as ind

STREAM_LENGTH = 10_000
BATCH_LENGTH = 1_000_000
RESULTS: dict[str, float] = {}


def random_walk(length: int, seed: int = 7) -> np.ndarray:
    """BTC-like minute closes: a random walk around 60,000 in cents."""
    steps = np.random.default_rng(seed).normal(0.0, 25.0, length)
    return np.round(60_000.0 + np.cumsum(steps), 2)


PRICES = random_walk(STREAM_LENGTH).tolist()
BATCH = random_walk(BATCH_LENGTH)


class EmptyCall:
    def update(self, value):
        return value


class PythonSMA:
    def __init__(self, period):
        self.period = period
        self.window = deque()
        self.total = 0.0

    def update(self, value):
        self.window.append(value)
        self.total += value
        if len(self.window) > self.period:
            self.total -= self.window.popleft()
        return self.total / self.period if len(self.window) == self.period else math.nan


class PythonEMA:
    def __init__(self, period):
        self.period = period
        self.alpha = 2.0 / (period + 1)
        self.count = 0
        self.seed = 0.0
        self.value = math.nan

    def update(self, value):
        self.count += 1
        if self.count > self.period:
            self.value += (value - self.value) * self.alpha
        else:
            self.seed += value
            if self.count == self.period:
                self.value = self.seed / self.period
        return self.value


class PythonRSI:
    def __init__(self, period):
        self.period = period
        self.count = 0
        self.previous = 0.0
        self.gain = 0.0
        self.loss = 0.0
        self.value = math.nan

    def update(self, value):
        self.count += 1
        if self.count == 1:
            self.previous = value
            return self.value
        change = value - self.previous
        self.previous = value
        n = self.period
        if self.count > n + 1:
            self.gain = (self.gain * (n - 1) + max(change, 0.0)) / n
            self.loss = (self.loss * (n - 1) + max(-change, 0.0)) / n
        else:
            self.gain += max(change, 0.0)
            self.loss += max(-change, 0.0)
            if self.count <= n:
                return self.value
            self.gain /= n
            self.loss /= n
        total = self.gain + self.loss
        self.value = 100.0 * self.gain / total if total else 0.0
        return self.value


def stream(indicator):
    update = indicator.update
    for price in PRICES:
        update(price)


def record(name, benchmark):
    if benchmark.stats is not None:
        RESULTS[name] = benchmark.stats.stats.min


class RatioReport:
    """Print the ratio table in pytest's terminal summary, after capture ends."""

    def pytest_terminal_summary(self, terminalreporter):
        if not RESULTS:
            return
        write = terminalreporter.write_line
        floor = RESULTS.get("stream floor: empty method")
        write("")
        write("Streaming, per update from Python (min of rounds, 10,000 updates a round):")
        for name, seconds in RESULTS.items():
            if not name.startswith("stream "):
                continue
            line = f"  {name:36s} {seconds / STREAM_LENGTH * 1e9:6.1f} ns"
            if floor and name != "stream floor: empty method":
                line += f"  {seconds / floor:5.2f}x the empty call"
            plain = RESULTS.get(name.replace("stream cython", "stream python"))
            if plain and "cython" in name:
                line += f"  {seconds / plain:5.2f}x plain Python"
            write(line)
        write(f"Batch on {BATCH_LENGTH:,} values (min of rounds):")
        for name, seconds in RESULTS.items():
            if name.startswith("batch cryptobot"):
                talib_time = RESULTS.get(name.replace("batch cryptobot", "batch talib"))
                ratio = f"  {seconds / talib_time:5.2f}x TA-Lib" if talib_time else ""
                write(f"  {name:36s} {seconds * 1e3:6.2f} ms{ratio}")


@pytest.fixture(scope="module", autouse=True)
def ratio_report(request):
    manager = request.config.pluginmanager
    if not manager.has_plugin("cryptobot-indicator-ratios"):
        manager.register(RatioReport(), "cryptobot-indicator-ratios")


def test_stream_floor(benchmark):
    benchmark(stream, EmptyCall())
    record("stream floor: empty method", benchmark)


STREAMING = [
    ("sma", lambda: ind.SMA(20), lambda: PythonSMA(20)),
    ("ema", lambda: ind.EMA(20), lambda: PythonEMA(20)),
    ("rsi", lambda: ind.RSI(14), lambda: PythonRSI(14)),
    ("wma", lambda: ind.WMA(20), None),
    ("macd", lambda: ind.MACD(), None),
    ("bollinger", lambda: ind.BollingerBands(20, 2.0), None),
    ("rolling_std", lambda: ind.RollingStd(20), None),
    ("zscore", lambda: ind.ZScore(20), None),
    ("rolling_max", lambda: ind.RollingMax(20), None),
]


@pytest.mark.parametrize("name, make, make_plain", STREAMING)
def test_stream_cython(benchmark, name, make, make_plain):
    indicator = make()
    benchmark(stream, indicator)
    assert indicator.ready
    record(f"stream cython {name}", benchmark)


@pytest.mark.parametrize("name, make_plain", [(s[0], s[2]) for s in STREAMING if s[2] is not None])
def test_stream_plain_python(benchmark, name, make_plain):
    benchmark(stream, make_plain())
    record(f"stream python {name}", benchmark)


def test_stream_plain_python_agrees():
    # The baselines compute the same indicator (to rounding), so the
    # comparison is like for like.
    for name, make, make_plain in STREAMING[:3]:
        fast, plain = make(), make_plain()
        ours = [fast.update(p) for p in PRICES]
        theirs = [plain.update(p) for p in PRICES]
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, err_msg=name)


BATCH_PAIRS = [
    ("sma", lambda: ind.sma(BATCH, 20), lambda: talib.SMA(BATCH, 20)),
    ("ema", lambda: ind.ema(BATCH, 20), lambda: talib.EMA(BATCH, 20)),
    ("rsi", lambda: ind.rsi(BATCH, 14), lambda: talib.RSI(BATCH, 14)),
    ("rolling_std", lambda: ind.rolling_std(BATCH, 20), lambda: talib.STDDEV(BATCH, 20, 1.0)),
    ("rolling_max", lambda: ind.rolling_max(BATCH, 20), lambda: talib.MAX(BATCH, 20)),
]


@pytest.mark.parametrize("name, ours, theirs", BATCH_PAIRS)
def test_batch_cryptobot(benchmark, name, ours, theirs):
    result = benchmark(ours)
    np.testing.assert_allclose(result, theirs(), rtol=1e-9, equal_nan=True)
    record(f"batch cryptobot {name}", benchmark)


@pytest.mark.parametrize("name, ours, theirs", BATCH_PAIRS)
def test_batch_talib(benchmark, name, ours, theirs):
    benchmark(theirs)
    record(f"batch talib {name}", benchmark)
