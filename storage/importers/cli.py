"""The ``cryptobot data`` command group: ``data import``."""

from __future__ import annotations

import argparse

from cryptobot.core.config import load_settings
from cryptobot.core.types import TIMEFRAMES_NS
from cryptobot.storage.importers.rows import KINDS

_FORMATS = """formats, recognized from the content:
  trades   hftbacktest Binance captures (.gz), cryptofeed captures (Binance
           aggTrade, Kraken v1 trade), Tardis.dev trades CSV, Kraken REST
           Trades JSON, Kraken trade-history CSV
  book     hftbacktest and cryptofeed captures (depth diffs and REST
           snapshots, Kraken v1 book with checksums), Tardis.dev
           incremental_book_L2, book_snapshot_25 and quotes CSV, Binance
           T_DEPTH CSV, Kraken REST Depth JSON
  candles  Binance public-data klines CSV, cryptofeed closed kline frames,
           Kraken REST OHLC JSON, OHLCV CSV (timestamp,open,high,low,close,volume)
A malformed row stops the import with its line number and nothing is written.
Importing the same file again writes nothing."""


def _cmd_import(args: argparse.Namespace) -> int:
    from cryptobot.storage.clickhouse import ClickHouseStore
    from cryptobot.storage.importers.loader import import_file, parse_file

    # Validate the file before opening the store, so a bad file fails fast.
    parse_file(args.file, args.exchange, args.symbol, args.kind, args.timeframe)
    settings = load_settings(args.config)
    store = ClickHouseStore.from_settings(settings, args.database)
    try:
        store.apply_schema()
        summary = import_file(store, args.file, args.exchange, args.symbol, args.kind, args.timeframe)
    finally:
        store.close()
    print(summary.describe())
    return 0


def add_data_commands(subparsers) -> None:
    """Add ``data import`` to the top-level command parser."""
    data = subparsers.add_parser("data", help="market data in the tick store")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    command = data_sub.add_parser(
        "import", help="import a recorded trades, book or candles file into ClickHouse",
        epilog=_FORMATS, formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("file", help="the file to import")
    command.add_argument("--exchange", required=True, help="exchange name stored with the rows, e.g. binance")
    command.add_argument("--symbol", required=True, help="instrument as BASE/QUOTE, e.g. BTC/USDT; selects it in multi-symbol files")
    command.add_argument("--kind", required=True, choices=KINDS, help="what to import from the file")
    command.add_argument("--timeframe", choices=tuple(TIMEFRAMES_NS),
                         help="bar length of a candles file whose rows do not show it")
    command.add_argument("--database", default="cryptobot", help="ClickHouse database (default: cryptobot)")
    command.set_defaults(handler=_cmd_import)
