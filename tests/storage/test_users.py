import asyncio

import argon2
import pytest

from cryptobot.core.errors import AuthenticationError, Conflict, NotFound, ValidationError
from cryptobot.storage.passwords import PasswordHasher
from cryptobot.storage.testing import CLOCK_START_NS

SECOND = 1_000_000_000


async def _stored_hash(db, user_id):
    async with db.pool.acquire() as conn:
        return await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)


async def test_user_create_and_get(db):
    user = await db.users.create("Alice", "correct horse", ["trader", "user"])
    fetched = await db.users.get(user.id)
    assert fetched == user
    assert user.username == "Alice"
    assert user.roles == ("user", "trader")
    assert user.created_at == CLOCK_START_NS
    assert user.failed_logins == 0
    assert user.locked_until is None


async def test_user_password_stored_as_argon2id_hash(db):
    user = await db.users.create("alice", "correct horse")
    stored = await _stored_hash(db, user.id)
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert argon2.PasswordHasher().verify(stored, "correct horse")


async def test_user_username_unique_in_any_case(db):
    await db.users.create("Alice", "correct horse")
    with pytest.raises(Conflict, match="username is taken"):
        await db.users.create("aLiCe", "another password")


async def test_user_get_by_username_ignores_case(db):
    user = await db.users.create("Alice", "correct horse")
    assert (await db.users.get_by_username("ALICE")).id == user.id


async def test_user_get_unknown_raises(db):
    with pytest.raises(NotFound, match="user user_0000000000000000000000000a not found"):
        await db.users.get("user_0000000000000000000000000a")


INVALID_USERS = [
    ("al", "correct horse", ["user"], "'username' must have 3 to 64 characters, had 2"),
    ("al ice", "correct horse", ["user"], "'username' must be 3 to 64 letters"),
    ("alice", "short", ["user"], "'password' must have 8 to 1024 characters, had 5"),
    ("alice", "correct horse", ["root"], "'roles' must contain only user, trader, admin, had 'root'"),
    ("alice", "correct horse", [], "'roles' must not be empty"),
]


async def test_user_create_rejects_invalid_input(db):
    for username, password, roles, message in INVALID_USERS:
        with pytest.raises(ValidationError, match=message):
            await db.users.create(username, password, roles)
    assert await db.users.count() == 0


async def test_user_authenticate_success_records_login(db, store_clock):
    user = await db.users.create("alice", "correct horse")
    store_clock.advance(5 * SECOND)
    logged_in = await db.users.authenticate("ALICE", "correct horse")
    assert logged_in.id == user.id
    assert logged_in.last_login_at == CLOCK_START_NS + 5 * SECOND


async def test_user_authenticate_wrong_password_counts(db):
    user = await db.users.create("alice", "correct horse")
    with pytest.raises(AuthenticationError, match="Invalid username or password"):
        await db.users.authenticate("alice", "wrong password")
    assert (await db.users.get(user.id)).failed_logins == 1


async def test_user_authenticate_unknown_user_same_message(db):
    with pytest.raises(AuthenticationError, match="^Invalid username or password$"):
        await db.users.authenticate("nobody", "whatever pw")


async def test_user_lockout_after_max_failures(db, store_clock):
    # The store fixture locks after 3 failures for 60 s.
    user = await db.users.create("alice", "correct horse")
    for _ in range(3):
        with pytest.raises(AuthenticationError, match="Invalid username or password"):
            await db.users.authenticate("alice", "wrong password")
    locked = await db.users.get(user.id)
    assert locked.locked_until == CLOCK_START_NS + 60 * SECOND
    assert locked.failed_logins == 0
    with pytest.raises(AuthenticationError, match="locked until 2025-01-01T00:01:00Z"):
        await db.users.authenticate("alice", "correct horse")


async def test_user_lockout_ends_after_lockout_time(db, store_clock):
    user = await db.users.create("alice", "correct horse")
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            await db.users.authenticate("alice", "wrong password")
    store_clock.advance(60 * SECOND)
    assert (await db.users.authenticate("alice", "correct horse")).id == user.id
    after = await db.users.get(user.id)
    assert after.locked_until is None
    assert after.failed_logins == 0


async def test_user_success_resets_failure_count(db):
    user = await db.users.create("alice", "correct horse")
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            await db.users.authenticate("alice", "wrong password")
    await db.users.authenticate("alice", "correct horse")
    assert (await db.users.get(user.id)).failed_logins == 0


async def test_user_concurrent_failures_all_count(open_store):
    store = await open_store(auth_max_login_failures=100)
    other = await open_store(auth_max_login_failures=100)
    user = await store.users.create("alice", "correct horse")

    async def fail(repo):
        with pytest.raises(AuthenticationError):
            await repo.users.authenticate("alice", "wrong password")

    await asyncio.gather(*(fail(store if i % 2 else other) for i in range(20)))
    assert (await store.users.get(user.id)).failed_logins == 20


async def test_user_disabled_cannot_log_in(db):
    user = await db.users.create("alice", "correct horse")
    await db.users.set_active(user.id, False)
    with pytest.raises(AuthenticationError, match="the user is disabled"):
        await db.users.authenticate("alice", "correct horse")


async def test_user_login_rehashes_with_new_parameters(db, open_store):
    user = await db.users.create("alice", "correct horse")
    old = await _stored_hash(db, user.id)
    stronger = await open_store(passwords=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    await stronger.users.authenticate("alice", "correct horse")
    new = await _stored_hash(db, user.id)
    assert old != new
    assert "$m=16,t=2,p=1$" in new
    assert argon2.PasswordHasher().verify(new, "correct horse")


async def test_user_set_password_replaces_and_unlocks(db):
    user = await db.users.create("alice", "correct horse")
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            await db.users.authenticate("alice", "wrong password")
    await db.users.set_password(user.id, "battery staple")
    assert (await db.users.authenticate("alice", "battery staple")).id == user.id
    with pytest.raises(AuthenticationError):
        await db.users.authenticate("alice", "correct horse")


async def test_user_set_roles_and_unlock(db):
    user = await db.users.create("alice", "correct horse")
    assert (await db.users.set_roles(user.id, ["admin"])).roles == ("admin",)
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            await db.users.authenticate("alice", "wrong password")
    assert (await db.users.unlock(user.id)).locked_until is None
    assert (await db.users.authenticate("alice", "correct horse")).id == user.id


async def test_user_list_paginates(db, store_clock):
    names = [f"user{i}" for i in range(5)]
    for name in names:
        await db.users.create(name, "correct horse")
        store_clock.advance(SECOND)
    page = await db.users.list(page=2, limit=2)
    assert [u.username for u in page.items] == ["user2", "user3"]
    assert (page.total, page.page, page.limit, page.pages) == (5, 2, 2, 3)
    assert await db.users.count() == 5
