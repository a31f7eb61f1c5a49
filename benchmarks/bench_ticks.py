"""pytest-benchmark suite for the tick store, each fast path beside its naive baseline.

Run with ``pytest benchmarks/bench_ticks.py --benchmark-only``.  The data
is derived from the recorded real files as described in
``benchmarks/storage_speed.py`` (which also prints the ratios in one run).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from cryptobot.benchmarks.storage_speed import (
    MINUTES_PER_YEAR, NS, YEAR_START, ingest, load_capture, naive_insert, naive_replay, repeat_trades, year_of_trades,
)
from cryptobot.storage import tick_queries
from cryptobot.storage.clickhouse import ClickHouseStore
from cryptobot.storage.replay import ReplayReader

TRADES = 1_000_000


@pytest.fixture(scope="module")
def sample_data() -> Path:
    path = Path(os.environ.get("CRYPTOBOT_SAMPLE_DATA", "../shared/data/real"))
    if not (path / "SOURCES.md").is_file():
        pytest.skip(f"recorded exchange data not found at {path}: set CRYPTOBOT_SAMPLE_DATA")
    return path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, sample_data):
    """Load TRADES repeated real trades and a year of kline-derived trades into a fresh store."""
    folder = tmp_path_factory.mktemp("bench-storage")
    store = ClickHouseStore(path=folder / "clickhouse", database="bench")
    store.apply_schema()
    capture, _ = load_capture(sample_data)
    trades = repeat_trades(capture, TRADES)
    asyncio.run(ingest(store, folder / "spill", trades, "BTC/USDT"))
    asyncio.run(ingest(store, folder / "spill", year_of_trades(sample_data), "YEAR/USDT"))
    store.command(f"OPTIMIZE TABLE {store.table('trade_candles')} FINAL")
    yield store, folder, trades
    store.close()


def test_ingest_recorder_columnar(benchmark, loaded):
    store, folder, trades = loaded
    counter = iter(range(1000))
    seconds = benchmark.pedantic(lambda: asyncio.run(ingest(store, folder / "spill", trades, f"I{next(counter)}/USDT")),
                                 rounds=3, iterations=1)
    benchmark.extra_info["trades"] = len(trades["ts_event"])
    assert seconds > 0


def test_ingest_naive_row_tuples(benchmark, loaded):
    store, _, trades = loaded
    counter = iter(range(1000))
    benchmark.pedantic(lambda: naive_insert(store, trades, f"N{next(counter)}/USDT", 100_000), rounds=3, iterations=1)
    benchmark.extra_info["trades"] = 100_000


def test_replay_numpy_chunks(benchmark, loaded):
    store, _, trades = loaded
    start, end = int(trades["ts_event"].min()), int(trades["ts_event"].max()) + 1
    ticks = benchmark(lambda: sum(len(chunk) for chunk in ReplayReader(store, "binance", "BTC/USDT", start, end)))
    assert ticks == TRADES


def test_replay_naive_python_rows(benchmark, loaded):
    store, _, trades = loaded
    start, end = int(trades["ts_event"].min()), int(trades["ts_event"].max()) + 1
    _, ticks = benchmark(lambda: naive_replay(store, "BTC/USDT", start, end))
    assert ticks == TRADES


def test_candles_year_from_candle_table(benchmark, loaded):
    store, _, _ = loaded
    end = YEAR_START + MINUTES_PER_YEAR * 60 * NS
    candles = benchmark(lambda: tick_queries.trade_candles(store, "binance", "YEAR/USDT", "1m", YEAR_START, end))
    assert len(candles) == MINUTES_PER_YEAR


def test_candles_year_group_by_trades(benchmark, loaded):
    store, _, _ = loaded
    end = YEAR_START + MINUTES_PER_YEAR * 60 * NS
    candles = benchmark.pedantic(
        lambda: tick_queries.candles_from_trades(store, "binance", "YEAR/USDT", "1m", YEAR_START, end), rounds=3, iterations=1)
    assert len(candles) == MINUTES_PER_YEAR
