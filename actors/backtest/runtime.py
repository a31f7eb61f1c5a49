"""A synchronous actor runtime for backtests: the same actors, no event loop.

A backtest runs the actor classes that trade live and on paper
(:class:`~cryptobot.actors.strategy_actor.StrategyActor`,
:class:`~cryptobot.actors.risk.RiskActor`,
:class:`~cryptobot.actors.execution.ExecutionActor`,
:class:`~cryptobot.actors.portfolio.PortfolioActor`), wired to each other
by the names, topics and ``reply_to`` references the live composition
root uses.  Only the delivery differs: :class:`DirectEngine` stands in for
:class:`~cryptobot.core.engine.Engine`, and a message sent to an actor is
handled at once, in one global first-in, first-out queue, instead of on a
later event-loop iteration.  Each actor still handles one message at a
time and sees its messages in the order they were sent, which is all the
live engine promises.

A handler that raises stops the backtest with that error, since a replay
cannot drop a message and stay faithful.  A handler may be a coroutine
as long as it finishes without suspending; one that waits is refused,
because backtests have no store and nothing may wait on I/O.
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from typing import Any

from cryptobot.core.actor import Actor, ActorRef
from cryptobot.core.bus import EventBus
from cryptobot.core.clock import ReplayClock
from cryptobot.core.errors import NotFound


class DirectCell:
    """What an :class:`ActorRef` needs from a cell: ``enqueue``, ``deliver``, ``accepting`` and counters."""

    def __init__(self, engine: "DirectEngine", actor: Actor):
        self.engine = engine
        self.actor = actor
        self.name = actor.name
        self.accepting = True
        self.received = 0
        self.sent = 0

    def enqueue(self, message: Any) -> bool:
        self.received += 1
        self.engine.deliver(self, message)
        return True

    def deliver(self, message: Any) -> bool:
        """The same as ``enqueue``: every delivery here is immediate already."""
        return self.enqueue(message)

    def block_on(self, target: "DirectCell") -> None:
        """Never needed: a direct delivery never leaves a mailbox full."""


class DirectEngine:
    """Runs actors synchronously on a :class:`ReplayClock`; see the module docstring.

    Parameters
    ----------
    clock
        The replay clock every actor reads.
    """

    def __init__(self, clock: ReplayClock):
        self.clock = clock
        self.loop = None
        self.bus = EventBus()
        self._cells: dict[str, DirectCell] = {}
        self._queue: deque[tuple[DirectCell, Any]] = deque()
        self._draining = False
        self.delivered = 0

    def add(self, actor: Actor, start: bool = True) -> ActorRef:
        """Bind ``actor`` to this engine and run its ``on_start`` (which must not be async)."""
        cell = DirectCell(self, actor)
        actor.engine = self  # type: ignore[assignment]
        actor.ref = ActorRef(cell)  # type: ignore[arg-type]
        actor._cell = cell  # type: ignore[assignment]
        actor.log = logging.getLogger(f"cryptobot.actors.{type(actor).__name__.lower()}")
        self._cells[actor.name] = cell
        if start:
            self._check_sync(actor.on_start(), actor.name, "on_start")
        return actor.ref

    def ref(self, name: str) -> ActorRef:
        cell = self._cells.get(name)
        if cell is None:
            raise NotFound(f"no running actor named '{name}'")
        return cell.actor.ref

    def has_actor(self, name: str) -> bool:
        return name in self._cells

    def deliver(self, cell: DirectCell, message: Any) -> None:
        """Queue ``message`` for ``cell`` and, unless a delivery is under way, handle the queue."""
        self._queue.append((cell, message))
        if self._draining:
            return
        self._draining = True
        try:
            queue = self._queue
            while queue:
                target, item = queue.popleft()
                self.delivered += 1
                self._check_sync(target.actor.on_message(item), target.name, type(item).__name__)
        finally:
            self._draining = False
            self._queue.clear()

    @staticmethod
    def _check_sync(result: Any, name: str, what: str) -> None:
        # A coroutine that finishes without suspending (an async on_start
        # with no store to wait for) runs to completion here.
        if result is None or not inspect.isawaitable(result):
            return
        if inspect.iscoroutine(result):
            try:
                result.send(None)
            except StopIteration:
                return
            result.close()
        raise RuntimeError(f"actor {name} waited on I/O in {what}; a backtest runs without I/O")
