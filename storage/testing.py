"""Pytest fixtures for tests against a real PostgreSQL (loaded by tests/conftest.py as a plugin).

``pg_server`` (session) is parametrized.  ``embedded`` starts one embedded
server in a temporary folder for the whole session.  ``external`` uses the
server named by ``CRYPTOBOT_TEST_EXTERNAL_DATABASE_URL``, and skips when
that is unset.  Every test that uses ``pg_url`` or ``db`` therefore runs once per
server.  Each test gets a database of its own, copied from a migrated
template, and dropped afterwards.

Fixtures:

- ``pg_server``: a :class:`TestServer`, able to create and drop databases.
- ``pg_url``: URL of a fresh, migrated database for this test.
- ``store_clock``: a :class:`ReplayClock` at 2025-01-01T00:00:00Z that the store writes its times with.
- ``store_settings``: Settings pointing at ``pg_url``, with a new secret key and a temporary data folder.
- ``db``: an open :class:`Database` on ``pg_url``, closed after the test.
- ``open_store``: opens more Database objects on the same database (a second engine), closed after the test.

This module imports pytest; only the test suite imports it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import queue
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from cryptobot.core.clock import ReplayClock
from cryptobot.core.config import Settings, load_settings
from cryptobot.storage.database import Database
from cryptobot.storage.embedded import EmbeddedServer
from cryptobot.storage.keyring import generate_key
from cryptobot.storage.passwords import PasswordHasher
from cryptobot.storage.schema import apply_migrations

EXTERNAL_URL_VARIABLE = "CRYPTOBOT_TEST_EXTERNAL_DATABASE_URL"
CLOCK_START_NS = 1_735_689_600 * 1_000_000_000  # 2025-01-01T00:00:00Z

# Argon2id at its minimum cost: fast enough for tests, far too weak for real use.
FAST_PASSWORDS = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def dsn_with_database(dsn: str, database: str) -> str:
    """Return ``dsn`` pointing at ``database`` on the same server with the same credentials."""
    return urlunsplit(urlsplit(dsn)._replace(path="/" + database))


def _run(awaitable: Awaitable):
    # Session fixtures are synchronous; run their async parts on a private
    # loop in a worker thread so they never meet a test's running loop.
    async def wrapper():
        return await awaitable

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, wrapper()).result()


class TestServer:
    """A PostgreSQL server the tests may create databases on."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, kind: str, admin_dsn: str):
        self.kind = kind
        self.admin_dsn = admin_dsn
        self.template = f"cryptobot_template_{os.getpid()}_{secrets.token_hex(4)}"
        self.supply: DatabaseSupply | None = None

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.admin_dsn)

    async def prepare_template(self) -> None:
        """Create the migrated template database every test database is copied from."""
        conn = await self._admin()
        try:
            await conn.execute(f'CREATE DATABASE "{self.template}"')
        finally:
            await conn.close()
        conn = await asyncpg.connect(dsn_with_database(self.admin_dsn, self.template))
        try:
            await apply_migrations(conn)
        finally:
            await conn.close()

    async def create_database(self, migrated: bool = True) -> str:
        """Create a database (a copy of the migrated template, or empty) and return its URL."""
        name = f"cryptobot_test_{secrets.token_hex(6)}"
        conn = await self._admin()
        try:
            template = self.template if migrated else "template0"
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await conn.close()
        return dsn_with_database(self.admin_dsn, name)

    async def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        conn = await self._admin()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def drop_template(self) -> None:
        conn = await self._admin()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        finally:
            await conn.close()


class DatabaseSupply:
    """Creates migrated test databases ahead of use, and drops used ones, in a background thread.

    CREATE DATABASE takes about 0.1 s on an idle machine; preparing the next
    databases while a test runs takes that time off the test's setup.
    """

    def __init__(self, server: TestServer, ahead: int = 2, workers: int = 1):
        self._server = server
        self._ready: queue.Queue = queue.Queue(maxsize=ahead)
        self._used: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self._threads = [threading.Thread(target=asyncio.run, args=(self._work(),), name=f"test-database-supply-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    async def _work(self) -> None:
        # A worker that dies would leave take() waiting out its timeout in every later test: record why.
        try:
            await self._supply()
        except BaseException as exc:
            self._failure = exc
            raise

    async def _supply(self) -> None:
        while not self._stopping.is_set():
            await self._drop_used()
            if self._ready.full():
                await asyncio.sleep(0.005)
                continue
            try:
                url = await self._server.create_database()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self._ready.put(exc)
                return
            while not self._stopping.is_set():
                try:
                    self._ready.put(url, timeout=0.05)
                    break
                except queue.Full:
                    continue
            else:
                await self._server.drop_database(url)
        await self._drop_used()
        while True:
            try:
                prepared = self._ready.get_nowait()
            except queue.Empty:
                break
            if isinstance(prepared, str):
                await self._server.drop_database(prepared)

    async def _drop_used(self) -> None:
        while True:
            try:
                url = self._used.get_nowait()
            except queue.Empty:
                return
            try:
                await self._server.drop_database(url)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # A used database left behind costs disk only; the supply carries on.
                logging.getLogger(__name__).warning("dropping test database %s failed: %s", url, exc)

    def take(self) -> str:
        """Return the URL of a fresh migrated database (blocks until one is ready, at most 120 s)."""
        deadline = time.monotonic() + 120
        while True:
            if self._failure is not None:
                raise RuntimeError(f"the test database supply stopped: {self._failure!r}") from self._failure
            try:
                prepared = self._ready.get(timeout=0.5)
                break
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise
        if isinstance(prepared, BaseException):
            raise prepared
        return prepared

    def give_back(self, url: str) -> None:
        """Queue a database the test is done with for dropping."""
        self._used.put(url)

    def close(self) -> None:
        """Stop preparing databases and drop every one left."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=120)


async def _tune_for_tests(dsn: str) -> None:
    # A throw-away server need not survive a power cut.  The settings turn
    # off fsync, keep WAL at its minimum and use synchronous I/O, because
    # PostgreSQL 18's default worker I/O is slower at copying a template.
    # Measured on a 2-core VM, CREATE DATABASE then takes about 0.1 s
    # instead of 0.25 s, and DROP DATABASE milliseconds instead of about a
    # second.  The server must restart to apply them.
    settings = ["fsync = off", "synchronous_commit = off", "full_page_writes = off", "wal_level = minimal",
                "max_wal_senders = 0"]
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_settings WHERE name = 'io_method'"):
            settings.append("io_method = sync")
        for setting in settings:
            await conn.execute(f"ALTER SYSTEM SET {setting}")
    finally:
        await conn.close()


@pytest.fixture(scope="session", params=["embedded", pytest.param("external", marks=pytest.mark.external_postgres)])
def pg_server(request):
    """Provide one PostgreSQL server per session and kind (embedded, external)."""
    server = None
    scratch = None
    if request.param == "external":
        url = os.environ.get(EXTERNAL_URL_VARIABLE, "")
        if not url:
            pytest.skip(f"{EXTERNAL_URL_VARIABLE} is not set; set it to a PostgreSQL URL whose role may CREATE DATABASE")
        test_server = TestServer("external", url)
    else:
        # A private folder, not pytest's tmp_path: pytest deletes old
        # numbered temporary folders, also those of a session still running.
        scratch = Path(tempfile.mkdtemp(prefix="cryptobot-test-pg-"))
        folder = scratch / "postgres"
        server = _run(EmbeddedServer.start(folder))
        _run(_tune_for_tests(server.dsn()))
        _run(server.stop())
        server = _run(EmbeddedServer.start(folder))
        test_server = TestServer("embedded", server.dsn())
    try:
        _run(test_server.prepare_template())
        test_server.supply = DatabaseSupply(test_server)
        try:
            yield test_server
        finally:
            test_server.supply.close()
        _run(test_server.drop_template())
    finally:
        if server is not None:
            _run(server.stop())
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
async def pg_url(pg_server: TestServer) -> AsyncIterator[str]:
    """Provide the URL of a fresh database with the current schema, dropped after the test."""
    url = await asyncio.to_thread(pg_server.supply.take)
    yield url
    pg_server.supply.give_back(url)


@pytest.fixture
def store_clock() -> ReplayClock:
    """Return the clock the store under test stamps its rows with; advance it to move time."""
    return ReplayClock(CLOCK_START_NS)


@pytest.fixture
def store_settings(pg_url: str, tmp_path: Path) -> Settings:
    """Return settings for a store on ``pg_url``, where 3 login failures lock a user for 60 s."""
    return load_settings(
        environ={},
        data_dir=str(tmp_path / "data"),
        database_url=pg_url,
        database_secret_key=generate_key(),
        database_pool_size=5,
        auth_max_login_failures=3,
        auth_lockout_seconds=60,
    )


@pytest.fixture
async def open_store(store_settings: Settings, store_clock: ReplayClock) -> AsyncIterator[Callable[..., Awaitable[Database]]]:
    """Provide an async factory of Database objects on the test's database, all closed after the test."""
    opened: list[Database] = []

    async def factory(passwords: PasswordHasher = FAST_PASSWORDS, **overrides) -> Database:
        settings = dataclasses.replace(store_settings, **overrides)
        store = await Database.open(settings, clock=store_clock, passwords=passwords)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()


@pytest.fixture
async def db(open_store) -> Database:
    """Open a store on the test's own database."""
    return await open_store()
