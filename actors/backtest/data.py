"""Market data for backtests: read from ClickHouse, and handed to worker processes through files.

The embedded ClickHouse engine (chdb) opens one data folder per process,
and the live engine's process holds it.  A worker process therefore never
opens the tick store: the service reads the job's trades with
:class:`~cryptobot.storage.replay.ReplayReader` (or its candles) in a
thread of the engine process, on a clone of the store, and appends each
chunk to one raw file per column in the job's folder (the spool).  The
worker maps those files read-only with ``numpy.memmap``, so nothing is
parsed or copied on its side.  Reading streams chunk by chunk, so memory
stays at one chunk however long the range; the disk holds 25 bytes per
trade (41 per candle) until the job ends and its folder is removed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from cryptobot.actors.backtest.run import BarColumns, TradeColumns
from cryptobot.actors.backtest.spec import BacktestSpec
from cryptobot.storage.clickhouse import ClickHouseStore
from cryptobot.storage.replay import ReplayReader
from cryptobot.storage.tick_queries import kline_candles, trade_candles

TRADE_FIELDS = {"ts_event": np.int64, "price": np.float64, "size": np.float64, "side": np.int8}
BAR_FIELDS = {"ts_open": np.int64, "open": np.float64, "high": np.float64, "low": np.float64, "close": np.float64,
              "volume": np.float64}
_META = "meta.json"


def read_trades(store: ClickHouseStore, spec: BacktestSpec, chunk_rows: int = 500_000):
    """Yield the spec's trades as :class:`TradeColumns` chunks, in replay order."""
    reader = ReplayReader(store, spec.exchange, spec.symbol, spec.start_ns, spec.end_ns, chunk_rows=chunk_rows,
                          tables=("trades",))
    for chunk in reader:
        yield TradeColumns(chunk.ts_event, chunk.price, chunk.size, chunk.side)


def read_bars(store: ClickHouseStore, spec: BacktestSpec) -> BarColumns:
    """Return the spec's candles: imported exchange klines, or else candles built from recorded trades."""
    candles = kline_candles(store, spec.exchange, spec.symbol, spec.timeframe, spec.start_ns, spec.end_ns)
    if len(candles) == 0:
        candles = trade_candles(store, spec.exchange, spec.symbol, spec.timeframe, spec.start_ns, spec.end_ns)
    return BarColumns(candles.ts_open, candles.open, candles.high, candles.low, candles.close, candles.volume)


def load_trades(store: ClickHouseStore, spec: BacktestSpec) -> TradeColumns:
    """Return all of the spec's trades in memory (for runs in this process)."""
    parts = list(read_trades(store, spec))
    if not parts:
        return TradeColumns(*(np.empty(0, dtype=dtype) for dtype in TRADE_FIELDS.values()))
    return TradeColumns(*(np.concatenate([getattr(p, name) for p in parts]) for name in TRADE_FIELDS))


def count_trades(store: ClickHouseStore, spec: BacktestSpec) -> int:
    """Return how many trades the spec's range holds (for the completion estimate)."""
    sql = (f"SELECT count() AS n FROM {store.table('trades')} WHERE exchange = {{exchange:String}} "
           "AND symbol = {symbol:String} AND ts_event >= fromUnixTimestamp64Nano({start:Int64}, 'UTC') "
           "AND ts_event < fromUnixTimestamp64Nano({end:Int64}, 'UTC')")
    columns = store.query_columns(sql, {"exchange": spec.exchange, "symbol": spec.symbol, "start": spec.start_ns,
                                        "end": spec.end_ns})
    return int(columns["n"][0]) if columns else 0


def spool(store: ClickHouseStore, spec: BacktestSpec, folder: Path,
          cancelled: Callable[[], bool] = lambda: False) -> int:
    """Write the spec's trades (or candles) into ``folder``; return the row count.

    ``cancelled`` is asked between chunks, and a True answer stops early
    (the spool is then incomplete and must not be replayed).
    """
    folder.mkdir(parents=True, exist_ok=True)
    fields = BAR_FIELDS if spec.bars else TRADE_FIELDS
    handles = {name: open(folder / f"{name}.bin", "wb") for name in fields}
    rows = 0
    try:
        chunks = [read_bars(store, spec)] if spec.bars else read_trades(store, spec)
        for chunk in chunks:
            if cancelled():
                break
            for name, dtype in fields.items():
                handles[name].write(np.ascontiguousarray(getattr(chunk, name), dtype=dtype).tobytes())
            rows += len(chunk)
    finally:
        for handle in handles.values():
            handle.close()
    (folder / _META).write_text(json.dumps({"bars": spec.bars, "rows": rows}))
    return rows


def open_spool(folder: Path) -> TradeColumns | BarColumns:
    """Map a spool written by :func:`spool` read-only."""
    meta = json.loads((folder / _META).read_text())
    fields = BAR_FIELDS if meta["bars"] else TRADE_FIELDS
    rows = int(meta["rows"])
    arrays = [np.memmap(folder / f"{name}.bin", dtype=dtype, mode="r", shape=(rows,)) if rows else
              np.empty(0, dtype=dtype) for name, dtype in fields.items()]
    return BarColumns(*arrays) if meta["bars"] else TradeColumns(*arrays)
