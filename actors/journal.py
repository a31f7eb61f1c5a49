"""An ordered write-behind queue to the state store.

The execution actor must not wait for PostgreSQL before it hands an order to
the exchange (that would put a database round trip into every
tick-to-order path), but it must not acknowledge anything it has not
stored.  It appends each write here with the action to run once the write
has committed; writes run one at a time in the order they were appended, so
an order row always exists before its fills, and a failing write is retried
with backoff until it succeeds: nothing is acknowledged out of order and
nothing is lost while the process lives.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Awaitable, Callable

from cryptobot.core.errors import CryptobotError

log = logging.getLogger("cryptobot.actors.journal")

Write = Callable[[], Awaitable[Any]]
Done = Callable[[Any], None]


class WriteJournal:
    """FIFO of (write, on_done) pairs run by one background task.

    Errors of our own types that no retry can fix (validation, illegal
    transitions, not found) are logged and skipped, with ``on_error``
    called; other errors are retried with exponential backoff up to
    ``max_backoff`` seconds.
    """

    def __init__(self, name: str, max_backoff: float = 5.0):
        self.name = name
        self.max_backoff = max_backoff
        self._queue: deque[tuple[Write, Done | None, Callable[[BaseException], None] | None]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.written = 0
        self.retries = 0
        self.failed = 0
        self.last_error: str | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"journal.{self.name}")

    def append(self, write: Write, on_done: Done | None = None, on_error: Callable[[BaseException], None] | None = None) -> None:
        self._queue.append((write, on_done, on_error))
        self._idle.clear()
        self._wakeup.set()

    def __len__(self) -> int:
        return len(self._queue)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every appended write has run; return False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def close(self, timeout: float = 10.0) -> None:
        drained = await self.drain(timeout)
        if not drained:
            log.error("journal %s closed with %d writes not stored", self.name, len(self._queue))
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            write, on_done, on_error = self._queue[0]
            result = await self._attempt(write)
            self._queue.popleft()
            if isinstance(result, _Failure):
                if on_error is not None:
                    _call(on_error, result.error)
            elif on_done is not None:
                _call(on_done, result)

    async def _attempt(self, write: Write) -> Any:
        delay = 0.05
        while True:
            try:
                result = await write()
                self.written += 1
                return result
            except asyncio.CancelledError:
                raise
            except CryptobotError as exc:
                if exc.http_status < 500:
                    self.failed += 1
                    self.last_error = exc.message
                    log.error("journal %s dropped a write that cannot succeed: %s", self.name, exc.message)
                    return _Failure(exc)
                self._note_retry(exc, delay)
            except Exception as exc:  # noqa: BLE001 - a store outage must not lose the write
                self._note_retry(exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    def _note_retry(self, exc: BaseException, delay: float) -> None:
        self.retries += 1
        self.last_error = str(exc)
        log.warning("journal %s write failed, retrying in %.2f s: %s", self.name, delay, exc)


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = error


def _call(callback: Callable[[Any], None], value: Any) -> None:
    try:
        callback(value)
    except Exception:  # noqa: BLE001 - a callback must not stop the journal
        log.exception("journal callback failed")
