"""The documented error body for every error class, and no internal detail leaking out."""

from __future__ import annotations

import logging

from aiohttp import web

V1 = "/api/v1"


async def raw(engine, http, method, path, headers=None, data=None):
    async with http.request(method, f"{engine.url}{path}", headers=headers, data=data) as response:
        return response.status, await response.json(), response.headers


def assert_error_body(body, code):
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)


async def test_invalid_json_body(engine, http):
    user = await engine.new_user()
    status, body, _ = await raw(engine, http, "POST", f"{V1}/strategies", {**user.key(), "Content-Type": "application/json"},
                                b'{"name": ')
    assert status == 400
    assert_error_body(body, "invalid_request")
    assert body["error"]["details"] == {"body": "invalid JSON"}


async def test_body_not_an_object(engine, http):
    user = await engine.new_user()
    status, body, _ = await raw(engine, http, "POST", f"{V1}/strategies", user.key(), b"[1, 2]")
    assert status == 400
    assert body["error"]["details"] == {"body": "expected a JSON object"}


async def test_empty_body_names_required_fields(engine, http):
    user = await engine.new_user()
    status, body, _ = await raw(engine, http, "POST", f"{V1}/strategies/strategy_01jaaaaaaaaaaaaaaaaaaaaaaa/start",
                                user.key(), b"")
    assert status == 400
    assert_error_body(body, "invalid_request")
    assert body["error"]["details"] == {"body": "required", "capital_allocation": "required"}
    assert "'capital_allocation'" in body["error"]["message"]


async def test_unknown_body_field(engine, http):
    user = await engine.new_user()
    status, body, _ = await raw(engine, http, "POST", f"{V1}/trade/execute", user.key(),
                                b'{"exchange": "binance", "symbol": "BTC/USDT", "side": "buy", "type": "market", '
                                b'"quantity": 1, "leverage": 100}')
    assert status == 400
    assert body["error"]["details"] == {"leverage": "unknown field"}


async def test_missing_credentials(engine, http):
    status, body, headers = await raw(engine, http, "GET", f"{V1}/strategies")
    assert status == 401
    assert_error_body(body, "unauthorized")
    assert body["error"]["details"] == {"credentials": "missing"}
    assert headers["WWW-Authenticate"].startswith("Bearer")


async def test_invalid_api_key(engine, http):
    status, body, _ = await raw(engine, http, "GET", f"{V1}/strategies", {"X-API-Key": "cbk_" + "A" * 43})
    assert status == 401
    assert body["error"]["message"] == "Invalid API key"


async def test_two_credentials_refused(engine, http):
    user = await engine.new_user()
    status, body, _ = await raw(engine, http, "GET", f"{V1}/strategies", {**user.key(), **user.bearer()})
    assert status == 401
    assert body["error"]["details"] == {"authorization": "ambiguous credentials"}


async def test_forbidden(engine, http):
    user = await engine.new_user(roles=("user",))
    status, body, _ = await raw(engine, http, "POST", f"{V1}/system/kill-switch", user.bearer(), b'{"engaged": true}')
    assert status == 403
    assert_error_body(body, "forbidden")


async def test_unknown_route(engine, http):
    status, body, headers = await raw(engine, http, "GET", f"{V1}/nothing/here")
    assert status == 404
    assert_error_body(body, "not_found")
    assert "X-Request-Id" in headers


async def test_unknown_id(engine, http):
    user = await engine.new_user()
    status, body, _ = await raw(engine, http, "GET", f"{V1}/strategies/strategy_0000000000000000000000000a", user.key())
    assert status == 404
    assert_error_body(body, "not_found")


async def test_malformed_id(engine, http):
    user = await engine.new_user()
    status, body, _ = await raw(engine, http, "GET", f"{V1}/trade/order/12345", user.key())
    assert status == 400
    assert set(body["error"]["details"]) == {"order_id"}


async def test_method_not_allowed(engine, http):
    status, body, headers = await raw(engine, http, "PATCH", f"{V1}/strategies")
    assert status == 405
    assert_error_body(body, "method_not_allowed")
    assert headers["Allow"] == "GET, POST"


async def test_conflict(engine, http):
    user = await engine.new_user()
    status, body, _ = await raw(engine, http, "POST", f"{V1}/api-keys/revoke", user.bearer(),
                                f'{{"key_id": "{user.key_id}"}}'.encode())
    assert status == 200
    status, body, _ = await raw(engine, http, "POST", f"{V1}/api-keys/revoke", user.bearer(),
                                f'{{"key_id": "{user.key_id}"}}'.encode())
    assert status == 409
    assert_error_body(body, "conflict")


async def test_body_too_large(engine, http):
    user = await engine.new_user()
    status, body, _ = await raw(engine, http, "POST", f"{V1}/strategies", user.key(), b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert status == 413
    assert_error_body(body, "payload_too_large")


async def test_internal_error_hides_detail(engine, http, caplog):
    from cryptobot.api.app import create_app

    async def start():
        app = create_app(engine.system, engine.settings, background_jobs=False)

        async def boom(request):
            raise RuntimeError("connection string postgres://secret@db")

        app.router.add_get("/api/v1/test-boom", boom)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]

    runner, port = await engine.run(start)
    try:
        with caplog.at_level(logging.ERROR, logger="cryptobot.api.edge"):
            async with http.get(f"http://127.0.0.1:{port}/api/v1/test-boom") as response:
                text = await response.text()
                body = await response.json()
                request_id = response.headers["X-Request-Id"]
        assert response.status == 500
        assert_error_body(body, "internal_error")
        assert "secret" not in text
        assert "Traceback" not in text
        assert body["error"]["details"] == {"request_id": request_id}
        logged = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
        assert len(logged) == 1
        assert logged[0].exc_info is not None
    finally:
        await engine.run(runner.cleanup)
