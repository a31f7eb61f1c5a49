import asyncio

import pytest

from cryptobot.core.errors import StorageError
from cryptobot.storage import Database
from cryptobot.storage.keyring import generate_key
from cryptobot.storage.testing import FAST_PASSWORDS


async def test_health_reports_pool_and_server(db):
    health = await db.health()
    assert health["status"] == "healthy"
    assert health["mode"] == "external"
    assert health["max_connections"] == 5
    assert 1 <= health["connections"] <= 5
    assert 0 <= health["idle_connections"] <= health["connections"]
    assert int(health["server_version"].split(".")[0]) >= 15


async def test_health_after_close_is_unhealthy(open_store):
    store = await open_store()
    await store.close()
    health = await store.health(timeout=1.0)
    assert health["status"] == "unhealthy"
    assert health["error"]


async def test_transaction_commits_across_repositories(db):
    async with db.transaction() as tx:
        user = await tx.users.create("carol", "correct horse")
        await tx.audit.append("user.create", target_type="user", target_id=user.id)
    assert (await db.users.get(user.id)).username == "carol"
    entries = await db.audit.list(target_id=user.id)
    assert entries.total == 1


async def test_transaction_rolls_back_on_error(db):
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.users.create("dave", "correct horse")
            await tx.audit.append("user.create")
            raise RuntimeError("abort")
    assert await db.users.count() == 0
    assert (await db.audit.list()).total == 0


async def test_transaction_survives_refused_adjustment(db):
    async with db.transaction() as tx:
        await tx.balances.seed("paper", {"USDT": 10})
        with pytest.raises(Exception, match="would be negative"):
            await tx.balances.adjust("paper", "USDT", free_delta=-11)
        await tx.balances.adjust("paper", "USDT", free_delta=-4)
    assert (await db.balances.get("paper", "USDT")).free == 6


async def test_open_refuses_other_secret_key(db, open_store):
    with pytest.raises(StorageError, match="written with another storage secret key"):
        await open_store(database_secret_key=generate_key())


async def test_open_refuses_server_it_cannot_reach(store_settings, tmp_path):
    settings = store_settings
    settings.database_url = f"postgresql://bob:hunter22@/state?host={tmp_path / 'no-such-socket-dir'}"
    with pytest.raises(StorageError, match="Cannot connect to PostgreSQL") as caught:
        await Database.open(settings, passwords=FAST_PASSWORDS)
    assert "hunter22" not in caught.value.message
    assert "bob:***@" in caught.value.message


async def test_pool_runs_calls_concurrently(db):
    # Five calls that each hold a connection for 0.2 s all start before any
    # finishes only if the pool gives each its own connection.
    async def sleeper():
        async with db.pool.acquire() as conn:
            return await conn.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.2)")

    pids = await asyncio.gather(*(sleeper() for _ in range(5)))
    assert len(set(pids)) == 5
