"""Import a recorded market-data file into the tick store: detect, parse, check, write once.

All or nothing: the whole file is parsed and validated before anything is
written, so a malformed row (reported with its line number) imports
nothing.  Safe to repeat, in three ways.  A file already recorded in the
``imports`` table for the same kind, exchange and symbol is skipped.
Trades whose ``(ts_event, trade_id)`` is already stored are dropped before
the insert.  Every chunk carries a deduplication token made of the file
hash and its position, so an import interrupted half way and run again does
not write the first chunks twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from cryptobot.core.errors import ValidationError
from cryptobot.core.symbols import check_symbol
from cryptobot.core.types import TIMEFRAMES_NS
from cryptobot.storage.clickhouse import ClickHouseStore, arrow_repeat, arrow_timestamps
from cryptobot.storage.importers import binance_frames, csv_files, cryptofeed, kraken_rest
from cryptobot.storage.importers.rows import KINDS, ParseContext, Parsed, symbol_key
from cryptobot.storage.tick_batches import DELTA_COLUMNS, TRADE_COLUMNS, snapshots_to_arrow, to_arrow

log = logging.getLogger("cryptobot.storage.importers")

CHUNK_ROWS = 500_000
_EXCHANGE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass
class ImportSummary:
    """Result of one import: the rows found in the file and the rows written."""

    file: str
    format: str
    kind: str
    exchange: str
    symbol: str
    rows_parsed: int
    rows_written: int
    duplicates_skipped: int
    already_imported: bool
    ts_min: int
    ts_max: int
    timeframe: str = ""
    other_symbol_rows: int = 0

    def describe(self) -> str:
        """Return the summary as the lines the import command prints."""
        span = "no rows"
        if self.rows_parsed:
            span = f"{_iso(self.ts_min)} -> {_iso(self.ts_max)}"
        lines = [f"{self.file}: {self.format}, {self.kind} for {self.exchange} {self.symbol}"
                 + (f" ({self.timeframe})" if self.timeframe else "")]
        if self.already_imported:
            # A file seen before is recognized by its content hash and not read into the store again.
            lines.append(f"already imported earlier: all {self.rows_parsed} rows are stored, nothing written")
        else:
            lines.append(f"rows parsed {self.rows_parsed}, written {self.rows_written}, "
                         f"already stored {self.duplicates_skipped}")
        lines.append(f"time span {span}")
        if self.other_symbol_rows:
            lines.append(f"skipped {self.other_symbol_rows} messages of other symbols")
        return "\n".join(lines)


def _iso(ts_ns: int) -> str:
    moment = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ts_ns % 1_000_000_000:09d}Z"


def detect_and_parse(ctx: ParseContext) -> None:
    """Pick the parser for the file's format from its content and run it."""
    if binance_frames.is_hftbacktest(ctx.path):
        binance_frames.parse_hftbacktest(ctx)
        return
    with open(ctx.path, encoding="utf-8", errors="replace") as handle:
        first = handle.readline().rstrip("\n")
    header = first.split(",")
    if first.lstrip().startswith("{"):
        kraken_rest.parse_kraken_rest(ctx)
    elif cryptofeed.is_cryptofeed(first):
        cryptofeed.parse_cryptofeed(ctx)
    elif header[:4] == ["exchange", "symbol", "timestamp", "local_timestamp"]:
        csv_files.parse_tardis(ctx, header)
    elif header == csv_files.T_DEPTH:
        csv_files.parse_t_depth(ctx)
    elif header == csv_files.OHLCV:
        csv_files.parse_ohlcv(ctx)
    elif len(header) == 12:
        csv_files.parse_binance_klines(ctx)
    elif len(header) == 3:
        csv_files.parse_kraken_trades_csv(ctx)
    else:
        raise ctx.error(1, "unrecognized file format (see `cryptobot data import --help` for the formats)")


def _check_arguments(path, exchange: str, symbol: str, kind: str) -> tuple[Path, str, str]:
    if kind not in KINDS:
        raise ValidationError(f"'kind' must be one of {', '.join(KINDS)}, was {kind!r}", {"kind": "unknown kind"})
    if not isinstance(exchange, str) or not _EXCHANGE.match(exchange):
        raise ValidationError(f"'exchange' must be lower-case letters, digits and _ (max 32), was {exchange!r}",
                              {"exchange": "invalid exchange name"})
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"file not found: {path}", {"file": "not found"})
    return path, exchange, check_symbol(symbol)


def parse_file(path, exchange: str, symbol: str, kind: str, timeframe: str | None = None) -> Parsed:
    """Parse and validate ``path`` for one instrument and kind, writing nothing."""
    path, exchange, symbol = _check_arguments(path, exchange, symbol, kind)
    ctx = ParseContext(path, exchange, symbol, kind)
    detect_and_parse(ctx)
    parsed = ctx.parsed
    if ctx.seen and ctx.key not in {symbol_key(seen) for seen in ctx.seen}:
        raise ValidationError(f"{path.name} has no {kind} for symbol {symbol}; it contains {', '.join(sorted(ctx.seen))}",
                              {"symbol": "not in file"})
    if kind == "candles":
        if timeframe is not None and timeframe not in TIMEFRAMES_NS:
            raise ValidationError(f"'timeframe' must be one of {', '.join(TIMEFRAMES_NS)}, was {timeframe!r}")
        if timeframe and parsed.timeframe and timeframe != parsed.timeframe:
            raise ValidationError(f"{path.name} contains {parsed.timeframe} bars, not {timeframe}")
        parsed.timeframe = parsed.timeframe or timeframe or ""
        if parsed.row_count("candles") and not parsed.timeframe:
            raise ValidationError(f"cannot tell the bar length of {path.name}: pass --timeframe")
    if not parsed.row_count(kind):
        raise ValidationError(f"{path.name} ({parsed.format or 'unknown format'}) contains no {kind} for {symbol}",
                              {"kind": "no rows of this kind"})
    return parsed


def _trade_columns(parsed: Parsed) -> dict[str, np.ndarray]:
    return {name: np.array(parsed.trades[name], dtype=dtype) for name, dtype in TRADE_COLUMNS.items()}


def _drop_stored_trades(store: ClickHouseStore, exchange: str, symbol: str, columns: dict) -> tuple[dict, int]:
    sql = f"""
        SELECT toUnixTimestamp64Nano(ts_event) AS event_ns, trade_id FROM {store.table('trades')}
        WHERE exchange = {{exchange:String}} AND symbol = {{symbol:String}}
          AND ts_event >= fromUnixTimestamp64Nano({{start:Int64}}, 'UTC')
          AND ts_event <= fromUnixTimestamp64Nano({{end:Int64}}, 'UTC')
    """
    parameters = {"exchange": exchange, "symbol": symbol, "start": int(columns["ts_event"].min()),
                  "end": int(columns["ts_event"].max())}
    stored = store.query_columns(sql, parameters)
    # Deduplicate within the file too: the same trade may be captured twice.
    pairs = np.rec.fromarrays([columns["ts_event"], columns["trade_id"]])
    _, first = np.unique(pairs, return_index=True)
    keep = np.zeros(len(pairs), dtype=bool)
    keep[first] = True
    if stored:
        stored_pairs = np.rec.fromarrays([stored["event_ns"], stored["trade_id"]])
        keep &= ~np.isin(pairs, stored_pairs)
    dropped = int(len(keep) - keep.sum())
    return {name: values[keep] for name, values in columns.items()}, dropped


def _candles_table(parsed: Parsed, exchange: str, symbol: str) -> pa.Table:
    rows = parsed.candles
    n = len(rows["ts_open"])
    return pa.table({
        "exchange": arrow_repeat(exchange, n),
        "symbol": arrow_repeat(symbol, n),
        "timeframe": arrow_repeat(parsed.timeframe, n),
        "ts_open": pa.array(np.array(rows["ts_open"], dtype=np.int64) // 1_000_000_000, type=pa.uint32()),
        **{name: pa.array(np.array(rows[name], dtype=np.float64))
           for name in ("open", "high", "low", "close", "volume", "quote_volume")},
        "trades": pa.array(np.array(rows["trades"], dtype=np.uint64)),
    })


def _tables(store, parsed: Parsed, exchange: str, symbol: str, kind: str) -> tuple[list, int, int, int]:
    """Return [(table name, Arrow table)], rows parsed, rows already stored, and (min, max) event time."""
    if kind == "trades":
        columns = _trade_columns(parsed)
        times = columns["ts_event"]
        columns, dropped = _drop_stored_trades(store, exchange, symbol, columns)
        n = len(columns["ts_event"])
        table = to_arrow(columns, arrow_repeat(exchange, n), arrow_repeat(symbol, n))
        return [("trades", table)], len(times), dropped, (int(times.min()), int(times.max()))
    if kind == "book":
        tables = []
        times = list(parsed.deltas["ts_event"]) + [snap[0] for snap in parsed.snapshots]
        if parsed.deltas["ts_event"]:
            columns = {name: np.array(parsed.deltas[name], dtype=dtype) for name, dtype in DELTA_COLUMNS.items()}
            n = len(columns["ts_event"])
            tables.append(("book_deltas", to_arrow(columns, arrow_repeat(exchange, n), arrow_repeat(symbol, n))))
        if parsed.snapshots:
            rows = [(exchange, symbol, *snapshot) for snapshot in parsed.snapshots]
            tables.append(("book_snapshots", snapshots_to_arrow(rows)))
        return tables, parsed.row_count("book"), 0, (min(times), max(times))
    times = parsed.candles["ts_open"]
    return [("klines", _candles_table(parsed, exchange, symbol))], len(times), 0, (min(times), max(times))


def import_file(store: ClickHouseStore, path, exchange: str, symbol: str, kind: str,
                timeframe: str | None = None) -> ImportSummary:
    """Import one file of ``kind`` (trades, book or candles) for one instrument; see the module docstring.

    Raises
    ------
    ValidationError
        For bad arguments, an unrecognized format, or a malformed row (the
        message names the file and line); nothing is written then.
    """
    parsed = parse_file(path, exchange, symbol, kind, timeframe)
    path = Path(path)
    symbol = check_symbol(symbol)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    ledger_key = {"sha": digest, "kind": kind, "exchange": exchange, "symbol": symbol}
    seen = store.command(f"SELECT count() FROM {store.table('imports')} WHERE file_sha256 = {{sha:String}} "
                         "AND kind = {kind:String} AND exchange = {exchange:String} AND symbol = {symbol:String}",
                         ledger_key)
    summary = ImportSummary(path.name, parsed.format, kind, exchange, symbol, parsed.row_count(kind), 0, 0,
                            bool(int(seen)), 0, 0, parsed.timeframe if kind == "candles" else "",
                            parsed.skipped_other_symbols)
    tables, total, dropped, (ts_min, ts_max) = _tables(store, parsed, exchange, symbol, kind)
    summary.ts_min, summary.ts_max = ts_min, ts_max
    if summary.already_imported:
        return summary
    summary.duplicates_skipped = dropped
    for name, table in tables:
        for index, start in enumerate(range(0, table.num_rows, CHUNK_ROWS)):
            chunk = table.slice(start, CHUNK_ROWS)
            store.insert_arrow(name, chunk, token=f"import:{digest}:{kind}:{exchange}:{symbol}:{name}:{index}")
            summary.rows_written += chunk.num_rows
    store.insert_arrow("imports", pa.table({
        "file_sha256": [digest], "kind": [kind], "exchange": [exchange], "symbol": [symbol], "file_name": [path.name],
        "rows": pa.array([summary.rows_written], type=pa.uint64()),
        "ts_min": arrow_timestamps(np.array([ts_min])), "ts_max": arrow_timestamps(np.array([ts_max])),
    }))
    log.info("imported %s: %d %s rows for %s %s", path.name, summary.rows_written, kind, exchange, symbol)
    return summary
