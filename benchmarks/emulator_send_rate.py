"""Frames per second the exchange emulator sends to one client on loopback, against baselines.

Every server sends the same frames: the 99,573 recorded Binance spot BTCUSDT
combined-stream messages.  The receiver runs in a separate process (a picows
client that counts frames), so the server and the client each get a core.
The rate is frames divided by the time from the first to the last frame
received.

* ``emulator``: ``ExchangeEmulator`` in fast mode (frames pre-framed once,
  written to the transport directly);
* ``picows_send``: a picows server calling ``WSTransport.send`` per frame
  (on picows' default transport);
* ``aiohttp_send_str``: an aiohttp server awaiting ``send_str`` per frame.

Run: ``python benchmarks/emulator_send_rate.py [rounds]`` with
``CRYPTOBOT_SAMPLE_DATA`` set.  ``bench_emulator.py`` runs the same
measurement under pytest-benchmark.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import uvloop

SPOT_FILES = ("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz")
STREAMS = "btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@trade"


def receive(url: str, count: int) -> float:
    """Connect to ``url``, count ``count`` text frames; return seconds from the first to the last."""
    from picows import WSListener, WSMsgType, ws_connect

    async def main() -> float:
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        class Counter(WSListener):
            received = 0
            first = 0.0

            def on_ws_frame(self, transport, frame) -> None:
                if frame.msg_type != WSMsgType.TEXT:
                    return
                if self.received == 0:
                    self.first = time.perf_counter()
                self.received += 1
                if self.received == count and not done.done():
                    done.set_result(time.perf_counter() - self.first)

        transport, _ = await ws_connect(Counter, url)
        elapsed = await asyncio.wait_for(done, 120)
        transport.disconnect()
        return elapsed

    return uvloop.run(main())


async def _measure(url: str, count: int) -> tuple[float, float]:
    """Run the receiver in another process on ``url``; return (frames per second, frames per server CPU second).

    The second figure divides by the CPU time this (server) process used
    while the receiver ran, so it holds on a machine shared with other work.
    """
    cpu_started = time.process_time()
    process = await asyncio.create_subprocess_exec(sys.executable, __file__, "--receive", url, str(count),
                                                   stdout=asyncio.subprocess.PIPE)
    output, _ = await process.communicate()
    cpu = time.process_time() - cpu_started
    if process.returncode != 0:
        raise RuntimeError(f"receiver failed with exit status {process.returncode}")
    elapsed = float(output.decode().strip())
    return count / elapsed, count / cpu


async def rate_emulator(data_dir: Path) -> tuple[float, float]:
    from cryptobot.gateways.emulator import ExchangeEmulator, VenueRecordings

    recordings = {"binance": VenueRecordings(tapes=(SPOT_FILES,), reference="cryptofeed/BINANCE.0")}
    async with ExchangeEmulator(data_dir, venues=["binance"], recordings=recordings, pace="fast") as emulator:
        frames = len(emulator.venue("binance").tapes[0].frames)
        return await _measure(f"{emulator.url('binance')}/stream?streams={STREAMS}", frames)


def _payloads(data_dir: Path) -> list[bytes]:
    from cryptobot.gateways.emulator.config import load_tape

    return [frame.text.encode() for frame in load_tape(data_dir, SPOT_FILES).frames]


async def rate_picows_send(data_dir: Path) -> tuple[float, float]:
    from picows import WSListener, WSMsgType, ws_create_server

    payloads = _payloads(data_dir)

    class Sender(WSListener):
        def __init__(self) -> None:
            self.writable = asyncio.Event()
            self.writable.set()

        def on_ws_connected(self, transport) -> None:
            asyncio.get_running_loop().create_task(self.blast(transport))

        def pause_writing(self) -> None:
            self.writable.clear()

        def resume_writing(self) -> None:
            self.writable.set()

        async def blast(self, transport) -> None:
            for index, payload in enumerate(payloads):
                transport.send(WSMsgType.TEXT, payload)
                if not self.writable.is_set() or index % 512 == 0:
                    await self.writable.wait()

    # picows' default transport: on uvloop's own transport, WSTransport.send corrupted
    # frames once the socket buffer filled (picows 2.3).
    server = await ws_create_server(lambda request: Sender(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await _measure(f"ws://127.0.0.1:{port}/", len(payloads))
    finally:
        server.close()


async def rate_aiohttp_send_str(data_dir: Path) -> tuple[float, float]:
    from aiohttp import web

    texts = [payload.decode() for payload in _payloads(data_dir)]

    async def handler(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        for text in texts:
            await socket.send_str(text)
        await socket.receive()
        return socket

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        return await _measure(f"ws://127.0.0.1:{port}/", len(texts))
    finally:
        await runner.cleanup()


SERVERS = {"emulator": rate_emulator, "picows_send": rate_picows_send, "aiohttp_send_str": rate_aiohttp_send_str}


def measure_all(data_dir: Path, rounds: int) -> dict[str, tuple[float, float]]:
    """Best (wall-clock rate, CPU rate) of each server over ``rounds`` rounds."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        for name, measure in SERVERS.items():
            wall, cpu = uvloop.run(measure(data_dir))
            old_wall, old_cpu = best.get(name, (0.0, 0.0))
            best[name] = (max(wall, old_wall), max(cpu, old_cpu))
    return best


def main(rounds: int = 3) -> None:
    data_dir = Path(os.environ.get("CRYPTOBOT_SAMPLE_DATA", "../shared/data/real"))
    best = measure_all(data_dir, rounds)
    base_wall, base_cpu = best["picows_send"]
    for name, (wall, cpu) in best.items():
        print(f"{name:18} {wall:10,.0f} frames/s (x{wall / base_wall:.2f})   "
              f"{cpu:10,.0f} frames per server CPU second (x{cpu / base_cpu:.2f})   ratios vs picows_send")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--receive":
        print(receive(sys.argv[2], int(sys.argv[3])))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
