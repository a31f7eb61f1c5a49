"""The /ws protocol: authentication, subscriptions, data messages, ping, close and slow clients."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from cryptobot.api.state import STATE
from cryptobot.core import topics
from cryptobot.core.types import Ticker, TradeTick

TS = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z


@pytest.fixture(autouse=True)
async def _market(engine):
    await engine.set_market(50_000.0, 50_010.0)


async def receive(ws, timeout=3.0):
    message = await ws.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    return message.json()


async def receive_until(ws, predicate, timeout=3.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = await receive(ws, max(0.05, deadline - asyncio.get_running_loop().time()))
        if predicate(body):
            return body


async def connect(http, url, user=None):
    ws = await http.ws_connect(f"{url}/ws")
    if user is not None:
        await ws.send_json({"action": "authenticate", "api_key": user.api_key})
        reply = await receive(ws)
        assert reply["action"] == "authenticated", reply
    return ws


def ticker(bid=50_000.0, ask=50_100.0):
    return Ticker("binance", "BTC/USDT", TS, bid, ask, 50_050.0, 1000.5, 2.5, 0.05)


async def publish(engine, topic, message):
    await engine.run(lambda: engine.system.engine.bus.publish(topic, message))


async def test_authenticate_with_key(engine, http):
    user = await engine.new_user()
    ws = await http.ws_connect(f"{engine.url}/ws")
    await ws.send_json({"action": "authenticate", "api_key": user.api_key, "id": 7})
    reply = await receive(ws)
    assert reply == {"action": "authenticated", "id": 7, "username": user.username, "permissions": ["read", "trade"]}
    await ws.close()


async def test_authenticate_with_jwt(engine, http):
    user = await engine.new_user()
    ws = await http.ws_connect(f"{engine.url}/ws")
    await ws.send_json({"action": "authenticate", "token": user.token})
    assert (await receive(ws))["action"] == "authenticated"
    await ws.close()


async def test_bad_credentials_close(engine, http):
    ws = await http.ws_connect(f"{engine.url}/ws")
    await ws.send_json({"action": "authenticate", "api_key": "cbk_" + "B" * 43})
    reply = await receive(ws)
    assert reply["action"] == "error"
    assert reply["error"]["code"] == "unauthorized"
    closing = await ws.receive(timeout=3)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert closing.data == 1008
    assert closing.extra == "authentication failed"


async def test_subscribe_before_authenticate(engine, http):
    ws = await connect(http, engine.url)
    await ws.send_json({"action": "subscribe", "topics": ["market.BTC/USDT.ticker"]})
    reply = await receive(ws)
    assert reply["action"] == "error"
    assert reply["error"]["details"] == {"action": "authenticate first"}
    await ws.close()


async def test_authentication_timeout(engine, http):
    url = await engine.start_app(app_options={"websocket_options": {"auth_timeout": 0.3}})
    ws = await http.ws_connect(f"{url}/ws")
    closing = await ws.receive(timeout=3)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert (closing.data, closing.extra) == (1008, "authentication timeout")


async def test_ticker_updates(engine, http):
    user = await engine.new_user()
    ws = await connect(http, engine.url, user)
    await ws.send_json({"action": "subscribe", "topics": ["market.BTC/USDT.ticker"], "id": 1})
    assert await receive(ws) == {"action": "subscribed", "id": 1, "topics": ["market.BTC/USDT.ticker"]}
    await publish(engine, topics.ticker("binance", "BTC/USDT"), ticker())
    message = await receive(ws)
    assert message == {"topic": "market.BTC/USDT.ticker", "timestamp": "2025-01-01T00:00:00Z",
                       "data": {"exchange": "binance", "symbol": "BTC/USDT", "bid": 50_000.0, "ask": 50_100.0,
                                "last": 50_050.0, "volume": 1000.5, "change": 2.5, "change_percent": 0.05}}
    await ws.close()


async def test_trade_updates(engine, http):
    user = await engine.new_user()
    ws = await connect(http, engine.url, user)
    await ws.send_json({"action": "subscribe", "topics": ["market.btc-usdt.trades"]})
    assert (await receive(ws))["topics"] == ["market.BTC/USDT.trades"]
    for trade_id in (1, 2, 3):
        await publish(engine, topics.trades("binance", "BTC/USDT"),
                      TradeTick("binance", "BTC/USDT", TS + trade_id, TS, 50_000.0 + trade_id, 0.1, "buy", trade_id))
    received = [await receive(ws) for _ in range(3)]
    assert [m["data"]["trade_id"] for m in received] == [1, 2, 3]
    assert received[0]["data"]["price"] == 50_001.0
    await ws.close()


async def test_unknown_topic_error(engine, http):
    user = await engine.new_user()
    ws = await connect(http, engine.url, user)
    await ws.send_json({"action": "subscribe", "topics": ["market.BTC/USDT.ticker", "weather.today", "market.BTC/USDT.candles",
                                                          "market.B$C.ticker", "market.ETH/USDT.ticker"]})
    reply = await receive(ws)
    assert reply["action"] == "error"
    assert set(reply["error"]["details"]) == {"weather.today", "market.BTC/USDT.candles", "market.B$C.ticker",
                                              "market.ETH/USDT.ticker"}
    # Nothing was subscribed: a later ticker is not delivered; a pong is the next message.
    await publish(engine, topics.ticker("binance", "BTC/USDT"), ticker())
    await ws.send_json({"action": "ping", "id": 5})
    assert await receive(ws) == {"action": "pong", "id": 5}
    await ws.close()


async def test_other_users_strategy_topic(engine, http):
    owner, other = await engine.new_user(), await engine.new_user()
    strategy = await engine.run(lambda: engine.system.db.strategies.create(
        name="s", exchange="binance", symbol="BTC/USDT", timeframe="1m", strategy_type="momentum", owner_id=owner.id))
    ws = await connect(http, engine.url, other)
    await ws.send_json({"action": "subscribe", "topics": [f"trades.{strategy.id}"]})
    reply = await receive(ws)
    assert reply["error"]["code"] == "not_found"
    assert reply["error"]["details"] == {f"trades.{strategy.id}": f"strategy {strategy.id} not found"}
    await ws.close()


async def test_strategy_order_updates(engine, http):
    await engine.set_market(50_000.0, 50_010.0)
    user = await engine.new_user()
    strategy = await engine.run(lambda: engine.system.db.strategies.create(
        name="s", exchange="binance", symbol="BTC/USDT", timeframe="1m", strategy_type="momentum", owner_id=user.id))
    ws = await connect(http, engine.url, user)
    await ws.send_json({"action": "subscribe", "topics": [f"trades.{strategy.id}", f"positions.{strategy.id}"]})
    assert (await receive(ws))["action"] == "subscribed"
    async with http.post(f"{engine.url}/api/v1/trade/execute", headers=user.key(),
                         json={"exchange": "binance", "symbol": "BTC/USDT", "side": "buy", "type": "market",
                               "quantity": 0.01, "strategy_id": strategy.id}) as response:
        order = await response.json()
    filled = await receive_until(ws, lambda m: m.get("topic") == f"trades.{strategy.id}" and m["data"]["status"] == "filled")
    assert filled["data"]["order_id"] == order["order_id"]
    assert filled["data"]["average_price"] == 50_010.0
    assert filled["data"]["remaining"] == 0.0
    position = await receive_until(ws, lambda m: m.get("topic") == f"positions.{strategy.id}")
    assert position["data"]["entry_price"] == 50_010.0
    assert position["data"]["status"] == "open"
    await ws.close()


async def test_unsubscribe(engine, http):
    user = await engine.new_user()
    ws = await connect(http, engine.url, user)
    await ws.send_json({"action": "subscribe", "topics": ["market.BTC/USDT.ticker"]})
    await receive(ws)
    await ws.send_json({"action": "unsubscribe", "topics": ["market.BTC/USDT.ticker"]})
    assert await receive(ws) == {"action": "unsubscribed", "id": None, "topics": ["market.BTC/USDT.ticker"]}
    await publish(engine, topics.ticker("binance", "BTC/USDT"), ticker())
    await ws.send_json({"action": "ping", "id": "after"})
    assert await receive(ws) == {"action": "pong", "id": "after"}
    await ws.send_json({"action": "unsubscribe", "topics": ["market.BTC/USDT.ticker"]})
    reply = await receive(ws)
    assert reply["error"]["details"] == {"market.BTC/USDT.ticker": "not subscribed"}
    await ws.close()


async def test_system_status_topic(engine, http):
    user = await engine.new_user()
    ws = await connect(http, engine.url, user)
    await ws.send_json({"action": "subscribe", "topics": ["system.status"]})
    await receive(ws)
    message = await receive_until(ws, lambda m: m.get("topic") == "system.status", timeout=5)
    assert message["data"]["event"] == "status"
    assert message["data"]["redis"] == {"status": "not_used", "connections": 0}
    await ws.close()


async def test_invalid_messages(engine, http):
    user = await engine.new_user()
    ws = await connect(http, engine.url, user)
    await ws.send_str("not json")
    assert (await receive(ws))["error"]["details"] == {"message": "invalid JSON"}
    await ws.send_json({"action": "dance"})
    assert (await receive(ws))["error"]["details"] == {"action": "unknown action"}
    await ws.send_bytes(b"\x00")
    assert (await receive(ws))["error"]["details"] == {"frame": "expected text"}
    await ws.close()


async def test_close_action(engine, http):
    user = await engine.new_user()
    ws = await connect(http, engine.url, user)
    await ws.send_json({"action": "close"})
    closing = await ws.receive(timeout=3)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert (closing.data, closing.extra) == (1000, "closed by client request")


async def test_ticker_sent_at_once_to_fast_client(engine, http):
    user = await engine.new_user()
    ws = await connect(http, engine.url, user)
    await ws.send_json({"action": "subscribe", "topics": ["market.BTC/USDT.ticker"]})
    await receive(ws)

    def burst():
        bus = engine.system.engine.bus
        for i in range(5):
            bus.publish(topics.ticker("binance", "BTC/USDT"), ticker(bid=40_000.0 + i))

    await engine.run(burst)
    assert [(await receive(ws))["data"]["bid"] for _ in range(5)] == [40_000.0, 40_001.0, 40_002.0, 40_003.0, 40_004.0]
    await ws.close()


async def test_ticker_conflated_for_client_behind(engine, http):
    url = await engine.start_app(app_options={"websocket_options": {"max_lag": 60.0}})
    user = await engine.new_user()
    ws = await connect(http, url, user)
    await ws.send_json({"action": "subscribe", "topics": ["market.BTC/USDT.ticker"]})
    await receive(ws)
    published = 60_000

    async def flood():
        # The client reads nothing meanwhile: once the socket buffers are full,
        # newer tickers replace the one waiting instead of queueing.
        bus = engine.system.engine.bus
        for batch in range(published // 1000):
            for i in range(1000):
                bus.publish(topics.ticker("binance", "BTC/USDT"), ticker(bid=float(batch * 1000 + i)))
            await asyncio.sleep(0.001)

    await engine.run(flood)
    received, last = 0, None
    while last != float(published - 1):
        last = (await receive(ws, timeout=10))["data"]["bid"]
        received += 1
    assert received < published
    await ws.close()


async def test_slow_client_disconnected(engine, http):
    url = await engine.start_app(app_options={"websocket_options": {"max_queue": 500, "max_lag": 0.5}})
    user = await engine.new_user()
    ws = await connect(http, url, user)
    await ws.send_json({"action": "subscribe", "topics": ["market.BTC/USDT.trades"]})
    assert (await receive(ws))["action"] == "subscribed"

    hub = next(s for s in engine._servers if s.url == url).app[STATE].hub

    async def flood():
        # The client reads nothing meanwhile, so its socket fills and its queue grows.
        bus = engine.system.engine.bus
        trade = TradeTick("binance", "BTC/USDT", TS, TS, 50_000.0, 0.1, "buy", 1)
        for _ in range(400):
            if hub.disconnected_slow:
                return hub.disconnected_slow
            for _ in range(500):
                bus.publish(topics.trades("binance", "BTC/USDT"), trade)
            await asyncio.sleep(0.005)
        return hub.disconnected_slow

    assert await engine.run(flood) == 1
    closing = None
    while True:
        message = await ws.receive(timeout=10)
        if message.type != aiohttp.WSMsgType.TEXT:
            closing = message
            break
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert closing.data == 1008
    assert closing.extra.startswith("client too slow")
