"""The ``cryptobot backtest`` command: one backtest in this process, on data in the tick store."""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import Any

from cryptobot.core.clock import iso_to_ns
from cryptobot.core.errors import ValidationError
from cryptobot.core.types import TIMEFRAMES_NS

_SUMMARY = ("initial_capital", "final_capital", "total_return", "annualized_return", "sharpe_ratio", "sortino_ratio",
            "max_drawdown", "win_rate", "profit_factor", "trades", "winning_trades", "losing_trades", "average_win",
            "average_loss", "largest_win", "largest_loss")


def parse_parameter(text: str) -> tuple[str, Any]:
    """Split ``name=value``; the value is read as JSON (numbers, true/false), else kept as text."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise ValidationError(f"'--param' must look like name=value, was {text!r}", {"param": "expected name=value"})
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.strip(), value


def _instrument(args: argparse.Namespace):
    from cryptobot.core.instruments import Instrument
    from cryptobot.core.symbols import check_symbol, split_symbol

    if args.tick_size is None and args.step_size is None and args.min_notional is None:
        return None
    symbol = check_symbol(args.symbol)
    base, quote = split_symbol(symbol)
    return Instrument(args.exchange, symbol, symbol.replace("/", ""), base, quote,
                      tick_size=Decimal(args.tick_size or "0"), step_size=Decimal(args.step_size or "0"),
                      min_notional=Decimal(args.min_notional or "0"))


def _cmd_backtest(args: argparse.Namespace) -> int:
    from cryptobot.actors.backtest.data import load_trades, read_bars
    from cryptobot.actors.backtest.results import build_results
    from cryptobot.actors.backtest.run import run_bars, run_trades
    from cryptobot.actors.backtest.spec import BacktestSpec
    from cryptobot.core.config import load_settings
    from cryptobot.storage.clickhouse import ClickHouseStore

    parameters = dict(parse_parameter(item) for item in args.param)
    latency_ns = int(args.latency_ms * 1_000_000) if args.latency_ms is not None else (0 if args.bars else 1_000_000)
    spec = BacktestSpec.build(
        args.strategy_type, args.exchange, args.symbol, iso_to_ns(args.start, "start"), iso_to_ns(args.end, "end"),
        args.capital, parameters, timeframe=args.timeframe, bars=args.bars, maker_fee=args.fee, taker_fee=args.fee,
        fee_mode=args.fee_mode, latency_ns=latency_ns, slippage_bps=args.slippage_bps, position_size=args.position_size)
    instrument = _instrument(args)
    if instrument is not None:
        spec = spec.with_instrument(instrument)
    store = ClickHouseStore.from_settings(load_settings(args.config), args.database)
    try:
        columns = read_bars(store, spec) if spec.bars else load_trades(store, spec)
    finally:
        store.close()
    output = run_bars(spec, columns) if spec.bars else run_trades(spec, columns)
    results = build_results(output)
    _print(results, output.events, spec.bars)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)
    if args.chart:
        from cryptobot.actors.backtest.chart import write_equity_chart

        write_equity_chart(results, args.chart)
        print(f"equity chart written to {args.chart}")
    return 0


def _print(results: dict, events: int, bars: bool) -> None:
    print(f"{results['strategy_type']} on {results['symbol']} ({results['exchange']}), "
          f"{results['start_date']} to {results['end_date']}: {events} {'candles' if bars else 'trades'} replayed")
    for name in _SUMMARY:
        value = results[name]
        text = "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
        print(f"  {name:18} {text}")
    reasons: dict[str, int] = {}
    for trade in results["trades_list"]:
        reasons[trade["exit_reason"]] = reasons.get(trade["exit_reason"], 0) + 1
    if reasons:
        print("  exits              " + ", ".join(f"{name} {count}" for name, count in sorted(reasons.items())))
    sys.stdout.flush()


def add_backtest_command(subparsers) -> None:
    """Add ``backtest`` to the top-level command parser."""
    command = subparsers.add_parser(
        "backtest", help="replay recorded trades (or candles) through a strategy and print its performance",
        description="Runs one backtest in this process on data imported with 'cryptobot data import'.")
    command.add_argument("--strategy-type", required=True, help="mean_reversion or momentum")
    command.add_argument("--exchange", required=True, help="exchange the data was imported under, e.g. binance")
    command.add_argument("--symbol", required=True, help="instrument as BASE/QUOTE, e.g. BTC/USDT")
    command.add_argument("--start", required=True, help="start of the range, ISO 8601 with a zone (2024-08-01T00:00:00Z)")
    command.add_argument("--end", required=True, help="end of the range (exclusive), ISO 8601 with a zone")
    command.add_argument("--capital", required=True, help="initial capital in the quote currency")
    command.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                         help="strategy parameter (repeatable), e.g. lookback_period=20")
    command.add_argument("--timeframe", default="1m", choices=tuple(TIMEFRAMES_NS),
                         help="bar length of the strategy (and of the candles with --bars); default 1m")
    command.add_argument("--bars", action="store_true", help="replay candles instead of trades")
    command.add_argument("--fee", default="0.001", help="maker and taker fee rate (0.001 = 0.1 %%); default 0.001")
    command.add_argument("--fee-mode", default="quote", choices=("quote", "received"),
                         help="take fees in the quote asset, or in the asset received; default quote")
    command.add_argument("--slippage-bps", default="0", help="adverse move of market fills in basis points; default 0")
    command.add_argument("--latency-ms", type=float, help="order latency in ms; default 1 (0 with --bars)")
    command.add_argument("--position-size", default="0.95",
                         help="fraction of the equity one entry spends (compounding); default 0.95")
    command.add_argument("--tick-size", help="price grid of the instrument (default: none)")
    command.add_argument("--step-size", help="quantity grid of the instrument (default: none)")
    command.add_argument("--min-notional", help="smallest order value of the instrument (default: none)")
    command.add_argument("--database", default="cryptobot", help="ClickHouse database (default: cryptobot)")
    command.add_argument("--chart", metavar="PNG", help="write the equity curve to this PNG file (needs matplotlib)")
    command.add_argument("--json", metavar="FILE", help="write the full results as JSON to this file")
    command.set_defaults(handler=_cmd_backtest)
