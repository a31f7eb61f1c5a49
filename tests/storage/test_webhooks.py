import asyncio
import hashlib
import hmac

import pytest

from cryptobot.core.errors import Conflict, NotFound, ValidationError
from cryptobot.storage.testing import CLOCK_START_NS

SECOND = 1_000_000_000
EVENTS = ["trade.executed", "trade.closed", "strategy.started", "strategy.stopped"]


@pytest.fixture
async def owner(db):
    return await db.users.create("alice", "correct horse")


async def _create(db, owner_id, events=EVENTS, secret="your_webhook_secret"):
    return await db.webhooks.create(url="https://example.com/webhook", secret=secret, events=events, owner_id=owner_id)


async def test_webhook_create_round_trip(db, owner):
    created = await _create(db, owner.id)
    assert await db.webhooks.get(created.id, owner.id) == created
    assert (created.url, created.active, created.created_at) == ("https://example.com/webhook", True, CLOCK_START_NS)
    assert created.events == tuple(sorted(EVENTS))


async def test_webhook_secret_encrypted_at_rest(db, owner):
    created = await _create(db, owner.id, secret="s3cret-signing-key")
    async with db.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM webhooks WHERE id = $1", created.id)
    assert b"s3cret-signing-key" not in bytes(row["secret_sealed"])
    assert all("s3cret-signing-key" not in str(value) for value in row.values())


async def test_webhook_secret_signs_like_the_documented_verifier(db, owner):
    created = await _create(db, owner.id, secret="your_webhook_secret")
    secret = await db.webhooks.get_secret(created.id)
    payload = '{"event":"trade.executed"}'
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    expected = hmac.new(b"your_webhook_secret", payload.encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)


async def test_webhook_secret_rotation(db, owner):
    created = await _create(db, owner.id, secret="first-secret")
    await db.webhooks.update(created.id, secret="second-secret")
    assert await db.webhooks.get_secret(created.id) == "second-secret"


async def test_webhook_update_fields(db, owner, store_clock):
    created = await _create(db, owner.id)
    store_clock.advance(SECOND)
    updated = await db.webhooks.update(created.id, owner_id=owner.id, url="http://hooks.example.org/x", events=["trade.closed"],
                                       active=False)
    assert (updated.url, updated.events, updated.active, updated.updated_at) == ("http://hooks.example.org/x", ("trade.closed",), False, CLOCK_START_NS + SECOND)


async def test_webhook_list_for_event(db, owner):
    trades = await _create(db, owner.id, events=["trade.executed"])
    await _create(db, owner.id, events=["strategy.started"])
    inactive = await _create(db, owner.id, events=["trade.executed"])
    await db.webhooks.update(inactive.id, active=False)
    assert [w.id for w in await db.webhooks.list_for_event("trade.executed")] == [trades.id]


INVALID_WEBHOOKS = [
    ({"url": "ftp://example.com/x"}, "'url' must be an http or https URL with a host"),
    ({"url": "https:///nohost"}, "'url' must be an http or https URL with a host"),
    ({"events": []}, "'events' must be a non-empty list"),
    ({"events": ["Trade Executed"]}, "'events' must be an event name such as trade.executed"),
    ({"secret": "short"}, "'secret' must have 8 to 256 characters, had 5"),
]


async def test_webhook_create_rejects_invalid_input(db):
    for fields, message in INVALID_WEBHOOKS:
        values = {"url": "https://example.com/webhook", "secret": "your_webhook_secret", "events": EVENTS, **fields}
        with pytest.raises(ValidationError, match=message):
            await db.webhooks.create(**values)
    assert (await db.webhooks.list()).total == 0


async def test_webhook_delete_removes_deliveries(db, owner):
    created = await _create(db, owner.id)
    await db.webhooks.enqueue("trade.executed", {"order_id": "order_1"})
    await db.webhooks.delete(created.id, owner.id)
    with pytest.raises(NotFound):
        await db.webhooks.get(created.id)
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
    with pytest.raises(NotFound):
        await db.webhooks.delete(created.id)


async def test_webhook_enqueue_fans_out_to_subscribers(db, owner):
    a = await _create(db, owner.id, events=["trade.executed"])
    b = await _create(db, None, events=["trade.executed", "trade.closed"])
    await _create(db, owner.id, events=["trade.closed"])
    deliveries = await db.webhooks.enqueue("trade.executed", {"order_id": "order_1", "price": 50000.0})
    assert sorted(d.webhook_id for d in deliveries) == sorted([a.id, b.id])
    assert all((d.status, d.attempts, d.next_attempt_at, d.payload) == ("pending", 0, CLOCK_START_NS, {"order_id": "order_1", "price": 50000.0})
               for d in deliveries)
    mine = await db.webhooks.enqueue("trade.executed", {"x": 1}, owner_id=owner.id)
    assert [d.webhook_id for d in mine] == [a.id]


async def test_webhook_delivery_success(db, owner, store_clock):
    created = await _create(db, owner.id)
    [queued] = await db.webhooks.enqueue("trade.closed", {"position_id": "position_1"})
    [claimed] = await db.webhooks.claim_due(lease_seconds=30)
    assert (claimed.id, claimed.status, claimed.attempts, claimed.next_attempt_at) == (queued.id, "sending", 1, CLOCK_START_NS + 30 * SECOND)
    store_clock.advance(SECOND)
    done = await db.webhooks.record_attempt(claimed.id, delivered=True, response_code=200)
    assert (done.status, done.response_code, done.delivered_at, done.next_attempt_at) == ("delivered", 200, CLOCK_START_NS + SECOND, None)
    page = await db.webhooks.list_deliveries(created.id, status="delivered")
    assert [d.id for d in page.items] == [queued.id]


async def test_webhook_delivery_retry_then_fail(db, owner, store_clock):
    await _create(db, owner.id)
    [queued] = await db.webhooks.enqueue("trade.closed", {})
    await db.webhooks.claim_due()
    retry = await db.webhooks.record_attempt(queued.id, delivered=False, response_code=503, error="Service Unavailable",
                                             retry_at=CLOCK_START_NS + 10 * SECOND)
    assert (retry.status, retry.next_attempt_at, retry.error) == ("pending", CLOCK_START_NS + 10 * SECOND, "Service Unavailable")
    assert await db.webhooks.claim_due() == []
    store_clock.advance(10 * SECOND)
    [again] = await db.webhooks.claim_due()
    assert again.attempts == 2
    failed = await db.webhooks.record_attempt(queued.id, delivered=False, error="connection refused")
    assert (failed.status, failed.next_attempt_at) == ("failed", None)
    with pytest.raises(Conflict, match="it is failed, not sending"):
        await db.webhooks.record_attempt(queued.id, delivered=True)


async def test_webhook_expired_lease_is_claimed_again(db, owner, store_clock):
    await _create(db, owner.id)
    await db.webhooks.enqueue("trade.closed", {})
    [first] = await db.webhooks.claim_due(lease_seconds=30)
    store_clock.advance(29 * SECOND)
    assert await db.webhooks.claim_due() == []
    store_clock.advance(SECOND)
    [second] = await db.webhooks.claim_due()
    assert (second.id, second.attempts) == (first.id, 2)


async def test_webhook_concurrent_claims_are_disjoint(db, open_store, owner):
    other = await open_store()
    for _ in range(4):
        await _create(db, owner.id, events=["trade.executed"])
    for i in range(5):
        await db.webhooks.enqueue("trade.executed", {"n": i})
    batches = await asyncio.gather(*(store.webhooks.claim_due(limit=3) for store in (db, other, db, other)))
    claimed = [d.id for batch in batches for d in batch]
    assert len(claimed) == 12
    assert len(set(claimed)) == 12
