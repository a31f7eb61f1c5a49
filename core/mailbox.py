"""Actor mailboxes: bounded, with a delivery policy per message type.

Two policies exist:

reliable (the default)
    Every message is delivered, in order.  ``capacity`` is a bound the
    senders keep: ``put_nowait`` always enqueues, then returns False once the
    mailbox is at or over capacity, and the sender must wait for room before
    it sends again (actors do this automatically, see ``cryptobot.core.engine``;
    async code awaits :meth:`Mailbox.wait_for_room`).  Orders, fills, control
    messages, trades and book deltas travel this way.
conflated
    For a message type registered with a key function, only the newest
    message per key waits in the mailbox: a newer one replaces the older in
    place, keeping the older one's position in the queue, and
    ``conflated`` counts the replacements.  Meant for state that is
    superseded by its next value: top of book, quotes, tickers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Callable, Hashable


class _Slot:
    """Queue placeholder for a conflated message; the message itself sits in ``Mailbox._latest``."""

    __slots__ = ("key",)

    def __init__(self, key: Hashable):
        self.key = key


class Mailbox:
    """A FIFO of messages for one actor.

    Parameters
    ----------
    capacity
        The depth at which senders are asked to wait (> 0).
    conflate
        Message type to key function, for the types delivered latest-wins.

    Warnings
    --------
    Not thread-safe: use it only from the event loop's thread.
    """

    __slots__ = ("capacity", "low_water", "_queue", "_latest", "_conflate", "conflated", "max_depth", "_room_waiters")

    def __init__(self, capacity: int = 10_000, conflate: dict[type, Callable[[Any], Hashable]] | None = None):
        if capacity < 1:
            raise ValueError(f"'capacity' must be >= 1, was {capacity}")
        self.capacity = capacity
        self.low_water = max(capacity // 2, 1)
        self._queue: deque = deque()
        self._latest: dict = {}
        self._conflate = dict(conflate or {})
        self.conflated = 0
        self.max_depth = 0
        self._room_waiters: list[Callable[[], None]] = []

    def __len__(self) -> int:
        return len(self._queue)

    def put_nowait(self, message: Any) -> bool:
        """Enqueue ``message``; return False when the sender should now wait for room.

        The message is always accepted: nothing is dropped, conflated types
        are replaced latest-wins.
        """
        key_of = self._conflate.get(type(message)) if self._conflate else None
        if key_of is not None:
            key = (type(message), key_of(message))
            if key in self._latest:
                self._latest[key] = message
                self.conflated += 1
                return True
            self._latest[key] = message
            self._queue.append(_Slot(key))
        else:
            self._queue.append(message)
        depth = len(self._queue)
        if depth > self.max_depth:
            self.max_depth = depth
        return depth < self.capacity

    def get_nowait(self) -> Any:
        """Remove and return the oldest message; raise IndexError when empty."""
        item = self._queue.popleft()
        if type(item) is _Slot:
            item = self._latest.pop(item.key)
        if self._room_waiters and len(self._queue) <= self.low_water:
            self._wake_room_waiters()
        return item

    @property
    def has_room(self) -> bool:
        return len(self._queue) < self.capacity

    def on_room(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the depth falls to the low-water mark (half the capacity)."""
        if len(self._queue) <= self.low_water:
            callback()
        else:
            self._room_waiters.append(callback)

    async def wait_for_room(self) -> None:
        """Wait until the depth falls to the low-water mark."""
        if len(self._queue) < self.capacity:
            return
        future = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        self.on_room(wake)
        await future

    def _wake_room_waiters(self) -> None:
        waiters, self._room_waiters = self._room_waiters, []
        for callback in waiters:
            callback()

    def clear(self) -> int:
        """Drop every queued message and return how many there were (used only after a failed stop)."""
        dropped = len(self._queue)
        self._queue.clear()
        self._latest.clear()
        self._wake_room_waiters()
        return dropped
