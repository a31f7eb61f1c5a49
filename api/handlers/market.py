"""``/data``: candles from ClickHouse, and the live order book and ticker from the book actors.

The symbol is the last path segment and may contain its slash
(``/data/ticker/binance/BTC/USDT``); ``BTC-USDT`` and ``BTC_USDT`` work too.
The live endpoints respond 404 for a market this engine does not serve and
503 while its book is not running or not yet synchronized.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

from aiohttp import web

from cryptobot.api import views
from cryptobot.api.responses import json_response
from cryptobot.api.state import state_of
from cryptobot.api.validation import Problems, query_choice, query_int, query_time
from cryptobot.core.actor import ask
from cryptobot.core.errors import NotFound, ServiceUnavailable, ValidationError
from cryptobot.core.symbols import check_exchange, check_symbol
from cryptobot.core.types import TIMEFRAMES_NS
from cryptobot.storage import tick_queries

MAX_CANDLES = 1000
MAX_DEPTH = 1000
ASK_TIMEOUT = 2.0


class TickReader:
    """Runs ClickHouse reads in worker threads, each on a store of its own (a store is one client)."""

    def __init__(self, store: Any):
        self._store = store
        self._local = threading.local()
        self._clones: list[Any] = []
        self._lock = threading.Lock()

    def _thread_store(self) -> Any:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._store.clone().connect()
            self._local.store = store
            with self._lock:
                self._clones.append(store)
        return store

    async def run(self, read: Callable[..., Any], *args: Any) -> Any:
        """Return ``read(store, *args)`` computed in a worker thread."""
        return await asyncio.to_thread(lambda: read(self._thread_store(), *args))

    def close(self) -> None:
        with self._lock:
            clones, self._clones = self._clones, []
        for store in clones:
            store.close()


def _market(request: web.Request) -> tuple[str, str]:
    problems = Problems()
    exchange = problems.check("exchange", lambda: check_exchange(request.match_info["exchange"]))
    symbol = problems.check("symbol", lambda: check_symbol(request.match_info["symbol"]))
    problems.raise_if_any()
    return exchange, symbol


def _served_market(request: web.Request) -> tuple[str, str, Any]:
    """Return (exchange, symbol, book actor reference); 404 for a market not served, 503 while its book is down."""
    exchange, symbol = _market(request)
    system = state_of(request).system
    if exchange != system.exchange or symbol not in system.symbols:
        served = ", ".join(f"{s} on {system.exchange}" for s in system.symbols)
        raise NotFound(f"No market data for {symbol} on {exchange}: this engine serves {served}",
                       {"symbol": "market not served by this engine"})
    name = f"book.{exchange}.{symbol}"
    if system.engine is None or not system.engine.has_actor(name):
        raise ServiceUnavailable(f"The order book of {symbol} on {exchange} is not running; retry shortly",
                                 {"symbol": "order book not running"})
    return exchange, symbol, system.engine.ref(name)


async def get_candles(request: web.Request) -> web.Response:
    """GET /data/market/{exchange}/{symbol}: OHLCV candles of one timeframe from the tick store."""
    exchange, symbol = _market(request)
    problems = Problems()
    if "timeframe" not in request.query:
        problems.add("timeframe", "required", "'timeframe' is required: one of " + ", ".join(TIMEFRAMES_NS))
    timeframe = query_choice(request, "timeframe", problems, tuple(TIMEFRAMES_NS))
    start, end = query_time(request, "start", problems), query_time(request, "end", problems)
    limit = query_int(request, "limit", problems, default=100, minimum=1, maximum=MAX_CANDLES)
    problems.raise_if_any()
    state = state_of(request)
    step = TIMEFRAMES_NS[timeframe]
    if end is None:
        now = state.system.clock.now_ns()
        end = now if start is None else min(now, start + limit * step)
    if start is None:
        start = end - limit * step
    if end <= start:
        raise ValidationError("'end' must be after 'start'", {"end": "must be after start"})
    candles = await state.ticks_pool.run(tick_queries.trade_candles, exchange, symbol, timeframe, start, end)
    source = "trades"
    if len(candles) == 0:
        candles = await state.ticks_pool.run(tick_queries.kline_candles, exchange, symbol, timeframe, start, end)
        source = "klines"
    rows = list(zip(candles.ts_open.tolist(), candles.open.tolist(), candles.high.tolist(), candles.low.tolist(),
                    candles.close.tolist(), candles.volume.tolist()))
    rows = rows[:limit] if "start" in request.query else rows[-limit:]
    data = [{"timestamp": views.iso(ts), "open": o, "high": h, "low": lo, "close": c, "volume": v}
            for ts, o, h, lo, c, v in rows]
    return json_response({"exchange": exchange, "symbol": symbol, "timeframe": timeframe, "source": source, "data": data})


async def get_order_book(request: web.Request) -> web.Response:
    """GET /data/orderbook/{exchange}/{symbol}: the best ``depth`` levels of the live book."""
    problems = Problems()
    depth = query_int(request, "depth", problems, default=10, minimum=1, maximum=MAX_DEPTH)
    problems.raise_if_any()
    exchange, symbol, ref = _served_market(request)
    book = await ask(ref, "orderbook", timeout=ASK_TIMEOUT, depth=depth)
    if not book.get("ready", False):
        raise ServiceUnavailable(f"The order book of {symbol} on {exchange} is not synchronized yet; retry shortly",
                                 {"symbol": "order book not synchronized"})
    return json_response({"exchange": exchange, "symbol": symbol, "timestamp": views.iso(book.get("timestamp")),
                          "sequence": book.get("sequence"), "bids": views.levels(book["bids"]),
                          "asks": views.levels(book["asks"])})


async def get_ticker(request: web.Request) -> web.Response:
    """GET /data/ticker/{exchange}/{symbol}: best bid and ask, last price and the 24-hour change."""
    exchange, symbol, ref = _served_market(request)
    ticker = await ask(ref, "ticker", timeout=ASK_TIMEOUT)
    if ticker is None:
        raise ServiceUnavailable(f"No ticker for {symbol} on {exchange} yet; retry shortly", {"symbol": "no ticker yet"})
    return json_response(views.ticker(ticker))
