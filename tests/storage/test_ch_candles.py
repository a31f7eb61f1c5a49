import csv
from decimal import Decimal

import numpy as np
import pytest

from cryptobot.core.errors import ValidationError
from cryptobot.core.types import TIMEFRAMES_NS
from cryptobot.storage import tick_queries
from cryptobot.storage.clickhouse import arrow_repeat
from cryptobot.storage.importers import import_file
from cryptobot.storage.tick_batches import to_arrow

MONDAY = 1_722_816_000_000_000_000  # 2024-08-05 00:00 UTC, a Monday
WIDE = (MONDAY - 30 * 86_400 * 10**9, MONDAY + 30 * 86_400 * 10**9)


def _insert_trades(store, columns, token):
    n = len(columns["ts_event"])
    store.insert_arrow("trades", to_arrow(columns, arrow_repeat("binance", n), arrow_repeat("BTC/USDT", n)), token)


def _random_trades(rng, n):
    # Spread over 9 days from a Sunday, so days, weeks and 4-hour blocks all
    # have boundaries.  Many trades share a timestamp and are ordered by id.
    # Prices and quantities are binary fractions, so every sum is exact in
    # any order.
    ts = MONDAY - 86_400 * 10**9 + rng.integers(0, 9 * 86_400, n) * 10**9 + rng.integers(0, 3, n) * 10**6
    return {
        "ts_event": ts.astype(np.int64),
        "ts_recv": ts.astype(np.int64) + 5,
        "price": 60_000 + rng.integers(-4000, 4000, n) / 4,
        "quantity": rng.integers(1, 4096, n) / 1024,
        "side": rng.integers(1, 3, n).astype(np.int8),
        "trade_id": rng.permutation(n).astype(np.int64),
    }


def _plain_candles(columns, timeframe):
    """Candles computed row by row in Python, the reference for the views."""
    step = TIMEFRAMES_NS[timeframe]
    offset = 4 * 86_400 * 10**9 if timeframe == "1w" else 0
    bars = {}
    for ts, tid, price, qty in zip(columns["ts_event"].tolist(), columns["trade_id"].tolist(),
                                   columns["price"].tolist(), columns["quantity"].tolist()):
        start = (ts - offset) // step * step + offset
        bar = bars.setdefault(start, {"first": (ts, tid, price), "last": (ts, tid, price), "high": price,
                                      "low": price, "volume": 0.0, "quote": 0.0, "trades": 0})
        bar["first"] = min(bar["first"], (ts, tid, price))
        bar["last"] = max(bar["last"], (ts, tid, price))
        bar["high"] = max(bar["high"], price)
        bar["low"] = min(bar["low"], price)
        bar["volume"] += qty
        bar["quote"] += price * qty
        bar["trades"] += 1
    return [(start, b["first"][2], b["high"], b["low"], b["last"][2], b["volume"], b["quote"], b["trades"])
            for start, b in sorted(bars.items())]


def _rows(candles):
    return list(zip(candles.ts_open.tolist(), candles.open.tolist(), candles.high.tolist(), candles.low.tolist(),
                    candles.close.tolist(), candles.volume.tolist(), candles.quote_volume.tolist(),
                    candles.trades.tolist()))


def test_trade_candles_equal_plain_computation(ch_store):
    rng = np.random.default_rng(7)
    columns = _random_trades(rng, 20_000)
    # Several inserts in random time order: each one aggregates separately.
    for index, part in enumerate(np.array_split(np.arange(20_000), 5)):
        _insert_trades(ch_store, {name: values[part] for name, values in columns.items()}, f"part{index}")
    for timeframe in TIMEFRAMES_NS:
        built = tick_queries.trade_candles(ch_store, "binance", "BTC/USDT", timeframe, *WIDE)
        assert _rows(built) == _plain_candles(columns, timeframe), timeframe


def test_candles_from_trades_equal_plain_computation(ch_store):
    columns = _random_trades(np.random.default_rng(11), 5_000)
    _insert_trades(ch_store, columns, "all")
    for timeframe in ("1m", "4h", "1w"):
        plain = tick_queries.candles_from_trades(ch_store, "binance", "BTC/USDT", timeframe, *WIDE)
        assert _rows(plain) == _plain_candles(columns, timeframe), timeframe


def test_late_trade_updates_aggregated_minute(ch_store):
    minute = MONDAY + 600 * 10**9
    first = {"ts_event": np.array([minute + 10**9, minute + 30 * 10**9], dtype=np.int64),
             "ts_recv": np.array([minute + 10**9, minute + 30 * 10**9], dtype=np.int64),
             "price": np.array([100.0, 101.0]), "quantity": np.array([1.0, 2.0]),
             "side": np.array([1, 2], dtype=np.int8), "trade_id": np.array([10, 11], dtype=np.int64)}
    _insert_trades(ch_store, first, "on-time")
    ch_store.command(f"OPTIMIZE TABLE {ch_store.table('trade_candles')} FINAL")
    before = tick_queries.trade_candles(ch_store, "binance", "BTC/USDT", "1m", minute, minute + 60 * 10**9)
    assert _rows(before) == [(minute, 100.0, 101.0, 100.0, 101.0, 3.0, 302.0, 2)]

    # Arrives later but happened first in the minute, at a new high.
    late = {"ts_event": np.array([minute], dtype=np.int64), "ts_recv": np.array([minute + 90 * 10**9], dtype=np.int64),
            "price": np.array([105.0]), "quantity": np.array([0.5]), "side": np.array([1], dtype=np.int8),
            "trade_id": np.array([9], dtype=np.int64)}
    _insert_trades(ch_store, late, "late")
    for timeframe in ("1m", "1h", "1d"):
        after = tick_queries.trade_candles(ch_store, "binance", "BTC/USDT", timeframe, *WIDE)
        assert _rows(after)[0][1:] == (105.0, 105.0, 100.0, 101.0, 3.5, 354.5, 3), timeframe


def test_candles_reject_unknown_timeframe(ch_store):
    with pytest.raises(ValidationError, match="'timeframe' must be one of 1m, .* was '2m'"):
        tick_queries.trade_candles(ch_store, "binance", "BTC/USDT", "2m", *WIDE)


def _kline_rows(path):
    with open(path) as handle:
        return [row for row in csv.reader(handle)]


def test_spot_trades_rebuild_binance_klines_exactly(ch_store, sample_data):
    for name in ("btcusdt_20240808.gz", "btcusdt_20240809.gz"):
        import_file(ch_store, sample_data / "hftbacktest/spot" / name, "binance", "BTC/USDT", "trades")
    start = 1_723_161_300_000_000_000  # 2024-08-08 23:55 UTC
    built = tick_queries.trade_candles(ch_store, "binance", "BTC/USDT", "1m", start, start + 10 * 60 * 10**9)
    klines = {}
    for day in ("08", "09"):
        for row in _kline_rows(sample_data / f"binance_vision_klines/BTCUSDT-1m-2024-08-{day}.csv"):
            klines[int(row[0]) * 1_000_000] = row
    assert len(built) == 10
    for i, ts in enumerate(built.ts_open.tolist()):
        row = klines[ts]
        assert built.open[i] == float(row[1]), ts
        assert built.high[i] == float(row[2]), ts
        assert built.low[i] == float(row[3]), ts
        assert built.close[i] == float(row[4]), ts
        # Summed as floats: exact once rounded to the 8 decimals Binance publishes.
        assert Decimal(f"{built.volume[i]:.8f}") == Decimal(row[5]), ts
        assert built.trades[i] == int(row[8]), ts


def test_kline_import_reads_back_exactly_and_collapses_duplicates(ch_store, sample_data):
    path = sample_data / "binance_vision_klines/BTCUSDT-1m-2024-08-05.csv"
    import_file(ch_store, path, "binance", "BTC/USDT", "candles")
    rows = _kline_rows(path)
    day = (int(rows[0][0]) * 1_000_000, int(rows[-1][0]) * 1_000_000 + 60 * 10**9)
    candles = tick_queries.kline_candles(ch_store, "binance", "BTC/USDT", "1m", *day)
    assert len(candles) == 1440
    bar = candles.to_bars("binance", "BTC/USDT", "1m")[0]
    assert (bar.ts_open, bar.open, bar.trades) == (int(rows[0][0]) * 1_000_000, float(rows[0][1]), int(rows[0][8]))
    assert candles.close.tolist() == [float(row[4]) for row in rows]
    assert candles.trades.tolist() == [int(row[8]) for row in rows]

    # Write the day again under another token: stored twice until a merge,
    # yet read once.
    table = ch_store.query_columns(f"SELECT count() AS n FROM {ch_store.table('klines')}")
    assert table["n"][0] == 1440
    ch_store.command(f"INSERT INTO {ch_store.table('klines')} SELECT * FROM {ch_store.table('klines')}")
    assert ch_store.query_columns(f"SELECT count() AS n FROM {ch_store.table('klines')}")["n"][0] == 2880
    again = tick_queries.kline_candles(ch_store, "binance", "BTC/USDT", "1m", *day)
    assert again.close.tolist() == candles.close.tolist()
