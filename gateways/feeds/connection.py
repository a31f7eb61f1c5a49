"""One feed's WebSocket connection: connect, watch, ping, reconnect, roll over.

:class:`FeedConnection` runs a supervising task that keeps one connection
open to the URL its protocol gives:

- a failed connect or a lost connection is retried after an exponential
  backoff (``reconnect_initial`` doubling up to ``reconnect_max``, each wait
  plus up to 25 % random jitter, so many clients do not return in step);
  the backoff starts over once a connection has delivered data;
- a connection that delivers no frame for ``silence_timeout`` seconds is
  presumed dead (a half-open TCP connection sends no error) and replaced;
- the protocol sends a ping every ``ping_interval`` seconds;
- before ``max_connection_age`` a new connection is opened and, once it has
  delivered its first frame (or the protocol asks to switch at once), the
  old one is closed, so the stream has no hole (Binance cuts every
  connection after 24 hours).

The protocol object (Binance or Kraken) builds the URL and the
listener, sends subscriptions and pings, and hears about every state change.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from typing import Any, Protocol

from picows import WSError, ws_connect

from cryptobot.gateways.feeds.config import FeedConfig
from cryptobot.hotpath.depth_wire import FrameListener

log = logging.getLogger("cryptobot.gateways.feeds.connection")


class State(enum.Enum):
    CONNECTING = "connecting"  # no usable connection yet, a connect is under way or due
    CONNECTED = "connected"  # a connection is open and subscribed
    DISCONNECTED = "disconnected"  # stopped, or waiting out a backoff


class FeedProtocol(Protocol):
    """What a venue protocol offers its connection."""

    def url(self) -> str: ...

    def depth_routes(self) -> dict | None: ...

    def on_text(self, payload: bytes, ts_recv: int) -> None: ...

    def on_connected(self, link: "Link", rollover: bool) -> None: ...

    def on_disconnected(self, link: "Link", reason: str) -> None: ...

    def on_pong(self, ts_recv: int) -> None: ...

    def send_ping(self, link: "Link") -> None: ...

    def switch_at_once(self) -> bool: ...


class Link:
    """One open WebSocket: its transport, listener and opening time."""

    def __init__(self, number: int, listener: FrameListener):
        self.number = number
        self.listener = listener
        self.transport: Any = None
        self.opened = time.monotonic()
        self.disconnected = asyncio.get_running_loop().create_future()

    def send(self, text: bytes) -> None:
        from picows import WSMsgType

        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send(WSMsgType.TEXT, text)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send_close()
            self.transport.disconnect()


class FeedConnection:
    """Keeps one subscribed WebSocket open for a feed; see the module docstring.

    Parameters
    ----------
    config
        The feed's configuration (timeouts, backoff, age).
    protocol
        The venue protocol.
    """

    def __init__(self, config: FeedConfig, protocol: FeedProtocol):
        self.config = config
        self.protocol = protocol
        self.state = State.DISCONNECTED
        self.link: Link | None = None
        self.reconnects = 0
        self.connects = 0
        self.rollovers = 0
        self.silences = 0
        self.last_error = ""
        self._numbers = 0
        self._messages_closed = 0
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._resumers: set[asyncio.Task] = set()

    # ---- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"feed-{self.config.exchange}")

    async def stop(self) -> None:
        """Close the connection and end the supervising task."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self.link is not None:
            self.link.close()
            self.link = None
        for task in list(self._resumers):
            task.cancel()
        self.state = State.DISCONNECTED

    @property
    def last_message_ns(self) -> int:
        return self.link.listener.last_message_ns if self.link is not None else 0

    def messages(self) -> int:
        """Return the data frames received over every connection so far."""
        return self._messages_closed + (self.link.listener.messages if self.link is not None else 0)

    # ---- connecting --------------------------------------------------------

    async def _open(self) -> Link:
        self._numbers += 1
        listener_box: list[Link] = []
        number = self._numbers

        def on_text(payload: bytes, ts_recv: int) -> None:
            self.protocol.on_text(payload, ts_recv)

        def on_event(kind: str, value: Any) -> None:
            if not listener_box:
                return
            link = listener_box[0]
            if kind == "pong":
                self.protocol.on_pong(value)
            elif kind == "disconnected" and not link.disconnected.done():
                link.disconnected.set_result(None)

        listener = FrameListener(on_text, on_event, self._on_full, self.protocol.depth_routes())
        link = Link(number, listener)
        listener_box.append(link)
        self.connects += 1
        transport, _ = await asyncio.wait_for(
            ws_connect(lambda: listener, self.protocol.url(), enable_auto_pong=False, use_aiofastnet=False,
                       websocket_handshake_timeout=self.config.connect_timeout,
                       logger_name=logging.getLogger("cryptobot.gateways.feeds.picows")),
            self.config.connect_timeout)
        link.transport = transport
        link.opened = time.monotonic()
        return link

    def _on_full(self, target: Any) -> None:
        # A book's mailbox is full: stop reading this socket until it has room,
        # so TCP flow control pushes back instead of the queue growing.
        link = self.link
        if link is None or link.transport is None:
            return
        underlying = link.transport.underlying_transport
        underlying.pause_reading()

        async def resume() -> None:
            try:
                await target.wait_for_room()
            finally:
                if not link.transport.is_disconnected:
                    underlying.resume_reading()

        task = asyncio.get_running_loop().create_task(resume())
        self._resumers.add(task)
        task.add_done_callback(self._resumers.discard)

    async def _run(self) -> None:
        delay = self.config.reconnect_initial
        first = True
        while not self._stopping:
            self.state = State.CONNECTING
            if not first:
                self.reconnects += 1
            first = False
            try:
                link = await self._open()
            except (OSError, asyncio.TimeoutError, WSError, ValueError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.state = State.DISCONNECTED
                wait = delay * (1 + random.random() * 0.25)
                log.warning("%s feed cannot connect to %s: %s; retrying in %.2f s", self.config.exchange,
                            self.protocol.url(), self.last_error, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.config.reconnect_max)
                continue
            self.link = link
            self.state = State.CONNECTED
            log.info("%s feed connected to %s (connection %d)", self.config.exchange, self.protocol.url(), link.number)
            self.protocol.on_connected(link, False)
            reason = await self._supervise()
            self.state = State.DISCONNECTED
            current = self.link
            if current is not None:
                if current.listener.messages:
                    delay = self.config.reconnect_initial
                self._messages_closed += current.listener.messages
                current.close()
                self.link = None
                self.protocol.on_disconnected(current, reason)
            if self._stopping:
                return
            wait = delay * (1 + random.random() * 0.25)
            log.warning("%s feed connection lost (%s); reconnecting in %.2f s", self.config.exchange, reason, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, self.config.reconnect_max)

    # ---- watching ----------------------------------------------------------

    async def _supervise(self) -> str:
        """Watch the current link until it is lost; return why."""
        config = self.config
        tick = min(0.25, config.silence_timeout / 4, config.ping_interval / 2)
        last_ping = time.monotonic()
        while True:
            link = self.link
            try:
                await asyncio.wait_for(asyncio.shield(link.disconnected), tick)
                code = link.listener.close_code
                return f"closed by the server (code {code})" if code else "disconnected"
            except asyncio.TimeoutError:
                pass
            now = time.monotonic()
            last_ns = link.listener.last_message_ns
            silent_for = (time.time_ns() - last_ns) / 1e9 if last_ns else now - link.opened
            if silent_for > config.silence_timeout:
                self.silences += 1
                return f"silent for {silent_for:.1f} s"
            if now - last_ping >= config.ping_interval:
                last_ping = now
                self.protocol.send_ping(link)
            if now - link.opened >= config.max_connection_age:
                await self._roll_over(link)

    async def _roll_over(self, old: Link) -> None:
        """Open a new connection, switch to it once it delivers data, then close the old one."""
        log.info("%s feed connection %d reached %.0f s; rolling over to a new connection", self.config.exchange,
                 old.number, time.monotonic() - old.opened)
        try:
            new = await self._open()
        except (OSError, asyncio.TimeoutError, WSError, ValueError) as exc:
            log.warning("%s feed cannot open the rollover connection: %s; keeping the old one", self.config.exchange, exc)
            old.opened = time.monotonic() - self.config.max_connection_age + min(self.config.reconnect_max, 5.0)
            return
        self.rollovers += 1
        if self.protocol.switch_at_once():
            self._switch(old, new)
            return
        self.protocol.on_connected(new, True)
        deadline = time.monotonic() + self.config.silence_timeout
        while not new.listener.messages and time.monotonic() < deadline and not new.disconnected.done():
            await asyncio.sleep(0.005)
        self._messages_closed += old.listener.messages
        self.link = new
        old.close()

    def _switch(self, old: Link, new: Link) -> None:
        self._messages_closed += old.listener.messages
        self.link = new
        old.close()
        self.protocol.on_disconnected(old, "rollover")
        self.protocol.on_connected(new, False)
