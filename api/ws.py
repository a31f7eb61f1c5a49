"""The /ws WebSocket: a hub fed synchronously by the engine bus, one sender task per client.

Publishing never waits for a client.  The hub subscribes once to each bus
topic some client wants.  For each bus message it builds and serializes the
documented message, and frames it as a WebSocket text frame, once.

A client that is keeping up (nothing waiting for it, and less than
``FAST_PATH_BUFFER`` bytes in its socket's write buffer) gets the frame
written to its transport right there, synchronously: a non-blocking
``transport.write``, with no task switch per client.  Otherwise the message
is handed to the client's sender task: a dict store (ticker and order book,
where the latest value replaces one not yet sent) or a deque append
(everything else), and the task writes it, waiting for the socket to drain.

A client that falls behind is disconnected with close code 1008 and a
reason: when its queue of unconflated messages reaches
``max_queue``, or when data has waited longer than ``max_lag`` seconds
because the socket does not take it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from cryptobot.api.responses import dumps
from cryptobot.api.ws_topics import Topic, envelope, message_for

log = logging.getLogger("cryptobot.api.ws")

CLOSE_TOO_SLOW = WSCloseCode.POLICY_VIOLATION  # 1008
CLOSE_GRACE_SECONDS = 10.0
# Below this many bytes waiting in a client's socket buffer a frame is written at once.
FAST_PATH_BUFFER = 64 * 1024


def text_frame(payload: bytes) -> bytes:
    """Frame ``payload`` as one unmasked, uncompressed WebSocket text frame (RFC 6455 section 5.2)."""
    length = len(payload)
    if length < 126:
        header = bytes((0x81, length))
    elif length < 65536:
        header = bytes((0x81, 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + length.to_bytes(8, "big")
    return header + payload


class Client:
    """One WebSocket connection: its subscriptions and the data waiting to be sent."""

    __slots__ = ("ws", "transport", "principal", "topics", "latest", "queue", "wake", "pending_since", "closed",
                 "close_reason", "sender", "sent", "label", "busy")

    def __init__(self, ws: web.WebSocketResponse, transport: Any, label: str):
        self.ws = ws
        self.transport = transport
        self.label = label
        self.principal = None
        self.topics: dict[str, Topic] = {}
        self.latest: dict[str, bytes] = {}
        self.queue: collections.deque[bytes] = collections.deque()
        self.wake = asyncio.Event()
        self.pending_since = 0.0
        self.closed = False
        self.close_reason = ""
        self.sender: asyncio.Task | None = None
        self.sent = 0
        self.busy = False  # the sender task is writing a batch

    def write_now(self, frame: bytes) -> bool:
        """Write a framed message straight to the socket if nothing is waiting before it; return whether it did.

        The writes go to the transport aiohttp writes to, one whole frame at
        a time, so they interleave safely with aiohttp's own frames (pings,
        the close frame).  The connection never negotiates compression.
        """
        transport = self.transport
        if self.busy or self.queue or self.latest or transport is None or transport.is_closing() \
                or transport.get_write_buffer_size() > FAST_PATH_BUFFER:
            return False
        transport.write(frame)
        self.sent += 1
        return True

    def send_soon(self, payload: bytes) -> None:
        """Queue a reply (pong, error, acknowledgement) behind what is already waiting."""
        self.queue.append(payload)
        self.wake.set()


class WebSocketHub:
    """Routes bus messages to the WebSocket clients subscribed to them.

    Parameters
    ----------
    bus
        The engine's event bus.
    exchanges_of
        Returns the exchanges this engine serves a symbol on.
    clock_ns
        Time of messages that carry none of their own (system status).
    max_queue
        Unconflated messages a client may have waiting before it is disconnected.
    max_lag
        Seconds data may wait for a client's socket before it is disconnected.
    auth_timeout
        Seconds a new connection has to authenticate.
    """

    def __init__(self, bus: Any, exchanges_of: Callable[[str], list[str]], clock_ns: Callable[[], int] = time.time_ns,
                 max_queue: int = 2000, max_lag: float = 5.0, auth_timeout: float = 10.0):
        self.auth_timeout = auth_timeout
        self.bus = bus
        self.exchanges_of = exchanges_of
        self.clock_ns = clock_ns
        self.max_queue = max_queue
        self.max_lag = max_lag
        self.clients: set[Client] = set()
        # WebSocket topic -> subscribed clients; bus topic -> (unsubscribe, WebSocket topics it feeds)
        self._subscribers: dict[str, set[Client]] = {}
        self._topics: dict[str, Topic] = {}
        self._bus: dict[str, tuple[Callable[[], None], set[str]]] = {}
        self.disconnected_slow = 0
        self.published = 0

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe(self, client: Client, topic: Topic) -> None:
        client.topics[topic.name] = topic
        self._subscribers.setdefault(topic.name, set()).add(client)
        self._topics[topic.name] = topic
        for bus_topic in topic.bus_topics(self.exchanges_of):
            entry = self._bus.get(bus_topic)
            if entry is None:
                unsubscribe = self.bus.subscribe(bus_topic, self._feed(bus_topic))
                entry = (unsubscribe, set())
                self._bus[bus_topic] = entry
            entry[1].add(topic.name)

    def unsubscribe(self, client: Client, name: str) -> None:
        topic = client.topics.pop(name, None)
        client.latest.pop(name, None)
        if topic is None:
            return
        subscribers = self._subscribers.get(name)
        if subscribers is not None:
            subscribers.discard(client)
            if subscribers:
                return
            del self._subscribers[name]
        self._topics.pop(name, None)
        for bus_topic in topic.bus_topics(self.exchanges_of):
            entry = self._bus.get(bus_topic)
            if entry is None:
                continue
            entry[1].discard(name)
            if not entry[1]:
                entry[0]()
                del self._bus[bus_topic]

    def has_subscribers(self, name: str) -> bool:
        return bool(self._subscribers.get(name))

    # -- publishing (synchronous, called by the bus) ------------------------------------------

    def _feed(self, bus_topic: str) -> Callable[[Any], None]:
        def deliver(message: Any) -> None:
            entry = self._bus.get(bus_topic)
            if entry is not None:
                for name in tuple(entry[1]):
                    self.publish(name, message)
        return deliver

    def publish(self, name: str, message: Any) -> None:
        """Serialize ``message`` once for topic ``name`` and hand it to every subscriber."""
        subscribers = self._subscribers.get(name)
        if not subscribers:
            return
        topic = self._topics[name]
        ts, data = message_for(topic.kind, message, self.clock_ns())
        payload = dumps(envelope(name, ts, data))
        frame = text_frame(payload)
        self.published += 1
        now = time.monotonic()
        if topic.conflated:
            for client in tuple(subscribers):
                if client.write_now(frame):
                    continue
                if client.pending_since and now - client.pending_since > self.max_lag:
                    self.evict(client, f"client too slow: data waited more than {self.max_lag:g} s")
                    continue
                client.latest[name] = payload
                if not client.pending_since:
                    client.pending_since = now
                client.wake.set()
        else:
            for client in tuple(subscribers):
                if client.write_now(frame):
                    continue
                if len(client.queue) >= self.max_queue:
                    self.evict(client, f"client too slow: {len(client.queue)} messages waiting")
                    continue
                if client.pending_since and now - client.pending_since > self.max_lag:
                    self.evict(client, f"client too slow: data waited more than {self.max_lag:g} s")
                    continue
                client.queue.append(payload)
                if not client.pending_since:
                    client.pending_since = now
                client.wake.set()

    # -- clients --------------------------------------------------------------------------------

    def attach(self, client: Client) -> None:
        self.clients.add(client)
        client.sender = asyncio.get_running_loop().create_task(self._send_loop(client))

    def detach(self, client: Client) -> None:
        for name in list(client.topics):
            self.unsubscribe(client, name)
        self.clients.discard(client)
        client.closed = True
        if client.sender is not None and not client.sender.done():
            client.sender.cancel()

    def evict(self, client: Client, reason: str) -> None:
        """Disconnect a client that cannot keep up; its close frame carries ``reason``."""
        if client.closed:
            return
        self.disconnected_slow += 1
        log.warning("disconnecting WebSocket client %s: %s", client.label, reason, extra={"client": client.label})
        client.close_reason = reason
        self.detach(client)
        asyncio.get_running_loop().create_task(self._close(client, CLOSE_TOO_SLOW, reason))

    async def _close(self, client: Client, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(client.ws.close(code=code, message=reason.encode()[:120]), CLOSE_GRACE_SECONDS)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            # A peer that never reads would hold the socket open forever; drop it after the grace period.
            if client.transport is not None and not client.transport.is_closing():
                client.transport.abort()

    async def _send_loop(self, client: Client) -> None:
        ws = client.ws
        try:
            while not client.closed:
                await client.wake.wait()
                client.wake.clear()
                while client.queue or client.latest:
                    batch = list(client.queue)
                    client.queue.clear()
                    if client.latest:
                        batch.extend(client.latest.values())
                        client.latest.clear()
                    client.pending_since = 0.0
                    client.busy = True
                    try:
                        for payload in batch:
                            await ws.send_frame(payload, WSMsgType.TEXT)
                            client.sent += 1
                    finally:
                        client.busy = False
        except asyncio.CancelledError:
            raise
        except (ConnectionError, RuntimeError) as exc:
            log.debug("WebSocket client %s gone: %s", client.label, exc, extra={"client": client.label})

    async def close_all(self, reason: str = "server shutting down") -> None:
        """Close every connection (at server shutdown)."""
        clients = list(self.clients)
        for client in clients:
            self.detach(client)
        await asyncio.gather(*(self._close(c, WSCloseCode.GOING_AWAY, reason) for c in clients), return_exceptions=True)
