"""``cryptobot run`` as a user starts it: a real process on its embedded defaults, driven over HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import pytest

V1 = "/api/v1"
PASSWORD_LINE = re.compile(r"^\s{4}(\S{20,})\s*$", re.M)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Engine:
    """One ``cryptobot run`` process and its output file."""

    def __init__(self, data_dir, sample_data, port):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = data_dir.parent / f"run-{time.monotonic_ns()}.log"
        env = dict(os.environ, CRYPTOBOT_DATA_DIR=str(data_dir), CRYPTOBOT_SAMPLE_DATA=str(sample_data),
                   CRYPTOBOT_API_PORT=str(port), CRYPTOBOT_ENGINE_EMULATOR_SPEED="20", CRYPTOBOT_ENGINE_MARKET_DATA="emulator")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([sys.executable, "-m", "cryptobot", "run"], env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text()

    async def wait_ready(self, http, timeout=90.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"cryptobot run exited early:\n{self.output()}"
            try:
                async with http.get(f"{self.url}{V1}/system/status") as response:
                    if response.status == 401:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.3)
        raise AssertionError(f"cryptobot run did not answer within {timeout} s:\n{self.output()}")

    def stop(self, timeout=60.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.log.close()


async def call(http, method, url, headers=None, body=None):
    async with http.request(method, url, headers=headers, json=body) as response:
        return response.status, await response.json()


async def poll(check, timeout=60.0, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(interval)


@pytest.mark.slow
async def test_run_serves_trades_and_survives_restart(tmp_path, sample_data):
    data_dir = tmp_path / "data"
    port = free_port()
    engine = Engine(data_dir, sample_data, port)
    async with aiohttp.ClientSession() as http:
        try:
            await engine.wait_ready(http)
            [password] = PASSWORD_LINE.findall(engine.output())
            status, tokens = await call(http, "POST", f"{engine.url}{V1}/auth/token",
                                        body={"username": "admin", "password": password})
            assert status == 200
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            status, issued = await call(http, "POST", f"{engine.url}{V1}/api-keys", bearer,
                                        {"description": "e2e", "exchange": "binance", "is_test": False, "expiry_days": 30})
            assert status == 201
            key = {"X-API-Key": issued["key"]}

            # The first start created and started a paper mean_reversion strategy; add another one.
            status, created = await call(http, "POST", f"{engine.url}{V1}/strategies", key, {
                "name": "Momentum", "description": "e2e", "exchange": "binance", "symbol": "BTC/USDT",
                "timeframe": "1m", "strategy_type": "momentum", "parameters": {"fast_period": 3, "slow_period": 5}})
            assert status == 201
            status, started = await call(http, "POST", f"{engine.url}{V1}/strategies/{created['id']}/start", key,
                                         {"capital_allocation": 1000.0, "max_positions": 1})
            assert (status, started["status"]) == (200, "active")

            # Ticker and trade messages arrive on the WebSocket.
            async with http.ws_connect(f"{engine.url}/ws") as ws:
                await ws.send_json({"action": "authenticate", "api_key": issued["key"]})
                await ws.send_json({"action": "subscribe", "topics": ["market.BTC/USDT.ticker", "market.BTC/USDT.trades"]})
                seen: set[str] = set()
                deadline = time.monotonic() + 30
                while seen != {"market.BTC/USDT.ticker", "market.BTC/USDT.trades"} and time.monotonic() < deadline:
                    message = await ws.receive_json(timeout=30)
                    if message.get("topic", "").startswith("market."):
                        assert message["data"]["symbol"] == "BTC/USDT"
                        seen.add(message["topic"])
                assert seen == {"market.BTC/USDT.ticker", "market.BTC/USDT.trades"}

            # Ticks reach ClickHouse: candles built from recorded trades come back.
            async def candles():
                status, body = await call(http, "GET", f"{engine.url}{V1}/data/market/binance/BTC/USDT?timeframe=1m", key)
                return status == 200 and len(body["data"]) > 0 and body
            body = await poll(candles)
            assert body, "no candle from the recorded trades reached the API"
            first = body["data"][0]
            assert first["low"] <= first["open"] <= first["high"] and first["volume"] > 0

            # An order and a position appear through REST.
            status, order = await call(http, "POST", f"{engine.url}{V1}/trade/execute", key, {
                "exchange": "binance", "symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": 0.001})
            assert status == 201, order

            async def filled():
                _, current = await call(http, "GET", f"{engine.url}{V1}/trade/order/{order['order_id']}", key)
                return current["status"] == "filled" and current
            current = await poll(filled)
            assert current and current["filled"] == 0.001
            _, positions = await call(http, "GET", f"{engine.url}{V1}/portfolio/positions", key)
            assert any(p["symbol"] == "BTC/USDT" and p["side"] == "long" for p in positions["data"])
        finally:
            code = engine.stop()
        assert code == 0, engine.output()
        assert password not in engine.output().split(password, 1)[1], "the password was printed more than once"

        # A restart finds everything where it was.
        again = Engine(data_dir, sample_data, port)
        try:
            await again.wait_ready(http)
            assert not PASSWORD_LINE.findall(again.output()), "a restart must not print a password"
            _, strategies = await call(http, "GET", f"{again.url}{V1}/strategies?status=active", key)
            assert {s["strategy_type"] for s in strategies["data"]} == {"mean_reversion", "momentum"}
            _, history = await call(http, "GET", f"{again.url}{V1}/trade/orders/history", key)
            assert order["order_id"] in {o["order_id"] for o in history["data"]}
            _, positions = await call(http, "GET", f"{again.url}{V1}/portfolio/positions", key)
            assert any(p["symbol"] == "BTC/USDT" for p in positions["data"])
        finally:
            code = again.stop()
        assert code == 0, again.output()
