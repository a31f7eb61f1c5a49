"""Figures for /system/status, /system/metrics and the Prometheus /metrics page.

Probing PostgreSQL and ClickHouse, asking the feeds and counting rows costs
round trips, so each report is computed at most once per
``cache_seconds`` (1 s by default) and shared by every request in that
time: a burst of status requests costs one probe, and the figures are at
most that old.  Process figures come from /proc (Linux).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from cryptobot.core.actor import ask
from cryptobot.core.metrics import Histogram

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MB = 1024 * 1024


class RequestMetrics:
    """Counts of HTTP requests by outcome and their latency, updated by the edge middleware."""

    __slots__ = ("total", "success", "client_error", "server_error", "latency")

    def __init__(self) -> None:
        self.total = 0
        self.success = 0
        self.client_error = 0
        self.server_error = 0
        self.latency = Histogram()

    def record(self, status: int, elapsed_ns: int) -> None:
        self.total += 1
        if status < 400:
            self.success += 1
        elif status < 500:
            self.client_error += 1
        else:
            self.server_error += 1
        self.latency.record(elapsed_ns)


class _Cached:
    """One report, recomputed at most every ``seconds``; concurrent callers share one computation."""

    def __init__(self, compute: Callable[[], Awaitable[dict]], seconds: float):
        self._compute = compute
        self._seconds = seconds
        self._value: dict | None = None
        self._at = 0.0
        self._running: asyncio.Future | None = None

    async def get(self) -> dict:
        if self._value is not None and time.monotonic() - self._at < self._seconds:
            return self._value
        if self._running is None:
            self._running = asyncio.ensure_future(self._compute())
            try:
                self._value = await asyncio.shield(self._running)
                self._at = time.monotonic()
            finally:
                self._running = None
            return self._value
        return await asyncio.shield(self._running)


def read_process_times() -> float:
    """CPU seconds (user + system) this process has used."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def read_rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE_SIZE


def read_network_bytes() -> tuple[int, int]:
    """(received, sent) bytes over every interface but loopback, from /proc/self/net/dev.

    These count the whole network namespace, not only this process.
    """
    rx = tx = 0
    for line in Path("/proc/self/net/dev").read_text().splitlines()[2:]:
        name, _, data = line.partition(":")
        if name.strip() == "lo":
            continue
        values = data.split()
        rx += int(values[0])
        tx += int(values[8])
    return rx, tx


def folder_size(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


class SystemProbe:
    """Computes the status and metrics reports of one engine.

    Parameters
    ----------
    system
        The :class:`cryptobot.actors.system.TradingSystem`.
    requests
        The HTTP request counters.
    started_monotonic
        When the API started serving (its services' uptime counts from there).
    websocket_clients
        Returns the number of connected WebSocket clients.
    """

    def __init__(self, system: Any, requests: RequestMetrics, started_monotonic: float, cache_seconds: float = 1.0,
                 websocket_clients: Callable[[], int] = lambda: 0):
        self.system = system
        self.websocket_clients = websocket_clients
        self.requests = requests
        self.started_monotonic = started_monotonic
        self._status = _Cached(self._compute_status, cache_seconds)
        self._metrics = _Cached(self._compute_metrics, cache_seconds)
        self._cpu_sample = (time.monotonic(), read_process_times())
        self._disk: tuple[float, int] = (0.0, 0)

    async def status(self) -> dict:
        return await self._status.get()

    async def metrics(self) -> dict:
        return await self._metrics.get()

    # -- status ------------------------------------------------------------------------------

    async def _compute_status(self) -> dict:
        system = self.system
        database, clickhouse, exchanges = await asyncio.gather(self._database(), self._clickhouse(), self._exchanges())
        api_uptime = int(time.monotonic() - self.started_monotonic)
        engine_up = system.engine is not None and system.engine.failure is None
        trade_actors = all(system.engine.has_actor(name) for name in ("risk", "execution", "portfolio")) if engine_up else False
        db_ok = database["status"] == "healthy"
        backtests = getattr(system, "backtests", None)

        def service(healthy: bool, uptime: int, unavailable: bool = False) -> dict:
            if unavailable:
                status = "unavailable"
            elif healthy:
                status = "healthy"
            else:
                status = "unhealthy"
            return {"status": status, "uptime": uptime if status == "healthy" else 0}

        # The API's own service counts from when the API started, the engine's from when the engine did.
        services = {
            "auth": service(db_ok, api_uptime),
            "strategy": service(engine_up and db_ok and system.strategies is not None, system.uptime),
            "data": service(engine_up and clickhouse["status"] == "healthy", system.uptime),
            "trade": service(trade_actors and db_ok and system.orders is not None, system.uptime),
            "backtest": service(db_ok, system.uptime, unavailable=backtests is None),
        }
        if not db_ok or not engine_up:
            overall = "unhealthy"
        elif all(s["status"] == "healthy" for s in services.values()) and \
                all(e["status"] == "connected" for e in exchanges.values()):
            overall = "healthy"
        else:
            overall = "degraded"
        return {
            "status": overall,
            "version": system.version,
            "uptime": system.uptime,
            "services": services,
            "database": database,
            "clickhouse": clickhouse,
            "redis": {"status": "not_used", "connections": 0},
            "exchanges": exchanges,
            "kill_switch": system.kill_switch,
            "mode": system.settings.engine_mode,
            "market_data": {"source": system.market_data.source if system.market_data else "none",
                            "exchange": system.exchange, "symbols": system.symbols},
        }

    async def _database(self) -> dict:
        try:
            health = await self.system.db.health()
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return {"status": "unhealthy", "connections": 0, "error": type(exc).__name__}
        report = {"status": health["status"], "connections": health["connections"],
                  "idle_connections": health.get("idle_connections", 0),
                  "max_connections": health.get("max_connections", 0), "latency": health.get("latency_ms")}
        if "error" in health:
            report["error"] = "database unreachable"
        return report

    async def _clickhouse(self) -> dict:
        ticks = self.system.ticks
        started = time.perf_counter()
        healthy = await asyncio.to_thread(ticks.ping) if ticks is not None else False
        return {"status": "healthy" if healthy else "unhealthy", "connections": 1 if healthy else 0,
                "latency": round((time.perf_counter() - started) * 1000, 3)}

    async def _exchanges(self) -> dict:
        system = self.system
        report = {}
        for exchange in [system.exchange]:
            name = f"feed.{exchange}"
            entry: dict[str, Any] = {"status": "disconnected", "latency": None}
            if system.engine is not None and system.engine.has_actor(name):
                try:
                    answer = await ask(system.engine.ref(name), "status", timeout=1.0)
                    entry = _feed_entry(answer)
                except Exception:  # noqa: BLE001 - a feed that does not answer counts as disconnected
                    entry = {"status": "disconnected", "latency": None}
            report[exchange] = entry
        return report

    # -- metrics ---------------------------------------------------------------------------------

    async def _compute_metrics(self) -> dict:
        system = self.system
        now, cpu = time.monotonic(), read_process_times()
        then, cpu_then = self._cpu_sample
        self._cpu_sample = (now, cpu)
        cpu_usage = (cpu - cpu_then) / (now - then) * 100 if now > then else 0.0
        rx, tx = read_network_bytes()
        strategy_counts, backtest_counts, disk = await asyncio.gather(
            system.db.strategies.counts(), system.db.backtests.counts(), self._disk_bytes())
        requests = self.requests
        counters = system.counters
        fills, failed = counters["trades_total"], counters["trades_error"]
        return {
            "cpu_usage": round(cpu_usage, 2),
            "memory_usage": round(read_rss_bytes() / MB, 3),
            "disk_usage": round(disk / MB, 3),
            "network": {"rx_bytes": rx, "tx_bytes": tx},
            "requests": {
                "total": requests.total, "success": requests.success,
                "error": requests.client_error + requests.server_error,
                "client_error": requests.client_error, "server_error": requests.server_error,
                "average_latency": round(requests.latency.mean / 1e6, 3),
                "p99_latency": round(requests.latency.percentile(99) / 1e6, 3),
            },
            "trades": {
                "total": fills + failed, "success": fills, "error": failed,
                "average_latency": round(counters["trade_latency_ns"] / fills / 1e6, 3) if fills else 0.0,
            },
            "strategies": {"active": strategy_counts["active"], "total": strategy_counts["total"]},
            "backtests": {"running": backtest_counts["running"], "completed": backtest_counts["completed"],
                          "failed": backtest_counts["failed"], "created": backtest_counts["created"],
                          "cancelled": backtest_counts["cancelled"]},
            "websocket_clients": self.websocket_clients(),
            "actors": actor_figures(system.engine.stats()) if system.engine is not None else [],
        }

    async def _disk_bytes(self) -> int:
        # Walking the data folder takes milliseconds; refresh it every 30 s at most.
        at, size = self._disk
        if time.monotonic() - at > 30.0:
            size = await asyncio.to_thread(folder_size, self.system.settings.data_path)
            self._disk = (time.monotonic(), size)
        return size


def actor_figures(stats: list[dict]) -> list[dict]:
    """Per-actor message counts, mailbox depth and handling time (microseconds) from ``Engine.stats``."""
    return [{
        "name": entry["name"], "state": entry["state"], "messages_in": entry["messages_in"],
        "messages_out": entry["messages_out"], "mailbox_depth": entry["mailbox_depth"],
        "mailbox_max_depth": entry["mailbox_max_depth"], "conflated": entry["conflated"],
        "failures": entry["failures"], "restarts": entry["restarts"],
        "handling_p50_us": round(entry["handling"]["p50_ns"] / 1000, 3),
        "handling_p99_us": round(entry["handling"]["p99_ns"] / 1000, 3),
    } for entry in stats]


def _feed_entry(answer: Any) -> dict:
    if not isinstance(answer, dict):
        return {"status": "connected" if answer else "disconnected", "latency": None}
    status = answer.get("state") or ("connected" if answer.get("connected") else "disconnected")
    latency = answer.get("latency_ms", answer.get("latency"))
    return {"status": str(status), "latency": latency if isinstance(latency, (int, float)) else None}


def _sample(value: float | int | None) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def prometheus_text(status: dict, metrics: dict) -> str:
    """Render the figures in the Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP cryptobot_{name} {help_text}")
        lines.append(f"# TYPE cryptobot_{name} {kind}")
        for labels, value in samples:
            lines.append(f"cryptobot_{name}{labels} {_sample(value)}")

    metric("up", "gauge", "1 when the engine reports healthy, 0.5 degraded, 0 unhealthy",
           [("", {"healthy": 1, "degraded": 0.5}.get(status["status"], 0))])
    metric("uptime_seconds", "gauge", "Seconds since the engine started", [("", status["uptime"])])
    metric("service_up", "gauge", "1 when the service is healthy",
           [(f'{{service="{name}"}}', 1 if s["status"] == "healthy" else 0) for name, s in status["services"].items()])
    metric("database_connections", "gauge", "Open PostgreSQL connections in the pool", [("", status["database"]["connections"])])
    metric("clickhouse_up", "gauge", "1 when ClickHouse answers", [("", 1 if status["clickhouse"]["status"] == "healthy" else 0)])
    metric("exchange_connected", "gauge", "1 when the exchange feed is connected",
           [(f'{{exchange="{name}"}}', 1 if e["status"] == "connected" else 0) for name, e in status["exchanges"].items()])
    metric("kill_switch_engaged", "gauge", "1 while the kill switch halts new orders", [("", 1 if status["kill_switch"] else 0)])
    metric("process_cpu_percent", "gauge", "Process CPU use since the previous sample, percent of one core",
           [("", metrics["cpu_usage"])])
    metric("process_resident_memory_bytes", "gauge", "Resident memory", [("", metrics["memory_usage"] * MB)])
    metric("data_folder_bytes", "gauge", "Bytes in the data folder", [("", metrics["disk_usage"] * MB)])
    metric("network_receive_bytes_total", "counter", "Bytes received on non-loopback interfaces",
           [("", metrics["network"]["rx_bytes"])])
    metric("network_transmit_bytes_total", "counter", "Bytes sent on non-loopback interfaces",
           [("", metrics["network"]["tx_bytes"])])
    req = metrics["requests"]
    metric("http_requests_total", "counter", "HTTP requests by outcome",
           [('{outcome="success"}', req["success"]), ('{outcome="client_error"}', req["client_error"]),
            ('{outcome="server_error"}', req["server_error"])])
    metric("http_request_latency_average_milliseconds", "gauge", "Mean HTTP request latency", [("", req["average_latency"])])
    trades = metrics["trades"]
    metric("trades_total", "counter", "Order outcomes: fills and rejections",
           [('{outcome="success"}', trades["success"]), ('{outcome="error"}', trades["error"])])
    metric("trade_latency_average_milliseconds", "gauge", "Mean time from order creation to fill",
           [("", trades["average_latency"])])
    actors = metrics.get("actors", [])
    metric("actor_messages_in_total", "counter", "Messages each actor received",
           [(f'{{actor="{a["name"]}"}}', a["messages_in"]) for a in actors])
    metric("actor_mailbox_depth", "gauge", "Messages waiting in each actor's mailbox",
           [(f'{{actor="{a["name"]}"}}', a["mailbox_depth"]) for a in actors])
    metric("actor_handling_p99_microseconds", "gauge", "99th percentile time to handle one message",
           [(f'{{actor="{a["name"]}"}}', a["handling_p99_us"]) for a in actors])
    metric("strategies", "gauge", "Strategies by state",
           [('{state="active"}', metrics["strategies"]["active"]), ('{state="total"}', metrics["strategies"]["total"])])
    metric("backtests", "gauge", "Backtests by status",
           [(f'{{status="{name}"}}', value) for name, value in metrics["backtests"].items()])
    metric("websocket_clients", "gauge", "Connected WebSocket clients", [("", metrics["websocket_clients"])])
    return "\n".join(lines) + "\n"
