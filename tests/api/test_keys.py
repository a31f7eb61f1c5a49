"""API keys: create, list, rotate with grace, revoke, emergency revoke, automatic rotation and claiming."""

from __future__ import annotations

from datetime import datetime, timedelta

V1 = "/api/v1"
DAY_NS = 86_400 * 1_000_000_000


def _time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def call(engine, http, method, path, headers, body=None):
    async with http.request(method, f"{engine.url}{V1}{path}", headers=headers, json=body) as response:
        return response.status, await response.json()


async def test_create_key_fields(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/api-keys", user.bearer(),
                              {"description": "Trading Bot", "exchange": "binance", "is_test": False, "expiry_days": 90})
    assert status == 201
    assert body["key"].startswith("cbk_")
    assert body["description"] == "Trading Bot"
    assert body["exchange"] == "binance"
    assert body["status"] == "active"
    assert body["version"] == 1
    assert body["permissions"] == ["read", "trade"]
    assert body["id"].startswith("key_")
    assert _time(body["expires_at"]) - _time(body["created_at"]) == timedelta(days=90)


async def test_created_key_authenticates(engine, http):
    user = await engine.new_user()
    _, body = await call(engine, http, "POST", "/api-keys", user.bearer(), {"description": "x"})
    status, _ = await call(engine, http, "GET", "/strategies", {"X-API-Key": body["key"]})
    assert status == 200


async def test_create_key_beyond_role_forbidden(engine, http):
    user = await engine.new_user(roles=("user",))
    status, body = await call(engine, http, "POST", "/api-keys", user.bearer(), {"permissions": ["read", "trade"]})
    assert status == 403
    assert body["error"]["details"] == {"permissions": "not granted to you: trade"}


async def test_create_key_default_permissions_follow_role(engine, http):
    user = await engine.new_user(roles=("user",))
    status, body = await call(engine, http, "POST", "/api-keys", user.bearer(), {})
    assert status == 201
    assert body["permissions"] == ["read"]


async def test_create_key_validation_names_fields(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/api-keys", user.bearer(),
                              {"exchange": "nasdaq", "expiry_days": 0, "is_test": "no"})
    assert status == 400
    assert set(body["error"]["details"]) == {"exchange", "expiry_days", "is_test"}


async def test_key_management_refuses_api_key(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "GET", "/api-keys", user.key())
    assert status == 401


async def test_list_keys_counts(engine, http):
    user = await engine.new_user()
    _, second = await call(engine, http, "POST", "/api-keys", user.bearer(), {"expiry_days": 3})
    await call(engine, http, "POST", "/api-keys/rotate", user.bearer(), {"key_id": user.key_id})
    status, body = await call(engine, http, "GET", "/api-keys", user.bearer())
    assert status == 200
    # The fixture's key (now rotating), its successor, and the 3-day key.
    assert body["total"] == 3
    assert body["active"] == 2
    assert body["rotating"] == 1
    assert body["expiring_soon"] == 1
    assert [k["id"] for k in body["keys"]][:2] == [user.key_id, second["id"]]
    assert all("key" not in k for k in body["keys"])


async def test_rotate_keeps_old_key_in_grace(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/api-keys/rotate", user.bearer(),
                              {"key_id": user.key_id, "grace_period_hours": 24})
    assert status == 201
    assert body["previous_key_id"] == user.key_id
    assert body["version"] == 2
    assert body["status"] == "active"
    old_status, _ = await call(engine, http, "GET", "/strategies", user.key())
    new_status, _ = await call(engine, http, "GET", "/strategies", {"X-API-Key": body["key"]})
    assert old_status == 200
    assert new_status == 200


async def test_rotate_without_grace_ends_old_key(engine, http):
    user = await engine.new_user()
    await call(engine, http, "GET", "/strategies", user.key())  # cache the key
    await call(engine, http, "POST", "/api-keys/rotate", user.bearer(), {"key_id": user.key_id, "grace_period_hours": 0})
    status, _ = await call(engine, http, "GET", "/strategies", user.key())
    assert status == 401


async def test_revoke_ends_key_at_once(engine, http):
    user = await engine.new_user()
    assert (await call(engine, http, "GET", "/strategies", user.key()))[0] == 200
    status, body = await call(engine, http, "POST", "/api-keys/revoke", user.bearer(),
                              {"key_id": user.key_id, "reason": "No longer needed"})
    assert status == 200
    assert body == {"detail": "API key revoked successfully"}
    status, body = await call(engine, http, "GET", "/strategies", user.key())
    assert status == 401
    assert body["error"]["message"] == f"API key {user.key_id} is revoked"


async def test_revoke_twice_conflicts(engine, http):
    user = await engine.new_user()
    await call(engine, http, "POST", "/api-keys/revoke", user.bearer(), {"key_id": user.key_id})
    status, body = await call(engine, http, "POST", "/api-keys/revoke", user.bearer(), {"key_id": user.key_id})
    assert status == 409
    assert body["error"]["details"] == {"status": "revoked"}


async def test_revoke_other_users_key_not_found(engine, http):
    owner, other = await engine.new_user(), await engine.new_user()
    status, _ = await call(engine, http, "POST", "/api-keys/revoke", other.bearer(), {"key_id": owner.key_id})
    assert status == 404
    assert (await call(engine, http, "GET", "/strategies", owner.key()))[0] == 200


async def test_admin_revokes_any_key(engine, http, admin):
    owner = await engine.new_user()
    status, _ = await call(engine, http, "POST", "/api-keys/revoke", admin, {"key_id": owner.key_id})
    assert status == 200


async def test_emergency_revoke(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/api-keys/emergency-revoke", user.bearer(),
                              {"key_id": user.key_id, "details": "Key was leaked in a security breach"})
    assert status == 200
    assert body == {"detail": "API key marked as compromised and revoked",
                    "security_alert": "Security team has been notified"}
    assert (await call(engine, http, "GET", "/strategies", user.key()))[0] == 401
    _, listing = await call(engine, http, "GET", "/api-keys", user.bearer())
    assert listing["keys"][0]["status"] == "compromised"
    entries = await engine.run(lambda: engine.system.db.audit.list(action="security.api_key_compromised",
                                                                     target_id=user.key_id))
    assert entries.total == 1
    assert entries.items[0].details["details"] == "Key was leaked in a security breach"


async def test_key_actions_audited(engine, http):
    user = await engine.new_user()
    await call(engine, http, "POST", "/api-keys/rotate", user.bearer(), {"key_id": user.key_id})
    entries = await engine.run(lambda: engine.system.db.audit.list(action="api_key.rotate", target_id=user.key_id))
    assert entries.total == 1
    assert entries.items[0].actor_id == user.id


async def _age_key(engine, key_id, days):
    async def age():
        async with engine.system.db.pool.acquire() as conn:
            await conn.execute("UPDATE api_keys SET created_at = created_at - make_interval(days => $2) WHERE id = $1",
                               key_id, days)
    await engine.run(age)


async def test_automatic_rotation_and_claim(engine, http):
    from cryptobot.api.jobs import rotate_and_expire_keys

    user = await engine.new_user()
    await _age_key(engine, user.key_id, 91)
    rotated = await engine.run(lambda: rotate_and_expire_keys(engine.api_state()))
    assert rotated >= 1
    _, listing = await call(engine, http, "GET", "/api-keys", user.bearer())
    successor = next(k for k in listing["keys"] if k["previous_key_id"] == user.key_id)
    assert successor["rotated_key_waiting"] is True
    status, claimed = await call(engine, http, "GET", f"/api-keys/{successor['id']}/rotated", user.bearer())
    assert status == 200
    assert claimed["id"] == successor["id"]
    assert (await call(engine, http, "GET", "/strategies", {"X-API-Key": claimed["key"]}))[0] == 200
    assert (await call(engine, http, "GET", "/strategies", user.key()))[0] == 200  # still in its grace period
    status, _ = await call(engine, http, "GET", f"/api-keys/{successor['id']}/rotated", user.bearer())
    assert status == 404


async def test_claim_by_other_user_not_found(engine, http):
    from cryptobot.api.jobs import rotate_and_expire_keys

    owner, other = await engine.new_user(), await engine.new_user()
    await _age_key(engine, owner.key_id, 95)
    await engine.run(lambda: rotate_and_expire_keys(engine.api_state()))
    _, listing = await call(engine, http, "GET", "/api-keys", owner.bearer())
    successor = next(k for k in listing["keys"] if k["previous_key_id"] == owner.key_id)
    status, _ = await call(engine, http, "GET", f"/api-keys/{successor['id']}/rotated", other.bearer())
    assert status == 404
