"""Frame to book: a recorded depth update from the socket to the updated book, and throughput.

The exchange emulator runs in a child process (its own core), replaying the
recorded Binance USD-M BTCUSDT ``depth@0ms`` stream (6,551 diff events and
its REST snapshot).  Two clients take the same stream in this process:

* ``feed``: the engine's feed actor (picows listener parsing depth frames
  in C) and book actor (compiled book), one actor hop between them;
* ``baseline``: a plain-Python client: aiohttp WebSocket, ``orjson.loads``,
  an ``asyncio.Queue`` hop to a task that keeps a dict book by the same
  sync rules.

Three measurements, each for both clients in the same run:

* in-process cost: every recorded frame handed to the client's frame
  handler as bytes (picows' ``WSFrame`` built from them; for the baseline
  the text), timed from before the handler to the book updated, with the
  actor hop (or the queue hop) included; no socket, so no wake-up time;
* socket latency: from the moment the client has the frame (the
  listener's receive stamp, or right after aiohttp's ``receive()``) to the
  book updated, at paced replays (``--speeds`` times the recorded pace).
  It includes the event loop's wake-up after idling between frames, which
  on this VM grows with the idle time (see the printed speeds);
* throughput: the client's socket is paused while the emulator writes the
  whole depth stream into the socket buffers, then resumed; depth updates
  per second from the resume to the last update applied, median of
  ``--rounds`` rounds (the emulator starts the tape ``START_DELAY`` after
  the subscription, so the REST snapshot precedes every diff).

    CRYPTOBOT_SAMPLE_DATA=../shared/data/real python benchmarks/frame_to_book.py [--rounds 5] [--speeds 40,200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

import aiohttp
import numpy as np
import orjson
import uvloop

from cryptobot.actors.book import BookActor
from cryptobot.actors.feed import FeedActor
from cryptobot.core.engine import Engine
from cryptobot.gateways.feeds.config import FeedConfig
from cryptobot.hotpath.depth_wire import DepthUpdate, now_ns

TAPE = "hftbacktest/usdm/btcusdt_20240808.gz"
START_DELAY = 0.5
UPDATES = 6_551
SYMBOL = "BTC/USDT"


# ---- the emulator process ----------------------------------------------------------

async def serve(pace: str, speed: float, start_delay: float) -> None:
    from cryptobot.gateways.emulator import ExchangeEmulator, VenueRecordings

    recordings = {"binance_usdm": VenueRecordings(tapes=((TAPE,),), reference="cryptofeed/BINANCE_FUTURES.0")}
    async with ExchangeEmulator(os.environ.get("CRYPTOBOT_SAMPLE_DATA"), venues=["binance_usdm"], recordings=recordings,
                                pace=pace, speed=speed, loop=True, start_delay=start_delay) as emulator:
        print(emulator.url("binance_usdm", "ws"), emulator.url("binance_usdm", "rest"), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def start_emulator(pace: str, speed: float, start_delay: float = 0.0) -> tuple[subprocess.Popen, str, str]:
    child = subprocess.Popen([sys.executable, __file__, "--serve", pace, str(speed), str(start_delay)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    ws_url, rest_url = child.stdout.readline().split()
    return child, ws_url, rest_url


# ---- the engine's feed -------------------------------------------------------------------

class TimedBook(BookActor):
    """A book actor that stamps every depth update it has applied."""

    def __init__(self, samples: np.ndarray, done: asyncio.Future, **kwargs):
        super().__init__("binance_usdm", SYMBOL, feed="feed.binance_usdm", **kwargs)
        self.samples = samples
        self.count = 0
        self.first_recv = 0
        self.done = done

    def on_message(self, message):
        super().on_message(message)
        if type(message) is DepthUpdate:
            now = now_ns()
            if self.count == 0:
                self.first_recv = message.ts_recv
            if self.count < len(self.samples):
                self.samples[self.count] = now - message.ts_recv
            self.count += 1
            if self.count >= len(self.samples) and not self.done.done():
                self.done.set_result(now)


async def run_feed(ws_url: str, rest_url: str, updates: int, burst: bool = False) -> tuple[np.ndarray, float]:
    engine = Engine()
    samples = np.zeros(updates, dtype=np.int64)
    done = engine.loop.create_future()
    book = TimedBook(samples, done)
    await engine.spawn(book)
    config = FeedConfig("binance_usdm", (SYMBOL,), ws_url=ws_url, rest_url=rest_url, streams=("depth",),
                        depth_speed="0ms")
    feed = FeedActor(config)
    await engine.spawn(feed)
    started = 0
    if burst:
        while feed.connection.link is None or feed.connection.link.transport is None:
            await asyncio.sleep(0.001)
        transport = feed.connection.link.transport.underlying_transport
        transport.pause_reading()
        await asyncio.sleep(START_DELAY + 1.0)
        started = now_ns()
        transport.resume_reading()
    finished = await asyncio.wait_for(done, 120)
    rate = updates / ((finished - (started or book.first_recv)) / 1e9)
    await engine.shutdown()
    return samples, rate


# ---- the plain-Python baseline ------------------------------------------------------------

async def run_baseline(ws_url: str, rest_url: str, updates: int, burst: bool = False) -> tuple[np.ndarray, float]:
    samples = np.zeros(updates, dtype=np.int64)
    queue: asyncio.Queue = asyncio.Queue()
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    state = {"last": -1, "count": 0, "first": 0, "end": 0}

    def apply(data: dict) -> None:
        for side, levels in ((bids, data["b"]), (asks, data["a"])):
            for price, quantity in levels:
                if float(quantity) == 0.0:
                    side.pop(float(price), None)
                else:
                    side[float(price)] = float(quantity)
        state["last"] = data["u"]

    async def consume(snapshot_ready: asyncio.Event) -> None:
        pending = []
        while state["count"] < updates:
            data, received = await queue.get()
            if not snapshot_ready.is_set():
                pending.append(data)
            else:
                for held in pending:
                    if held["u"] > state["last"]:
                        apply(held)
                pending.clear()
                if data["u"] > state["last"]:
                    apply(data)
            now = time.time_ns()
            if state["count"] == 0:
                state["first"] = received
            samples[state["count"]] = now - received
            state["count"] += 1
        state["end"] = time.time_ns()

    async with aiohttp.ClientSession() as session:
        snapshot_ready = asyncio.Event()
        consumer = asyncio.create_task(consume(snapshot_ready))
        async with session.ws_connect(f"{ws_url}/stream?streams=btcusdt@depth@0ms", max_msg_size=0) as ws:
            async with session.get(f"{rest_url}/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": "1000"}) as reply:
                body = orjson.loads(await reply.read())
            bids.update((float(p), float(q)) for p, q in body["bids"])
            asks.update((float(p), float(q)) for p, q in body["asks"])
            state["last"] = body["lastUpdateId"]
            snapshot_ready.set()
            if burst:
                transport = ws._conn.transport
                transport.pause_reading()
                await asyncio.sleep(START_DELAY + 1.0)
                state["resumed"] = time.time_ns()
                transport.resume_reading()
            while not consumer.done():
                message = await ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                received = time.time_ns()
                queue.put_nowait((orjson.loads(message.data)["data"], received))
        await consumer
    return samples, updates / ((state["end"] - state.get("resumed", state["first"])) / 1e9)


# ---- the comparison ------------------------------------------------------------------------

def percentiles(samples: np.ndarray) -> tuple[float, float]:
    p50, p99 = np.percentile(samples[samples > 0] / 1000.0, [50, 99])
    return float(p50), float(p99)


def in_process(sample_data: str) -> tuple[np.ndarray, np.ndarray]:
    """Time the recorded depth frames through each client's handler without a socket."""
    import gzip

    from picows.picows import WSMsgType, _make_test_ws_frame

    from cryptobot.gateways.feeds.messages import SnapshotReady
    from cryptobot.gateways.feeds.binance_rest import level_rows
    from cryptobot.hotpath.depth_wire import FrameListener

    frames, snapshot = [], None
    with gzip.open(os.path.join(sample_data, TAPE), "rt") as handle:
        for line in handle:
            text = line.partition(" ")[2].strip()
            if text.startswith('{"lastUpdateId"'):
                snapshot = orjson.loads(text)
            elif "@depth" in text[:40]:
                frames.append(text.encode())

    async def feed_side() -> np.ndarray:
        engine = Engine()
        samples = np.zeros(len(frames), dtype=np.int64)
        book = TimedBook(samples, engine.loop.create_future())
        book.feed = None
        ref = await engine.spawn(book)
        ref.tell(SnapshotReady(SYMBOL, snapshot["lastUpdateId"], level_rows(snapshot["bids"], 8, "b"),
                               level_rows(snapshot["asks"], 8, "a"), 8, 8, 1000, 0, 0))
        await engine._cells[ref.name].drained()
        from cryptobot.actors.feed import InlineDelivery
        listener = FrameListener(lambda *a: None, lambda *a: None, None, {b"BTCUSDT": InlineDelivery(ref)})
        built = [_make_test_ws_frame(WSMsgType.TEXT, frame, True, False) for frame in frames]
        for frame in built:
            listener.on_ws_frame(None, frame)
        await engine.shutdown()
        return samples

    async def baseline_side() -> np.ndarray:
        samples = np.zeros(len(frames), dtype=np.int64)
        queue: asyncio.Queue = asyncio.Queue()
        bids = {float(p): float(q) for p, q in snapshot["bids"]}
        asks = {float(p): float(q) for p, q in snapshot["asks"]}
        last = snapshot["lastUpdateId"]
        for i, frame in enumerate(frames):
            started = time.perf_counter_ns()
            queue.put_nowait(orjson.loads(frame)["data"])
            data = await queue.get()
            if data["u"] > last:
                for side, levels in ((bids, data["b"]), (asks, data["a"])):
                    for price, quantity in levels:
                        if float(quantity) == 0.0:
                            side.pop(float(price), None)
                        else:
                            side[float(price)] = float(quantity)
                last = data["u"]
            samples[i] = time.perf_counter_ns() - started
        return samples

    return uvloop.run(feed_side()), uvloop.run(baseline_side())


def report(name: str, feed: np.ndarray, base: np.ndarray) -> None:
    feed_p50, feed_p99 = percentiles(feed)
    base_p50, base_p99 = percentiles(base)
    print(name)
    print(f"  feed + book actor    p50 {feed_p50:7.2f} us   p99 {feed_p99:7.2f} us")
    print(f"  plain-Python client  p50 {base_p50:7.2f} us   p99 {base_p99:7.2f} us")
    print(f"  ratio feed/baseline  p50 {feed_p50 / base_p50:.2f}   p99 {feed_p99 / base_p99:.2f}")


async def measure(rounds: int, speeds: list[float]) -> None:
    for speed in speeds:
        child, ws_url, rest_url = start_emulator("recorded", speed)
        try:
            latency_updates = 1500
            feed_samples, _ = await run_feed(ws_url, rest_url, latency_updates)
            base_samples, _ = await run_baseline(ws_url, rest_url, latency_updates)
        finally:
            child.stdin.close()
            child.wait()
        report(f"socket latency, {latency_updates - 100} updates at {speed:g}x the recorded pace "
               f"(frame received -> book updated)", feed_samples[100:], base_samples[100:])

    # A fresh emulator per round: a looped tape is rewritten frame by frame, which is slower than the clients.
    feed_rates, base_rates = [], []
    for _ in range(rounds):
        for run, rates in ((run_feed, feed_rates), (run_baseline, base_rates)):
            child, ws_url, rest_url = start_emulator("fast", 1.0, START_DELAY)
            try:
                rates.append((await run(ws_url, rest_url, UPDATES, burst=True))[1])
            finally:
                child.stdin.close()
                child.wait()
    feed_rate, base_rate = float(np.median(feed_rates)), float(np.median(base_rates))
    print(f"throughput, {UPDATES} updates per round from full socket buffers, median of {rounds} rounds")
    print(f"  feed + book actor    {feed_rate:12,.0f} updates/s")
    print(f"  plain-Python client  {base_rate:12,.0f} updates/s")
    print(f"  ratio feed/baseline  {feed_rate / base_rate:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        uvloop.run(serve(sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds per client")
    parser.add_argument("--speeds", default="40,200", help="comma-separated replay speeds of the latency runs (x recorded pace)")
    arguments = parser.parse_args()
    feed_cost, base_cost = in_process(os.environ.get("CRYPTOBOT_SAMPLE_DATA", ""))
    report(f"in-process cost, {len(feed_cost)} recorded frames (bytes -> book updated, hop included)", feed_cost, base_cost)
    uvloop.run(measure(arguments.rounds, [float(v) for v in arguments.speeds.split(",")]))
