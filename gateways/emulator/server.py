"""The exchange emulator: a local Binance and Kraken serving recorded market data.

WebSocket (one port, picows):

====================  ===========================================================
``/ws``, ``/ws/<s>``  Binance spot raw streams (``/ws/a/b`` for several)
``/stream?streams=``  Binance spot combined streams (``{"stream","data"}``)
``/usdm/ws...``       Binance USD-M, same paths under the ``/usdm`` prefix
``/usdm/stream...``
``/kraken/v1``        Kraken WebSocket API v1
``/kraken/v2``        Kraken WebSocket API v2 (translated from the v1 recording)
====================  ===========================================================

REST (another port, aiohttp): ``/api/v3/{depth,exchangeInfo,ping,time}``
(spot), ``/fapi/v1/{depth,exchangeInfo,ping,time}`` (USD-M),
``/0/public/{AssetPairs,Time}`` (Kraken) and the control endpoint
``/_emulator/...`` (see :mod:`rest_extras`).

Binance serves spot and USD-M from different hosts (``stream.binance.com``
and ``fstream.binance.com``), so feeds take a base URL per venue;
:meth:`ExchangeEmulator.url` returns it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import web
from picows import WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener, ws_create_server

from cryptobot.core.errors import ConfigError, ValidationError
from cryptobot.gateways.emulator.binance_rest import BinanceRest, binance_error
from cryptobot.gateways.emulator.binance_venue import BinanceVenue
from cryptobot.gateways.emulator.binance_ws import MAX_STREAMS, BinanceConnection, valid_stream
from cryptobot.gateways.emulator.config import EmulatorConfig, load_reference_file, load_tape
from cryptobot.gateways.emulator.faults import IMMEDIATE_KINDS, REST_KINDS, Fault, make_fault
from cryptobot.gateways.emulator.kraken_connections import KrakenV1Connection, KrakenV2Connection
from cryptobot.gateways.emulator.kraken_venue import KrakenVenue
from cryptobot.gateways.emulator.rest_extras import ControlRest, KrakenRest
from cryptobot.gateways.emulator.venue import Venue

log = logging.getLogger("cryptobot.gateways.emulator")

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
_REST_PREFIXES = (("/api/", "binance"), ("/fapi/", "binance_usdm"), ("/0/", "kraken"))


class ExchangeEmulator:
    """Replays recorded Binance and Kraken market data over real local sockets.

    Parameters
    ----------
    data_dir
        Folder of the recorded data; defaults to the ``sample_data`` setting
        (``CRYPTOBOT_SAMPLE_DATA``).
    config
        A complete :class:`EmulatorConfig`; keyword settings override it.
    **settings
        Any :class:`EmulatorConfig` field: ``venues`` (subset of
        ``binance``, ``binance_usdm``, ``kraken``), ``recordings`` (files
        per venue), ``host`` (loopback only), ``ws_port``/``rest_port`` (0 =
        any free port), ``pace`` (``recorded`` or ``fast``), ``speed``,
        ``loop``, ``rebase_time``, ``start_delay`` (seconds from the first
        subscription to a tape's first frame), ``slow_client_timeout``
        (seconds a full send buffer may last before the client is
        dropped), ``ping_interval``/``pong_timeout``
        (seconds; None = the venue's documented value),
        ``max_connection_age`` (seconds, default 24 h),
        ``max_messages_per_second``, ``heartbeat_interval`` (Kraken),
        ``weight_limit`` (None = from exchangeInfo), ``weight_window``
        (seconds), ``weight_schedule`` (``recorded`` or ``current``),
        ``ban_after`` (429s in one window before a 418 ban) and
        ``ban_seconds``.

    Examples
    --------
    >>> async with ExchangeEmulator(venues=["binance"], pace="fast") as emulator:  # doctest: +SKIP
    ...     url = emulator.url("binance") + "/stream?streams=btcusdt@depth@100ms"
    """

    def __init__(self, data_dir: str | Path | None = None, *, config: EmulatorConfig | None = None, **settings: Any):
        if config is None:
            if data_dir is None:
                from cryptobot.core.config import load_settings
                data_dir = load_settings().sample_data
            config = EmulatorConfig(data_dir=Path(data_dir), **settings)
        elif settings or data_dir is not None:
            changes = dict(settings)
            if data_dir is not None:
                changes["data_dir"] = Path(data_dir)
            config = config.with_changes(**changes)
        if config.host not in LOOPBACK_HOSTS:
            raise ConfigError(f"'host' must be a loopback address ({', '.join(LOOPBACK_HOSTS)}), was {config.host!r}",
                              {"host": config.host})
        self.config = config
        self.venues: dict[str, Venue] = {}
        self.rest_faults: list[Fault] = []
        self.ws_port = 0
        self.rest_port = 0
        self._ws_server: asyncio.AbstractServer | None = None
        self._runner: web.AppRunner | None = None

    # ---- lifecycle ---------------------------------------------------------------

    async def start(self) -> ExchangeEmulator:
        """Load the recordings and start both servers; return self."""
        started = time.perf_counter()
        self.venues = await asyncio.to_thread(self._build_venues)
        # uvloop's own transport: picows' default when aiofastnet is installed sent
        # about 5 times fewer frames per second in benchmarks/emulator_send_rate.py.
        self._ws_server = await ws_create_server(
            self._route, self.config.host, self.config.ws_port, websocket_handshake_timeout=5, use_aiofastnet=False, enable_auto_pong=False,
            logger_name=logging.getLogger("cryptobot.gateways.emulator.picows"))
        self.ws_port = self._ws_server.sockets[0].getsockname()[1]
        app = web.Application(middlewares=[self._rest_faults_middleware])
        for venue in self.venues.values():
            if isinstance(venue, BinanceVenue):
                app.add_routes(BinanceRest(venue).routes())
            elif isinstance(venue, KrakenVenue):
                app.add_routes(KrakenRest(venue.reference.body if venue.reference else None).routes())
        app.add_routes(ControlRest(self).routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.rest_port)
        await site.start()
        self.rest_port = site._server.sockets[0].getsockname()[1]
        log.info("exchange emulator listening on ws port %d and rest port %d (%s), ready in %.2f s",
                 self.ws_port, self.rest_port, ", ".join(self.venues), time.perf_counter() - started)
        return self

    async def stop(self) -> None:
        """Stop the replays, close every connection and both servers."""
        for venue in self.venues.values():
            await venue.stop()
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
            self._ws_server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("exchange emulator stopped")

    async def __aenter__(self) -> ExchangeEmulator:
        return await self.start()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.stop()

    def _build_venues(self) -> dict[str, Venue]:
        config = self.config
        venues: dict[str, Venue] = {}
        for name in config.venues:
            spec = config.recordings[name]
            recordings = [(", ".join(files), load_tape(config.data_dir, files)) for files in spec.tapes]
            reference = load_reference_file(config.data_dir, spec.reference) if spec.reference else None
            if name == "kraken":
                venues[name] = KrakenVenue(config, recordings, reference)
            else:
                venues[name] = BinanceVenue(name, config, recordings, reference)
        return venues

    # ---- addresses -------------------------------------------------------------------

    def url(self, venue: str, kind: str = "ws") -> str:
        """Return the base URL of a venue.

        ``kind`` is ``ws`` (Binance stream base: append ``/ws/<stream>`` or
        ``/stream?streams=...``; for Kraken the v1 endpoint), ``v1``/``v2``
        (Kraken endpoints) or ``rest`` (append ``/api/v3/...``,
        ``/fapi/v1/...`` or ``/0/public/...``).  ``control`` is the
        ``/_emulator`` base.
        """
        if venue not in self.venues and kind != "control":
            raise ValidationError(f"'venue' must be one of {', '.join(self.venues)}, was {venue!r}", {"venue": venue})
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        if kind == "rest":
            return f"http://{host}:{self.rest_port}"
        if kind == "control":
            return f"http://{host}:{self.rest_port}/_emulator"
        if venue == "kraken":
            if kind in ("ws", "v1"):
                return f"ws://{host}:{self.ws_port}/kraken/v1"
            if kind == "v2":
                return f"ws://{host}:{self.ws_port}/kraken/v2"
        elif kind == "ws":
            prefix = "/usdm" if venue == "binance_usdm" else ""
            return f"ws://{host}:{self.ws_port}{prefix}"
        raise ValidationError(f"'kind' must be ws, v1, v2 (Kraken), rest or control, was {kind!r}", {"kind": kind})

    def venue(self, name: str) -> Venue:
        return self.venues[name]

    # ---- WebSocket routing ------------------------------------------------------------

    def _route(self, request: WSUpgradeRequest):
        raw = request.path.decode("latin-1")
        path, _, query = raw.partition("?")
        if path.startswith("/kraken/"):
            venue = self.venues.get("kraken")
            if venue is None:
                return None
            if path == "/kraken/v1":
                return KrakenV1Connection(venue, raw)
            if path == "/kraken/v2":
                return KrakenV2Connection(venue, raw)
            return None
        name = "binance"
        if path.startswith("/usdm/"):
            name, path = "binance_usdm", path[len("/usdm"):]
        venue = self.venues.get(name)
        if venue is None:
            return None
        if path == "/ws" or path == "/ws/":
            streams, combined = [], False
        elif path.startswith("/ws/"):
            streams, combined = [s for s in path[4:].split("/") if s], False
        elif path in ("/stream", "/stream/"):
            streams = [s for s in (parse_qs(query).get("streams") or [""])[0].split("/") if s]
            combined = True
        else:
            return None
        if not all(valid_stream(s) for s in streams) or len(streams) > MAX_STREAMS:
            body = orjson.dumps({"code": 2, "msg": "Invalid request: invalid stream"})
            response = WSUpgradeResponse.create_error_response(400, body, {"Content-Type": "application/json"})
            return WSUpgradeResponseWithListener(response, None)
        return BinanceConnection(venue, raw, streams, combined)

    # ---- faults ---------------------------------------------------------------------

    def inject_fault(self, kind: str, **fields: Any) -> Fault:
        """Inject a fault from Python; see :mod:`faults` for kinds and fields.  Returns it."""
        fault, _ = self.inject({"kind": kind, **fields})
        return fault

    def inject(self, spec: dict[str, Any]) -> tuple[Fault, list[int]]:
        """Validate and apply a fault; return it and the ids of the connections it touched.

        Raises
        ------
        ValidationError
            For an invalid fault, an unknown venue or connection id.
        """
        fault = make_fault(spec)
        if fault.venue is not None and fault.venue not in self.venues:
            raise ValidationError(f"'venue' {fault.venue!r} is not running; running: {', '.join(self.venues)}",
                                  {"venue": fault.venue})
        if fault.kind in REST_KINDS:
            self.rest_faults.append(fault)
            log.info("fault %d armed: %s", fault.id, fault.to_dict())
            return fault, []
        venues = [v for n, v in self.venues.items() if fault.venue in (None, n)]
        if fault.connection is not None:
            venues = [v for v in venues if fault.connection in v.connections]
            if not venues:
                raise ValidationError(f"'connection' {fault.connection} is not an open connection",
                                      {"connection": fault.connection})
        targets = [c for venue in venues for c in venue.targets(fault)]
        if fault.kind == "drop":
            for connection in targets:
                connection.drop()
        elif fault.kind in IMMEDIATE_KINDS:
            for connection in targets:
                for _ in range(fault.count):
                    builder = connection.malformed_message if fault.kind == "malformed" else connection.unknown_message
                    connection.send_text(builder())
        elif fault.kind == "stall":
            for connection in targets:
                connection.stall(fault.seconds)
        elif fault.connection is None:
            for venue in venues:
                venue.stream_faults.append(fault)
        else:
            for connection in targets:
                connection.add_fault(fault)
        log.info("fault %d applied to %d connection(s): %s", fault.id, len(targets), fault.to_dict())
        return fault, [c.id for c in targets]

    def clear_faults(self) -> None:
        """Forget every pending fault and end every stall."""
        self.rest_faults.clear()
        for venue in self.venues.values():
            venue.clear_faults()

    def pending_faults(self) -> list[Fault]:
        faults = {id(f): f for f in self.rest_faults}
        for venue in self.venues.values():
            faults.update((id(f), f) for f in venue.stream_faults if f.remaining > 0)
            for connection in venue.connections.values():
                faults.update((id(f), f) for f in connection.pending)
        return list(faults.values())

    def connections(self, venue: str | None = None) -> list[dict[str, Any]]:
        """Describe the open connections (id, venue, path, subscriptions, age)."""
        now = time.monotonic()
        rows = []
        for name, item in self.venues.items():
            if venue not in (None, name):
                continue
            for connection in item.connections.values():
                subscriptions = getattr(connection, "streams", None)
                if subscriptions is None:
                    subscriptions = sorted("/".join(map(str, key)) for key in getattr(connection, "keys", ()))
                rows.append({"id": connection.id, "venue": name, "path": connection.path,
                             "subscriptions": list(subscriptions), "age_seconds": round(now - connection.opened_at, 3),
                             "stalled": connection.stalled_until is not None})
        return rows

    def status(self) -> dict[str, Any]:
        return {"ws_port": self.ws_port, "rest_port": self.rest_port, "pace": self.config.pace,
                "loop": self.config.loop, "venues": {name: venue.status() for name, venue in self.venues.items()}}

    @web.middleware
    async def _rest_faults_middleware(self, request: web.Request, handler):
        if request.path.startswith("/_emulator") or not self.rest_faults:
            return await handler(request)
        venue = next((name for prefix, name in _REST_PREFIXES if request.path.startswith(prefix)), None)
        status_fault = None
        for fault in list(self.rest_faults):
            if fault.venue not in (None, venue) or (fault.path and not request.path.startswith(fault.path)):
                continue
            if fault.kind == "rest_status" and status_fault is not None:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.rest_faults.remove(fault)
            if fault.kind == "rest_delay":
                await asyncio.sleep(fault.seconds or 0)
            else:
                status_fault = fault
        if status_fault is not None:
            return _fault_response(venue, status_fault)
        return await handler(request)


def _fault_response(venue: str | None, fault: Fault) -> web.Response:
    status = fault.status or 500
    if venue == "kraken":
        errors = {429: "EAPI:Rate limit exceeded"}
        message = errors.get(status, "EService:Unavailable" if status >= 500 else "EGeneral:Invalid arguments")
        return web.Response(status=status, body=orjson.dumps({"error": [message]}), content_type="application/json")
    if status in (429, 418):
        if fault.seconds:
            retry_after = int(fault.seconds)
        else:
            retry_after = 60 if status == 429 else 120
        headers = {"Retry-After": str(retry_after)}
        until = int((time.time() + retry_after) * 1000)
        message = ("Too much request weight used; please use WebSocket Streams for live updates to avoid "
                   "polling the API." if status == 429 else
                   f"Way too much request weight used; IP banned until {until}. Please use WebSocket Streams "
                   "for live updates to avoid bans.")
        return binance_error(status, -1003, message, headers)
    if status == 503:
        return binance_error(503, -1008, "Server is currently overloaded with other requests. "
                                         "Please try again in a few minutes.")
    return binance_error(status, -1000, "An unknown error occurred while processing the request.")
