"""Who may call what: every endpoint against no credentials, a read-only key, a trader, an admin and the wrong scheme."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from cryptobot.api.routes import ROUTES

S = "strategy_" + "0" * 26
B = "backtest_" + "0" * 26
O = "order_" + "0" * 26
P = "position_" + "0" * 26
K = "key_" + "0" * 26
W = "webhook_" + "0" * 26

# (method, path, permission, schemes) written out by hand from the access rules the API documents.
MATRIX = [
    ("GET", "/api/v1/auth/validate", "read", "jwt"),
    ("GET", "/api/v1/api-keys", "read", "jwt"),
    ("POST", "/api/v1/api-keys", "read", "jwt"),
    ("POST", "/api/v1/api-keys/rotate", "read", "jwt"),
    ("POST", "/api/v1/api-keys/revoke", "read", "jwt"),
    ("POST", "/api/v1/api-keys/emergency-revoke", "read", "jwt"),
    ("GET", f"/api/v1/api-keys/{K}/rotated", "read", "jwt"),
    ("GET", "/api/v1/strategies", "read", "any"),
    ("POST", "/api/v1/strategies", "trade", "any"),
    ("GET", f"/api/v1/strategies/{S}", "read", "any"),
    ("PUT", f"/api/v1/strategies/{S}", "trade", "any"),
    ("DELETE", f"/api/v1/strategies/{S}", "trade", "any"),
    ("POST", f"/api/v1/strategies/{S}/start", "trade", "any"),
    ("POST", f"/api/v1/strategies/{S}/stop", "trade", "any"),
    ("POST", "/api/v1/backtest", "trade", "any"),
    ("GET", f"/api/v1/backtest/{B}", "read", "any"),
    ("GET", f"/api/v1/backtest/{B}/results", "read", "any"),
    ("DELETE", f"/api/v1/backtest/{B}", "trade", "any"),
    ("GET", "/api/v1/data/market/binance/BTC/USDT", "read", "any"),
    ("GET", "/api/v1/data/orderbook/binance/BTC/USDT", "read", "any"),
    ("GET", "/api/v1/data/ticker/binance/BTC/USDT", "read", "any"),
    ("POST", "/api/v1/trade/execute", "trade", "any"),
    ("GET", f"/api/v1/trade/order/{O}", "read", "any"),
    ("DELETE", f"/api/v1/trade/order/{O}", "trade", "any"),
    ("GET", "/api/v1/trade/orders/open", "read", "any"),
    ("GET", "/api/v1/trade/orders/history", "read", "any"),
    ("GET", "/api/v1/portfolio", "read", "any"),
    ("GET", "/api/v1/portfolio/positions", "read", "any"),
    ("POST", f"/api/v1/portfolio/positions/{P}/close", "trade", "any"),
    ("GET", "/api/v1/system/status", "read", "any"),
    ("GET", "/api/v1/system/metrics", "read", "any"),
    ("GET", "/api/v1/system/kill-switch", "read", "any"),
    ("POST", "/api/v1/system/kill-switch", "admin", "any"),
    ("POST", "/api/v1/webhooks", "read", "jwt"),
    ("GET", "/api/v1/webhooks", "read", "jwt"),
    ("DELETE", f"/api/v1/webhooks/{W}", "read", "jwt"),
    ("GET", f"/api/v1/webhooks/{W}/deliveries", "read", "jwt"),
    ("GET", "/metrics", "read", "any"),
]
PUBLIC = [("POST", "/api/v1/auth/token"), ("POST", "/api/v1/auth/refresh"), ("GET", "/api/v1/openapi.json"), ("GET", "/ws")]
RANK = {"read": 0, "trade": 1, "admin": 2}


async def test_matrix_covers_every_route():
    app = web.Application()
    for route in ROUTES:
        app.router.add_route(route.method, route.aiohttp_path, route.handler)
    hit: set[tuple[str, object]] = set()
    # openapi.json is registered by the application itself, outside the route table.
    for method, path in [(m, p) for m, p, _, _ in MATRIX] + PUBLIC:
        if path.endswith("openapi.json"):
            continue
        match = await app.router.resolve(make_mocked_request(method, path))
        assert match.http_exception is None, (method, path)
        hit.add((method, match.route.resource))
    assert hit == {(r.method, r.resource) for r in app.router.routes()}


@pytest.fixture(scope="module")
def callers(engine):
    import asyncio

    async def make():
        return {
            "reader": await engine.new_user(roles=("user",)),
            "read_key": await engine.new_user(roles=("trader",), permissions=("read",)),
            "trader": await engine.new_user(roles=("trader",)),
            "admin": await engine.new_user(roles=("admin",)),
            "non_admin_admin_key": await engine.new_user(roles=("trader",), permissions=("read", "trade", "admin")),
        }

    return asyncio.run(make())


async def status_of(engine, http, method, path, headers):
    body = b"{}" if method in ("POST", "PUT") else None
    async with http.request(method, f"{engine.url}{path}", headers=headers, data=body) as response:
        await response.read()
        return response.status


@pytest.mark.parametrize("method,path,permission,schemes", MATRIX)
async def test_access_rules(engine, http, callers, method, path, permission, schemes):
    assert await status_of(engine, http, method, path, {}) == 401
    for name, user, granted in (("reader", callers["reader"], "read"), ("read_key", callers["read_key"], "read"),
                              ("trader", callers["trader"], "trade"), ("admin", callers["admin"], "admin"),
                              ("non_admin_admin_key", callers["non_admin_admin_key"], "trade")):
        allowed = RANK[granted] >= RANK[permission]
        for scheme, headers in (("jwt", user.bearer()), ("api_key", user.key())):
            if name == "read_key" and scheme == "jwt":
                continue  # this user's JWT carries the trader role; only the key is read-only
            status = await status_of(engine, http, method, path, headers)
            if scheme == "api_key" and schemes == "jwt":
                assert status == 401, (name, scheme)
            elif allowed:
                assert status not in (401, 403), (name, scheme, status)
            else:
                assert status == 403, (name, scheme, status)
