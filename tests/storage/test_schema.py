import asyncio
import hashlib
import shutil

import asyncpg
import pytest

from cryptobot.core.errors import StorageError
from cryptobot.storage import Database
from cryptobot.storage.schema import MIGRATIONS_DIR, apply_migrations, load_migrations, schema_version
from cryptobot.storage.testing import FAST_PASSWORDS

EXPECTED_TABLES = {
    "schema_migrations", "storage_meta", "users", "api_keys", "strategies", "orders", "fills", "positions", "balances",
    "backtests", "webhooks", "webhook_deliveries", "audit_log", "equity_snapshots", "refresh_tokens",
}
# The newest shipped migration; tests add files after it.
LATEST = max(m.version for m in load_migrations(MIGRATIONS_DIR))
NEXT = f"{LATEST + 1:04d}"
AFTER_NEXT = f"{LATEST + 2:04d}"


@pytest.fixture
async def empty_url(pg_server):
    url = await pg_server.create_database(migrated=False)
    yield url
    await pg_server.drop_database(url)


@pytest.fixture
async def conn(empty_url):
    connection = await asyncpg.connect(empty_url)
    yield connection
    await connection.close()


@pytest.fixture
def migrations_copy(tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    return folder


async def _tables(conn):
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


async def test_migrations_fresh_apply_records_each_file(conn):
    applied = await apply_migrations(conn)
    files = sorted(MIGRATIONS_DIR.glob("*.sql"))
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    assert [m.label for m in applied] == [f.stem for f in files]
    assert [(r["version"], r["name"]) for r in rows] == [(int(f.stem[:4]), f.stem[5:]) for f in files]
    assert [r["checksum"] for r in rows] == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    assert await _tables(conn) == EXPECTED_TABLES


async def test_migrations_reapply_changes_nothing(conn):
    await apply_migrations(conn)
    before = await conn.fetch("SELECT version, applied_at FROM schema_migrations ORDER BY version")
    again = await apply_migrations(conn)
    after = await conn.fetch("SELECT version, applied_at FROM schema_migrations ORDER BY version")
    assert again == []
    assert [tuple(r) for r in after] == [tuple(r) for r in before]


async def test_migrations_newer_database_refused(conn):
    await apply_migrations(conn)
    await conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'from_the_future', 'x')")
    with pytest.raises(StorageError, match=rf"schema is at version 9999 but this code knows migrations up to {LATEST:04d}"):
        await apply_migrations(conn)


async def test_migrations_changed_checksum_refused(conn):
    await apply_migrations(conn)
    await conn.execute("UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 3")
    with pytest.raises(StorageError, match=r"migration 0003_orders_fills_positions was changed after it was applied"):
        await apply_migrations(conn)


async def test_migrations_edited_file_refused(conn, migrations_copy):
    await apply_migrations(conn, load_migrations(migrations_copy))
    path = migrations_copy / "0002_strategies.sql"
    path.write_text(path.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(StorageError, match="0002_strategies was changed"):
        await apply_migrations(conn, load_migrations(migrations_copy))


async def test_migrations_crlf_checkout_is_not_a_change(conn, migrations_copy):
    await apply_migrations(conn, load_migrations(migrations_copy))
    path = migrations_copy / "0001_users_and_api_keys.sql"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert await apply_migrations(conn, load_migrations(migrations_copy)) == []


async def test_migrations_new_file_applies_alone(conn, migrations_copy):
    await apply_migrations(conn, load_migrations(migrations_copy))
    (migrations_copy / f"{NEXT}_add_note.sql").write_text("ALTER TABLE users ADD COLUMN note text;")
    applied = await apply_migrations(conn, load_migrations(migrations_copy))
    assert [m.label for m in applied] == [f"{NEXT}_add_note"]
    assert await schema_version(conn) == LATEST + 1
    assert await conn.fetchval("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'note'") == 1


async def test_migrations_failure_keeps_nothing(conn, migrations_copy):
    (migrations_copy / f"{NEXT}_broken.sql").write_text("CREATE TABLE half_done (x int);\nSELECT * FROM no_such_table;")
    with pytest.raises(StorageError, match=f"Cannot apply migration {NEXT}_broken"):
        await apply_migrations(conn, load_migrations(migrations_copy))
    assert await schema_version(conn) == 0
    assert await _tables(conn) == set()


async def test_migrations_out_of_order_refused(conn, migrations_copy):
    (migrations_copy / f"{AFTER_NEXT}_later.sql").write_text("SELECT 1;")
    await apply_migrations(conn, load_migrations(migrations_copy))
    (migrations_copy / f"{NEXT}_forgotten.sql").write_text("SELECT 1;")
    with pytest.raises(StorageError, match=f"{NEXT}_forgotten is not applied but the later version {AFTER_NEXT} is"):
        await apply_migrations(conn, load_migrations(migrations_copy))


def test_migrations_bad_file_name_refused(migrations_copy):
    (migrations_copy / "7_short.sql").write_text("SELECT 1;")
    with pytest.raises(StorageError, match="7_short.sql: the name must look like"):
        load_migrations(migrations_copy)


def test_migrations_duplicate_version_refused(migrations_copy):
    (migrations_copy / f"{LATEST:04d}_another.sql").write_text("SELECT 1;")
    with pytest.raises(StorageError, match=f"share version {LATEST}"):
        load_migrations(migrations_copy)


async def test_migrations_concurrent_startups_apply_once(empty_url):
    connections = [await asyncpg.connect(empty_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(apply_migrations(c) for c in connections))
        rows = await connections[0].fetch("SELECT version FROM schema_migrations")
    finally:
        for c in connections:
            await c.close()
    assert sorted(len(r) for r in results) == [0, 0, 0, LATEST]
    assert sorted(r["version"] for r in rows) == list(range(1, LATEST + 1))


async def test_database_open_refuses_newer_schema(store_settings, pg_url):
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (42, 'newer', 'x')")
    finally:
        await conn.close()
    with pytest.raises(StorageError, match="schema is at version 0042"):
        await Database.open(store_settings, passwords=FAST_PASSWORDS)


async def test_database_open_migrates_empty_database(store_settings, empty_url):
    store_settings.database_url = empty_url
    store = await Database.open(store_settings, passwords=FAST_PASSWORDS)
    try:
        async with store.pool.acquire() as conn:
            assert await schema_version(conn) == LATEST
    finally:
        await store.close()
