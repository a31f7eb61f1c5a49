"""Login, token refresh with reuse detection, token validation and expiry."""

from __future__ import annotations

import time

import jwt

V1 = "/api/v1"


async def login(engine, http, username, password):
    async with http.post(f"{engine.url}{V1}/auth/token", json={"username": username, "password": password}) as response:
        return response.status, await response.json()


async def refresh(engine, http, token):
    async with http.post(f"{engine.url}{V1}/auth/refresh", json={"refresh_token": token}) as response:
        return response.status, await response.json()


async def status_with(engine, http, token, path="/strategies"):
    async with http.get(f"{engine.url}{V1}{path}", headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status


async def test_token_issue_fields(engine, http):
    user = await engine.new_user()
    before = int(time.time())
    status, body = await login(engine, http, user.username, user.password)
    assert status == 200
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == engine.settings.auth_access_token_seconds
    claims = jwt.decode(body["access_token"], engine.settings.auth_jwt_secret, algorithms=["HS256"])
    assert claims["sub"] == user.id
    assert claims["typ"] == "access"
    assert before <= claims["exp"] - engine.settings.auth_access_token_seconds <= int(time.time())
    refresh_claims = jwt.decode(body["refresh_token"], engine.settings.auth_jwt_secret, algorithms=["HS256"])
    assert refresh_claims["typ"] == "refresh"
    assert refresh_claims["fam"] == claims["fam"]


async def test_token_wrong_password(engine, http):
    user = await engine.new_user()
    status, body = await login(engine, http, user.username, "not the password")
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["message"] == "Invalid username or password"


async def test_token_unknown_user_same_message(engine, http):
    status, body = await login(engine, http, "nobody-here", "whatever-password")
    assert status == 401
    assert body["error"]["message"] == "Invalid username or password"


async def test_token_missing_fields(engine, http):
    async with http.post(f"{engine.url}{V1}/auth/token", json={}) as response:
        body = await response.json()
    assert response.status == 400
    assert body["error"]["details"] == {"username": "required", "password": "required"}


async def test_login_lockout_after_failures(engine, http):
    user = await engine.new_user()
    for _ in range(engine.settings.auth_max_login_failures):
        status, _ = await login(engine, http, user.username, "wrong password!")
        assert status == 401
    status, body = await login(engine, http, user.username, user.password)
    assert status == 401
    assert "locked until" in body["error"]["message"]
    assert "locked_until" in body["error"]["details"]


async def test_refresh_rotates_token(engine, http):
    user = await engine.new_user()
    _, first = await login(engine, http, user.username, user.password)
    status, second = await refresh(engine, http, first["refresh_token"])
    assert status == 200
    assert second["token_type"] == "bearer"
    assert second["refresh_token"] != first["refresh_token"]
    assert await status_with(engine, http, second["access_token"]) == 200
    status, third = await refresh(engine, http, second["refresh_token"])
    assert status == 200


async def test_refresh_reuse_revokes_family(engine, http):
    user = await engine.new_user()
    _, first = await login(engine, http, user.username, user.password)
    _, second = await refresh(engine, http, first["refresh_token"])
    status, body = await refresh(engine, http, first["refresh_token"])
    assert status == 401
    assert body["error"]["details"] == {"refresh_token": "reused"}
    status, body = await refresh(engine, http, second["refresh_token"])
    assert status == 401
    assert body["error"]["details"] == {"refresh_token": "revoked"}
    assert await status_with(engine, http, second["access_token"]) == 401
    assert await status_with(engine, http, first["access_token"]) == 401


async def test_refresh_reuse_audited(engine, http):
    user = await engine.new_user()
    _, first = await login(engine, http, user.username, user.password)
    await refresh(engine, http, first["refresh_token"])
    await refresh(engine, http, first["refresh_token"])
    entries = await engine.run(lambda: engine.system.db.audit.list(actor_id=user.id,
                                                                     action="security.refresh_token_reused"))
    assert entries.total == 1


async def test_refresh_rejects_access_token(engine, http):
    user = await engine.new_user()
    status, body = await refresh(engine, http, user.token)
    assert status == 401
    assert "expected a refresh token" in body["error"]["message"]


async def test_validate_token(engine, http):
    user = await engine.new_user(roles=("user", "trader"))
    async with http.get(f"{engine.url}{V1}/auth/validate", headers=user.bearer()) as response:
        body = await response.json()
    assert response.status == 200
    assert body["valid"] is True
    assert body["username"] == user.username
    assert body["roles"] == ["user", "trader"]


async def test_validate_refuses_api_key(engine, http):
    user = await engine.new_user()
    async with http.get(f"{engine.url}{V1}/auth/validate", headers=user.key()) as response:
        body = await response.json()
    assert response.status == 401
    assert body["error"]["details"] == {"X-API-Key": "not accepted here"}


def _signed(engine, user_id, exp, secret=None):
    now = int(time.time())
    claims = {"iss": "cryptobot", "sub": user_id, "typ": "access", "jti": "0" * 32, "iat": now - 10, "exp": exp}
    return jwt.encode(claims, secret or engine.settings.auth_jwt_secret, algorithm="HS256")


async def test_expired_access_token(engine, http):
    user = await engine.new_user()
    token = _signed(engine, user.id, int(time.time()) - 1)
    async with http.get(f"{engine.url}{V1}/strategies", headers={"Authorization": f"Bearer {token}"}) as response:
        body = await response.json()
    assert response.status == 401
    assert body["error"]["message"] == "The access token has expired"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_token_with_foreign_secret(engine, http):
    user = await engine.new_user()
    token = _signed(engine, user.id, int(time.time()) + 600, secret="another secret that is long enough!!")
    assert await status_with(engine, http, token) == 401


async def test_token_of_valid_claims_accepted(engine, http):
    user = await engine.new_user()
    token = _signed(engine, user.id, int(time.time()) + 600)
    assert await status_with(engine, http, token) == 200


async def test_disabled_user_token_refused(engine, http):
    user = await engine.new_user()
    await engine.run(lambda: engine.system.db.users.set_active(user.id, False))
    await engine.run(lambda: engine.api_state().auth.forget_user(user.id))
    assert await status_with(engine, http, user.token) == 401
