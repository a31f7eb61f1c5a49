"""The server side of one emulated WebSocket connection.

Frames are sent pre-framed: the emulator builds the WebSocket frame bytes
(header and unmasked payload, RFC 6455 section 5.2) once per recorded
message and writes them straight to the TCP transport, control frames
(ping, pong, close) included.  picows parses what the client sends and
runs the handshake.  Every write is an immutable ``bytes`` object: on
uvloop's transport, frames written with ``WSTransport.send`` were seen
corrupted on the wire when the socket buffer was full (picows 2.3), and
sending through it was several times slower (``benchmarks/emulator_send_rate.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

if TYPE_CHECKING:
    from cryptobot.gateways.emulator.faults import Fault

log = logging.getLogger("cryptobot.gateways.emulator")


PING, PONG, CLOSE = 0x9, 0xA, 0x8


def control_frame(opcode: int, payload: bytes = b"") -> bytes:
    """Frame a control message (at most 125 bytes of payload, RFC 6455 section 5.5)."""
    payload = payload[:125]
    return bytes((0x80 | opcode, len(payload))) + payload


def close_frame(code: WSCloseCode, reason: str = "") -> bytes:
    return control_frame(CLOSE, code.value.to_bytes(2, "big") + reason.encode()[:123])


def text_frame(payload: bytes) -> bytes:
    """Frame ``payload`` as one final, unmasked WebSocket text frame."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + payload


class ConnectionPolicy:
    """Per-venue connection rules: server pings, pong timeout, age limit, request rate.

    Parameters
    ----------
    ping_interval
        Seconds between server pings; None sends none.
    pong_timeout
        Seconds the client has to reply to a ping before it is disconnected.
    max_age
        Seconds after which the connection is closed; None keeps it open.
    max_messages_per_second
        Client text frames allowed per second; beyond it the connection is
        dropped.  None sets no limit.
    """

    __slots__ = ("ping_interval", "pong_timeout", "max_age", "max_messages_per_second")

    def __init__(self, ping_interval: float | None, pong_timeout: float, max_age: float | None,
                 max_messages_per_second: int | None):
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.max_age = max_age
        self.max_messages_per_second = max_messages_per_second


class EmulatorConnection(WSListener):
    """Base listener: lifecycle, pings, age limit, request rate, stalls and faults.

    ``plain`` is True while nothing special applies (no pending fault, no
    stall, not paused), so the replay loop can write frames directly.
    Subclasses implement :meth:`on_text` and :meth:`on_closed`.
    """

    venue_name = ""

    def __init__(self, registry: Any, policy: ConnectionPolicy, path: str):
        self.registry = registry
        self.policy = policy
        self.path = path
        self.id = 0
        self.transport: WSTransport | None = None
        self.write = self._write_before_connect
        self.plain = False
        self.paused = False
        self.closed = False
        self.closing = False
        self.opened_at = 0.0
        self.last_sent = 0.0
        self.stalled_until: float | None = None
        self.pending: list[Fault] = []
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._ping_sent_at = 0.0
        self._pong_at = 0.0
        self._message_times: list[float] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- picows callbacks -------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self._loop = asyncio.get_running_loop()
        self.write = transport.underlying_transport.write
        self.opened_at = self.last_sent = time.monotonic()
        self.id = self.registry.register(self)
        self.refresh_plain()
        policy = self.policy
        if policy.ping_interval:
            self._timers["ping"] = self._loop.call_later(policy.ping_interval, self._send_ping)
        if policy.max_age:
            self._timers["age"] = self._loop.call_later(policy.max_age, self._cut_for_age)
        log.info("connection %d opened on %s %s", self.id, self.venue_name, self.path)
        self.on_open()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == WSMsgType.TEXT:
            if not self._within_rate():
                log.warning("connection %d sent more than %s messages in a second, disconnecting",
                            self.id, self.policy.max_messages_per_second)
                self.drop()
                return
            self.on_text(frame.get_payload_as_bytes())
        elif kind == WSMsgType.PONG:
            self._pong_at = time.monotonic()
        elif kind == WSMsgType.PING:
            if not self.closed:
                self.write(control_frame(PONG, frame.get_payload_as_bytes()))
        elif kind == WSMsgType.CLOSE:
            if not self.closing:
                self.closing = True
                self.write(close_frame(frame.get_close_code()))
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed = True
        self.plain = False
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self.registry.unregister(self)
        self.on_closed()
        log.info("connection %d closed on %s", self.id, self.venue_name)

    def pause_writing(self) -> None:
        self.paused = True
        self.plain = False
        self.registry.writers_paused(self, True)

    def resume_writing(self) -> None:
        self.paused = False
        self.refresh_plain()
        self.registry.writers_paused(self, False)

    # ---- hooks for subclasses --------------------------------------------

    def on_open(self) -> None:
        """Run once the handshake is done (send a status message, subscribe URL streams)."""

    def on_text(self, payload: bytes) -> None:
        """Handle one text frame from the client."""

    def on_closed(self) -> None:
        """Release subscriptions after the connection closed."""

    # ---- sending ----------------------------------------------------------

    def _write_before_connect(self, data: bytes) -> None:
        raise RuntimeError("Cannot write to a connection before its handshake completed")

    def refresh_plain(self) -> None:
        """Recompute whether the fast path applies."""
        self.plain = not (self.closed or self.closing or self.paused or self.pending or self.stalled_until is not None)

    def is_stalled(self) -> bool:
        """Tell whether a stall fault currently silences this connection."""
        if self.stalled_until is None:
            return False
        if time.monotonic() < self.stalled_until:
            return True
        self.stalled_until = None
        self.refresh_plain()
        return False

    def send_framed(self, data: bytes) -> None:
        """Write one pre-framed message unless the connection is closed or stalled.

        A paused (backpressured) connection still buffers: the replay loop
        waits for it to drain, as a real server's send buffer would fill.
        """
        if self.closed or self.closing or self.is_stalled():
            return
        self.write(data)
        self.last_sent = time.monotonic()

    def send_text(self, payload: bytes) -> None:
        """Frame and send one message (for replies and generated messages)."""
        self.send_framed(text_frame(payload))

    def drop(self) -> None:
        """Cut the TCP connection without a close frame, as a network failure would."""
        if self.transport is not None and not self.closed:
            self.transport.disconnect(graceful=False)

    def close(self, code: WSCloseCode = WSCloseCode.GOING_AWAY, reason: str = "") -> None:
        """Send a close frame and disconnect once the send buffer is flushed."""
        if self.transport is not None and not self.closed and not self.closing:
            self.closing = True
            self.plain = False
            self.write(close_frame(code, reason))
            self.transport.disconnect()

    def stall(self, seconds: float | None) -> None:
        """Stop sending anything (data, pings, heartbeats) for ``seconds``, or until cleared."""
        self.stalled_until = float("inf") if seconds is None else time.monotonic() + seconds
        self.plain = False

    def unstall(self) -> None:
        self.stalled_until = None
        self.refresh_plain()

    def add_fault(self, fault: Fault) -> None:
        self.pending.append(fault)
        self.plain = False

    def take_fault(self, kind: str, symbol: str) -> bool:
        """Consume one pending fault of ``kind`` matching ``symbol``; tell whether one fired."""
        for fault in self.pending:
            if fault.kind == kind and fault.matches_symbol(symbol):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.pending.remove(fault)
                    self.refresh_plain()
                return True
        return False

    # ---- timers -----------------------------------------------------------

    def _send_ping(self) -> None:
        if self.closed or self._loop is None:
            return
        if not self.is_stalled():
            self._ping_sent_at = time.monotonic()
            self.write(control_frame(PING))
            if "pong" not in self._timers or self._timers["pong"].when() <= self._loop.time():
                self._timers["pong"] = self._loop.call_later(self.policy.pong_timeout, self._check_pong, self._ping_sent_at)
        self._timers["ping"] = self._loop.call_later(self.policy.ping_interval, self._send_ping)

    def _check_pong(self, ping_sent_at: float) -> None:
        if self.closed or self._pong_at >= ping_sent_at:
            return
        log.info("connection %d sent no pong within %.3g s of a ping, disconnecting", self.id, self.policy.pong_timeout)
        self.drop()

    def _cut_for_age(self) -> None:
        log.info("connection %d reached its maximum age of %.6g s, closing", self.id, self.policy.max_age)
        self.close(WSCloseCode.GOING_AWAY, "connection lifetime reached")

    def _within_rate(self) -> bool:
        limit = self.policy.max_messages_per_second
        if not limit:
            return True
        now = time.monotonic()
        times = self._message_times
        times.append(now)
        while times and now - times[0] > 1.0:
            times.pop(0)
        return len(times) <= limit
