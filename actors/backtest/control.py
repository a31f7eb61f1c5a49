"""A cancel flag and a progress figure shared between the service and a worker process.

Both sides map the same 16-byte file: byte 0 is the cancel flag, bytes 8
to 15 the progress in percent as a float64.  A file in the job's folder
works with every process start method and needs no manager process.  The
replay reads the flag between chunks, which costs one memory read.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from cryptobot.core.errors import CryptobotError

_SIZE = 16
_PROGRESS = struct.Struct("<d")


class BacktestCancelled(CryptobotError):
    """The backtest was cancelled while it ran."""

    code = "cancelled"
    http_status = 409


class Control:
    """The shared cancel flag and progress; ``create`` in the service, ``open`` in the worker.

    Without a path it lives in this process only (for runs started in place).
    """

    def __init__(self, path: str | Path | None = None, create: bool = False):
        self.path = Path(path) if path is not None else None
        if self.path is None:
            self._map: mmap.mmap | bytearray = bytearray(_SIZE)
            return
        if create:
            self.path.write_bytes(bytes(_SIZE))
        with open(self.path, "r+b") as handle:
            self._map = mmap.mmap(handle.fileno(), _SIZE)

    @property
    def cancelled(self) -> bool:
        return self._map[0] == 1

    def cancel(self) -> None:
        self._map[0] = 1

    def check(self) -> None:
        """Raise BacktestCancelled when the flag is set."""
        if self._map[0] == 1:
            raise BacktestCancelled("the backtest was cancelled")

    @property
    def progress(self) -> float:
        return _PROGRESS.unpack_from(self._map, 8)[0]

    @progress.setter
    def progress(self, percent: float) -> None:
        _PROGRESS.pack_into(self._map, 8, float(percent))

    def close(self) -> None:
        if isinstance(self._map, mmap.mmap):
            self._map.close()
