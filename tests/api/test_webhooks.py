"""Webhooks: registration, URL checks, signed deliveries, retries, and the events that trigger them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import orjson
import pytest
from aiohttp import web

V1 = "/api/v1"
SECRET = "your_webhook_secret"


def verify_webhook(payload, signature, secret):
    # Copied from the API reference's "Verifying Webhooks" section.
    computed_signature = hmac.new(
        secret.encode(),
        payload.encode(),
        hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(computed_signature, signature)


class Receiver:
    """A webhook receiver on 127.0.0.1 that records deliveries and replies with the given statuses in turn."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.received: list[tuple[dict, bytes]] = []
        self.arrived = asyncio.Condition()
        self.url = ""
        self._runner = None

    async def handle(self, request):
        body = await request.read()
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        async with self.arrived:
            self.received.append((dict(request.headers), body))
            self.arrived.notify_all()
        return web.Response(status=status)

    async def start(self):
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"
        return self

    async def wait(self, predicate, timeout=5.0):
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: any(predicate(orjson.loads(b)) for _, b in self.received)),
                                   timeout)
        return [(h, b) for h, b in self.received if predicate(orjson.loads(b))]

    async def stop(self):
        await self._runner.cleanup()


@pytest.fixture
async def receiver():
    server = await Receiver().start()
    yield server
    await server.stop()


async def call(engine, http, method, path, headers, body=None, url=None):
    async with http.request(method, f"{url or engine.url}{V1}{path}", headers=headers, json=body) as response:
        return response.status, await response.json()


async def register(engine, http, user, url, events):
    status, body = await call(engine, http, "POST", "/webhooks", user.bearer(), {"url": url, "secret": SECRET, "events": events})
    assert status == 201, body
    return body


def signed_part(body: bytes) -> str:
    text = body.decode()
    return text[:text.rindex(',"signature":')] + "}"


async def test_register_webhook(engine, http, receiver):
    user = await engine.new_user()
    body = await register(engine, http, user, receiver.url, ["trade.executed", "strategy.started"])
    assert body["id"].startswith("webhook_")
    assert body["url"] == receiver.url
    assert body["events"] == ["strategy.started", "trade.executed"]
    assert body["active"] is True
    assert "secret" not in body


async def test_register_validation(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/webhooks", user.bearer(),
                              {"url": "ftp://example.org/x", "secret": "short", "events": ["trade.exploded"]})
    assert status == 400
    assert set(body["error"]["details"]) == {"url", "secret", "events"}


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest",
                                 "http://[::1]:9/hook", "http://localhost:9/hook", "http://[::ffff:192.168.1.1]/"])
async def test_private_targets_refused(engine, http, url):
    app_url = await engine.start_app(api_webhook_allow_private=False)
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/webhooks", user.bearer(),
                              {"url": url, "secret": SECRET, "events": ["trade.executed"]}, url=app_url)
    assert status == 400
    assert body["error"]["details"] == {"url": "private, loopback and link-local targets are not allowed"}


async def test_list_and_delete(engine, http, receiver):
    user, other = await engine.new_user(), await engine.new_user()
    created = await register(engine, http, user, receiver.url, ["trade.closed"])
    _, listing = await call(engine, http, "GET", "/webhooks", user.bearer())
    assert [w["id"] for w in listing["data"]] == [created["id"]]
    _, others = await call(engine, http, "GET", "/webhooks", other.bearer())
    assert others["data"] == []
    assert (await call(engine, http, "DELETE", f"/webhooks/{created['id']}", other.bearer()))[0] == 404
    status, body = await call(engine, http, "DELETE", f"/webhooks/{created['id']}", user.bearer())
    assert status == 200
    assert body == {"detail": "Webhook deleted successfully"}
    _, listing = await call(engine, http, "GET", "/webhooks", user.bearer())
    assert listing["data"] == []


async def test_trade_executed_signed(engine, http, receiver):
    await engine.set_market(50_000.0, 50_010.0)
    user = await engine.new_user()
    await register(engine, http, user, receiver.url, ["trade.executed"])
    _, order = await call(engine, http, "POST", "/trade/execute", user.key(),
                          {"exchange": "binance", "symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": 0.01})
    [(headers, body)] = await receiver.wait(lambda p: p["event"] == "trade.executed")
    payload = orjson.loads(body)
    assert list(payload) == ["id", "event", "timestamp", "data", "signature"]
    assert payload["data"]["order_id"] == order["order_id"]
    assert payload["data"]["price"] == 50_010.0
    assert payload["data"]["quantity"] == 0.01
    assert verify_webhook(signed_part(body), payload["signature"], SECRET)
    assert verify_webhook(signed_part(body), headers["X-Cryptobot-Signature"], SECRET)
    assert headers["X-Cryptobot-Event"] == "trade.executed"
    assert not verify_webhook(signed_part(body), payload["signature"], "another secret")


async def test_retry_after_server_error(engine, http):
    receiver = await Receiver([500, 500, 200]).start()
    try:
        user = await engine.new_user()
        webhook = await register(engine, http, user, receiver.url, ["api_key.rotated"])
        await call(engine, http, "POST", "/api-keys/rotate", user.bearer(), {"key_id": user.key_id})
        await receiver.wait(lambda p: p["event"] == "api_key.rotated")
        for _ in range(100):
            _, deliveries = await call(engine, http, "GET", f"/webhooks/{webhook['id']}/deliveries", user.bearer())
            if deliveries["data"] and deliveries["data"][0]["status"] == "delivered":
                break
            await asyncio.sleep(0.1)
        assert len(receiver.received) == 3
        [delivery] = deliveries["data"]
        assert delivery["status"] == "delivered"
        assert delivery["attempts"] == 3
        assert delivery["response_code"] == 200
        bodies = {b for _, b in receiver.received}
        assert len(bodies) == 1  # every attempt sends the same signed body
    finally:
        await receiver.stop()


async def test_gives_up_after_max_attempts(engine, http):
    receiver = await Receiver([503]).start()
    try:
        user = await engine.new_user()
        webhook = await register(engine, http, user, receiver.url, ["api_key.rotated"])
        await call(engine, http, "POST", "/api-keys/rotate", user.bearer(), {"key_id": user.key_id})
        for _ in range(100):
            _, deliveries = await call(engine, http, "GET", f"/webhooks/{webhook['id']}/deliveries", user.bearer())
            if deliveries["data"] and deliveries["data"][0]["status"] == "failed":
                break
            await asyncio.sleep(0.1)
        [delivery] = deliveries["data"]
        assert delivery["status"] == "failed"
        assert delivery["attempts"] == 4  # the test engine's max_attempts
        assert delivery["error"] == "the receiver answered HTTP 503"
    finally:
        await receiver.stop()


async def test_api_key_rotated_event(engine, http, receiver):
    user = await engine.new_user()
    await register(engine, http, user, receiver.url, ["api_key.rotated"])
    _, rotated = await call(engine, http, "POST", "/api-keys/rotate", user.bearer(), {"key_id": user.key_id})
    [(_, body)] = await receiver.wait(lambda p: p["event"] == "api_key.rotated")
    data = orjson.loads(body)["data"]
    assert data["key_id"] == user.key_id
    assert data["new_key_id"] == rotated["id"]
    assert "key" not in data


async def test_security_alert_to_owner_and_admin(engine, http, receiver, admin):
    user = await engine.new_user()
    await register(engine, http, user, receiver.url, ["security.alert"])
    admin_receiver = await Receiver().start()
    try:
        await call(engine, http, "POST", "/webhooks", admin,
                   {"url": admin_receiver.url, "secret": SECRET, "events": ["security.alert"]})
        await call(engine, http, "POST", "/api-keys/emergency-revoke", user.bearer(), {"key_id": user.key_id, "details": "leak"})
        [(_, body)] = await receiver.wait(lambda p: p["data"].get("key_id") == user.key_id)
        assert orjson.loads(body)["data"]["kind"] == "api_key_compromised"
        [(_, admin_body)] = await admin_receiver.wait(lambda p: p["data"].get("key_id") == user.key_id)
        assert orjson.loads(admin_body)["data"]["owner_id"] == user.id
    finally:
        await admin_receiver.stop()


async def test_strategy_events(engine, http, receiver):
    user = await engine.new_user()
    await register(engine, http, user, receiver.url, ["strategy.started", "strategy.stopped"])
    _, strategy = await call(engine, http, "POST", "/strategies", user.key(),
                             {"name": "m", "exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m",
                              "strategy_type": "momentum"})
    await call(engine, http, "POST", f"/strategies/{strategy['id']}/start", user.key(), {"capital_allocation": 100})
    await call(engine, http, "POST", f"/strategies/{strategy['id']}/stop", user.key(), {})
    received = await receiver.wait(lambda p: p["event"] == "strategy.stopped")
    events = [orjson.loads(b)["event"] for _, b in receiver.received]
    assert events == ["strategy.started", "strategy.stopped"]
    assert orjson.loads(received[0][1])["data"]["strategy_id"] == strategy["id"]


async def test_trade_closed_event(engine, http, receiver):
    await engine.set_market(50_000.0, 50_010.0)
    user = await engine.new_user()
    await register(engine, http, user, receiver.url, ["trade.closed"])
    _, order = await call(engine, http, "POST", "/trade/execute", user.key(),
                          {"exchange": "binance", "symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": 0.01})
    for _ in range(50):
        _, positions = await call(engine, http, "GET", "/portfolio/positions", user.key())
        if positions["data"]:
            break
        await asyncio.sleep(0.05)
    position_id = positions["data"][0]["position_id"]
    await call(engine, http, "POST", f"/portfolio/positions/{position_id}/close", user.key())
    [(_, body)] = await receiver.wait(lambda p: p["event"] == "trade.closed")
    data = orjson.loads(body)["data"]
    assert data["position_id"] == position_id
    assert data["entry_price"] == 50_010.0
    assert data["exit_price"] == 50_000.0
