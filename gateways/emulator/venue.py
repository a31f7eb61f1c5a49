"""Shared parts of every emulated venue: its connections, backpressure and faults."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING

from cryptobot.gateways.emulator.connection import ConnectionPolicy, EmulatorConnection
from cryptobot.gateways.emulator.faults import Fault
from cryptobot.gateways.emulator.tape import Tape

if TYPE_CHECKING:
    from cryptobot.gateways.emulator.config import EmulatorConfig

log = logging.getLogger("cryptobot.gateways.emulator")

_connection_ids = itertools.count(1)


class Venue:
    """Base of the Binance and Kraken venues.

    It registers connections (ids are unique across venues), tracks which
    of them are backpressured so a fast replay waits for them, and keeps the
    faults that apply to every connection of the venue.
    """

    name = ""

    def __init__(self, config: EmulatorConfig, policy: ConnectionPolicy):
        self.config = config
        self.policy = policy
        self.tapes: list[Tape] = []
        self.connections: dict[int, EmulatorConnection] = {}
        self.stream_faults: list[Fault] = []
        self._paused: set[EmulatorConnection] = set()
        self._writable = asyncio.Event()
        self._writable.set()
        self.blocked = False

    # ---- connection registry --------------------------------------------

    def register(self, connection: EmulatorConnection) -> int:
        connection_id = next(_connection_ids)
        self.connections[connection_id] = connection
        return connection_id

    def unregister(self, connection: EmulatorConnection) -> None:
        self.connections.pop(connection.id, None)
        self.writers_paused(connection, False)

    def writers_paused(self, connection: EmulatorConnection, paused: bool) -> None:
        if paused:
            self._paused.add(connection)
        else:
            self._paused.discard(connection)
        self.blocked = bool(self._paused)
        if self.blocked:
            self._writable.clear()
        else:
            self._writable.set()

    async def drain(self) -> None:
        """Wait until no subscriber is backpressured; always yield to the event loop once.

        A client that reads nothing for ``slow_client_timeout`` seconds is
        disconnected, as an exchange drops a consumer that cannot keep up,
        so one stuck reader does not stall every other subscriber.
        """
        if not self.blocked:
            await asyncio.sleep(0)
            return
        try:
            await asyncio.wait_for(self._writable.wait(), self.config.slow_client_timeout)
        except asyncio.TimeoutError:
            for connection in list(self._paused):
                log.warning("connection %d read nothing for %.3g s while its send buffer was full, disconnecting",
                            connection.id, self.config.slow_client_timeout)
                connection.drop()
                self.writers_paused(connection, False)

    def dispatch(self, tape: Tape, index: int) -> None:
        raise NotImplementedError

    def dispatch_batch(self, tape: Tape, start: int, end: int) -> None:
        """Send frames ``start`` to ``end`` - 1 of ``tape``; venues may override with a faster loop."""
        for index in range(start, end):
            self.dispatch(tape, index)

    # ---- faults ------------------------------------------------------------

    def targets(self, fault: Fault) -> list[EmulatorConnection]:
        if fault.connection is None:
            return list(self.connections.values())
        connection = self.connections.get(fault.connection)
        return [connection] if connection is not None else []

    def take_stream_fault(self, kind: str, symbol: str) -> bool:
        """Consume one venue-wide pending fault of ``kind`` for ``symbol``; tell whether one fired."""
        for fault in list(self.stream_faults):
            if fault.remaining <= 0:
                # A fault armed on every venue may have been used up by another one.
                self.stream_faults.remove(fault)
                continue
            if fault.kind == kind and fault.matches_symbol(symbol):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.stream_faults.remove(fault)
                return True
        return False

    def clear_faults(self) -> None:
        self.stream_faults.clear()
        for connection in self.connections.values():
            connection.pending.clear()
            connection.unstall()

    # ---- lifecycle ---------------------------------------------------------

    def close_subscribers(self, tape: Tape) -> int:
        """Close every connection subscribed to a channel of ``tape``; return how many."""
        raise NotImplementedError

    async def stop(self) -> None:
        for tape in self.tapes:
            await tape.stop()
        for connection in list(self.connections.values()):
            connection.close()

    def status(self) -> dict:
        return {
            "connections": len(self.connections),
            "tapes": [
                {"name": tape.name, "state": tape.state, "position": tape.position, "frames": len(tape.frames),
                 "loop": tape.loop_index}
                for tape in self.tapes
            ],
        }
