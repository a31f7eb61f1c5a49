"""A real engine and API for tests and benchmarks, running on its own event loop in a background thread.

Clients (aiohttp in the test's loop, requests in schemathesis) talk to it
over real HTTP on 127.0.0.1, exactly as a user would.  Test code that must
act inside the engine (publish market data on the bus, read the store)
runs there through :meth:`EngineThread.run`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import secrets
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Awaitable, Callable

import numpy as np
import uvloop

from cryptobot.actors.system import TradingSystem
from cryptobot.core import topics
from cryptobot.core.actor import Actor, answer
from cryptobot.core.config import Settings, load_settings
from cryptobot.core.messages import BookStatus, BookTop, Query
from cryptobot.storage.keyring import generate_key

ADMIN_USERNAME = "admin"
# Webhook retries and the /ws status feed at test speed; the rest as in production.
TEST_APP_OPTIONS = {
    "webhook_options": {"base_delay": 0.2, "max_attempts": 4, "poll_seconds": 0.1, "timeout": 5.0},
    "status_feed_seconds": 0.5,
}
NS = 1_000_000_000


def engine_settings(data_dir: str, database_url: str, sample_data: str, **overrides: Any) -> Settings:
    """Settings of a paper engine without a feed (tests publish market data) and limits high enough for a test suite's traffic."""
    values = dict(
        data_dir=data_dir, database_url=database_url, database_secret_key=generate_key(), database_pool_size=10,
        engine_market_data="none", sample_data=sample_data, engine_symbols="BTC/USDT",
        auth_jwt_secret=secrets.token_urlsafe(48), auth_admin_username=ADMIN_USERNAME,
        auth_admin_password=secrets.token_urlsafe(24), auth_max_login_failures=3, auth_lockout_seconds=60,
        api_host="127.0.0.1", api_port=0, api_rate_limit_ip_per_minute=1_000_000, api_rate_limit_key_per_hour=1_000_000,
        api_webhook_allow_private=True,
    )
    values.update(overrides)
    return load_settings(environ={}, **values)


class StandInBook(Actor):
    """Replies to the queries of a book actor (``book.<exchange>.<symbol>``) from a fixed book and ticker.

    It stands in for the book actors built elsewhere, with the same name and
    the same ``orderbook`` and ``ticker`` queries.
    """

    def __init__(self, exchange: str, symbol: str, bids: list, asks: list, ticker: Any = None, ready: bool = True,
                 ts_ns: int = 0, sequence: int = 1):
        super().__init__(f"book.{exchange}.{symbol}")
        self.exchange, self.symbol = exchange, symbol
        self.bids, self.asks = bids, asks
        self.ticker = ticker
        self.ready = ready
        self.ts_ns = ts_ns
        self.sequence = sequence

    def on_message(self, message: Any) -> None:
        if isinstance(message, Query):
            answer(message, lambda: self._query(message.kind, message.args))

    def _query(self, kind: str, args: dict) -> Any:
        if kind == "orderbook":
            depth = args.get("depth", 10)
            return {"exchange": self.exchange, "symbol": self.symbol, "timestamp": self.ts_ns, "sequence": self.sequence,
                    "ready": self.ready, "bids": self.bids[:depth], "asks": self.asks[:depth]}
        if kind == "ticker":
            return self.ticker
        raise ValueError(f"unknown query {kind}")


def book_top(exchange: str, symbol: str, bid: float, ask: float, ts_ns: int, size: float = 5.0) -> BookTop:
    return BookTop(exchange, symbol, ts_ns, ts_ns, 1, bid, size, ask, size, np.array([[bid, size]]), np.array([[ask, size]]))


@dataclass
class TestUser:
    """A user created for a test, with a password, an access token and an API key."""

    __test__ = False

    id: str
    username: str
    password: str
    token: str
    api_key: str
    key_id: str

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def key(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


class EngineThread:
    """A started TradingSystem and its API on a private uvloop loop in a daemon thread."""

    def __init__(self, settings: Settings, app_options: dict | None = None):
        self.settings = settings
        self.app_options = {**TEST_APP_OPTIONS, **(app_options or {})}
        self.system: TradingSystem | None = None
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[Any] = []
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._market: dict[str, tuple[float, float]] = {}
        self._market_task: asyncio.Task | None = None
        self._thread = threading.Thread(target=self._main, name="test-engine", daemon=True)

    def start(self, timeout: float = 120.0) -> "EngineThread":
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the test engine did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def _main(self) -> None:
        uvloop.run(self._serve())

    async def _serve(self) -> None:
        from cryptobot.api.server import start_api

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self.system = TradingSystem(self.settings)
            await self.system.start()
            server = await start_api(self.system, self.settings, **self.app_options)
            self._servers.append(server)
            self.url = server.url
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()
            if self.system is not None:
                await self.system.stop()
            return
        self._ready.set()
        await self._stop.wait()
        if self._market_task is not None:
            self._market_task.cancel()
        for server in reversed(self._servers):
            await server.stop()
        await self.system.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)

    # -- running code inside the engine ---------------------------------------------------

    def run_sync(self, work: Callable[[], Awaitable[Any]] | Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run ``work`` (a coroutine function or a plain function) on the engine's loop; return its result."""
        return self._submit(work).result(timeout)

    async def run(self, work: Callable[[], Awaitable[Any]] | Callable[[], Any]) -> Any:
        """Like :meth:`run_sync`, awaited from another event loop."""
        return await asyncio.wrap_future(self._submit(work))

    def _submit(self, work: Callable) -> concurrent.futures.Future:
        async def call() -> Any:
            result = work()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(call(), self._loop)

    async def start_app(self, **overrides: Any) -> str:
        """Start another API application on the same engine with changed settings; return its base URL."""
        from cryptobot.api.server import start_api

        options = {"background_jobs": False, **overrides.pop("app_options", {})}
        settings = dataclasses.replace(self.settings, **overrides)

        async def start() -> str:
            server = await start_api(self.system, settings, **options)
            self._servers.append(server)
            return server.url

        return await self.run(start)

    # -- fixtures of market data and users -----------------------------------------------------

    async def set_market(self, bid: float, ask: float, symbol: str = "BTC/USDT") -> None:
        """Publish this top of book now and every 20 ms from now on, as a book actor would.

        The simulated exchange fills orders on book updates, so a steady
        stream of them lets submitted orders arrive and fill.
        """
        def publish() -> None:
            system = self.system
            now = system.clock.now_ns()
            bus = system.engine.bus
            if symbol not in self._market:
                bus.publish(topics.book_status(system.exchange, symbol), BookStatus(system.exchange, symbol, True, "synced", now))
            self._market[symbol] = (bid, ask)
            bus.publish(topics.book(system.exchange, symbol), book_top(system.exchange, symbol, bid, ask, now))
            if self._market_task is None:
                self._market_task = asyncio.get_running_loop().create_task(self._market_loop())

        await self.run(publish)
        await asyncio.sleep(0.05)

    async def _market_loop(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            system = self.system
            for symbol, (bid, ask) in self._market.items():
                now = system.clock.now_ns()
                system.engine.bus.publish(topics.book(system.exchange, symbol), book_top(system.exchange, symbol, bid, ask, now))

    async def new_user(self, roles: tuple[str, ...] = ("trader",), permissions: tuple[str, ...] | None = None,
                       exchange: str | None = None, is_test: bool = False) -> TestUser:
        """Create a user with a password, log in, and create an API key for them."""
        username = "u" + secrets.token_hex(6)
        password = secrets.token_urlsafe(16)

        async def create() -> TestUser:
            db = self.system.db
            user = await db.users.create(username, password, roles)
            granted = permissions or tuple(p for p in ("read", "trade", "admin")
                                           if p == "read" or (p == "trade" and set(roles) & {"trader", "admin"})
                                           or (p == "admin" and "admin" in roles))
            issued = await db.api_keys.create(user.id, description="test", permissions=granted, exchange=exchange,
                                              is_test=is_test)
            server = self._servers[0]
            state = server.app[_state_key()]
            _, tokens = await state.auth.login(username, password)
            return TestUser(user.id, username, password, tokens["access_token"], issued.key, issued.record.id)

        return await self.run(create)

    def api_state(self) -> Any:
        return self._servers[0].app[_state_key()]


def _state_key() -> Any:
    from cryptobot.api.state import STATE

    return STATE


def decimal(value: Any) -> Decimal:
    return Decimal(str(value))
