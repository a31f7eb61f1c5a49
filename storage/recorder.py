"""TickRecorder: buffer ticks on the event loop, write them to ClickHouse from threads.

The recorder actor calls the ``add_*`` methods on the event loop.  They copy
values into preallocated numpy columns (:mod:`.tick_batches`) and hand sealed
batches to the writer under a lock that every thread holds only for short
in-memory updates, so they never wait for an insert or for disk.  A buffer is sealed into an Arrow batch when it is full or
older than ``flush_interval``; a writer thread inserts sealed batches in
order, each with its own deduplication token, so a retry of a batch the
store did take is dropped by the store instead of doubling its rows.

When the store fails or falls behind, sealed batches wait in memory up to
``max_memory_rows``; past that a spill thread moves the oldest ones to
append-only files in the spill folder (:mod:`.spill`).  The writer retries
with exponential backoff, and once inserts succeed it writes the spilled
batches first, then the ones in memory.  A recorder started on a spill
folder that still holds segments (after a crash or an outage at shutdown)
writes them too.  Nothing is dropped: at :meth:`TickRecorder.close` any batch
the store did not take within ``close_timeout`` is spilled.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict
from pathlib import Path

import numpy as np

from cryptobot.core.errors import StorageError, ValidationError
from cryptobot.core.types import BookDelta, BookDeltas, BookSnapshot, TradeTick
from cryptobot.storage.clickhouse import ClickHouseStore
from cryptobot.storage.spill import SpillFolder
from cryptobot.storage.tick_batches import (
    BOOK_SIDES, DELTA_COLUMNS, SIDE_ASK, SIDE_BID, TRADE_COLUMNS, TRADE_SIDES, Batch, ColumnBuffer, Counters, NameTable,
    SnapshotBuffer, check_columns, side_codes,
)

log = logging.getLogger("cryptobot.storage.recorder")

_RETRY_FIRST_SECONDS = 0.05


class TickRecorder:
    """Batches trades, book deltas and snapshots into ClickHouse without blocking the loop.

    Parameters
    ----------
    store
        The store to write to; the recorder's writer thread is its only user.
    spill_folder
        Folder for spill segments, owned by this recorder alone.
    batch_rows
        Rows per trade or book-delta batch.
    flush_interval
        Seconds after which a partly filled buffer is sealed anyway.
    max_memory_rows
        Sealed rows kept in memory before the oldest batches are spilled.
    snapshot_depth
        Levels per side kept from each snapshot.
    close_timeout
        Seconds :meth:`close` waits for the store before spilling the rest.
    retry_max_seconds
        Maximum wait in seconds between two attempts at a failing insert.

    Warnings
    --------
    The ``add_*`` methods must be called from one thread (the event loop).
    """

    def __init__(self, store: ClickHouseStore, spill_folder: str | Path, *, batch_rows: int = 100_000,
                 flush_interval: float = 1.0, max_memory_rows: int = 2_000_000, snapshot_depth: int = 20,
                 snapshot_batch: int = 100, close_timeout: float = 10.0, retry_max_seconds: float = 5.0):
        for name, value, low in (("batch_rows", batch_rows, 1), ("max_memory_rows", max_memory_rows, 1),
                                 ("snapshot_depth", snapshot_depth, 1), ("snapshot_batch", snapshot_batch, 1)):
            if value < low:
                raise ValidationError(f"'{name}' out of range [{low}, inf), was {value}", {name: "out of range"})
        if not flush_interval > 0:
            raise ValidationError(f"'flush_interval' out of range (0, inf), was {flush_interval}")
        self.store = store
        self.batch_rows = batch_rows
        self.flush_interval = flush_interval
        self.max_memory_rows = max_memory_rows
        self.snapshot_depth = snapshot_depth
        self.snapshot_batch = snapshot_batch
        self.close_timeout = close_timeout
        self.retry_max_seconds = retry_max_seconds
        self.recorder_id = uuid.uuid4().hex
        self._sequence = 0
        self._exchanges = NameTable()
        self._symbols = NameTable()
        self._trades = ColumnBuffer(TRADE_COLUMNS, batch_rows)
        self._deltas = ColumnBuffer(DELTA_COLUMNS, batch_rows)
        self._snapshots = SnapshotBuffer()
        self._spill = SpillFolder(spill_folder)
        self._cond = threading.Condition()
        self._pending: deque[Batch] = deque()
        self._pending_rows = 0
        self._inflight_rows = 0
        self._spill_dirty = bool(self._spill.segments())
        self._spill_generation = 0
        self._stop = False
        self._closed = False
        self._counters = Counters(spill_pending=self._spill.pending_rows() if self._spill_dirty else 0)
        self._threads: list[threading.Thread] = []
        self._timer: asyncio.Task | None = None

    # ---- event-loop side -------------------------------------------------

    async def start(self) -> None:
        """Start the writer and spill threads and the flush timer."""
        self._start_threads()
        if self._timer is None:
            self._timer = asyncio.get_running_loop().create_task(self._timer_main())

    def _start_threads(self) -> None:
        if self._threads:
            return
        for target, name in ((self._writer_main, "writer"), (self._spiller_main, "spiller")):
            thread = threading.Thread(target=target, name=f"tick-recorder-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def add_trade(self, tick: TradeTick) -> None:
        """Buffer one trade.  Runtime: a few array stores; seals a batch when the buffer fills."""
        buffer = self._trades
        side = TRADE_SIDES.get(tick.side)
        if side is None:
            raise ValidationError(f"'side' must be buy or sell, was {tick.side!r}", {"side": "invalid side"})
        i = buffer.size
        if i == 0:
            buffer.first_ns = time.monotonic_ns()
        exchange, symbol, ts_event, ts_recv, price, quantity, sides, trade_id = buffer.row_views
        exchange[i] = self._exchanges.code(tick.exchange)
        symbol[i] = self._symbols.code(tick.symbol)
        ts_event[i] = tick.ts_event
        ts_recv[i] = tick.ts_recv
        price[i] = float(tick.price)
        quantity[i] = float(tick.quantity)
        sides[i] = side
        trade_id[i] = tick.trade_id
        buffer.size = i + 1
        if buffer.size == buffer.capacity:
            self._seal("trades", buffer)

    def add_trades_columnar(self, exchange: str, symbol: str, ts_event, ts_recv, price, quantity, side,
                            trade_id) -> None:
        """Buffer trades of one instrument given as arrays (side: 1/2 codes or ``buy``/``sell``)."""
        columns, length = check_columns(
            {"ts_event": ts_event, "ts_recv": ts_recv, "price": price, "quantity": quantity,
             "side": side_codes(side, TRADE_SIDES), "trade_id": trade_id}, TRADE_COLUMNS)
        self._append_columns("trades", self._trades, exchange, symbol, columns, length)

    def add_book_deltas(self, deltas: BookDeltas) -> None:
        """Buffer the level changes of one book event, bids then asks."""
        bids = np.asarray(deltas.bids, dtype=np.float64).reshape(-1, 2)
        asks = np.asarray(deltas.asks, dtype=np.float64).reshape(-1, 2)
        count = len(bids) + len(asks)
        if count == 0:
            return
        levels = np.concatenate((bids, asks))
        columns = {
            "ts_event": np.full(count, deltas.ts_event, dtype=np.int64),
            "ts_recv": np.full(count, deltas.ts_recv, dtype=np.int64),
            "first_id": np.full(count, deltas.first_id, dtype=np.int64),
            "last_id": np.full(count, deltas.last_id, dtype=np.int64),
            "prev_id": np.full(count, deltas.prev_id, dtype=np.int64),
            "side": np.repeat(np.array([SIDE_BID, SIDE_ASK], dtype=np.int8), (len(bids), len(asks))),
            "price": levels[:, 0],
            "size": levels[:, 1],
            "ordinal": np.arange(count, dtype=np.uint32),
            "checksum": np.full(count, deltas.checksum, dtype=np.int64),
        }
        self._append_columns("book_deltas", self._deltas, deltas.exchange, deltas.symbol, columns, count)

    def add_book_delta(self, delta: BookDelta) -> None:
        """Buffer one level change as a book event of its own (``sequence`` as first and last id)."""
        level = np.array([[delta.price, delta.size]], dtype=np.float64)
        empty = np.empty((0, 2), dtype=np.float64)
        side = BOOK_SIDES.get(delta.side)
        if side is None:
            raise ValidationError(f"'side' must be bid or ask, was {delta.side!r}", {"side": "invalid side"})
        self.add_book_deltas(BookDeltas(delta.exchange, delta.symbol, delta.ts_event, delta.ts_recv, delta.sequence,
                                        delta.sequence, -1, level if side == SIDE_BID else empty,
                                        level if side == SIDE_ASK else empty))

    def add_snapshot(self, snapshot: BookSnapshot) -> None:
        """Buffer the top ``snapshot_depth`` levels of each side of a book snapshot."""
        depth = self.snapshot_depth
        buffer = self._snapshots
        if buffer.size == 0:
            buffer.first_ns = time.monotonic_ns()
        buffer.append(snapshot.exchange, snapshot.symbol, snapshot.ts_event, snapshot.ts_recv, snapshot.sequence,
                      np.asarray(snapshot.bids)[:depth], np.asarray(snapshot.asks)[:depth])
        if buffer.size >= self.snapshot_batch:
            self._seal_snapshots()

    def _append_columns(self, table: str, buffer: ColumnBuffer, exchange: str, symbol: str,
                        columns: dict[str, np.ndarray], length: int) -> None:
        exchange_code = self._exchanges.code(exchange)
        symbol_code = self._symbols.code(symbol)
        start = 0
        while start < length:
            if buffer.size == 0:
                buffer.first_ns = time.monotonic_ns()
            start += buffer.append_columns(exchange_code, symbol_code, columns, start, length)
            if buffer.size == buffer.capacity:
                self._seal(table, buffer)

    def _seal(self, table: str, buffer: ColumnBuffer) -> None:
        if buffer.size:
            self._enqueue(table, buffer.seal(self._exchanges, self._symbols))

    def _seal_snapshots(self) -> None:
        if self._snapshots.size:
            self._enqueue("book_snapshots", self._snapshots.seal())

    def _enqueue(self, table: str, data) -> None:
        if self._closed:
            raise StorageError("Cannot record ticks: the recorder is closed")
        self._sequence += 1
        batch = Batch(table, f"{self.recorder_id}:{table}:{self._sequence}", data, time.time_ns())
        with self._cond:
            self._pending.append(batch)
            self._pending_rows += batch.rows
            self._cond.notify_all()

    def seal_all(self) -> None:
        """Seal every non-empty buffer, so its rows go to the writer now."""
        self._seal("trades", self._trades)
        self._seal("book_deltas", self._deltas)
        self._seal_snapshots()

    async def _timer_main(self) -> None:
        limit = int(self.flush_interval * 1e9)
        while True:
            await asyncio.sleep(self.flush_interval / 4)
            now = time.monotonic_ns()
            for table, buffer in (("trades", self._trades), ("book_deltas", self._deltas)):
                if buffer.size and now - buffer.first_ns >= limit:
                    self._seal(table, buffer)
            if self._snapshots.size and now - self._snapshots.first_ns >= limit:
                self._seal_snapshots()

    async def flush(self, timeout: float | None = None) -> bool:
        """Seal all buffers and wait until the store has every row; False if ``timeout`` ran out first."""
        self.seal_all()
        return await asyncio.to_thread(self._wait_idle, timeout)

    async def close(self, timeout: float | None = None) -> None:
        """Write everything (spilling what the store does not take in time) and stop the threads.

        Closing twice is harmless.  Ticks added after close are not recorded:
        sealing their batch raises StorageError.
        """
        if self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.seal_all()
        self._closed = True
        self._start_threads()  # a recorder closed before start() still writes what it has
        wait = self.close_timeout if timeout is None else timeout
        await asyncio.to_thread(self._shutdown, wait)

    def counters(self) -> dict:
        """Return the monitoring counters (rows buffered, spilled, written; retries; last error)."""
        with self._cond:
            counters = Counters(**asdict(self._counters))
            counters.buffered = self._trades.size + self._deltas.size + self._snapshots.size
            counters.buffered += self._pending_rows + self._inflight_rows
        return asdict(counters)

    # ---- threads ------------------------------------------------------------

    def _idle_locked(self) -> bool:
        return not self._pending and not self._inflight_rows and not self._spill_dirty

    def _wait_idle(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._idle_locked():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _shutdown(self, timeout: float) -> None:
        self._wait_idle(timeout)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        with self._cond:
            left = list(self._pending)
            self._pending.clear()
            self._pending_rows = 0
        for batch in left:
            self._spill_batch(batch)
        if left:
            log.warning("recorder closed with the store unavailable: %d batches spilled to %s", len(left), self._spill.path)
        self._spill.close()
        self.store.close()

    def _spill_batch(self, batch: Batch) -> None:
        self._spill.append(batch)
        with self._cond:
            self._counters.spilled += batch.rows
            self._counters.spill_pending += batch.rows
            self._spill_dirty = True
            self._spill_generation += 1
            self._cond.notify_all()

    def _spiller_main(self) -> None:
        low_water = self.max_memory_rows // 2
        while True:
            with self._cond:
                while not self._stop and self._pending_rows <= self.max_memory_rows:
                    self._cond.wait()
                if self._stop:
                    return
                batches = []
                while self._pending and self._pending_rows > low_water:
                    batch = self._pending.popleft()
                    self._pending_rows -= batch.rows
                    batches.append(batch)
            for index, batch in enumerate(batches):
                try:
                    self._spill_batch(batch)
                except OSError as exc:
                    # Keep the rows in memory rather than lose them; try again on the next overflow.
                    log.error("cannot spill to %s: %s", self._spill.path, exc)
                    with self._cond:
                        for back in reversed(batches[index:]):
                            self._pending.appendleft(back)
                            self._pending_rows += back.rows
                        self._cond.wait(1.0)
                    break

    def _writer_main(self) -> None:
        backoff = 0.0
        while True:
            with self._cond:
                while not self._stop and not self._pending and not self._spill_dirty:
                    self._cond.wait()
                if self._stop:
                    return
                drain = self._spill_dirty
                batch = None if drain else self._pending.popleft()
                if batch is not None:
                    self._pending_rows -= batch.rows
                    self._inflight_rows = batch.rows
            try:
                if drain:
                    self._drain_spill()
                else:
                    self._insert(batch)
                backoff = 0.0
            # NOTE: every error is retried, so a batch the store rejects for good
            # (say, after a schema change) holds back later ones; last_error shows it.
            except Exception as exc:  # any store failure: keep the rows, retry later
                backoff = min(max(backoff * 2, _RETRY_FIRST_SECONDS), self.retry_max_seconds)
                self._record_failure(exc, batch, backoff)
                with self._cond:
                    if not self._stop:
                        self._cond.wait(backoff)
            finally:
                with self._cond:
                    self._inflight_rows = 0
                    self._cond.notify_all()

    def _insert(self, batch: Batch, from_spill: bool = False) -> None:
        self.store.insert_arrow(batch.table, batch.data, token=batch.token)
        with self._cond:
            counters = self._counters
            counters.written += batch.rows
            counters.batches_written += 1
            counters.by_table[batch.table] = counters.by_table.get(batch.table, 0) + batch.rows
            if from_spill:
                counters.spill_pending = max(0, counters.spill_pending - batch.rows)

    def _drain_spill(self) -> None:
        self._spill.seal_current()
        for segment in self._spill.segments():
            _, torn = self._spill.drain(segment, lambda batch: self._insert(batch, from_spill=True))
            if torn is not None:
                with self._cond:
                    self._counters.corrupt_spill_blocks += 1
                    self._counters.last_error = str(torn)
                    self._counters.last_error_ns = time.time_ns()
        # Look at the folder outside the lock (the event loop takes it too). A
        # batch spilled meanwhile bumps the generation, which keeps the flag set.
        with self._cond:
            generation = self._spill_generation
        remaining = self._spill.has_segments()
        with self._cond:
            self._spill_dirty = remaining or generation != self._spill_generation
            if not self._spill_dirty:
                self._counters.spill_pending = 0

    def _record_failure(self, exc: Exception, batch: Batch | None, backoff: float) -> None:
        with self._cond:
            if batch is not None:
                self._pending.appendleft(batch)
                self._pending_rows += batch.rows
            self._counters.retries += 1
            self._counters.last_error = f"{type(exc).__name__}: {exc}"
            self._counters.last_error_ns = time.time_ns()
            retries = self._counters.retries
        # One line per failure streak step; the backoff caps the rate at one per retry_max_seconds.
        log.warning("insert into ClickHouse at %s failed (attempt %d, next in %.2fs): %s",
                    self.store.target, retries, backoff, exc)
        # Reconnect on the next attempt: the old client may be the broken part.
        try:
            self.store.close()
        except Exception:
            log.debug("closing the failed ClickHouse client raised", exc_info=True)
