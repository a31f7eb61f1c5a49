"""The engine: starts, supervises, looks up and stops actors on one event loop.

Each actor runs inside an :class:`ActorCell` that owns its mailbox, its
metrics and the drain callback.  Delivery is a ``loop.call_soon`` of the
drain when the mailbox turns non-empty; a drain handles up to
``DRAIN_BUDGET`` messages and then yields so one busy actor cannot starve
the others or the sockets.

Shutdown stops actors in ascending ``stop_order``: an actor stops taking
messages, its mailbox drains, ``on_stop`` runs; then the resources
registered with :meth:`Engine.add_closer` close in reverse order.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import time
from typing import Any, Awaitable, Callable

from cryptobot.core.actor import Actor, ActorRef, Supervision
from cryptobot.core.bus import EventBus
from cryptobot.core.clock import Clock, LiveClock
from cryptobot.core.errors import ActorStopped, Conflict, NotFound
from cryptobot.core.mailbox import Mailbox
from cryptobot.core.metrics import Histogram

log = logging.getLogger("cryptobot.core.engine")

DRAIN_BUDGET = 256
MAX_INLINE_DEPTH = 16
_inline_depth = 0  # handlers entered inline on the current call stack (one event-loop thread)
MAX_RESTARTS = 5
RESTART_WINDOW_NS = 60 * 1_000_000_000


class CellState(enum.Enum):
    STARTING = "starting"  # on_start running; messages are queued
    RUNNING = "running"
    STOPPING = "stopping"  # no new messages; draining the mailbox
    STOPPED = "stopped"
    FAILED = "failed"  # escalated a failure; the engine is shutting down


class ActorCell:
    """Runtime of one actor: mailbox, scheduling, supervision and metrics."""

    def __init__(self, engine: "Engine", actor: Actor, factory: Callable[[], Actor] | None):
        self.engine = engine
        self.actor = actor
        self.factory = factory
        self.name = actor.name
        self.loop = engine.loop
        self.mailbox = Mailbox(actor.mailbox_capacity, actor.conflate)
        self.state = CellState.STARTING
        self.received = 0
        self.handled = 0
        self.sent = 0
        self.failures = 0
        self.restarts = 0
        self.handling = Histogram()
        self.blocked = Histogram()
        self._scheduled = False
        self._busy = False
        self._running = False
        self._blocked_since = 0
        self._restart_times: list[int] = []
        self._idle_waiters: list[asyncio.Future] = []
        self._bind(actor)

    def _bind(self, actor: Actor) -> None:
        actor.engine = self.engine
        actor.ref = ActorRef(self) if not hasattr(self, "ref") else self.ref
        self.ref = actor.ref
        actor._cell = self
        actor.log = logging.getLogger(f"cryptobot.actors.{type(actor).__name__.lower()}")

    @property
    def accepting(self) -> bool:
        return self.state is CellState.RUNNING or self.state is CellState.STARTING

    # -- delivery -------------------------------------------------------

    def enqueue(self, message: Any) -> bool:
        if not (self.state is CellState.RUNNING or self.state is CellState.STARTING):
            raise ActorStopped(f"Cannot send {type(message).__name__} to actor '{self.name}': it is {self.state.value}")
        room = self.mailbox.put_nowait(message)
        self.received += 1
        if not (self._scheduled or self._busy or self._blocked_since) and self.state is CellState.RUNNING:
            self._scheduled = True
            self.loop.call_soon(self._drain)
        return room

    def deliver(self, message: Any) -> bool:
        """Handle ``message`` now when the actor is idle, else enqueue it as ``enqueue`` does.

        An idle actor (not handling, awaiting or blocked) would take the
        message on a coming loop iteration anyway, so handling it at once,
        after any older queued messages, keeps the arrival order and the
        one-message-at-a-time rule and saves those iterations: a chain such
        as book -> strategy -> risk -> execution then runs in one call chain
        instead of one loop iteration per hop.  A handler that is running (anywhere up the call
        stack) is never entered again, and chains stop at MAX_INLINE_DEPTH,
        so recursion stays bounded; everything else is queued.
        """
        global _inline_depth
        if (self.state is not CellState.RUNNING or self._busy or self._blocked_since or self._running
                or _inline_depth >= MAX_INLINE_DEPTH):
            return self.enqueue(message)
        if self.mailbox._queue:
            # Older messages wait (typically replies queued while this actor was
            # up the call stack): handle them first, then this one, in order.
            room = self.enqueue(message)
            _inline_depth += 1
            try:
                self._drain()
            finally:
                _inline_depth -= 1
            return room
        self.received += 1
        self._running = True
        _inline_depth += 1
        started = time.perf_counter_ns()
        try:
            result = self.actor.on_message(message)
        except Exception as exc:  # noqa: BLE001 - supervision decides, as in a drain
            self._on_failure(exc, message)
            return True
        finally:
            self._running = False
            _inline_depth -= 1
        if result is not None:
            self._busy = True
            self.loop.create_task(self._finish(result, message, started))
            return True
        self.handled += 1
        self.handling.record(time.perf_counter_ns() - started)
        if self.mailbox._queue:
            self._schedule()
        return True

    def _schedule(self) -> None:
        if not (self._scheduled or self._busy or self._blocked_since):
            self._scheduled = True
            self.loop.call_soon(self._drain)

    def _drain(self) -> None:
        self._scheduled = False
        if self.state is CellState.STOPPED or self.state is CellState.FAILED or self._busy:
            return
        mailbox = self.mailbox
        queue = mailbox._queue
        clock = time.perf_counter_ns
        budget = DRAIN_BUDGET
        while queue and budget:
            budget -= 1
            message = mailbox.get_nowait()
            started = clock()
            self._running = True
            try:
                result = self.actor.on_message(message)
            except Exception as exc:  # noqa: BLE001 - supervision decides
                self._running = False
                self._on_failure(exc, message)
                if self.state is CellState.FAILED:
                    return
                continue
            self._running = False
            if result is not None:
                self._busy = True
                self.loop.create_task(self._finish(result, message, started))
                return
            self.handled += 1
            self.handling.record(clock() - started)
            if self._blocked_since:
                return
        if queue:
            self._schedule()
        else:
            self._notify_idle()

    async def _finish(self, awaitable: Awaitable[None], message: Any, started: int) -> None:
        try:
            await awaitable
        except asyncio.CancelledError:
            self._busy = False
            raise
        except Exception as exc:  # noqa: BLE001 - supervision decides
            self._busy = False
            self._on_failure(exc, message)
        else:
            self._busy = False
            self.handled += 1
            self.handling.record(time.perf_counter_ns() - started)
        if self.state is CellState.FAILED:
            return
        if self.mailbox._queue:
            self._schedule()
        else:
            self._notify_idle()

    # -- back-pressure --------------------------------------------------

    def block_on(self, target: "ActorCell") -> None:
        """Pause this actor after its current message until ``target`` has room."""
        if self._blocked_since:
            return
        self._blocked_since = time.perf_counter_ns()
        target.mailbox.on_room(self._unblock)

    def _unblock(self) -> None:
        if not self._blocked_since:
            return
        self.blocked.record(time.perf_counter_ns() - self._blocked_since)
        self._blocked_since = 0
        if self.mailbox._queue:
            self._schedule()
        else:
            self._notify_idle()

    # -- supervision ----------------------------------------------------

    def _on_failure(self, exc: Exception, message: Any) -> None:
        self.failures += 1
        policy = self.actor.supervision
        log.error(
            "actor %s failed on %s: %s; policy %s",
            self.name, _describe(message), exc, policy.value,
            exc_info=exc, extra={"actor": self.name},
        )
        if policy is Supervision.RESTART:
            now = time.monotonic_ns()
            self._restart_times = [t for t in self._restart_times if now - t < RESTART_WINDOW_NS]
            self._restart_times.append(now)
            if len(self._restart_times) > MAX_RESTARTS:
                log.error("actor %s failed %d times within 60 s; stopping the engine", self.name, len(self._restart_times),
                          extra={"actor": self.name})
                policy = Supervision.STOP_ENGINE
            else:
                self._restart(exc)
                return
        if policy is Supervision.STOP_ENGINE:
            self.state = CellState.FAILED
            self._notify_idle()
            self.engine.fail(exc, self.name)

    def _restart(self, exc: Exception) -> None:
        self.restarts += 1
        if self.factory is not None:
            try:
                result = self.actor.on_stop()
                if inspect.isawaitable(result):
                    self.loop.create_task(_quietly(result, self.name))
            except Exception:  # noqa: BLE001 - the old state is being discarded
                log.exception("on_stop of failed actor %s raised", self.name, extra={"actor": self.name})
            fresh = self.factory()
            fresh.name = self.name
            self.actor = fresh
            self._bind(fresh)
            started = fresh.on_start()
            if inspect.isawaitable(started):
                self._busy = True
                self.loop.create_task(self._finish(started, "on_start after restart", time.perf_counter_ns()))
        else:
            self.actor.on_restart(exc)

    # -- lifecycle ------------------------------------------------------

    async def start(self) -> None:
        result = self.actor.on_start()
        if inspect.isawaitable(result):
            await result
        self.state = CellState.RUNNING
        if self.mailbox._queue:
            self._schedule()

    def _notify_idle(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    def _idle(self) -> bool:
        return not self.mailbox._queue and not self._busy and not self._blocked_since

    async def drained(self) -> None:
        """Wait until the mailbox is empty and no message is being handled."""
        while not self._idle() and self.state in (CellState.RUNNING, CellState.STOPPING):
            future = self.loop.create_future()
            self._idle_waiters.append(future)
            self._schedule()
            await future

    async def stop(self, timeout: float) -> None:
        if self.state in (CellState.STOPPED,):
            return
        if self.state is not CellState.FAILED:
            self.state = CellState.STOPPING
            try:
                await asyncio.wait_for(self.drained(), timeout)
            except asyncio.TimeoutError:
                dropped = self.mailbox.clear()
                log.error("actor %s did not drain within %.1f s; %d messages left unhandled", self.name, timeout, dropped,
                          extra={"actor": self.name})
        try:
            result = self.actor.on_stop()
            if inspect.isawaitable(result):
                await asyncio.wait_for(result, timeout)
        except Exception:  # noqa: BLE001 - shutdown must go on
            log.exception("on_stop of actor %s raised", self.name, extra={"actor": self.name})
        self.state = CellState.STOPPED

    def stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state.value,
            "messages_in": self.received,
            "messages_handled": self.handled,
            "messages_out": self.sent,
            "mailbox_depth": len(self.mailbox),
            "mailbox_max_depth": self.mailbox.max_depth,
            "conflated": self.mailbox.conflated,
            "failures": self.failures,
            "restarts": self.restarts,
            "handling": self.handling.snapshot(),
            "blocked": self.blocked.snapshot(),
        }


async def _quietly(awaitable: Awaitable[None], name: str) -> None:
    try:
        await awaitable
    except Exception:  # noqa: BLE001 - best effort on a discarded actor
        log.exception("on_stop of failed actor %s raised", name, extra={"actor": name})


def _describe(message: Any) -> str:
    text = repr(message)
    return text if len(text) <= 300 else text[:297] + "..."


class Engine:
    """Owns the actors of one process and their shared services.

    Parameters
    ----------
    clock
        Engine time source; a ReplayClock for backtests.
    loop
        The event loop; defaults to the running one.
    """

    def __init__(self, clock: Clock | None = None, loop: asyncio.AbstractEventLoop | None = None):
        self.clock = clock or LiveClock()
        self.loop = loop or asyncio.get_running_loop()
        self.bus = EventBus()
        self.started_ns = self.clock.now_ns()
        self._cells: dict[str, ActorCell] = {}
        self._closers: list[tuple[str, Callable[[], Awaitable[None] | None]]] = []
        self._stop_requested = asyncio.Event()
        self.failure: tuple[str, BaseException] | None = None
        self._shutting_down = False

    async def spawn(self, actor: Actor, *, factory: Callable[[], Actor] | None = None) -> ActorRef:
        """Start ``actor`` and return its reference.

        ``factory`` builds a fresh instance when the actor is restarted after
        a failure; without it, ``on_restart`` resets the existing one.

        Raises
        ------
        Conflict
            If an actor of that name is already running.
        """
        existing = self._cells.get(actor.name)
        if existing is not None and existing.state is not CellState.STOPPED:
            raise Conflict(f"Cannot spawn actor '{actor.name}': an actor of that name is {existing.state.value}")
        if self._shutting_down:
            raise ActorStopped(f"Cannot spawn actor '{actor.name}': the engine is shutting down")
        cell = ActorCell(self, actor, factory)
        self._cells[actor.name] = cell
        try:
            await cell.start()
        except BaseException:
            cell.state = CellState.STOPPED
            del self._cells[actor.name]
            raise
        log.debug("actor %s started", actor.name, extra={"actor": actor.name})
        return cell.ref

    def ref(self, name: str) -> ActorRef:
        """Return the reference of a running actor; raise NotFound otherwise."""
        cell = self._cells.get(name)
        if cell is None or not cell.accepting:
            raise NotFound(f"no running actor named '{name}'")
        return cell.ref

    def has_actor(self, name: str) -> bool:
        cell = self._cells.get(name)
        return cell is not None and cell.accepting

    def actor_names(self) -> list[str]:
        return [name for name, cell in self._cells.items() if cell.accepting]

    async def stop_actor(self, name: str, timeout: float = 10.0) -> None:
        """Stop one actor: refuse new messages, drain, run ``on_stop``."""
        cell = self._cells.get(name)
        if cell is None:
            raise NotFound(f"no actor named '{name}'")
        await cell.stop(timeout)
        self._cells.pop(name, None)

    def add_closer(self, name: str, close: Callable[[], Awaitable[None] | None]) -> None:
        """Register a resource to close after every actor has stopped (closed last-in, first-out)."""
        self._closers.append((name, close))

    def fail(self, exc: BaseException, actor_name: str) -> None:
        """Record an escalated failure and ask the engine to stop."""
        if self.failure is None:
            self.failure = (actor_name, exc)
        self._stop_requested.set()

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def wait_stop_requested(self) -> None:
        await self._stop_requested.wait()

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every actor in ``stop_order``, then close the registered resources."""
        if self._shutting_down:
            return
        self._shutting_down = True
        self._stop_requested.set()
        orders = sorted({cell.actor.stop_order for cell in self._cells.values()})
        for order in orders:
            group = [name for name, cell in self._cells.items() if cell.actor.stop_order == order]
            await asyncio.gather(*(self.stop_actor(name, timeout) for name in group))
        for name, close in reversed(self._closers):
            try:
                result = close()
                if inspect.isawaitable(result):
                    await asyncio.wait_for(result, timeout)
            except Exception:  # noqa: BLE001 - keep closing the rest
                log.exception("closing %s failed", name)
        self._closers.clear()

    def stats(self) -> list[dict[str, Any]]:
        """Return the metrics of every actor (for /system endpoints)."""
        return [cell.stats() for cell in self._cells.values()]
