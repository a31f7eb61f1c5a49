"""One actor hop: from ``ref.tell`` to the start of ``on_message``.

Two deliveries are timed: ``tell``, which always queues and runs the
handler on a later loop iteration, and ``deliver``, which runs an idle
actor's handler at once (how actors send to each other).  Both are
measured against the bare asyncio alternative in the same run: a consumer
task awaiting ``asyncio.Queue.get`` while a producer calls ``put_nowait``.
Both send one message at a time and wait for it to arrive, so each sample
is a single hand-off, not a queueing delay.

    python benchmarks/actor_hop.py [--hops 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np
import uvloop

from cryptobot.core.actor import Actor
from cryptobot.core.engine import Engine

clock = time.perf_counter_ns


class Probe(Actor):
    def __init__(self, samples: np.ndarray, done: asyncio.Future):
        super().__init__("probe")
        self.samples = samples
        self.done = done
        self.index = 0
        self.resend = None

    def on_message(self, sent_at: int) -> None:
        self.samples[self.index] = clock() - sent_at
        self.index += 1
        if self.index == len(self.samples):
            self.done.set_result(None)
        else:
            # The next hop starts from a fresh loop callback, as a socket read would.
            self.engine.loop.call_soon(self.resend)


async def actor_hops(count: int, inline: bool = False) -> np.ndarray:
    engine = Engine()
    samples = np.zeros(count, dtype=np.int64)
    done = engine.loop.create_future()
    probe = Probe(samples, done)
    ref = await engine.spawn(probe)
    send = ref.deliver if inline else ref.tell
    probe.resend = lambda: send(clock())
    ref.tell(clock())
    await done
    await engine.shutdown()
    return samples


async def queue_hops(count: int) -> np.ndarray:
    queue: asyncio.Queue = asyncio.Queue()
    samples = np.zeros(count, dtype=np.int64)
    loop = asyncio.get_running_loop()

    async def consumer() -> None:
        for i in range(count):
            sent_at = await queue.get()
            samples[i] = clock() - sent_at
            if i + 1 < count:
                loop.call_soon(lambda: queue.put_nowait(clock()))

    task = asyncio.create_task(consumer())
    queue.put_nowait(clock())
    await task
    return samples


def summarize(name: str, samples: np.ndarray) -> dict[str, float]:
    p50, p99 = np.percentile(samples, [50, 99])
    print(f"{name:24} p50 {p50:8.0f} ns   p99 {p99:8.0f} ns   n={len(samples)}")
    return {"p50": p50, "p99": p99}


async def main(hops: int) -> None:
    await actor_hops(1000)
    await queue_hops(1000)
    actor = summarize("actor hop, queued (tell)", await actor_hops(hops))
    inline = summarize("actor hop, idle (deliver)", await actor_hops(hops, inline=True))
    queue = summarize("asyncio.Queue hand-off", await queue_hops(hops))
    print(f"ratio queued/queue: p50 {actor['p50'] / queue['p50']:.2f}  p99 {actor['p99'] / queue['p99']:.2f}")
    print(f"ratio idle/queue:   p50 {inline['p50'] / queue['p50']:.2f}  p99 {inline['p99'] / queue['p99']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, default=200_000, help="hand-offs to time for each variant")
    uvloop.run(main(parser.parse_args().hops))
