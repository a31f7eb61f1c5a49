"""Tick store speed against the naive paths, measured in one run on the embedded engine.

Run: ``python benchmarks/storage_speed.py [--sample-data DIR] [--trades N]``

Data, all derived from the recorded real files (labelled as such in the output):

* ingest and replay: the BTCUSDT spot trades of one capture, repeated with
  timestamps shifted by the capture's length and ids offset, up to N trades,
  plus the capture's book events repeated the same way to about N delta rows;
* candles: one year of 1-minute bars made by repeating ten real days of
  Binance klines with shifted open times.  Each bar becomes four trades
  (open, high, low, close), so the candle views build the year from trades.

Each figure is compared with the naive path on the same data in the same
process: rows inserted as Python tuples (and one INSERT per row), ticks read
as Python rows from a ``UNION ALL ... ORDER BY`` query, candles aggregated
from raw trades with ``GROUP BY``.  A small ingest runs first, so the
engine's first-insert set-up cost is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import json
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from cryptobot.core.types import BookDeltas
from cryptobot.storage import tick_queries
from cryptobot.storage.clickhouse import ClickHouseStore
from cryptobot.storage.recorder import TickRecorder
from cryptobot.storage.replay import ReplayReader

NS = 1_000_000_000
YEAR_START = 1_704_067_200 * NS  # 2024-01-01 00:00 UTC
MINUTES_PER_YEAR = 365 * 1440


def load_capture(sample_data: Path):
    """Trades (columns) and book events (BookDeltas) of the spot BTCUSDT capture of 2024-08-08."""
    trades, events = [], []
    with gzip.open(sample_data / "hftbacktest/spot/btcusdt_20240808.gz", "rt") as handle:
        for text in handle:
            stamp, _, payload = text.partition(" ")
            message = json.loads(payload)
            data = message.get("data", {})
            if data.get("e") == "trade":
                trades.append((data["T"] * 1_000_000, int(stamp), float(data["p"]), float(data["q"]),
                               2 if data["m"] else 1, data["t"]))
            elif data.get("e") == "depthUpdate":
                bids = np.array([[float(p), float(q)] for p, q in data["b"]]).reshape(-1, 2)
                asks = np.array([[float(p), float(q)] for p, q in data["a"]]).reshape(-1, 2)
                events.append(BookDeltas("binance", "BTC/USDT", data["E"] * 1_000_000, int(stamp), data["U"], data["u"],
                                         -1, bids, asks))
    names = ("ts_event", "ts_recv", "price", "quantity", "side", "trade_id")
    dtypes = (np.int64, np.int64, np.float64, np.float64, np.int8, np.int64)
    columns = {name: np.array([row[i] for row in trades], dtype=dtype) for i, (name, dtype) in enumerate(zip(names, dtypes))}
    return columns, events


def repeat_trades(columns: dict, count: int) -> dict:
    """Repeat real trades with shifted times and offset ids until ``count`` rows."""
    span = int(columns["ts_event"].max() - columns["ts_event"].min()) + NS
    copies = -(-count // len(columns["ts_event"]))
    shift = np.repeat(np.arange(copies, dtype=np.int64), len(columns["ts_event"]))[:count]
    out = {name: np.tile(values, copies)[:count] for name, values in columns.items()}
    out["ts_event"] = out["ts_event"] + shift * span
    out["ts_recv"] = out["ts_recv"] + shift * span
    out["trade_id"] = out["trade_id"] + shift * 10**9
    return out


def year_of_trades(sample_data: Path) -> dict:
    """Four trades per real 1-minute kline, ten real days repeated over 2024 (labelled synthetic layout)."""
    bars = []
    for path in sorted((sample_data / "binance_vision_klines").glob("BTCUSDT-1m-2024-08-*.csv")):
        with open(path) as handle:
            bars += [(float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])) for r in csv.reader(handle)]
    bars = np.array(bars)
    reps = -(-MINUTES_PER_YEAR // len(bars))
    bars = np.tile(bars, (reps, 1))[:MINUTES_PER_YEAR]
    minute = YEAR_START + np.arange(MINUTES_PER_YEAR, dtype=np.int64) * 60 * NS
    # open at +1 s, then the extreme the bar reached first, the other, close at +59 s
    prices = np.stack([bars[:, 0], np.where(bars[:, 3] >= bars[:, 0], bars[:, 2], bars[:, 1]),
                       np.where(bars[:, 3] >= bars[:, 0], bars[:, 1], bars[:, 2]), bars[:, 3]], axis=1).ravel()
    offsets = np.array([1, 20, 40, 59], dtype=np.int64) * NS
    ts = (minute[:, None] + offsets[None, :]).ravel()
    return {"ts_event": ts, "ts_recv": ts, "price": prices, "quantity": np.repeat(bars[:, 4] / 4, 4),
            "side": np.tile(np.array([1, 2], dtype=np.int8), len(ts) // 2), "trade_id": np.arange(len(ts), dtype=np.int64)}


async def ingest(store: ClickHouseStore, spill: Path, trades: dict, symbol: str, arrival_rows: int = 10_000) -> float:
    """Feed trades to a recorder in arrival-sized chunks; return seconds until all are stored."""
    recorder = TickRecorder(store.clone(), spill, batch_rows=250_000, max_memory_rows=10_000_000)
    await recorder.start()
    n = len(trades["ts_event"])
    start = time.perf_counter()
    for begin in range(0, n, arrival_rows):
        chunk = {name: values[begin:begin + arrival_rows] for name, values in trades.items()}
        recorder.add_trades_columnar("binance", symbol, **chunk)
    assert await recorder.flush(600)
    elapsed = time.perf_counter() - start
    await recorder.close()
    return elapsed


def naive_insert(store: ClickHouseStore, trades: dict, symbol: str, rows: int) -> float:
    """Insert ``rows`` trades as Python row tuples through the client's row API; return seconds."""
    client = store.connect()._client
    start = time.perf_counter()
    data = [("binance", symbol, datetime.fromtimestamp(ts / NS, tz=timezone.utc),
             datetime.fromtimestamp(rv / NS, tz=timezone.utc), p, q, "buy" if s == 1 else "sell", i)
            for ts, rv, p, q, s, i in zip(*(trades[name][:rows].tolist() for name in
                                             ("ts_event", "ts_recv", "price", "quantity", "side", "trade_id")))]
    client.insert(store.table("trades"), data, column_names=["exchange", "symbol", "ts_event", "ts_recv", "price",
                                                             "quantity", "side", "trade_id"])
    return time.perf_counter() - start


def naive_insert_each_row(store: ClickHouseStore, trades: dict, symbol: str, rows: int) -> float:
    """Insert ``rows`` trades with one INSERT statement each; return seconds."""
    client = store.connect()._client
    start = time.perf_counter()
    for ts, rv, p, q, s, i in zip(*(trades[name][:rows].tolist() for name in
                                   ("ts_event", "ts_recv", "price", "quantity", "side", "trade_id"))):
        client.command(f"INSERT INTO {store.table('trades')} VALUES ('binance', '{symbol}', "
                       f"fromUnixTimestamp64Nano({ts}, 'UTC'), fromUnixTimestamp64Nano({rv}, 'UTC'), {p!r}, {q!r}, {s}, {i})")
    return time.perf_counter() - start


def naive_replay(store: ClickHouseStore, symbol: str, start_ns: int, end_ns: int) -> tuple[float, int]:
    """Read trades and deltas merged by one SQL sort, as Python rows; return (seconds, rows)."""
    client = store.connect()._client
    where = (f"exchange = 'binance' AND symbol = '{symbol}' AND ts_event >= fromUnixTimestamp64Nano({start_ns}, 'UTC') "
             f"AND ts_event < fromUnixTimestamp64Nano({end_ns}, 'UTC')")
    sql = (f"SELECT * FROM (SELECT toUnixTimestamp64Nano(ts_event) AS t, 0 AS kind, price, quantity AS size, trade_id AS id "
           f"FROM {store.table('trades')} WHERE {where} UNION ALL SELECT toUnixTimestamp64Nano(ts_event) AS t, 1 AS kind, "
           f"price, size, last_id AS id FROM {store.table('book_deltas')} WHERE {where}) ORDER BY t, kind, id")
    begin = time.perf_counter()
    rows = client.query(sql).result_rows
    return time.perf_counter() - begin, len(rows)


def timed(function, repeat: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        begin = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - begin)
    return min(times), statistics.median(times), result


def run(sample_data: Path, total_trades: int, folder: Path) -> list[str]:
    lines = []
    store = ClickHouseStore(path=folder / "clickhouse", database="bench")
    store.apply_schema()
    capture, events = load_capture(sample_data)
    trades = repeat_trades(capture, total_trades)
    span_end = int(trades["ts_event"].max()) + 1
    lines.append(f"data: {len(capture['ts_event'])} real spot BTCUSDT trades repeated to {total_trades} "
                 f"(shifted times); {len(events)} real book events repeated to about as many delta rows")

    asyncio.run(ingest(store, folder / "spill", repeat_trades(capture, 1000), "WARMUP/USDT"))
    seconds = asyncio.run(ingest(store, folder / "spill", trades, "BTC/USDT"))
    rate = total_trades / seconds
    naive_rows = 100_000
    naive_seconds = naive_insert(store, trades, "NAIVE/USDT", naive_rows)
    naive_rate = naive_rows / naive_seconds
    lines.append(f"ingest through TickRecorder (columnar, Arrow): {rate:,.0f} trades/s ({seconds:.2f} s for {total_trades})")
    lines.append(f"  naive client.insert of Python row tuples: {naive_rate:,.0f} trades/s ({naive_rows} rows) "
                 f"-> ratio {rate / naive_rate:.1f}x")
    single_rows = 200
    single_rate = single_rows / naive_insert_each_row(store, trades, "SINGLE/USDT", single_rows)
    lines.append(f"  naive one INSERT per trade: {single_rate:,.0f} trades/s ({single_rows} rows) "
                 f"-> ratio {rate / single_rate:,.0f}x")

    # Book events repeated over the trades' span, recorded as deltas.
    # As many delta rows as trades: the first copies of the capture's events.
    span = int(capture["ts_event"].max() - capture["ts_event"].min()) + NS
    rows_per_copy = sum(len(event.bids) + len(event.asks) for event in events)
    copies = max(1, total_trades // rows_per_copy)

    async def record_events():
        recorder = TickRecorder(store.clone(), folder / "spill", batch_rows=250_000)
        await recorder.start()
        for copy in range(copies):
            for event in events:
                shifted = BookDeltas(event.exchange, event.symbol, event.ts_event + copy * span, event.ts_recv + copy * span,
                                     event.first_id + copy * 10**9, event.last_id + copy * 10**9, -1, event.bids, event.asks)
                recorder.add_book_deltas(shifted)
        await recorder.close()

    asyncio.run(record_events())
    start_ns = int(trades["ts_event"].min())
    replay_min, replay_median, ticks = timed(
        lambda: sum(len(chunk) for chunk in ReplayReader(store, "binance", "BTC/USDT", start_ns, span_end)), 3)
    naive_seconds, naive_ticks = naive_replay(store, "BTC/USDT", start_ns, span_end)
    assert naive_ticks == ticks
    lines.append(f"replay (trades + book deltas merged, numpy chunks): {ticks / replay_median:,.0f} ticks/s median "
                 f"({ticks / replay_min:,.0f} best) for {ticks} ticks")
    lines.append(f"  naive UNION ALL ORDER BY as Python rows: {naive_ticks / naive_seconds:,.0f} ticks/s "
                 f"-> ratio {naive_seconds / replay_median:.1f}x")

    year = year_of_trades(sample_data)
    seconds = asyncio.run(ingest(store, folder / "spill", year, "YEAR/USDT"))
    store.command(f"OPTIMIZE TABLE {store.table('trade_candles')} FINAL")
    year_end = YEAR_START + MINUTES_PER_YEAR * 60 * NS
    fast_min, fast_median, candles = timed(
        lambda: tick_queries.trade_candles(store, "binance", "YEAR/USDT", "1m", YEAR_START, year_end), 7)
    slow_min, slow_median, plain = timed(
        lambda: tick_queries.candles_from_trades(store, "binance", "YEAR/USDT", "1m", YEAR_START, year_end), 3)
    assert len(candles) == MINUTES_PER_YEAR
    assert np.array_equal(candles.close, plain.close)
    lines.append(f"data: one year of 1m bars = 10 real Binance kline days repeated, 4 trades per bar "
                 f"({len(year['ts_event'])} trades, recorded in {seconds:.2f} s)")
    lines.append(f"1 year of 1m candles from the candle table: {fast_median * 1e3:.1f} ms median "
                 f"({fast_min * 1e3:.1f} ms best), {len(candles)} bars")
    lines.append(f"  naive GROUP BY over raw trades: {slow_median * 1e3:.1f} ms median -> ratio {slow_median / fast_median:.1f}x")
    store.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample-data", default="../shared/data/real", help="folder of the recorded real data")
    parser.add_argument("--trades", type=int, default=2_000_000, help="trades to ingest and replay")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cryptobot-bench-"))
    try:
        for line in run(Path(args.sample_data), args.trades, folder):
            print(line)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
