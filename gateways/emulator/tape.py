"""A tape: the frames of one recording and the task that replays them.

A tape waits until a client subscribes to one of its channels, then
replays at the recorded pace (the gaps between the recorder's receive
stamps, divided by ``speed``) or as fast as the sockets take the frames.
Every client subscribed to a channel receives the same frames at the same
moment, as on an exchange, and a client that joins later starts mid-stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Protocol

from cryptobot.gateways.emulator.rewrite import Offsets, Spans, rebase_offset
from cryptobot.gateways.recordings import RecordedFrame, Recording

log = logging.getLogger("cryptobot.gateways.emulator")

FAST_BATCH = 512
WAITING, RUNNING, FINISHED, FAILED = "waiting", "running", "finished", "failed"


class TapeOwner(Protocol):
    """Interface a venue offers to the tapes it owns."""

    blocked: bool

    def dispatch(self, tape: Tape, index: int) -> None: ...

    def dispatch_batch(self, tape: Tape, start: int, end: int) -> None: ...

    async def drain(self) -> None: ...

    async def on_tape_end(self, tape: Tape) -> None: ...


class Tape:
    """Replay state of one recording.

    Parameters
    ----------
    name
        Label used in logs and the status endpoint.
    recording
        The loaded capture.
    owner
        The venue that sends each frame to its subscribers.
    pace
        ``"recorded"`` or ``"fast"``.
    speed
        Recorded-pace multiplier (2.0 replays twice as fast).
    loop
        Replay again, with offsets, after the end.
    rebase
        Shift event times so the first event is within a minute before the start.
    spans
        How far each loop moves ids and times.
    first_event_ms
        Event time of the first frame, the reference for rebasing.
    start_delay
        Seconds between the first subscription and the first frame, so a
        client subscribing to several channels in separate requests gets
        all of them from the start.
    """

    def __init__(self, name: str, recording: Recording, owner: TapeOwner, *, pace: str, speed: float,
                 loop: bool, rebase: bool, spans: Spans, first_event_ms: int, start_delay: float = 0.0):
        self.name = name
        self.recording = recording
        self.frames: list[RecordedFrame] = recording.frames
        self.stamps = [frame.ts_ns for frame in self.frames]
        self.channel_of = [frame.channel for frame in self.frames]
        self.channels = {frame.channel for frame in self.frames if frame.symbol}
        self.owner = owner
        self.pace = pace
        self.speed = speed
        self.loop = loop
        self.rebase = rebase
        self.spans = spans
        self.first_event_ms = first_event_ms
        self.start_delay = start_delay
        self.position = 0
        self.loop_index = 0
        self.rebase_ms = 0
        self.offsets = Offsets()
        self.state = WAITING
        self.task: asyncio.Task | None = None

    def framed(self, variant: str, build: Callable[[RecordedFrame], bytes]) -> list[bytes]:
        """Return the frames pre-encoded once by ``build``, cached with the recording under ``variant``."""
        key = f"framed:{variant}"
        cached = self.recording.cache.get(key)
        if cached is None:
            started = time.perf_counter()
            cached = self.recording.cache[key] = [build(frame) for frame in self.frames]
            log.debug("pre-encoded %d frames of %s (%s) in %.3f s", len(cached), self.name, variant,
                      time.perf_counter() - started)
        return cached

    def begin(self) -> None:
        """Start the replay if it is waiting for its first subscriber."""
        if self.state != WAITING:
            return
        if self.loop_index == 0 and self.rebase:
            self.rebase_ms = rebase_offset(self.first_event_ms, time.time_ns() // 1_000_000)
        self.offsets = self.spans.offsets(self.loop_index, self.rebase_ms)
        self.state = RUNNING
        log.info("replay of %s started (loop %d, %s pace)", self.name, self.loop_index, self.pace)
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"emulator-tape-{self.name}")

    def next_loop(self) -> None:
        """Rewind for the next loop; the replay restarts at the next subscription."""
        self.loop_index += 1
        self.position = 0
        self.offsets = self.spans.offsets(self.loop_index, self.rebase_ms)
        self.state = WAITING

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        try:
            if self.start_delay:
                await asyncio.sleep(self.start_delay)
            if self.pace == "fast":
                await self._run_fast()
            else:
                await self._run_paced()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.state = FAILED
            log.exception("replay of %s failed at frame %d", self.name, self.position)
            return
        self.state = FINISHED
        log.info("replay of %s reached its end (loop %d)", self.name, self.loop_index)
        await self.owner.on_tape_end(self)

    async def _run_fast(self) -> None:
        dispatch_batch = self.owner.dispatch_batch
        count = len(self.frames)
        index = self.position
        while index < count:
            end = min(index + FAST_BATCH, count)
            dispatch_batch(self, index, end)
            self.position = index = end
            await self.owner.drain()

    async def _run_paced(self) -> None:
        loop = asyncio.get_running_loop()
        dispatch = self.owner.dispatch
        count = len(self.frames)
        if self.position >= count:
            return
        started = loop.time()
        first = self.stamps[self.position]
        scale = 1e-9 / self.speed
        since_yield = 0
        for index in range(self.position, count):
            delay = started + (self.stamps[index] - first) * scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                since_yield = 0
            dispatch(self, index)
            self.position = index + 1
            since_yield += 1
            # A burst of frames already due must not starve REST handlers and timers.
            if since_yield >= FAST_BATCH or self.owner.blocked:
                await self.owner.drain()
                since_yield = 0
