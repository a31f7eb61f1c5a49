"""``cryptobot run``: the engine and its API in one process, until SIGINT or SIGTERM.

Start-up: settings and logging, the trading system (stores, market data,
actors, restored strategies), the first admin on an empty database, a
paper ``mean_reversion`` strategy on the first symbol when the database has
no strategy yet, then the API.  A signal stops it in order: API, strategies
and feeds, actors draining their mailboxes, ticks flushed, stores closed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from decimal import Decimal

import uvloop

from cryptobot.actors.system import TradingSystem
from cryptobot.api.server import start_api
from cryptobot.core.config import Settings, load_settings
from cryptobot.core.logs import configure_logging, secrets_filter

log = logging.getLogger("cryptobot.api.run")

DEFAULT_STRATEGY = {
    "name": "Mean Reversion",
    "description": "Paper mean reversion on one-minute bars, started on first run",
    "timeframe": "1m",
    "strategy_type": "mean_reversion",
    "parameters": {"lookback_period": 20, "entry_threshold": 2.0, "exit_threshold": 0.5, "stop_loss": 2.0,
                   "take_profit": 5.0},
}
DEFAULT_CAPITAL = Decimal("10000")


def add_run_command(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="start the engine and its API (embedded databases unless configured otherwise)")
    run.add_argument("--host", help="address the API listens on (default: api_host, 127.0.0.1)")
    run.add_argument("--port", type=int, help="TCP port of the API (default: api_port, 8000)")
    run.set_defaults(handler=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    overrides = {}
    if args.host:
        overrides["api_host"] = args.host
    if args.port is not None:
        overrides["api_port"] = args.port
    settings = load_settings(args.config, **overrides)
    configure_logging(settings.log_level, settings.log_format)
    for secret in (settings.auth_jwt_secret, settings.auth_admin_password, settings.database_url,
                   settings.clickhouse_url, getattr(settings, "exchange_api_key", ""),
                   getattr(settings, "exchange_api_secret", ""), getattr(settings, "database_secret_key", "")):
        secrets_filter.add(secret)
    uvloop.run(run(settings))
    return 0


async def run(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Run the engine and the API until a signal (or ``engine.request_stop``), then stop everything."""
    system = TradingSystem(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = None
    try:
        await system.start()
        server = await start_api(system, settings)
        await _first_strategy(system, settings)
        log.info("cryptobot %s running: %s mode, market data from %s, API at %s/api/v1", system.version,
                 settings.engine_mode, system.market_data.source, server.url)
        if ready is not None:
            ready.set()
        stopper = asyncio.create_task(system.engine.wait_stop_requested())
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({stopper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopper, waiter):
            task.cancel()
        if system.engine.failure is not None:
            name, error = system.engine.failure
            log.error("stopping: actor %s failed: %s", name, error)
        else:
            log.info("stopping on request")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        if server is not None:
            await server.stop()
        await system.stop()


async def _first_strategy(system: TradingSystem, settings: Settings) -> None:
    """On a database without strategies, create and start the paper mean_reversion strategy of the first symbol."""
    if settings.engine_mode != "paper" or not system.symbols:
        return
    if (await system.db.strategies.list(status="all", limit=1)).total > 0:
        return
    admin = await system.db.users.get_by_username(settings.auth_admin_username)
    record = await system.db.strategies.create(exchange=system.exchange, symbol=system.symbols[0], owner_id=admin.id,
                                               **DEFAULT_STRATEGY)
    await system.strategies.start(record.id, DEFAULT_CAPITAL, 1)
    log.info("started paper strategy %s (%s on %s)", record.id, record.strategy_type, record.symbol,
             extra={"strategy_id": record.id})
