"""Tick to order: a recorded depth frame on the socket to the order handed to the exchange gateway.

The exchange emulator runs in a child process, replaying the recorded
Binance USD-M BTCUSDT ``depth@0ms`` stream at a multiple of its recorded
pace.  Two pipelines take the same stream in this process, one after the
other:

* ``engine``: feed actor (C-level picows listener) -> book actor (compiled
  book) -> strategy actor (a strategy that sends a market order on every
  book update) -> risk actor (every pre-trade check, Decimal rounding to the
  exchange filters) -> execution actor -> the simulated exchange's
  ``submit_now``, where the time is taken;
* ``baseline``: aiohttp WebSocket client, ``orjson``, a dict book, a
  pure-Python moving average, and ``asyncio.Queue`` hops between a book,
  a strategy, a risk and an execution task doing the same steps.

Each sample is the time from the frame's receive stamp to the hand-off.
``--in-process`` instead hands every recorded frame to the engine's
listener as bytes, without a socket, and times the whole call: the CPU
cost of the chain, free of the event loop's wake-up between frames.

    CRYPTOBOT_SAMPLE_DATA=../shared/data/real python benchmarks/tick_to_order.py [--speed 40] [--orders 3000] [--in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import ROUND_FLOOR, Decimal

import aiohttp
import numpy as np
import orjson
import uvloop

from cryptobot.actors.execution import ExecutionActor
from cryptobot.actors.feed import spawn_market_data
from cryptobot.actors.risk import RiskActor
from cryptobot.actors.risk_checks import RiskLimits
from cryptobot.actors.strategies import STRATEGY_TYPES, Strategy, StrategyConfig
from cryptobot.actors.strategy_actor import StrategyActor
from cryptobot.benchmarks.frame_to_book import start_emulator
from cryptobot.core import topics
from cryptobot.core.engine import Engine
from cryptobot.core.messages import InstrumentsUpdate
from cryptobot.gateways.feeds.config import FeedConfig
from cryptobot.gateways.instruments import fetch_instruments
from cryptobot.gateways.sim_account import SimulatedAccount
from cryptobot.gateways.simulated import SimulatedExchange
from cryptobot.hotpath.depth_wire import now_ns

EXCHANGE = "binance_usdm"
SYMBOL = "BTC/USDT"
QUANTITY = Decimal("0.001")


class EveryTick(Strategy):
    """Sends a market order, alternately buy and sell, on every book update."""

    type_name = "every_tick"

    def __init__(self, config, emit, clock, counters=None):
        super().__init__(config, emit, clock, counters)
        self.flip = False

    def on_book(self, top) -> None:
        if not self.book_ready:
            return
        self.flip = not self.flip
        # The order's reason carries the frame's receive stamp to the gateway
        # (the order may reach it before ``emit`` returns).
        self.emit("buy" if self.flip else "sell", QUANTITY, str(top.ts_recv))


class TimedExchange(SimulatedExchange):
    """The simulated exchange, stamping each order as it is handed over (and not filling it)."""

    def __init__(self, instruments, samples: np.ndarray, done: asyncio.Future):
        super().__init__(EXCHANGE, instruments, SimulatedAccount({"USDT": Decimal(10**9)}))
        self.samples = samples
        self.count = 0
        self.done = done

    def submit_now(self, order) -> None:
        now = now_ns()
        if self.count < len(self.samples):
            self.samples[self.count] = now - int(order.tags["reason"])
            self.count += 1
        elif not self.done.done():
            self.done.set_result(None)


async def run_engine(ws_url: str, rest_url: str, orders: int) -> np.ndarray:
    STRATEGY_TYPES[EveryTick.type_name] = EveryTick
    engine = Engine()
    samples = np.zeros(orders, dtype=np.int64)
    done = engine.loop.create_future()
    instruments = await fetch_instruments(EXCHANGE, rest_url)
    limits = RiskLimits(price_band_percent=None, orders_per_second=None)
    risk = await engine.spawn(RiskActor("execution", limits, engine_orders_per_second=None))
    await engine.spawn(ExecutionActor({EXCHANGE: TimedExchange(instruments, samples, done)}, None, ["risk"]))
    risk.tell(InstrumentsUpdate(EXCHANGE, instruments))
    engine.bus.subscribe(topics.book(EXCHANGE, SYMBOL), risk.tell)
    engine.bus.subscribe(topics.book_status(EXCHANGE, SYMBOL), risk.tell)
    config = StrategyConfig("strategy_01jbenchmark0000000000000", "every_tick", EXCHANGE, SYMBOL, "1m", {})
    await engine.spawn(StrategyActor(config, "risk", "execution"))
    feed = FeedConfig(EXCHANGE, (SYMBOL,), ws_url=ws_url, rest_url=rest_url, streams=("depth",), depth_speed="0ms")
    await spawn_market_data(engine, feed)
    await asyncio.wait_for(done, 300)
    await engine.shutdown()
    return samples


async def run_baseline(ws_url: str, rest_url: str, orders: int) -> np.ndarray:
    samples = np.zeros(orders, dtype=np.int64)
    book_queue: asyncio.Queue = asyncio.Queue()
    strategy_queue: asyncio.Queue = asyncio.Queue()
    risk_queue: asyncio.Queue = asyncio.Queue()
    execution_queue: asyncio.Queue = asyncio.Queue()
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    tick, step = Decimal("0.01"), Decimal("0.001")

    async def book_task() -> None:
        while True:
            data, received = await book_queue.get()
            for side, levels in ((bids, data["b"]), (asks, data["a"])):
                for price, quantity in levels:
                    if float(quantity) == 0.0:
                        side.pop(float(price), None)
                    else:
                        side[float(price)] = float(quantity)
            if bids and asks:
                strategy_queue.put_nowait((max(bids), min(asks), received))

    async def strategy_task() -> None:
        window: list[float] = []
        flip = False
        while True:
            bid, ask, received = await strategy_queue.get()
            window.append((bid + ask) / 2)
            del window[:-20]
            sum(window) / len(window)
            flip = not flip
            risk_queue.put_nowait(({"side": "buy" if flip else "sell", "quantity": QUANTITY, "mid": (bid + ask) / 2}, received))

    async def risk_task() -> None:
        while True:
            intent, received = await risk_queue.get()
            quantity = (intent["quantity"] / step).to_integral_value(rounding=ROUND_FLOOR) * step
            mid = Decimal(repr(intent["mid"])).quantize(tick)
            if quantity > 0 and quantity * mid > 5:
                execution_queue.put_nowait(({**intent, "quantity": quantity}, received))

    count = 0
    finished = asyncio.get_running_loop().create_future()

    async def execution_task() -> None:
        nonlocal count
        while True:
            _, received = await execution_queue.get()
            if count < orders:
                samples[count] = time.time_ns() - received
                count += 1
            elif not finished.done():
                finished.set_result(None)

    tasks = [asyncio.create_task(t()) for t in (book_task, strategy_task, risk_task, execution_task)]
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{ws_url}/stream?streams=btcusdt@depth@0ms", max_msg_size=0) as ws:
            async with session.get(f"{rest_url}/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": "1000"}) as reply:
                body = orjson.loads(await reply.read())
            bids.update((float(p), float(q)) for p, q in body["bids"])
            asks.update((float(p), float(q)) for p, q in body["asks"])
            while not finished.done():
                message = await ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                received = time.time_ns()
                data = orjson.loads(message.data)["data"]
                if data.get("u", 0) > body["lastUpdateId"]:
                    book_queue.put_nowait((data, received))
    for task in tasks:
        task.cancel()
    return samples


async def run_in_process(sample_data: str) -> np.ndarray:
    """Time each recorded depth frame through listener, book, strategy, risk and execution, in one call."""
    import gzip
    import os

    from picows.picows import WSMsgType, _make_test_ws_frame

    from cryptobot.actors.book import BookActor
    from cryptobot.actors.feed import InlineDelivery
    from cryptobot.gateways.feeds.binance_rest import level_rows
    from cryptobot.gateways.feeds.messages import SnapshotReady
    from cryptobot.gateways.instruments import parse_reference
    from cryptobot.hotpath.depth_wire import FrameListener

    frames, snapshot = [], None
    with gzip.open(os.path.join(sample_data, "hftbacktest/usdm/btcusdt_20240808.gz"), "rt") as handle:
        for line in handle:
            text = line.partition(" ")[2].strip()
            if text.startswith('{"lastUpdateId"'):
                snapshot = orjson.loads(text)
            elif "@depth" in text[:40]:
                frames.append(text.encode())
    reference = open(os.path.join(sample_data, "cryptofeed/BINANCE_FUTURES.0")).read().split("\n")[0]
    instruments = parse_reference(EXCHANGE, orjson.loads(reference.split(": ", 1)[1]))

    STRATEGY_TYPES[EveryTick.type_name] = EveryTick
    engine = Engine()
    exchange = TimedExchange(instruments, np.zeros(len(frames), dtype=np.int64), engine.loop.create_future())
    limits = RiskLimits(price_band_percent=None, orders_per_second=None)
    risk = await engine.spawn(RiskActor("execution", limits, engine_orders_per_second=None))
    await engine.spawn(ExecutionActor({EXCHANGE: exchange}, None, ["risk"]))
    risk.tell(InstrumentsUpdate(EXCHANGE, instruments))
    engine.bus.subscribe(topics.book(EXCHANGE, SYMBOL), risk.deliver)
    engine.bus.subscribe(topics.book_status(EXCHANGE, SYMBOL), risk.deliver)
    config = StrategyConfig("strategy_01jbenchmark0000000000000", "every_tick", EXCHANGE, SYMBOL, "1m", {})
    await engine.spawn(StrategyActor(config, "risk", "execution"))
    book = await engine.spawn(BookActor(EXCHANGE, SYMBOL))
    book.tell(SnapshotReady(SYMBOL, snapshot["lastUpdateId"], level_rows(snapshot["bids"], 8, "b"),
                            level_rows(snapshot["asks"], 8, "a"), 8, 8, 1000, 0, 0))
    for cell in list(engine._cells.values()):
        await cell.drained()
    listener = FrameListener(lambda *a: None, lambda *a: None, None, {b"BTCUSDT": InlineDelivery(book)})
    built = [_make_test_ws_frame(WSMsgType.TEXT, frame, True, False) for frame in frames]
    samples = np.zeros(len(built), dtype=np.int64)
    for i, frame in enumerate(built):
        started = time.perf_counter_ns()
        listener.on_ws_frame(None, frame)
        samples[i] = time.perf_counter_ns() - started
    print(f"in process: {len(built)} recorded frames, {exchange.count} orders handed over")
    await engine.shutdown()
    return samples


def summarize(name: str, samples: np.ndarray, warmup: int) -> tuple[float, float]:
    kept = samples[warmup:][samples[warmup:] > 0] / 1000.0
    p50, p99 = np.percentile(kept, [50, 99])
    print(f"  {name:38} p50 {p50:8.2f} us   p99 {p99:8.2f} us   n={len(kept)}")
    return float(p50), float(p99)


async def main(speed: float, orders: int) -> None:
    results = {}
    for name, run in (("engine (feed, book, strategy, risk, execution)", run_engine),
                      ("plain-Python pipeline (asyncio.Queue hops)", run_baseline)):
        child, ws_url, rest_url = start_emulator("recorded", speed)
        try:
            results[name] = await run(ws_url, rest_url, orders)
        finally:
            child.stdin.close()
            child.wait()
    print(f"tick to order at {speed:g}x the recorded pace (frame received -> order handed to the gateway)")
    figures = [summarize(name, samples, warmup=200) for name, samples in results.items()]
    (engine_p50, engine_p99), (base_p50, base_p99) = figures
    print(f"  ratio engine/baseline                  p50 {engine_p50 / base_p50:.2f}   p99 {engine_p99 / base_p99:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=40.0, help="replay speed, times the recorded pace")
    parser.add_argument("--orders", type=int, default=3000, help="orders to time in each pipeline")
    parser.add_argument("--in-process", action="store_true", help="time the chain without a socket instead")
    arguments = parser.parse_args()
    if arguments.in_process:
        import os

        costs = uvloop.run(run_in_process(os.environ.get("CRYPTOBOT_SAMPLE_DATA", "")))
        summarize("frame -> order, one call per frame", costs, warmup=200)
    else:
        uvloop.run(main(arguments.speed, arguments.orders))
