import asyncpg
import pytest

from cryptobot.core.errors import ValidationError
from cryptobot.storage.testing import CLOCK_START_NS

SECOND = 1_000_000_000


async def test_audit_append_round_trip(db):
    entry = await db.audit.append("api_key.revoke", actor_type="user", actor_id="user_1", target_type="api_key",
                                  target_id="key_1", details={"reason": "No longer needed"}, ip="203.0.113.7")
    [listed] = (await db.audit.list()).items
    assert listed == entry
    assert (entry.at, entry.action, entry.ip, entry.details) == (CLOCK_START_NS, "api_key.revoke", "203.0.113.7", {"reason": "No longer needed"})


async def test_audit_ipv6_normalized(db):
    entry = await db.audit.append("user.login", ip="2001:DB8:0:0::1")
    assert entry.ip == "2001:db8::1"


async def test_audit_list_filters(db, store_clock):
    await db.audit.append("user.login", actor_type="user", actor_id="user_a")
    store_clock.advance(SECOND)
    second = await db.audit.append("strategy.start", actor_type="api_key", actor_id="key_b", target_id="strategy_1")
    store_clock.advance(SECOND)
    third = await db.audit.append("strategy.stop", actor_type="api_key", actor_id="key_b", target_id="strategy_1")
    assert [e.id for e in (await db.audit.list(actor_id="key_b")).items] == [third.id, second.id]
    assert [e.id for e in (await db.audit.list(action="strategy.start")).items] == [second.id]
    window = await db.audit.list(start=CLOCK_START_NS + SECOND, end=CLOCK_START_NS + 2 * SECOND)
    assert [e.id for e in window.items] == [second.id]
    assert (await db.audit.list(target_id="strategy_1")).total == 2


async def test_audit_log_is_append_only(db):
    await db.audit.append("user.login")
    async with db.pool.acquire() as conn:
        for statement in ["UPDATE audit_log SET action = 'x.y'", "DELETE FROM audit_log", "TRUNCATE audit_log"]:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"audit_log is append-only: {statement.split()[0]}"):
                await conn.execute(statement)
    assert (await db.audit.list()).total == 1


async def test_audit_rejects_secret_fields(db):
    for details, field in [({"password": "x"}, "password"), ({"request": {"api_key": "cbk_x"}}, "request.api_key"),
                           ({"items": [{"Secret": 1}]}, "items.Secret")]:
        with pytest.raises(ValidationError, match=f"'details' must not contain secrets, had the field {field}$"):
            await db.audit.append("user.login", details=details)
    assert (await db.audit.list()).total == 0


INVALID_ENTRIES = [
    ({"action": "Login"}, "'action' must be dotted lower-case words"),
    ({"action": "user.login", "actor_type": "robot"}, "'actor_type' must be one of user, api_key, system"),
    ({"action": "user.login", "ip": "999.1.1.1"}, "'ip' must be an IPv4 or IPv6 address, was '999.1.1.1'"),
]


async def test_audit_rejects_invalid_input(db):
    for fields, message in INVALID_ENTRIES:
        with pytest.raises(ValidationError, match=message):
            await db.audit.append(**fields)
