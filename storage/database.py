"""The :class:`Database`: the asyncpg pool, the embedded server's lifecycle, and the repositories.

``await Database.open(settings)`` connects to ``settings.database_url``.
When that is empty, it starts the embedded PostgreSQL in ``data_dir/postgres``
instead.  Then it migrates the schema and checks the storage secret key.
``await db.close()`` closes the pool and stops the embedded server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from cryptobot.core.clock import Clock, LiveClock
from cryptobot.core.config import Settings
from cryptobot.core.errors import StorageError
from cryptobot.storage.embedded import EmbeddedServer
from cryptobot.storage.keyring import Keyring
from cryptobot.storage.passwords import PasswordHasher
from cryptobot.storage.repositories import Repositories
from cryptobot.storage.repositories.base import BoundConnection, StoreContext
from cryptobot.storage.schema import apply_migrations, load_migrations
from cryptobot.storage.values import init_connection

log = logging.getLogger("cryptobot.storage.database")

EMBEDDED_FOLDER = "postgres"
EMBEDDED_DATABASE = "cryptobot"
MIN_SERVER_VERSION = 150000  # UNIQUE NULLS NOT DISTINCT needs PostgreSQL 15
COMMAND_TIMEOUT_SECONDS = 60.0


def redact_dsn(dsn: str) -> str:
    """Return ``dsn`` with any password replaced by ``***``, for messages and logs."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class Database(Repositories):
    """The PostgreSQL state store of one engine process.

    The repositories (``users``, ``api_keys``, ``strategies``, ``orders``,
    ``positions``, ``balances``, ``backtests``, ``webhooks``, ``audit``)
    each take a pooled connection per call.  :meth:`transaction` gives the
    same repositories bound to one connection inside one transaction.
    """

    def __init__(self, pool: asyncpg.Pool, ctx: StoreContext, server: EmbeddedServer | None, dsn: str):
        super().__init__(ctx)
        self._pool = pool
        self._ctx = ctx
        self._server = server
        self._dsn = dsn
        self._closed = False

    @classmethod
    async def open(cls, settings: Settings, *, clock: Clock | None = None, passwords: PasswordHasher | None = None,
                   migrations_dir: Path | None = None) -> Database:
        """Connect (starting the embedded server if configured so), migrate, and return the store.

        Parameters
        ----------
        settings
            ``database_url`` (empty: embedded server in ``data_dir``),
            ``database_pool_size``, ``database_secret_key``, and the lockout
            settings ``auth_max_login_failures`` and ``auth_lockout_seconds``.
        clock
            Time source of every timestamp the repositories write (default: wall clock).
        passwords
            Password hasher (default: Argon2id with RFC 9106 parameters).
        migrations_dir
            Folder of migration files (default: the package's own).

        Raises
        ------
        StorageError
            If the server cannot be started or reached, is older than
            PostgreSQL 15, the schema is newer than the code or an applied
            migration changed, or the database was written with another
            storage secret key.
        ConfigError
            If ``database_secret_key`` or the key file is malformed.
        """
        keyring = Keyring.from_settings(settings)
        migrations = load_migrations(migrations_dir) if migrations_dir else load_migrations()
        server = None
        pool = None
        try:
            if settings.database_url:
                dsn = settings.database_url
            else:
                server = await EmbeddedServer.start(settings.data_path / EMBEDDED_FOLDER)
                dsn = await _ensure_embedded_database(server)
            pool = await _create_pool(dsn, settings.database_pool_size)
            async with pool.acquire() as conn:
                await _check_server_version(conn, dsn)
                await apply_migrations(conn, migrations)
                await _check_secret_key(conn, keyring)
        except BaseException:
            if pool is not None:
                pool.terminate()
            if server is not None:
                await server.stop()
            raise
        ctx = StoreContext(
            source=pool,
            clock=clock or LiveClock(),
            keyring=keyring,
            passwords=passwords or PasswordHasher(),
            max_login_failures=settings.auth_max_login_failures,
            lockout_ns=settings.auth_lockout_seconds * 1_000_000_000,
        )
        log.info("state store open: %s, pool of up to %d connections", "embedded PostgreSQL" if server else redact_dsn(dsn),
                 settings.database_pool_size)
        return cls(pool, ctx, server, dsn)

    @property
    def pool(self) -> asyncpg.Pool:
        """The asyncpg pool, for code that needs SQL the repositories do not offer."""
        return self._pool

    @property
    def embedded(self) -> bool:
        """Whether this store runs its own embedded server."""
        return self._server is not None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repositories]:
        """Yield the repositories bound to one connection in one transaction.

        Everything done through them commits together when the block ends,
        or rolls back if it raises.  Await their calls one at a time: one
        connection runs one statement at a time.
        """
        try:
            async with self._pool.acquire() as conn:
                async with conn.transaction():
                    yield Repositories(dataclasses.replace(self._ctx, source=BoundConnection(conn)))
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise StorageError(f"Cannot reach PostgreSQL: {exc}") from exc

    async def health(self, timeout: float = 2.0) -> dict[str, Any]:
        """Return the store's health for ``/system/status``.

        ``status`` is ``healthy`` when a round trip succeeds within
        ``timeout`` seconds, else ``unhealthy`` with ``error``.
        ``connections`` counts the pool's open connections, ``idle_connections``
        those not in use, ``max_connections`` the pool's limit.
        """
        report: dict[str, Any] = {
            "status": "healthy",
            "mode": "embedded" if self._server else "external",
            "connections": self._pool.get_size(),
            "idle_connections": self._pool.get_idle_size(),
            "max_connections": self._pool.get_max_size(),
        }
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                async with self._pool.acquire() as conn:
                    report["server_version"] = await conn.fetchval("SHOW server_version")
            report["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            report["status"] = "unhealthy"
            report["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.warning("database health check failed: %s", report["error"])
        report["connections"] = self._pool.get_size()
        report["idle_connections"] = self._pool.get_idle_size()
        return report

    async def close(self, timeout: float = 10.0) -> None:
        """Close the pool (waiting up to ``timeout`` seconds for calls in flight) and stop the embedded server."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wait_for(self._pool.close(), timeout)
        except TimeoutError:
            log.warning("connections still busy after %.0f s; terminating them", timeout)
            self._pool.terminate()
        if self._server is not None:
            await self._server.stop()
        log.info("state store closed")


async def _create_pool(dsn: str, size: int) -> asyncpg.Pool:
    try:
        return await asyncpg.create_pool(
            dsn, min_size=min(2, size), max_size=size, init=init_connection, command_timeout=COMMAND_TIMEOUT_SECONDS
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        raise StorageError(f"Cannot connect to PostgreSQL at {redact_dsn(dsn)}: {exc}") from exc


async def _ensure_embedded_database(server: EmbeddedServer) -> str:
    # The embedded server's own "postgres" database stays empty; state goes
    # into a database of its own, created on first start.
    try:
        conn = await asyncpg.connect(server.dsn("postgres"))
    except (OSError, asyncpg.PostgresError) as exc:
        raise StorageError(f"Cannot connect to the embedded PostgreSQL in {server.folder}: {exc}") from exc
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", EMBEDDED_DATABASE)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
            log.info("created database %s in the embedded PostgreSQL", EMBEDDED_DATABASE)
    finally:
        await conn.close()
    return server.dsn(EMBEDDED_DATABASE)


async def _check_server_version(conn: asyncpg.Connection, dsn: str) -> None:
    version = int(await conn.fetchval("SHOW server_version_num"))
    if version < MIN_SERVER_VERSION:
        raise StorageError(
            f"Cannot use PostgreSQL at {redact_dsn(dsn)}: version {version // 10000} is older than the required 15"
        )


async def _check_secret_key(conn: asyncpg.Connection, keyring: Keyring) -> None:
    # Store the key's check value on first start; refuse a different key
    # afterwards, which could verify no API key and decrypt no secret.
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO storage_meta (name, value) VALUES ('secret_key_check', $1) ON CONFLICT (name) DO NOTHING",
            keyring.check_value,
        )
        stored = await conn.fetchval("SELECT value FROM storage_meta WHERE name = 'secret_key_check'")
    if stored != keyring.check_value:
        raise StorageError(
            "Cannot open the database: it was written with another storage secret key; set CRYPTOBOT_DATABASE_SECRET_KEY "
            "to the key in use when it was created (every engine sharing a database needs the same key)",
            {"database_secret_key": "does not match the database"},
        )
