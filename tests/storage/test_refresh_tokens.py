import hashlib
import secrets

import pytest

from cryptobot.core.errors import ValidationError

DAY_NS = 86_400 * 1_000_000_000


def digest(text):
    return hashlib.sha256(text.encode()).digest()


@pytest.fixture
async def user(db):
    return await db.users.create("tokens-user", "a long password", ("user",))


async def issue(db, store_clock, user, family):
    token_id = secrets.token_hex(16)
    await db.refresh_tokens.issue(user.id, token_id, family, digest(token_id), store_clock.now_ns() + DAY_NS)
    return token_id


async def test_exchange_rotates(db, store_clock, user):
    family = secrets.token_hex(16)
    first = await issue(db, store_clock, user, family)
    successor = secrets.token_hex(16)
    outcome = await db.refresh_tokens.exchange(digest(first), successor, digest(successor), store_clock.now_ns() + DAY_NS)
    assert (outcome.status, outcome.user_id, outcome.family_id) == ("rotated", user.id, family)
    third = secrets.token_hex(16)
    again = await db.refresh_tokens.exchange(digest(successor), third, digest(third), store_clock.now_ns() + DAY_NS)
    assert again.status == "rotated"


async def test_reuse_revokes_family(db, store_clock, user):
    family = secrets.token_hex(16)
    first = await issue(db, store_clock, user, family)
    successor = secrets.token_hex(16)
    await db.refresh_tokens.exchange(digest(first), successor, digest(successor), store_clock.now_ns() + DAY_NS)
    other = secrets.token_hex(16)
    reused = await db.refresh_tokens.exchange(digest(first), other, digest(other), store_clock.now_ns() + DAY_NS)
    assert reused.status == "reused"
    assert await db.refresh_tokens.is_family_revoked(family)
    blocked = await db.refresh_tokens.exchange(digest(successor), other, digest(other), store_clock.now_ns() + DAY_NS)
    assert blocked.status == "revoked"


async def test_expired_and_unknown(db, store_clock, user):
    family = secrets.token_hex(16)
    first = await issue(db, store_clock, user, family)
    store_clock.advance(2 * DAY_NS)
    successor = secrets.token_hex(16)
    outcome = await db.refresh_tokens.exchange(digest(first), successor, digest(successor), store_clock.now_ns() + DAY_NS)
    assert outcome.status == "expired"
    unknown = await db.refresh_tokens.exchange(digest("nope"), successor, digest(successor), store_clock.now_ns() + DAY_NS)
    assert unknown.status == "unknown"
    assert await db.refresh_tokens.delete_expired() == 1


async def test_family_isolated(db, store_clock, user):
    mine, theirs = secrets.token_hex(16), secrets.token_hex(16)
    await issue(db, store_clock, user, mine)
    await issue(db, store_clock, user, theirs)
    assert await db.refresh_tokens.revoke_family(mine) == 1
    assert not await db.refresh_tokens.is_family_revoked(theirs)


async def test_issue_validates(db, store_clock, user):
    with pytest.raises(ValidationError, match="'token_id' must be 32 lower-case hex digits"):
        await db.refresh_tokens.issue(user.id, "xyz", secrets.token_hex(16), digest("a"), store_clock.now_ns() + DAY_NS)
