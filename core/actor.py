"""The actor base class and references to running actors.

An actor owns its state and handles one message at a time on the event
loop.  ``on_message`` is usually a plain function: the engine calls it from
a loop callback, with no task or future per message, which keeps a hop
between actors to one event-loop iteration.  An actor that must wait for
I/O (a database write before an acknowledgement) returns an awaitable from
``on_message``; the engine awaits it before the next message, so the
one-at-a-time guarantee holds either way.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Hashable

if TYPE_CHECKING:
    from cryptobot.core.engine import ActorCell, Engine


class Supervision(enum.Enum):
    """What the engine does when ``on_message`` raises."""

    RESUME = "resume"  # log, drop the failed message, keep the state, continue
    RESTART = "restart"  # log, replace the state (factory or on_restart), continue
    STOP_ENGINE = "stop_engine"  # log, then shut the whole engine down


class Actor:
    """Base class of every actor.

    Subclasses set the class attributes below as needed and override the
    ``on_*`` hooks.  After :meth:`Engine.spawn` the attributes ``engine``,
    ``ref`` and ``log`` are available.

    Attributes
    ----------
    supervision
        Policy when a handler raises.
    stop_order
        Shutdown runs in ascending order: feeds (0) before books (10),
        strategies (20), risk (30), execution (40), portfolio (50) and the
        recorder (90), so each stage drains what its upstream sent.
    mailbox_capacity
        Depth at which senders wait.
    conflate
        Message type to key function, for types delivered latest-wins.
    """

    supervision: Supervision = Supervision.RESTART
    stop_order: int = 50
    mailbox_capacity: int = 10_000
    conflate: dict[type, Callable[[Any], Hashable]] = {}

    engine: "Engine"
    ref: "ActorRef"
    log: logging.Logger
    _cell: "ActorCell"

    def __init__(self, name: str):
        if not name:
            raise ValueError("an actor needs a non-empty name")
        self.name = name

    def on_start(self) -> Awaitable[None] | None:
        """Prepare before the first message (may be async)."""

    def on_message(self, message: Any) -> Awaitable[None] | None:
        """Handle one message (may return an awaitable)."""

    def on_stop(self) -> Awaitable[None] | None:
        """Release resources after the mailbox has drained (may be async)."""

    def on_restart(self, error: BaseException) -> None:
        """Reset state after a failure when the actor was spawned without a factory."""

    def send(self, target: "ActorRef | str", message: Any) -> None:
        """Send ``message`` to ``target`` from inside a handler.

        An idle target handles it at once (see ``ActorCell.deliver``); a busy
        one queues it.  When the target's mailbox is full this actor pauses
        after the current message until the target has drained to half its
        capacity: nothing is dropped, and the pause is measured in
        ``blocked_ns``.
        """
        ref = self.engine.ref(target) if isinstance(target, str) else target
        cell = self._cell
        cell.sent += 1
        if not ref._cell.deliver(message) and ref._cell is not cell:
            cell.block_on(ref._cell)

    def publish(self, topic: str, message: Any) -> None:
        """Publish ``message`` on the engine's event bus."""
        self._cell.sent += 1
        self.engine.bus.publish(topic, message)


class ActorRef:
    """A handle to send messages to one actor; cheap to copy and compare."""

    __slots__ = ("name", "_cell")

    def __init__(self, cell: "ActorCell"):
        self.name = cell.name
        self._cell = cell

    def tell(self, message: Any) -> bool:
        """Enqueue ``message``; return False when the mailbox is at capacity.

        The message is accepted either way.  A producer outside an actor
        (a socket callback) that gets False pauses its source and awaits
        :meth:`wait_for_room`.

        Raises
        ------
        ActorStopped
            If the actor is stopping or stopped.
        """
        return self._cell.enqueue(message)

    def deliver(self, message: Any) -> bool:
        """Run the handler on ``message`` at once if the actor is idle, else enqueue it.

        See :meth:`cryptobot.core.engine.ActorCell.deliver`; bus subscribers
        that should not wait a loop iteration subscribe with this.
        """
        return self._cell.deliver(message)

    async def put(self, message: Any) -> None:
        """Wait for room, then enqueue ``message`` (for async code)."""
        await self._cell.mailbox.wait_for_room()
        self._cell.enqueue(message)

    async def wait_for_room(self) -> None:
        await self._cell.mailbox.wait_for_room()

    @property
    def is_alive(self) -> bool:
        return self._cell.accepting

    def __repr__(self) -> str:
        return f"ActorRef({self.name!r})"


async def ask(ref: ActorRef, kind: str, timeout: float = 5.0, **args: Any) -> Any:
    """Send a Query to ``ref`` and wait for its answer.

    Raises
    ------
    asyncio.TimeoutError
        If the actor does not answer within ``timeout`` seconds.
    """
    import asyncio

    from cryptobot.core.messages import Query

    future = asyncio.get_running_loop().create_future()
    await ref.put(Query(kind, args, future))
    return await asyncio.wait_for(future, timeout)


def answer(query: Any, compute: Callable[[], Any]) -> None:
    """Resolve ``query.reply`` with ``compute()``, or with the error it raises."""
    if query.reply.done():
        return
    try:
        query.reply.set_result(compute())
    except Exception as exc:  # noqa: BLE001 - the asker receives the error
        query.reply.set_exception(exc)
