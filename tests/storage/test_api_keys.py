import asyncio
import re

import pytest

from cryptobot.core.errors import AuthenticationError, Conflict, NotFound, ValidationError
from cryptobot.storage.testing import CLOCK_START_NS

HOUR = 3600 * 1_000_000_000
DAY = 24 * HOUR


@pytest.fixture
async def owner(db):
    return await db.users.create("alice", "correct horse", ["user", "trader"])


async def _raw_row(db, key_id):
    async with db.pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM api_keys WHERE id = $1", key_id)


async def test_api_key_create_fields(db, owner):
    issued = await db.api_keys.create(owner.id, description="Trading Bot", exchange="binance", expiry_days=90)
    record = issued.record
    assert re.fullmatch(r"cbk_[A-Za-z0-9_-]{43}", issued.key)
    assert record.id.startswith("key_")
    assert (record.description, record.exchange, record.status, record.version) == ("Trading Bot", "binance", "active", 1)
    assert record.permissions == ("read", "trade")
    assert record.is_test is False
    assert record.created_at == CLOCK_START_NS
    assert record.expires_at == CLOCK_START_NS + 90 * DAY
    assert await db.api_keys.get(record.id) == record


async def test_api_key_stored_only_as_hash(db, owner):
    issued = await db.api_keys.create(owner.id)
    row = await _raw_row(db, issued.record.id)
    assert len(row["key_hash"]) == 32
    assert all(issued.key not in str(value) for value in row.values())
    assert issued.key.encode() not in bytes(row["key_hash"])


async def test_api_key_authenticate_returns_record(db, owner):
    issued = await db.api_keys.create(owner.id)
    assert (await db.api_keys.authenticate(issued.key)).id == issued.record.id


async def test_api_key_authenticate_unknown_refused(db, owner):
    await db.api_keys.create(owner.id)
    for presented in ["cbk_" + "A" * 43, "not-a-key", "", "cbk_" + "A" * 44, None]:
        with pytest.raises(AuthenticationError, match="^Invalid API key$"):
            await db.api_keys.authenticate(presented)


async def test_api_key_last_used_written_once_a_minute(db, owner, store_clock):
    issued = await db.api_keys.create(owner.id)
    store_clock.advance(10 * 1_000_000_000)
    await db.api_keys.authenticate(issued.key)
    first = (await db.api_keys.get(issued.record.id)).last_used_at
    store_clock.advance(30 * 1_000_000_000)
    await db.api_keys.authenticate(issued.key)
    assert (await db.api_keys.get(issued.record.id)).last_used_at == first
    store_clock.advance(30 * 1_000_000_000)
    await db.api_keys.authenticate(issued.key)
    assert first == CLOCK_START_NS + 10 * 1_000_000_000
    assert (await db.api_keys.get(issued.record.id)).last_used_at == CLOCK_START_NS + 70 * 1_000_000_000


async def test_api_key_expired_refused_and_swept(db, owner, store_clock):
    issued = await db.api_keys.create(owner.id, expiry_days=1)
    store_clock.advance(DAY)
    with pytest.raises(AuthenticationError, match="has expired"):
        await db.api_keys.authenticate(issued.key)
    assert await db.api_keys.expire_due() == 1
    assert (await db.api_keys.get(issued.record.id)).status == "expired"


async def test_api_key_without_expiry_never_expires(db, owner, store_clock):
    issued = await db.api_keys.create(owner.id, expiry_days=None)
    store_clock.advance(3650 * DAY)
    assert issued.record.expires_at is None
    assert (await db.api_keys.authenticate(issued.key)).id == issued.record.id


async def test_api_key_rotate_creates_successor(db, owner, store_clock):
    old = await db.api_keys.create(owner.id, description="Trading Bot", exchange="binance", permissions=["read"])
    store_clock.advance(HOUR)
    new = await db.api_keys.rotate(old.record.id, owner.id, grace_period_hours=24)
    assert new.key != old.key
    assert new.record.version == 2
    assert new.record.previous_key_id == old.record.id
    assert (new.record.description, new.record.exchange, new.record.permissions) == ("Trading Bot", "binance", ("read",))
    assert new.record.created_at == CLOCK_START_NS + HOUR
    assert new.record.expires_at == CLOCK_START_NS + HOUR + 90 * DAY
    previous = await db.api_keys.get(old.record.id)
    assert previous.status == "rotating"
    assert previous.grace_ends_at == CLOCK_START_NS + 25 * HOUR


async def test_api_key_old_key_works_during_grace_only(db, owner, store_clock):
    old = await db.api_keys.create(owner.id)
    new = await db.api_keys.rotate(old.record.id, grace_period_hours=24)
    store_clock.advance(24 * HOUR - 1_000)
    assert (await db.api_keys.authenticate(old.key)).status == "rotating"
    store_clock.advance(1_000)
    with pytest.raises(AuthenticationError, match="grace period has ended"):
        await db.api_keys.authenticate(old.key)
    assert (await db.api_keys.authenticate(new.key)).id == new.record.id
    assert await db.api_keys.expire_due() == 1
    ended = await db.api_keys.get(old.record.id)
    assert (ended.status, ended.revoke_reason, ended.revoked_at) == ("revoked", "rotated", CLOCK_START_NS + 24 * HOUR)


async def test_api_key_rotate_without_grace_revokes_at_once(db, owner):
    old = await db.api_keys.create(owner.id)
    await db.api_keys.rotate(old.record.id, grace_period_hours=0)
    with pytest.raises(AuthenticationError, match="is revoked"):
        await db.api_keys.authenticate(old.key)


async def test_api_key_rotate_twice_conflicts(db, owner):
    old = await db.api_keys.create(owner.id)
    await db.api_keys.rotate(old.record.id)
    with pytest.raises(Conflict, match="Cannot rotate API key .*: it is rotating"):
        await db.api_keys.rotate(old.record.id)


async def test_api_key_concurrent_rotations_make_one_successor(db, open_store, owner):
    other = await open_store()
    old = await db.api_keys.create(owner.id)
    results = await asyncio.gather(db.api_keys.rotate(old.record.id), other.api_keys.rotate(old.record.id),
                                   return_exceptions=True)
    assert sum(isinstance(r, Conflict) for r in results) == 1
    keys = await db.api_keys.list(owner.id)
    assert keys.total == 2


async def test_api_key_rotate_other_owner_not_found(db, owner):
    other = await db.users.create("mallory", "correct horse")
    old = await db.api_keys.create(owner.id)
    with pytest.raises(NotFound):
        await db.api_keys.rotate(old.record.id, other.id)


async def test_api_key_rotated_key_kept_for_owner(db, owner):
    old = await db.api_keys.create(owner.id)
    new = await db.api_keys.rotate(old.record.id, keep_for_owner=True)
    assert new.record.rotated_key_waiting
    row = await _raw_row(db, new.record.id)
    assert new.key.encode() not in bytes(row["sealed_key"])
    assert await db.api_keys.claim_rotated_key(new.record.id, owner.id) == new.key
    assert not (await db.api_keys.get(new.record.id)).rotated_key_waiting
    with pytest.raises(NotFound, match="claimed already or never kept"):
        await db.api_keys.claim_rotated_key(new.record.id, owner.id)


async def test_api_key_rotated_key_claimed_once_under_race(db, open_store, owner):
    other = await open_store()
    old = await db.api_keys.create(owner.id)
    new = await db.api_keys.rotate(old.record.id, keep_for_owner=True)
    results = await asyncio.gather(*(store.api_keys.claim_rotated_key(new.record.id, owner.id)
                                     for store in (db, other, db, other)), return_exceptions=True)
    assert [r for r in results if isinstance(r, str)] == [new.key]
    assert sum(isinstance(r, NotFound) for r in results) == 3


async def test_api_key_rotated_key_not_claimable_by_others(db, owner):
    other = await db.users.create("mallory", "correct horse")
    old = await db.api_keys.create(owner.id)
    new = await db.api_keys.rotate(old.record.id, keep_for_owner=True)
    with pytest.raises(NotFound):
        await db.api_keys.claim_rotated_key(new.record.id, other.id)


async def test_api_key_revoke(db, owner, store_clock):
    issued = await db.api_keys.create(owner.id)
    store_clock.advance(HOUR)
    revoked = await db.api_keys.revoke(issued.record.id, owner.id, "No longer needed")
    assert (revoked.status, revoked.revoke_reason, revoked.revoked_at) == ("revoked", "No longer needed", CLOCK_START_NS + HOUR)
    with pytest.raises(AuthenticationError, match="is revoked"):
        await db.api_keys.authenticate(issued.key)
    with pytest.raises(Conflict, match="it is revoked"):
        await db.api_keys.revoke(issued.record.id, owner.id, "again")


async def test_api_key_mark_compromised_from_revoked(db, owner):
    issued = await db.api_keys.create(owner.id)
    await db.api_keys.revoke(issued.record.id, reason="rotated out")
    marked = await db.api_keys.mark_compromised(issued.record.id, owner.id, "Key was leaked in a security breach")
    assert (marked.status, marked.revoke_reason) == ("compromised", "Key was leaked in a security breach")
    with pytest.raises(AuthenticationError, match="is compromised"):
        await db.api_keys.authenticate(issued.key)


async def test_api_key_compromised_rotating_key_stops_at_once(db, owner):
    old = await db.api_keys.create(owner.id)
    await db.api_keys.rotate(old.record.id, grace_period_hours=24)
    marked = await db.api_keys.mark_compromised(old.record.id)
    assert marked.grace_ends_at is None
    with pytest.raises(AuthenticationError, match="is compromised"):
        await db.api_keys.authenticate(old.key)


async def test_api_key_list_counts(db, owner, store_clock):
    soon = await db.api_keys.create(owner.id, expiry_days=5)
    await db.api_keys.create(owner.id, expiry_days=90)
    rotated = await db.api_keys.create(owner.id, expiry_days=90)
    await db.api_keys.rotate(rotated.record.id)
    revoked = await db.api_keys.create(owner.id)
    await db.api_keys.revoke(revoked.record.id)
    listing = await db.api_keys.list(owner.id, expiring_within_days=7)
    assert (listing.total, listing.active, listing.rotating, listing.expiring_soon) == (5, 3, 1, 1)
    assert listing.keys[0].id == soon.record.id


async def test_api_key_due_for_rotation(db, owner, store_clock):
    first = await db.api_keys.create(owner.id, expiry_days=None)
    store_clock.advance(10 * DAY)
    await db.api_keys.create(owner.id, expiry_days=None)
    store_clock.advance(80 * DAY)
    due = await db.api_keys.due_for_rotation(max_age_days=90)
    assert [k.id for k in due] == [first.record.id]


async def test_api_key_create_validation(db, owner):
    with pytest.raises(ValidationError, match="'permissions' must contain only read, trade, admin, had 'withdraw'"):
        await db.api_keys.create(owner.id, permissions=["read", "withdraw"])
    with pytest.raises(ValidationError, match="'exchange' must be one of"):
        await db.api_keys.create(owner.id, exchange="mtgox")
    with pytest.raises(ValidationError, match=r"'expiry_days' out of range \[1, 3650\], was 0"):
        await db.api_keys.create(owner.id, expiry_days=0)


async def test_api_key_for_unknown_owner_not_found(db):
    with pytest.raises(NotFound, match="user user_0000000000000000000000000a not found"):
        await db.api_keys.create("user_0000000000000000000000000a")
