"""A plain WebSocket client for tests: connects like a feed and collects what it receives.

It does not depend on the emulator: it is a picows client that queues text
frames and records pings, the close frame and the disconnect, so tests of
feeds and of the emulator itself can assert on the exact bytes.
"""

from __future__ import annotations

import asyncio
import time

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


class _Collector(WSListener):
    def __init__(self, client: WsClient):
        self.client = client

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        client = self.client
        if frame.msg_type == WSMsgType.TEXT:
            client.frames.append(frame.get_payload_as_bytes())
            client._arrived.set()
        elif frame.msg_type == WSMsgType.PING:
            client.pings += 1
            if client.answer_pings:
                transport.send_pong(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            client.close_code = frame.get_close_code()
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.client.disconnected_at = time.monotonic()
        self.client._arrived.set()


class WsClient:
    """Collected frames of one connection.

    Use :meth:`connect`; ``frames`` contains every text payload in arrival
    order, ``pings`` counts server pings, ``close_code`` is the code of a
    received close frame and ``disconnected_at`` is set once closed.
    ``answer_pings=False`` makes the client ignore pings (as a hung client).
    """

    def __init__(self, answer_pings: bool = True):
        self.answer_pings = answer_pings
        self.frames: list[bytes] = []
        self.pings = 0
        self.close_code = None
        self.disconnected_at: float | None = None
        self.transport: WSTransport | None = None
        self._arrived = asyncio.Event()

    @classmethod
    async def connect(cls, url: str, answer_pings: bool = True) -> WsClient:
        client = cls(answer_pings)
        client.transport, _ = await ws_connect(lambda: _Collector(client), url, enable_auto_pong=False)
        return client

    def send(self, message) -> None:
        """Send a text frame; dicts and lists are JSON-encoded."""
        data = message if isinstance(message, (bytes, str)) else orjson.dumps(message)
        self.transport.send(WSMsgType.TEXT, data)

    def json(self, start: int = 0) -> list:
        return [orjson.loads(frame) for frame in self.frames[start:]]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """Wait until ``count`` frames arrived (or the connection closed); return them all."""
        deadline = time.monotonic() + timeout
        while len(self.frames) < count and self.disconnected_at is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                break
        return self.frames

    async def wait_until(self, predicate, timeout: float = 10.0) -> bool:
        """Wait until ``predicate(self)`` holds; tell whether it did before the timeout."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    async def wait_closed(self, timeout: float = 10.0) -> bool:
        return await self.wait_until(lambda c: c.disconnected_at is not None, timeout)

    async def close(self) -> None:
        if self.transport is not None and self.disconnected_at is None:
            self.transport.send_close()
            self.transport.disconnect()
            await self.transport.wait_disconnected()
