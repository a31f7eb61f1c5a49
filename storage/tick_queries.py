"""Reads of candles and ticks as numpy columns.

Candle reads avoid ``FINAL`` and ``ORDER BY`` when they can.  Rows of an
aggregating or replacing table with the same key are partial until a
background merge combines them, so a read must merge them itself.  The
fast path reads the rows as stored, on one thread, and checks the open
times: if they strictly increase, every row is complete and in order, and
the result is exact.  Otherwise (a late trade, a re-import, parts not yet
merged) the read runs again with ``FINAL ... ORDER BY``, which merges and
sorts on the fly.  On a merged table the fast path reads a year of
1-minute candles in about half the time of the ordered ``FINAL`` read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryptobot.core.errors import ValidationError
from cryptobot.core.symbols import check_symbol
from cryptobot.core.types import TIMEFRAMES_NS, Bar
from cryptobot.storage.clickhouse import ClickHouseStore

_NS = 1_000_000_000


@dataclass(slots=True)
class Candles:
    """OHLCV columns of one instrument and timeframe; ``ts_open`` in ns, ascending."""

    ts_open: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray
    trades: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_open)

    def to_bars(self, exchange: str, symbol: str, timeframe: str) -> list[Bar]:
        """Return the candles as :class:`cryptobot.core.types.Bar` objects (one Python object per bar)."""
        return [Bar(exchange, symbol, timeframe, *row) for row in zip(
            self.ts_open.tolist(), self.open.tolist(), self.high.tolist(), self.low.tolist(), self.close.tolist(),
            self.volume.tolist(), self.trades.tolist())]


def check_timeframe(timeframe: str) -> str:
    if timeframe not in TIMEFRAMES_NS:
        raise ValidationError(f"'timeframe' must be one of {', '.join(TIMEFRAMES_NS)}, was {timeframe!r}",
                              {"timeframe": "unknown timeframe"})
    return timeframe


def check_range(start_ns: int, end_ns: int) -> tuple[int, int]:
    start_ns, end_ns = int(start_ns), int(end_ns)
    if end_ns <= start_ns:
        raise ValidationError(f"'end' must be after 'start', was start={start_ns} end={end_ns}", {"end": "before start"})
    return start_ns, end_ns


def _empty_candles() -> Candles:
    f8 = np.empty(0, dtype=np.float64)
    return Candles(np.empty(0, dtype=np.int64), f8, f8, f8, f8, f8, f8, np.empty(0, dtype=np.uint64))


def _to_candles(columns: dict) -> Candles:
    if not columns:
        return _empty_candles()
    return Candles(columns["t"].astype(np.int64) * _NS, columns["o"], columns["h"], columns["l"], columns["c"],
                   columns["v"], columns["q"], columns["n"])


def _strictly_increasing(ts: np.ndarray) -> bool:
    return len(ts) < 2 or bool((ts[1:] > ts[:-1]).all())


def _candle_query(store: ClickHouseStore, table: str, select: str, exchange: str, symbol: str, timeframe: str,
                  start_ns: int, end_ns: int) -> Candles:
    start_ns, end_ns = check_range(start_ns, end_ns)
    parameters = {"exchange": exchange, "symbol": check_symbol(symbol), "timeframe": check_timeframe(timeframe),
                  "start": start_ns // _NS, "end": -(-end_ns // _NS)}
    where = ("exchange = {exchange:String} AND symbol = {symbol:String} AND timeframe = {timeframe:String} "
             "AND ts_open >= toDateTime({start:Int64}, 'UTC') AND ts_open < toDateTime({end:Int64}, 'UTC')")
    table = store.table(table)
    # One thread reads the range; the ordered read skips read-in-order
    # buffering, which made such reads several times slower on ClickHouse 26.9.
    settings = {"max_threads": 1, "read_in_order_use_buffering": 0}
    candles = _to_candles(store.query_columns(f"SELECT {select} FROM {table} WHERE {where}", parameters, settings))
    if not _strictly_increasing(candles.ts_open):
        sql = f"SELECT {select} FROM {table} FINAL WHERE {where} ORDER BY ts_open"
        candles = _to_candles(store.query_columns(sql, parameters, settings))
    return candles


def trade_candles(store: ClickHouseStore, exchange: str, symbol: str, timeframe: str, start_ns: int,
                  end_ns: int) -> Candles:
    """Read candles built from recorded trades with open times in ``[start_ns, end_ns)``."""
    select = ("toUnixTimestamp(ts_open) AS t, open.3 AS o, high AS h, low AS l, close.3 AS c, "
              "volume AS v, quote_volume AS q, trades AS n")
    return _candle_query(store, "trade_candles", select, exchange, symbol, timeframe, start_ns, end_ns)


def kline_candles(store: ClickHouseStore, exchange: str, symbol: str, timeframe: str, start_ns: int,
                  end_ns: int) -> Candles:
    """Read candles imported from exchange kline files with open times in ``[start_ns, end_ns)``."""
    select = ("toUnixTimestamp(ts_open) AS t, open AS o, high AS h, low AS l, close AS c, "
              "volume AS v, quote_volume AS q, trades AS n")
    return _candle_query(store, "klines", select, exchange, symbol, timeframe, start_ns, end_ns)


def candles_from_trades(store: ClickHouseStore, exchange: str, symbol: str, timeframe: str, start_ns: int,
                        end_ns: int) -> Candles:
    """Aggregate candles straight from the trades table (the slow path, for checks and comparison)."""
    start_ns, end_ns = check_range(start_ns, end_ns)
    step = TIMEFRAMES_NS[check_timeframe(timeframe)] // _NS
    # Weeks start on Monday.  The epoch was a Thursday, so the week grid is
    # shifted by the four days to Monday 1970-01-05.
    offset = 4 * 86_400 if timeframe == "1w" else 0
    sql = f"""
        SELECT intDiv(toUnixTimestamp(ts_event) - {offset}, {step}) * {step} + {offset} AS t,
               argMin(price, (ts_event, trade_id)) AS o, max(price) AS h, min(price) AS l,
               argMax(price, (ts_event, trade_id)) AS c, sum(quantity) AS v, sum(price * quantity) AS q,
               count() AS n
        FROM {store.table('trades')}
        WHERE exchange = {{exchange:String}} AND symbol = {{symbol:String}}
          AND ts_event >= fromUnixTimestamp64Nano({{start:Int64}}, 'UTC')
          AND ts_event < fromUnixTimestamp64Nano({{end:Int64}}, 'UTC')
        GROUP BY t ORDER BY t
    """
    parameters = {"exchange": exchange, "symbol": check_symbol(symbol), "start": start_ns, "end": end_ns}
    return _to_candles(store.query_columns(sql, parameters))


def trades(store: ClickHouseStore, exchange: str, symbol: str, start_ns: int, end_ns: int) -> dict[str, np.ndarray]:
    """Read the trades of one instrument in ``[start_ns, end_ns)`` in (ts_event, trade_id) order."""
    start_ns, end_ns = check_range(start_ns, end_ns)
    sql = f"""
        SELECT toUnixTimestamp64Nano(ts_event) AS event_ns, toUnixTimestamp64Nano(ts_recv) AS recv_ns,
               price, quantity, toInt8(side) AS side_code, trade_id
        FROM {store.table('trades')}
        WHERE exchange = {{exchange:String}} AND symbol = {{symbol:String}}
          AND ts_event >= fromUnixTimestamp64Nano({{start:Int64}}, 'UTC')
          AND ts_event < fromUnixTimestamp64Nano({{end:Int64}}, 'UTC')
        ORDER BY ts_event, trade_id
    """
    parameters = {"exchange": exchange, "symbol": check_symbol(symbol), "start": start_ns, "end": end_ns}
    # Output aliases differ from the column names: ClickHouse resolves a name
    # in WHERE to a SELECT alias first, which would compare integers to times.
    columns = store.query_columns(sql, parameters)
    if not columns:
        return {"ts_event": np.empty(0, np.int64), "ts_recv": np.empty(0, np.int64), "price": np.empty(0),
                "quantity": np.empty(0), "side": np.empty(0, np.int8), "trade_id": np.empty(0, np.int64)}
    return {"ts_event": columns["event_ns"], "ts_recv": columns["recv_ns"], "price": columns["price"],
            "quantity": columns["quantity"], "side": columns["side_code"], "trade_id": columns["trade_id"]}
