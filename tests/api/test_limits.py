"""Rate limits: headers on every response, 429 with Retry-After, per-key limits, trusted proxies."""

from __future__ import annotations

import time

V1 = "/api/v1"


async def get(http, url, headers=None):
    async with http.get(url, headers=headers) as response:
        await response.read()
        return response.status, response.headers


async def test_headers_on_success_and_errors(engine, http):
    user = await engine.new_user()
    for path, headers in ((f"{V1}/strategies", user.key()), (f"{V1}/missing", None), (f"{V1}/strategies", None)):
        _, response_headers = await get(http, f"{engine.url}{path}", headers)
        for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            assert name in response_headers, (path, name)


async def test_ip_limit_then_429(engine, http):
    url = await engine.start_app(api_rate_limit_ip_per_minute=5)
    window_end = (int(time.time()) // 60 + 1) * 60
    remaining = []
    for _ in range(5):
        status, headers = await get(http, f"{url}{V1}/openapi.json")
        assert status == 200
        remaining.append(int(headers["X-RateLimit-Remaining"]))
        assert headers["X-RateLimit-Limit"] == "5"
    status, headers = await get(http, f"{url}{V1}/openapi.json")
    assert status == 429
    assert remaining == [4, 3, 2, 1, 0]
    assert headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert int(headers["X-RateLimit-Reset"]) in (window_end, window_end + 60)


async def test_429_body(engine, http):
    url = await engine.start_app(api_rate_limit_ip_per_minute=1)
    await get(http, f"{url}{V1}/openapi.json")
    async with http.get(f"{url}{V1}/openapi.json") as response:
        body = await response.json()
    assert response.status == 429
    assert body["error"]["code"] == "rate_limited"


async def test_api_key_limit(engine, http):
    url = await engine.start_app(api_rate_limit_key_per_hour=3)
    user = await engine.new_user()
    for expected_remaining in (2, 1, 0):
        status, headers = await get(http, f"{url}{V1}/strategies", user.key())
        assert status == 200
        assert headers["X-RateLimit-Limit"] == "3"
        assert headers["X-RateLimit-Remaining"] == str(expected_remaining)
    status, headers = await get(http, f"{url}{V1}/strategies", user.key())
    assert status == 429
    assert headers["X-RateLimit-Limit"] == "3"
    assert "Retry-After" in headers
    # The limit is the key's: the same user's JWT is not limited by it.
    status, _ = await get(http, f"{url}{V1}/strategies", user.bearer())
    assert status == 200


async def test_forwarded_for_from_trusted_proxy(engine, http):
    url = await engine.start_app(api_rate_limit_ip_per_minute=2, api_trusted_proxies="127.0.0.1")
    first = {"X-Forwarded-For": "198.51.100.1"}
    assert (await get(http, f"{url}{V1}/openapi.json", first))[0] == 200
    assert (await get(http, f"{url}{V1}/openapi.json", first))[0] == 200
    assert (await get(http, f"{url}{V1}/openapi.json", first))[0] == 429
    second = {"X-Forwarded-For": "198.51.100.2, 127.0.0.1"}
    assert (await get(http, f"{url}{V1}/openapi.json", second))[0] == 200


async def test_forwarded_for_ignored_from_untrusted_peer(engine, http):
    url = await engine.start_app(api_rate_limit_ip_per_minute=2)
    statuses = []
    for client in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        statuses.append((await get(http, f"{url}{V1}/openapi.json", {"X-Forwarded-For": client}))[0])
    assert statuses == [200, 200, 429]


async def test_audit_records_forwarded_client(engine, http):
    url = await engine.start_app(api_trusted_proxies="127.0.0.1")
    user = await engine.new_user()
    async with http.post(f"{url}{V1}/api-keys", headers={**user.bearer(), "X-Forwarded-For": "203.0.113.7"},
                         json={"description": "via proxy"}) as response:
        created = await response.json()
    entries = await engine.run(lambda: engine.system.db.audit.list(action="api_key.create", target_id=created["id"]))
    assert entries.items[0].ip == "203.0.113.7"
