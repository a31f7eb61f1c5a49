"""Backtest jobs: queued, run in worker processes, stored in PostgreSQL.

A submitted backtest is stored as ``created`` and waits for one of
``Settings.backtest_workers`` slots.  In its slot the service marks it
``running``, spools its ticks (see :mod:`cryptobot.actors.backtest.data`)
in a thread, and runs it in a process of a ``ProcessPoolExecutor``
(forkserver start method where the platform has it, else spawn), so the
replay never holds the engine's event loop or its GIL.  Progress is read
from the job's control file twice a second and stored with a new
completion estimate.  The outcome is stored as ``completed`` (with the
results), ``failed`` (with the reason) or, after :meth:`cancel`,
``cancelled``.

Jobs survive a restart in the store: on :meth:`start`, a job left
``running`` is marked failed (its worker died with the engine), and jobs
still ``created`` are queued again.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptobot.actors.backtest import worker
from cryptobot.actors.backtest.control import Control
from cryptobot.actors.backtest.data import count_trades, read_bars, spool
from cryptobot.actors.backtest.spec import BacktestSpec
from cryptobot.core.clock import Clock, LiveClock, ns_to_iso
from cryptobot.core.errors import Conflict, ValidationError

log = logging.getLogger("cryptobot.actors.backtest.service")

RESTART_REASON = "the engine stopped while the backtest was running"
# Estimates of the whole job (spool and replay), measured on a 2-core test
# machine with room to spare; the estimate is refined from progress while it runs.
TRADES_PER_SECOND = 1_000_000
BARS_PER_SECOND = 20_000
STARTUP_SECONDS = 2.0
_NS = 1_000_000_000


@dataclass
class _Job:
    backtest_id: str
    strategy_id: str
    spec: BacktestSpec
    rows: int
    cancelled: bool = False
    control: Control | None = None
    started: float = 0.0
    task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def seconds(self) -> float:
        rate = BARS_PER_SECOND if self.spec.bars else TRADES_PER_SECOND
        return STARTUP_SECONDS + self.rows / rate


class BacktestService:
    """Runs backtests for the API; see the module docstring.

    Parameters
    ----------
    settings
        Engine settings: ``backtest_workers`` and ``data_dir`` (job folders
        go to ``<data_dir>/backtests``).
    db
        The PostgreSQL store (``db.backtests``, ``db.strategies``).
    ticks
        The engine's ClickHouse store; each job reads through its own clone.
    instruments
        Exchange to {symbol: Instrument}, the filters orders are rounded to.
    """

    def __init__(self, settings: Any, db: Any, ticks: Any, instruments: dict | None = None,
                 clock: Clock | None = None):
        self.settings = settings
        self.db = db
        self.ticks = ticks
        self.instruments = instruments or {}
        self.clock = clock or LiveClock()
        self.workers = int(settings.backtest_workers)
        self.root = Path(settings.data_path) / "backtests"
        self._jobs: dict[str, _Job] = {}
        self._slots = asyncio.Semaphore(self.workers)
        self._pool: ProcessPoolExecutor | None = None
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        """Fail the jobs a previous run left running, queue the ones it left waiting, start the pool."""
        self._stopping = False
        if self.root.exists():
            await asyncio.to_thread(shutil.rmtree, self.root, True)
        self.root.mkdir(parents=True, exist_ok=True)
        self._pool = self._new_pool()
        for row in await self._all("running"):
            try:
                await self.db.backtests.fail(row.id, RESTART_REASON)
                log.warning("backtest %s was running when the engine stopped; marked failed", row.id,
                            extra={"backtest_id": row.id})
            except Conflict:
                pass
        requeued = 0
        for row in reversed(await self._all("created")):
            try:
                strategy = await self.db.strategies.get(row.strategy_id)
                spec = await self._spec(strategy, row.start_date, row.end_date, row.initial_capital, row.parameters,
                                        row.owner_id, base=None)
                rows = await asyncio.to_thread(self._count, spec)
            except Exception as exc:  # noqa: BLE001 - one broken job must not stop the others
                await self.db.backtests.fail(row.id, f"cannot queue after restart: {exc}")
                continue
            self._enqueue(_Job(row.id, row.strategy_id, spec, rows))
            requeued += 1
        log.info("backtest service started: %d workers, %d waiting jobs queued again", self.workers, requeued)

    async def stop(self) -> None:
        """Stop every job: running ones are marked failed, waiting ones stay queued in the store."""
        self._stopping = True
        for job in list(self._jobs.values()):
            if job.control is not None:
                job.cancelled = True
                job.control.cancel()
                try:
                    await self.db.backtests.fail(job.backtest_id, RESTART_REASON)
                except Conflict:
                    pass
            if job.task is not None:
                job.task.cancel()
        tasks = [job.task for job in self._jobs.values() if job.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        log.info("backtest service stopped")

    def _new_pool(self) -> ProcessPoolExecutor:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=context)

    async def _all(self, status: str) -> list:
        rows, page = [], 1
        while True:
            result = await self.db.backtests.list(status=status, page=page, limit=100)
            rows.extend(result.items)
            if page >= result.pages:
                return rows
            page += 1

    # -- requests ---------------------------------------------------------------

    async def submit(self, strategy_record: Any, start_ns: int, end_ns: int, initial_capital: Any,
                     parameters: dict | None = None, owner_id: str | None = None) -> Any:
        """Validate, store and queue a backtest of ``strategy_record``; return the stored record.

        ``parameters`` override the strategy's own for this run only; the
        stored record keeps the full set the run uses.

        Raises
        ------
        ValidationError
            For a bad range, capital or parameter (``details`` names each), or
            when the range holds neither trades nor candles of the strategy's market.
        """
        if self._stopping or self._pool is None:
            raise Conflict("Cannot submit a backtest: the backtest service is not running")
        spec = await self._spec(strategy_record, start_ns, end_ns, initial_capital, parameters, owner_id,
                                base=strategy_record.parameters)
        rows = await asyncio.to_thread(self._count, spec)
        if rows == 0:
            spec = BacktestSpec.from_json({**spec.to_json(), "bars": True, "latency_ns": 0})
            rows = len(await asyncio.to_thread(self._with_store, read_bars, spec))
            if rows == 0:
                raise ValidationError(
                    f"no trades or candles of {spec.symbol} on {spec.exchange} between {ns_to_iso(spec.start_ns)} "
                    f"and {ns_to_iso(spec.end_ns)}; import some with 'cryptobot data import'",
                    {"start_date": "no market data in range"})
        estimate = self.estimated_completion_time(rows, spec.bars)
        record = await self.db.backtests.create(strategy_record.id, start_date=spec.start_ns, end_date=spec.end_ns,
                                                initial_capital=spec.initial_capital, parameters=spec.parameters,
                                                owner_id=owner_id, estimated_completion_at=estimate)
        self._enqueue(_Job(record.id, strategy_record.id, spec, rows))
        log.info("backtest %s queued: %s %s on %s, %d %s", record.id, spec.strategy_type, spec.symbol, spec.exchange,
                 rows, "candles" if spec.bars else "trades", extra={"backtest_id": record.id})
        return record

    async def cancel(self, backtest_id: str, owner_id: str | None = None) -> Any:
        """Cancel a waiting or running backtest; a running replay stops within one chunk.

        Raises
        ------
        NotFound
            If there is no such backtest (of ``owner_id``).
        Conflict
            If it has already completed, failed or been cancelled.
        """
        record = await self.db.backtests.cancel(backtest_id, owner_id)
        job = self._jobs.get(backtest_id)
        if job is not None:
            job.cancelled = True
            if job.control is not None:
                job.control.cancel()
        log.info("backtest %s cancelled", backtest_id, extra={"backtest_id": backtest_id})
        return record

    async def counts(self) -> dict[str, int]:
        """Backtests per status, for the system metrics."""
        return await self.db.backtests.counts()

    def estimated_completion_time(self, rows: int, bars: bool = False) -> int:
        """Estimate when a job of ``rows`` events submitted now completes, in engine ns.

        Jobs ahead of it share the workers: their remaining estimated time,
        spread over the workers, is added when every slot is taken.
        """
        rate = BARS_PER_SECOND if bars else TRADES_PER_SECOND
        own = STARTUP_SECONDS + rows / rate
        now = time.monotonic()
        remaining = [max(0.0, job.seconds - (now - job.started if job.started else 0.0)) for job in self._jobs.values()]
        wait = sum(remaining) / self.workers if len(remaining) >= self.workers else 0.0
        return self.clock.now_ns() + int((wait + own) * _NS)

    # -- running ------------------------------------------------------------------

    async def _spec(self, record: Any, start_ns: int, end_ns: int, capital: Any, parameters: dict | None,
                    owner_id: str | None, base: dict | None) -> BacktestSpec:
        spec = BacktestSpec.build(record.strategy_type, record.exchange, record.symbol, start_ns, end_ns, capital,
                                  parameters, base=base, timeframe=record.timeframe, strategy_id=record.id,
                                  owner_id=owner_id)
        instrument = self.instruments.get(spec.exchange, {}).get(spec.symbol)
        return spec.with_instrument(instrument) if instrument is not None else spec

    def _with_store(self, function, spec: BacktestSpec):
        store = self.ticks.clone()
        try:
            return function(store, spec)
        finally:
            store.close()

    def _count(self, spec: BacktestSpec) -> int:
        return self._with_store(count_trades, spec)

    def _enqueue(self, job: _Job) -> None:
        self._jobs[job.backtest_id] = job
        job.task = asyncio.get_running_loop().create_task(self._run(job))

    async def _run(self, job: _Job) -> None:
        try:
            async with self._slots:
                if job.cancelled or self._stopping:
                    return
                await self._run_in_slot(job)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - recorded on the job
            log.exception("backtest %s failed", job.backtest_id, extra={"backtest_id": job.backtest_id})
            await self._finish(job, {"status": "failed", "error": f"internal error: {exc}"})
        finally:
            self._jobs.pop(job.backtest_id, None)

    async def _run_in_slot(self, job: _Job) -> None:
        folder = self.root / job.backtest_id
        folder.mkdir(parents=True, exist_ok=True)
        job.control = Control(folder / worker.CONTROL_FILE, create=True)
        job.started = time.monotonic()
        watcher: asyncio.Task | None = None
        try:
            try:
                await self.db.backtests.start(job.backtest_id, self.estimated_completion_time(job.rows, job.spec.bars))
            except Conflict:
                return  # cancelled while it waited
            control = job.control
            await asyncio.to_thread(self._with_store, lambda store, spec: spool(
                store, spec, folder, lambda: control.cancelled), job.spec)
            if control.cancelled:
                return
            watcher = asyncio.get_running_loop().create_task(self._watch(job))
            loop = asyncio.get_running_loop()
            try:
                outcome = await loop.run_in_executor(self._pool, worker.run_job, job.spec.to_json(), str(folder))
            except BrokenProcessPool:
                self._pool = self._new_pool()
                outcome = {"status": "failed", "error": "the backtest worker process died"}
            await self._finish(job, outcome)
        finally:
            if watcher is not None:
                watcher.cancel()
            # The job stays listed until its folder is gone; cancel and stop skip it from here on.
            control, job.control = job.control, None
            control.close()
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _finish(self, job: _Job, outcome: dict) -> None:
        status = outcome["status"]
        try:
            if status == "completed":
                results = {"backtest_id": job.backtest_id, "strategy_id": job.strategy_id, "status": "completed",
                           **outcome["results"]}
                await self.db.backtests.complete(job.backtest_id, results)
                log.info("backtest %s completed in %.1f s", job.backtest_id, time.monotonic() - job.started,
                         extra={"backtest_id": job.backtest_id})
            elif status == "failed":
                await self.db.backtests.fail(job.backtest_id, outcome["error"])
                log.warning("backtest %s failed: %s", job.backtest_id, outcome["error"],
                            extra={"backtest_id": job.backtest_id})
        except Conflict:
            pass  # cancelled (or failed by stop) in the meantime: that status stands

    async def _watch(self, job: _Job) -> None:
        control = job.control
        last = -1.0
        while True:
            await asyncio.sleep(0.5)
            progress = control.progress
            if progress <= last or progress <= 0:
                continue
            last = progress
            elapsed = time.monotonic() - job.started
            estimate = self.clock.now_ns() + int(elapsed * (100 - progress) / progress * _NS)
            try:
                await self.db.backtests.set_progress(job.backtest_id, min(progress, 99.9), estimate)
            except Conflict:
                return
