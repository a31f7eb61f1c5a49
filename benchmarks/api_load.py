"""Requests per second and latency of the API with authentication on, and WebSocket fan-out delay.

One process serves everything: a paper engine (embedded PostgreSQL and
ClickHouse in a temporary folder, the exchange emulator for instruments),
its API, and a bare aiohttp "hello" application as the baseline.  The rate
limits are raised so they never refuse, but every request still passes
through them, through authentication (an API key) and through the request
metrics.

HTTP: ``wrk`` (Debian package ``wrk``) runs in another process with one
thread and ``CONNECTIONS`` keep-alive connections, for ``SECONDS`` per
endpoint, and sends ``X-API-Key`` on every request.  It reports requests per
second and the latency percentiles.

WebSocket: 500 picows clients in another process authenticate, subscribe
to ``market.BTC/USDT.ticker`` and time each message from the moment the
server published its ticker (carried in the message's ``change`` field as
Unix seconds) to its arrival.  The server publishes 100 tickers per second.
The baseline is a bare aiohttp server that sends each message to its 500
sockets with ``send_str`` in one loop.

Run: ``python benchmarks/api_load.py`` with ``CRYPTOBOT_SAMPLE_DATA`` set.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import uvloop

CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CLIENTS = 500
UPDATES_PER_SECOND = 100
FANOUT_SECONDS = 10

WRK_SCRIPT = """
wrk.headers["X-API-Key"] = os.getenv("BENCH_API_KEY")
"""


# -- HTTP -------------------------------------------------------------------------------------


async def wrk(url: str, api_key: str, script: Path) -> dict[str, float]:
    """Run wrk against ``url``; return requests per second and latency percentiles in ms."""
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", "-s", str(script), url,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "BENCH_API_KEY": api_key})
    output = (await process.communicate())[0].decode()
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for percentile in ("50", "90", "99"):
        value, unit = re.search(rf"\s{percentile}%\s+([\d.]+)(us|ms|s)", output).groups()
        result[f"p{percentile}"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = int(errors.group(1)) if errors else 0
    return result


async def bare_hello_server():
    from aiohttp import web

    async def hello(request):
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"


# -- WebSocket fan-out -------------------------------------------------------------------------


def fanout_clients(url: str, api_key: str, clients: int, seconds: float) -> str:
    """Connect ``clients`` picows clients, measure for ``seconds``; return 'count p50 p99 max' (ms)."""
    from picows import WSListener, WSMsgType, ws_connect

    import orjson

    delays: list[float] = []
    measuring = [False]

    class Client(WSListener):
        def __init__(self) -> None:
            self.ready = asyncio.get_running_loop().create_future()

        def on_ws_connected(self, transport) -> None:
            if api_key:
                transport.send(WSMsgType.TEXT, orjson.dumps({"action": "authenticate", "api_key": api_key}))
            transport.send(WSMsgType.TEXT, orjson.dumps({"action": "subscribe", "topics": ["market.BTC/USDT.ticker"]}))

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type != WSMsgType.TEXT:
                return
            now = time.time()
            message = orjson.loads(frame.get_payload_as_bytes())
            if message.get("action") == "subscribed" and not self.ready.done():
                self.ready.set_result(True)
            data = message.get("data")
            if data is not None and "change" in data:
                if not self.ready.done():
                    self.ready.set_result(True)
                if measuring[0]:
                    delays.append((now - data["change"]) * 1000)

    async def main() -> str:
        connections = []
        for _ in range(clients):
            transport, listener = await ws_connect(Client, url)
            connections.append((transport, listener))
        await asyncio.gather(*(listener.ready for _, listener in connections))
        measuring[0] = True
        await asyncio.sleep(seconds)
        measuring[0] = False
        for transport, _ in connections:
            transport.disconnect()
        delays.sort()
        count = len(delays)
        return f"{count} {delays[count // 2]:.3f} {delays[int(count * 0.99)]:.3f} {delays[-1]:.3f}"

    return uvloop.run(main())


async def run_clients(url: str, api_key: str) -> dict[str, float]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--clients", url, api_key or "-", str(CLIENTS), str(FANOUT_SECONDS),
        stdout=asyncio.subprocess.PIPE)
    output = (await process.communicate())[0].decode().split()
    count, p50, p99, worst = output
    return {"messages": int(count), "p50": float(p50), "p99": float(p99), "max": float(worst)}


async def publish_tickers(bus, stop: asyncio.Event) -> None:
    from cryptobot.core import topics
    from cryptobot.core.types import Ticker

    topic = topics.ticker("binance", "BTC/USDT")
    interval = 1 / UPDATES_PER_SECOND
    next_at = time.perf_counter()
    while not stop.is_set():
        now = time.time()
        bus.publish(topic, Ticker("binance", "BTC/USDT", time.time_ns(), 50_000.0, 50_010.0, 50_005.0, 1.0, now, 0.0))
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))


async def bare_fanout_server():
    """Start the baseline: an aiohttp server sending each message to every socket with send_str, one after another."""
    from aiohttp import WSMsgType, web

    sockets: list[web.WebSocketResponse] = []

    async def handler(request):
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT and '"subscribe"' in message.data:
                sockets.append(ws)
                await ws.send_str('{"action": "subscribed"}')
        return ws

    async def broadcast(stop: asyncio.Event) -> None:
        import orjson

        interval = 1 / UPDATES_PER_SECOND
        next_at = time.perf_counter()
        while not stop.is_set():
            text = orjson.dumps({"topic": "market.BTC/USDT.ticker", "data": {"change": time.time()}}).decode()
            for ws in list(sockets):
                if ws.closed:
                    sockets.remove(ws)
                    continue
                try:
                    await ws.send_str(text)
                except ConnectionError:
                    sockets.remove(ws)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"ws://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/ws", broadcast


# -- the run -------------------------------------------------------------------------------------


async def start_engine(folder: Path):
    from cryptobot.actors.system import TradingSystem
    from cryptobot.api.server import start_api
    from cryptobot.core.config import load_settings
    from cryptobot.core.types import Ticker
    from cryptobot.tests.api.support import StandInBook

    settings = load_settings(
        environ={}, data_dir=str(folder), engine_market_data="emulator",
        sample_data=os.environ.get("CRYPTOBOT_SAMPLE_DATA", "../shared/data/real"),
        auth_jwt_secret=secrets.token_urlsafe(48), auth_admin_password=secrets.token_urlsafe(24),
        api_port=0, api_rate_limit_ip_per_minute=10**9, api_rate_limit_key_per_hour=10**9, log_level="WARNING")
    system = TradingSystem(settings)
    await system.start()
    server = await start_api(system, settings)
    ticker = Ticker("binance", "BTC/USDT", time.time_ns(), 50_000.0, 50_010.0, 50_005.0, 1000.5, 2.5, 0.05)
    await system.engine.spawn(StandInBook("binance", "BTC/USDT", [[50_000.0, 1.0]], [[50_010.0, 1.0]], ticker))
    user = await system.db.users.create("bench-reader", secrets.token_urlsafe(16), ("user",))
    issued = await system.db.api_keys.create(user.id, description="benchmark", permissions=("read",))
    return system, server, issued.key


async def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install the Debian package 'wrk'")
    folder = Path(tempfile.mkdtemp(prefix="cryptobot-bench-api-"))
    script = folder / "auth.lua"
    script.write_text(WRK_SCRIPT)
    system, server, api_key = await start_engine(folder)
    bare_runner, bare_url = await bare_hello_server()
    try:
        http = {
            "bare aiohttp hello": await wrk(bare_url, api_key, script),
            "GET /system/status": await wrk(f"{server.url}/api/v1/system/status", api_key, script),
            "GET /data/ticker": await wrk(f"{server.url}/api/v1/data/ticker/binance/BTC/USDT", api_key, script),
        }
        base = http["bare aiohttp hello"]["rps"]
        print(f"HTTP: wrk -t1 -c{CONNECTIONS} -d{SECONDS}s, API key on every request")
        for name, r in http.items():
            print(f"  {name:20} {r['rps']:9,.0f} req/s (x{r['rps'] / base:.2f} of bare)  p50 {r['p50']:.2f} ms  "
                  f"p90 {r['p90']:.2f} ms  p99 {r['p99']:.2f} ms  non-2xx {r['non_2xx']}")

        stop = asyncio.Event()
        publisher = asyncio.get_running_loop().create_task(publish_tickers(system.engine.bus, stop))
        api_fanout = await run_clients(f"{server.url.replace('http', 'ws')}/ws", api_key)
        stop.set()
        await publisher
        fanout_runner, fanout_url, broadcast = await bare_fanout_server()
        stop = asyncio.Event()
        broadcaster = asyncio.get_running_loop().create_task(broadcast(stop))
        bare_fanout = await run_clients(fanout_url, "")
        stop.set()
        await broadcaster
        await fanout_runner.cleanup()
        print(f"WebSocket: {CLIENTS} clients, {UPDATES_PER_SECOND} tickers/s, {FANOUT_SECONDS} s, delay publish -> arrival")
        for name, r in (("API /ws hub", api_fanout), ("bare aiohttp send_str loop", bare_fanout)):
            print(f"  {name:27} {r['messages']:8,} messages  p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  "
                  f"max {r['max']:.2f} ms")
    finally:
        await bare_runner.cleanup()
        await server.stop()
        await system.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--clients":
        key = "" if sys.argv[3] == "-" else sys.argv[3]
        print(fanout_clients(sys.argv[2], key, int(sys.argv[4]), float(sys.argv[5])))
    else:
        uvloop.run(main())
