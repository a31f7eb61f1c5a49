"""System status, metrics, the kill switch state and the Prometheus page."""

from __future__ import annotations

import asyncio
import os
import re

from cryptobot import __version__

V1 = "/api/v1"


async def call(engine, http, path, headers):
    async with http.get(f"{engine.url}{path}", headers=headers) as response:
        return response.status, await response.read(), response.headers


async def get_json(engine, http, path, headers):
    async with http.get(f"{engine.url}{path}", headers=headers) as response:
        return response.status, await response.json()


async def test_status_fields(engine, http):
    user = await engine.new_user(roles=("user",))
    await asyncio.sleep(1.1)  # past the one-second cache of earlier reports
    status, body = await get_json(engine, http, f"{V1}/system/status", user.key())
    assert status == 200
    assert body["version"] == __version__
    assert body["uptime"] >= 1
    assert set(body["services"]) == {"auth", "strategy", "data", "trade", "backtest"}
    assert body["services"]["trade"]["status"] == "healthy"
    # The engine runs its backtest service (worker processes), so backtesting is healthy.
    assert body["services"]["backtest"]["status"] == "healthy"
    assert body["database"]["status"] == "healthy"
    pool_size = await engine.run(lambda: engine.system.db.pool.get_size())
    assert 1 <= body["database"]["connections"] <= pool_size + 1
    assert body["clickhouse"]["status"] == "healthy"
    assert body["redis"] == {"status": "not_used", "connections": 0}
    assert body["market_data"] == {"source": "none", "exchange": "binance", "symbols": ["BTC/USDT"]}
    feed_running = await engine.run(lambda: engine.system.engine.has_actor("feed.binance"))
    if not feed_running:
        # Without a feed actor the exchange counts as disconnected.
        assert body["exchanges"] == {"binance": {"status": "disconnected", "latency": None}}
    all_up = all(s["status"] == "healthy" for s in body["services"].values()) and \
        all(e["status"] == "connected" for e in body["exchanges"].values())
    assert body["status"] == ("healthy" if all_up else "degraded")
    assert body["mode"] == "paper"


async def test_metrics_counts(engine, http, admin):
    user = await engine.new_user()
    counts = await engine.run(lambda: engine.system.db.strategies.counts())
    backtests = await engine.run(lambda: engine.system.db.backtests.counts())
    await asyncio.sleep(1.1)
    status, body = await get_json(engine, http, f"{V1}/system/metrics", user.key())
    assert status == 200
    assert body["strategies"] == counts
    rss_mb = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    assert abs(body["memory_usage"] - rss_mb) / rss_mb < 0.2  # the engine runs in this process
    assert body["backtests"] == backtests
    counters = await engine.run(lambda: dict(engine.system.counters))
    assert body["trades"]["success"] <= counters["trades_total"]
    assert body["trades"]["total"] == body["trades"]["success"] + body["trades"]["error"]
    actors = {a["name"]: a for a in body["actors"]}
    assert {"risk", "execution", "portfolio", "recorder"} <= set(actors)
    # The risk actor received at least the instruments of the engine's exchange at start-up.
    assert actors["risk"]["messages_in"] >= 1
    assert actors["risk"]["state"] == "running"
    assert actors["risk"]["handling_p99_us"] >= actors["risk"]["handling_p50_us"] >= 0


async def test_metrics_count_requests(engine, http):
    user = await engine.new_user()
    await asyncio.sleep(1.1)
    _, before = await get_json(engine, http, f"{V1}/system/metrics", user.key())
    for _ in range(5):
        await get_json(engine, http, f"{V1}/no/such/path", user.key())
    await asyncio.sleep(1.1)
    _, after = await get_json(engine, http, f"{V1}/system/metrics", user.key())
    # The five 404s and the first metrics request itself; nothing else calls this engine meanwhile.
    assert after["requests"]["total"] - before["requests"]["total"] == 6
    assert after["requests"]["error"] - before["requests"]["error"] == 5


async def test_kill_switch_state(engine, http):
    user = await engine.new_user(roles=("user",))
    status, body = await get_json(engine, http, f"{V1}/system/kill-switch", user.key())
    assert status == 200
    assert body["engaged"] is False


async def test_prometheus_page(engine, http):
    user = await engine.new_user()
    status, raw, headers = await call(engine, http, "/metrics", user.key())
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = raw.decode()
    samples = dict(re.findall(r"^(cryptobot_[a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.M))
    assert samples["cryptobot_clickhouse_up"] == "1"
    feed_running = await engine.run(lambda: engine.system.engine.has_actor("feed.binance"))
    if not feed_running:
        assert samples['cryptobot_exchange_connected{exchange="binance"}'] == "0"
    assert samples['cryptobot_service_up{service="backtest"}'] == "1"
    assert "# TYPE cryptobot_http_requests_total counter" in text
    assert float(samples['cryptobot_http_requests_total{outcome="success"}']) >= 1


async def test_prometheus_needs_credentials(engine, http):
    status, _, headers = await call(engine, http, "/metrics", {})
    assert status == 401
    assert "X-RateLimit-Limit" in headers
