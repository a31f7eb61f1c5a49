"""Append-only spill files for tick batches the store could not take in time.

A spill folder contains segment files ``<created ns>-<n>.spill``.  Each segment
is a sequence of blocks, one sealed batch per block::

    magic     4 bytes   b"CBS1"
    head_len  uint32    little-endian, length of the JSON head
    data_len  uint64    little-endian, length of the Arrow IPC stream
    crc32     uint32    zlib CRC-32 of head + data
    head      JSON      {"table", "token", "rows", "created_ns"}
    data      Arrow IPC stream of the batch's table

A block is written with one ``write`` and made durable with ``fsync`` before
the batch counts as spilled.  A crash during that write leaves a short or
mismatching last block: the reader stops there and reports it instead of
decoding garbage, and every complete block before it is still used.

A drained segment records how many of its blocks were inserted in
``<segment>.done``, so a restart resumes after them; the batch tokens make
the one block that may have been inserted but not yet recorded harmless.
A segment with a torn block is renamed ``*.corrupt`` once its good blocks
are in, and kept for inspection.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.ipc

from cryptobot.core.errors import StorageError
from cryptobot.storage.tick_batches import Batch

log = logging.getLogger("cryptobot.storage.spill")

MAGIC = b"CBS1"
_PREFIX = struct.Struct("<4sIQI")
SEGMENT_SUFFIX = ".spill"


class TornBlock(Exception):
    """A block at ``offset`` is cut short or fails its checksum."""

    def __init__(self, path: Path, offset: int, reason: str):
        super().__init__(f"torn spill block in {path} at byte {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


def encode_block(batch: Batch) -> bytes:
    """Serialize one batch as a spill block."""
    head = json.dumps({"table": batch.table, "token": batch.token, "rows": batch.rows,
                       "created_ns": batch.created_ns}).encode()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.data.schema) as writer:
        writer.write_table(batch.data)
    data = sink.getvalue().to_pybytes()
    crc = zlib.crc32(data, zlib.crc32(head))
    return _PREFIX.pack(MAGIC, len(head), len(data), crc) + head + data


def read_blocks(path: Path) -> Iterator[Batch]:
    """Yield the batches of a segment in order; raise TornBlock at a damaged block."""
    with open(path, "rb") as handle:
        offset = 0
        while True:
            prefix = handle.read(_PREFIX.size)
            if not prefix:
                return
            if len(prefix) < _PREFIX.size:
                raise TornBlock(path, offset, f"block prefix cut at {len(prefix)} of {_PREFIX.size} bytes")
            magic, head_len, data_len, crc = _PREFIX.unpack(prefix)
            if magic != MAGIC:
                raise TornBlock(path, offset, f"bad magic {magic!r}")
            body = handle.read(head_len + data_len)
            if len(body) < head_len + data_len:
                raise TornBlock(path, offset, f"block cut at {len(body)} of {head_len + data_len} bytes")
            if zlib.crc32(body) != crc:
                raise TornBlock(path, offset, "checksum mismatch")
            head = json.loads(body[:head_len])
            with pa.ipc.open_stream(pa.py_buffer(body[head_len:])) as reader:
                table = reader.read_all()
            yield Batch(head["table"], head["token"], table, head.get("created_ns", 0))
            offset += _PREFIX.size + head_len + data_len


class SpillFolder:
    """The spill segments of one recorder, in one folder it locks for itself.

    Parameters
    ----------
    path
        Folder for the segments; created if missing.
    segment_bytes
        Size after which the next block starts a new segment.
    """

    def __init__(self, path: str | Path, segment_bytes: int = 256 << 20):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._current: Path | None = None
        self._handle = None
        self._sequence = 0
        self._lock_file = open(self.path / ".lock", "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise StorageError(f"Cannot use spill folder {self.path}: another recorder has locked it") from None

    def append(self, batch: Batch) -> int:
        """Write one batch durably; return the bytes written."""
        block = encode_block(batch)
        with self._lock:
            if self._handle is None or self._handle.tell() >= self.segment_bytes:
                self._rotate_locked()
                self._current = self.path / f"{time.time_ns()}-{self._sequence}{SEGMENT_SUFFIX}"
                self._sequence += 1
                self._handle = open(self._current, "ab")
            try:
                self._handle.write(block)
                self._handle.flush()
                os.fsync(self._handle.fileno())
            except OSError:
                # A partial block may be on disk: end the segment there, so the
                # reader's stop at that block cannot hide blocks written later.
                self._rotate_locked()
                raise
        return len(block)

    def _rotate_locked(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._current = None

    def seal_current(self) -> None:
        """Close the segment being written, so it can be drained; the next block starts a new one."""
        with self._lock:
            self._rotate_locked()

    def segments(self) -> list[Path]:
        """Return the closed segments, oldest first."""
        with self._lock:
            current = self._current
        found = [p for p in self.path.glob(f"*{SEGMENT_SUFFIX}") if p != current]
        return sorted(found, key=lambda p: tuple(int(part) for part in p.stem.split("-")))

    def has_segments(self) -> bool:
        with self._lock:
            return self._handle is not None or any(self.path.glob(f"*{SEGMENT_SUFFIX}"))

    def pending_rows(self) -> int:
        """Count the rows of all segments not yet drained (reads every block head)."""
        total = 0
        for segment in self.path.glob(f"*{SEGMENT_SUFFIX}"):
            done = _read_done(segment)
            try:
                for index, batch in enumerate(read_blocks(segment)):
                    if index >= done:
                        total += batch.rows
            except TornBlock:
                pass
        return total

    def drain(self, segment: Path, insert: Callable[[Batch], None]) -> tuple[int, TornBlock | None]:
        """Insert the remaining blocks of a closed segment, then delete it.

        Returns the rows inserted and the torn block found, if any.  An error
        raised by ``insert`` propagates; the blocks inserted before it stay
        recorded in the ``.done`` file.
        """
        done = _read_done(segment)
        rows = 0
        torn = None
        index = 0
        try:
            for index, batch in enumerate(read_blocks(segment)):
                if index < done:
                    continue
                insert(batch)
                rows += batch.rows
                _write_done(segment, index + 1)
        except TornBlock as exc:
            torn = exc
        if torn is None:
            segment.unlink()
        else:
            log.error("spill segment %s is damaged (%s); its complete blocks were written, kept as .corrupt",
                      segment, torn.reason)
            segment.rename(segment.with_name(segment.name + ".corrupt"))
        _done_path(segment).unlink(missing_ok=True)
        return rows, torn

    def close(self) -> None:
        with self._lock:
            self._rotate_locked()
        self._lock_file.close()


def _done_path(segment: Path) -> Path:
    return segment.with_name(segment.name + ".done")


def _read_done(segment: Path) -> int:
    try:
        return int(_done_path(segment).read_text().strip() or 0)
    except FileNotFoundError:
        return 0


def _write_done(segment: Path, count: int) -> None:
    path = _done_path(segment)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(str(count))
    os.replace(tmp, path)
