"""The recorder actor: every tick the book actors hand it goes to ClickHouse.

It wraps a :class:`~cryptobot.storage.recorder.TickRecorder`, which copies
each tick into column buffers on the event loop and writes sealed batches
from its own threads, so handling a message never waits for the store.
The mailbox is reliable (no conflation): a book actor that outruns the
recorder waits, nothing is dropped.  It stops last (``stop_order`` 90), so
every upstream actor has drained into it before ``close()`` flushes.
"""

from __future__ import annotations

from typing import Any

from cryptobot.core.actor import Actor, Supervision, answer
from cryptobot.core.errors import ValidationError
from cryptobot.core.messages import Query
from cryptobot.core.types import BookDelta, BookDeltas, BookSnapshot, TradeTick
from cryptobot.storage.recorder import TickRecorder


class RecorderActor(Actor):
    """Records trades, book deltas and snapshots.

    Parameters
    ----------
    recorder
        The tick recorder; this actor starts it and closes it.
    name
        Actor name (``recorder``).
    """

    supervision = Supervision.RESUME
    stop_order = 90
    mailbox_capacity = 100_000

    def __init__(self, recorder: TickRecorder, name: str = "recorder"):
        super().__init__(name)
        self.recorder = recorder
        self.received = {"trades": 0, "book_deltas": 0, "book_delta": 0, "snapshots": 0}
        self.rejected = 0

    async def on_start(self) -> None:
        await self.recorder.start()

    async def on_stop(self) -> None:
        await self.recorder.close()

    def on_message(self, message: Any) -> Any:
        kind = type(message)
        if kind is BookDeltas:
            self.received["book_deltas"] += 1
            self.recorder.add_book_deltas(message)
        elif kind is TradeTick:
            self.received["trades"] += 1
            self.recorder.add_trade(message)
        elif kind is BookSnapshot:
            self.received["snapshots"] += 1
            self.recorder.add_snapshot(message)
        elif kind is BookDelta:
            self.received["book_delta"] += 1
            self.recorder.add_book_delta(message)
        elif kind is Query:
            if message.kind == "flush":
                return self._flush(message)
            answer(message, lambda: self._query(message.kind))
        else:
            self.rejected += 1
            raise TypeError(f"recorder cannot handle {kind.__name__}")
        return None

    async def _flush(self, query: Query) -> None:
        try:
            done = await self.recorder.flush(query.args.get("timeout"))
        except Exception as exc:  # noqa: BLE001 - the asker receives the error
            if not query.reply.done():
                query.reply.set_exception(exc)
            return
        if not query.reply.done():
            query.reply.set_result(done)

    def _query(self, kind: str) -> dict:
        if kind != "status":
            raise ValidationError(f"'kind' must be status or flush, was {kind!r}", {"kind": kind})
        return {"received": dict(self.received), "rejected": self.rejected, **self.recorder.counters()}
