"""Versioned SQL migrations: ``storage/migrations/NNNN_name.sql``, applied in order at start-up.

All pending migrations run in one transaction, so a failing one leaves the
database as it was.  ``schema_migrations`` records each applied migration
with its version, name, SHA-256 checksum and time.  Start-up refuses a
database that has a migration this code does not know (it was written by a
newer version) and a migration whose file changed after it was applied.
A transaction-scoped advisory lock serializes engines starting together.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from cryptobot.core.errors import StorageError

log = logging.getLogger("cryptobot.storage.schema")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any constant works as long as every engine uses the same one; this is
# the first 8 bytes of sha256("cryptobot schema_migrations").
MIGRATION_LOCK_KEY = int.from_bytes(hashlib.sha256(b"cryptobot schema_migrations").digest()[:8], "big", signed=True)

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str
    checksum: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def load_migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Read the migrations in ``folder``, sorted by version.

    Raises
    ------
    StorageError
        For a ``.sql`` file not named ``NNNN_name.sql``, or two files with
        one version.
    """
    migrations: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise StorageError(f"Cannot load migration {path}: the name must look like 0001_create_users.sql")
        version = int(match["version"])
        if version in migrations:
            raise StorageError(f"Cannot load migrations: {migrations[version].label}.sql and {path.name} share version {version}")
        # Line endings are normalized so a checkout with CRLF does not count as a change.
        text = path.read_bytes().replace(b"\r\n", b"\n")
        migrations[version] = Migration(version, match["name"], text.decode(), hashlib.sha256(text).hexdigest())
    return [migrations[v] for v in sorted(migrations)]


async def apply_migrations(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[Migration]:
    """Bring the schema of ``conn``'s database up to date; return the migrations applied now.

    Raises
    ------
    StorageError
        If the database is newer than the code, an applied migration
        changed, migrations were applied out of order, or one failed (then
        nothing of this run is kept).
    """
    if migrations is None:
        migrations = load_migrations()
    known = {m.version: m for m in migrations}
    applied_now: list[Migration] = []

    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(_CREATE_TABLE)
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        applied = {row["version"]: row for row in rows}
        _check_applied(applied, known)

        newest = max(applied, default=0)
        for migration in migrations:
            if migration.version in applied:
                continue
            if migration.version < newest:
                raise StorageError(
                    f"Cannot migrate: {migration.label} is not applied but the later version {newest:04d} is; "
                    "the database was migrated by a different branch of the code"
                )
            started = time.perf_counter()
            try:
                await conn.execute(migration.sql)
            except asyncpg.PostgresError as exc:
                raise StorageError(f"Cannot apply migration {migration.label}: {exc}; no migration of this run was kept") from exc
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version, migration.name, migration.checksum,
            )
            log.info("applied migration %s in %.0f ms", migration.label, (time.perf_counter() - started) * 1000)
            applied_now.append(migration)
    return applied_now


def _check_applied(applied: dict, known: dict[int, Migration]) -> None:
    newest_known = max(known, default=0)
    for version, row in sorted(applied.items()):
        label = f"{version:04d}_{row['name']}"
        migration = known.get(version)
        if migration is None:
            if version > newest_known:
                raise StorageError(
                    f"Cannot start: the database schema is at version {max(applied):04d} but this code knows migrations "
                    f"up to {newest_known:04d}; run a Cryptobot version at least as new as the one that migrated it",
                    {"schema_version": max(applied), "code_version": newest_known},
                )
            raise StorageError(f"Cannot start: the database has migration {label}, which this code does not have")
        if migration.checksum != row["checksum"]:
            raise StorageError(
                f"Cannot start: migration {label} was changed after it was applied "
                f"(checksum {row['checksum'][:12]}…, file {migration.checksum[:12]}…); "
                "add a new migration instead of editing an applied one",
                {"migration": label},
            )


async def schema_version(conn: asyncpg.Connection) -> int:
    """Return the newest applied migration version (0 for a database never migrated)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
