"""A Binance spot REST API emulator on loopback, for testing order execution.

An aiohttp application that responds as Binance's spot REST API documentation describes:

- ``GET /api/v3/ping``, ``GET /api/v3/time`` and ``GET /api/v3/exchangeInfo``;
  the exchange information is the real 2021 recording ``cryptofeed/BINANCE.0``
  in the sample data folder, with ``serverTime`` set to now;
- the signed endpoints ``POST``/``DELETE``/``GET /api/v3/order``,
  ``GET /api/v3/openOrders``, ``GET /api/v3/myTrades`` and ``GET /api/v3/account``.

Signed requests are checked as Binance does: the ``X-MBX-APIKEY`` header
names a known key, ``timestamp`` must be less than 1000 ms ahead of the
server clock and no older than ``recvWindow`` (default 5000, at most 60000),
and ``signature`` must be the hex HMAC-SHA256 of the query string
concatenated with the request body (the signature parameter left out).
A failure returns Binance's HTTP status, error code and message.

Request weights follow the 2021 documentation and are counted per client
address in a fixed window (``X-MBX-USED-WEIGHT-1M``).  Past the limit the
emulator responds 429 with ``Retry-After``, and after repeated violations
418, a temporary ban.  Tests can also inject one-off faults with
:meth:`BinanceRestEmulator.inject`: a 429 or 418, a 5xx, or a response
held back (after or before the request is processed) until the client
times out.

No real order responses were recorded, so order, trade and account
responses are shaped from Binance's documentation (the FULL order response
carries ``fills`` with ``commission``, ``commissionAsset`` and ``tradeId``),
not copied from captures.  Matching rules are in
:mod:`cryptobot.gateways.binance_rest_venue`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import os
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from cryptobot.core.errors import ConfigError
from cryptobot.gateways.binance_rest_rules import BinanceApiError, SymbolRules, missing
from cryptobot.gateways.binance_rest_venue import SpotVenue

log = logging.getLogger("cryptobot.gateways.binance_rest_emulator")

RECORDING = Path("cryptofeed") / "BINANCE.0"
MAX_RECV_WINDOW_MS = 60_000
FAULTS = ("rate_limit", "ban", "server_error", "timeout_after_processing", "timeout_before_processing")

Handler = Callable[[dict[str, str]], Any]


def load_exchange_info(sample_data: str | os.PathLike) -> dict:
    """Read the recorded ``GET /api/v3/exchangeInfo`` response from the sample data folder.

    The file holds lines of the form ``<url> -> <unix seconds>: <json body>``.

    Raises
    ------
    ConfigError
        If the recording is missing or holds no exchangeInfo body.
    """
    path = Path(sample_data) / RECORDING
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"Cannot start the Binance emulator: {path} not found; set CRYPTOBOT_SAMPLE_DATA "
                          f"to the folder of recorded exchange data") from None
    for line in lines:
        url, arrow, rest = line.partition(" -> ")
        if arrow and url.endswith("/api/v3/exchangeInfo"):
            _, _, body = rest.partition(": ")
            try:
                info = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise ConfigError(f"Cannot start the Binance emulator: exchangeInfo body in {path} is not JSON: {exc}") from None
            if not isinstance(info, dict) or not isinstance(info.get("symbols"), list):
                raise ConfigError(f"Cannot start the Binance emulator: exchangeInfo in {path} has no 'symbols' list")
            return info
    raise ConfigError(f"Cannot start the Binance emulator: no /api/v3/exchangeInfo line in {path}")


@dataclass(slots=True)
class Fault:
    """A fault that replaces, or follows, the processing of matching requests."""

    kind: str
    method: str
    path: str
    remaining: int
    retry_after: int
    delay_s: float


@dataclass(slots=True)
class RecordedRequest:
    """A request the emulator received: method, path and parameters without the signature."""

    method: str
    path: str
    params: dict[str, str]
    status: int = 0


@dataclass(slots=True)
class _WeightWindow:
    start: float
    used: int = 0
    violations: int = 0
    banned_until: float = 0.0


@dataclass
class _Route:
    handler: Handler
    weight: Callable[[dict[str, str]], int]
    signed: bool
    allowed: frozenset[str] = field(default_factory=frozenset)


_SIGNED_COMMON = ("timestamp", "recvWindow", "signature")
_ORDER_PARAMS = frozenset(("symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price", "newClientOrderId",
                           "stopPrice", "trailingDelta", "icebergQty", "newOrderRespType", "selfTradePreventionMode",
                           "strategyId", "strategyType") + _SIGNED_COMMON)


class BinanceRestEmulator:
    """The Binance spot REST emulator; start it, point a client at :attr:`url`, close it.

    Parameters
    ----------
    exchange_info
        A ``GET /api/v3/exchangeInfo`` response (see :func:`load_exchange_info`).
    api_keys
        API key to secret for the accounts allowed to sign requests.
    weight_limit, weight_window_s
        Request weight allowed per client address per window.
    ban_after, ban_s
        Requests refused with 429 in one window before the address is banned
        (418), and how long the ban lasts.
    """

    def __init__(self, exchange_info: dict, *, api_keys: dict[str, str] | None = None, weight_limit: int = 1200,
                 weight_window_s: float = 60.0, ban_after: int = 3, ban_s: float = 120.0,
                 maker_commission: Decimal = Decimal("0.001"), taker_commission: Decimal = Decimal("0.001")):
        self.exchange_info = exchange_info
        rules = {s["symbol"]: SymbolRules.from_exchange_info(s) for s in exchange_info["symbols"]}
        self.venue = SpotVenue(rules, self.server_time_ms, maker_commission, taker_commission)
        self.clock_offset_ms = 0
        self.weight_limit = weight_limit
        self.weight_window_s = weight_window_s
        self.ban_after = ban_after
        self.ban_s = ban_s
        self.requests: list[RecordedRequest] = []
        self._api_keys = dict(api_keys or {})
        self._faults: list[Fault] = []
        self._windows: dict[str, _WeightWindow] = {}
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._routes = self._build_routes()

    @classmethod
    def from_sample_data(cls, sample_data: str | os.PathLike, **kwargs: Any) -> BinanceRestEmulator:
        """Build an emulator on the recorded exchange information in ``sample_data``."""
        return cls(load_exchange_info(sample_data), **kwargs)

    def __repr__(self) -> str:
        return f"BinanceRestEmulator(url={self.url!r}, accounts={len(self._api_keys)})"

    # -- lifecycle -------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (port 0 picks a free one) and return the base URL."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{host}:{bound[1]}"
        log.info("Binance REST emulator listening on %s", self.url)
        return self.url

    async def close(self) -> None:
        """Release held responses and stop listening."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def ccxt_urls(self) -> dict[str, str]:
        """Return the ccxt ``urls['api']`` entries that point a ccxt Binance client at this emulator."""
        return {"public": f"{self.url}/api/v3", "private": f"{self.url}/api/v3", "v1": f"{self.url}/api/v1"}

    # -- test controls -----------------------------------------------------------

    def add_api_key(self, api_key: str, secret: str) -> None:
        self._api_keys[api_key] = secret

    def server_time_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def inject(self, kind: str, *, method: str = "POST", path: str = "/api/v3/order", times: int = 1,
               retry_after: int = 1, delay_s: float = 2.0) -> None:
        """Make the next ``times`` requests to ``method path`` meet a fault.

        ``rate_limit`` responds 429 and ``ban`` 418, both with ``Retry-After``
        and without processing the request.  ``server_error`` responds 500
        after processing, so the client cannot tell the outcome, as Binance
        documents for 5xx.  ``timeout_after_processing`` processes the
        request, then holds the response for ``delay_s``.
        ``timeout_before_processing`` holds the request for ``delay_s``, then
        checks its ``recvWindow`` again and processes it, as Binance does
        before forwarding a request to the matching engine.
        """
        if kind not in FAULTS:
            raise ValueError(f"'kind' must be one of {', '.join(FAULTS)}, was {kind!r}")
        if times < 1:
            raise ValueError(f"'times' must be >= 1, was {times}")
        self._faults.append(Fault(kind, method.upper(), path, times, retry_after, delay_s))

    def count(self, method: str, path: str) -> int:
        """Return how many requests to ``method path`` the emulator received."""
        return sum(1 for r in self.requests if r.method == method and r.path == path)

    # -- request handling ------------------------------------------------------------

    def _build_routes(self) -> dict[tuple[str, str], _Route]:
        venue = self.venue
        common = frozenset(_SIGNED_COMMON)
        return {
            ("GET", "/api/v3/ping"): _Route(lambda p: {}, lambda p: 1, False),
            ("GET", "/api/v3/time"): _Route(lambda p: {"serverTime": self.server_time_ms()}, lambda p: 1, False),
            ("GET", "/api/v3/exchangeInfo"): _Route(self._exchange_info, lambda p: 10, False),
            ("POST", "/api/v3/order"): _Route(venue.new_order, lambda p: 1, True, _ORDER_PARAMS),
            ("GET", "/api/v3/order"): _Route(venue.query_order, lambda p: 2, True,
                                             common | {"symbol", "orderId", "origClientOrderId"}),
            ("DELETE", "/api/v3/order"): _Route(venue.cancel_order, lambda p: 1, True,
                                                common | {"symbol", "orderId", "origClientOrderId", "newClientOrderId"}),
            ("GET", "/api/v3/openOrders"): _Route(venue.open_orders, lambda p: 3 if p.get("symbol") else 40, True,
                                                  common | {"symbol"}),
            ("GET", "/api/v3/myTrades"): _Route(venue.my_trades, lambda p: 10, True,
                                                common | {"symbol", "orderId", "startTime", "endTime", "fromId", "limit"}),
            ("GET", "/api/v3/account"): _Route(lambda p: venue.account(), lambda p: 10, True, common),
        }

    async def _dispatch(self, request: web.Request) -> web.Response:
        route = self._routes.get((request.method, request.path))
        if route is None:
            return web.json_response({"code": -1000, "msg": f"Unknown endpoint {request.method} {request.path}."}, status=404)
        body = await request.text() if request.method in ("POST", "PUT", "DELETE") else ""
        record = RecordedRequest(request.method, request.path, {})
        self.requests.append(record)
        headers: dict[str, str] = {}
        try:
            params, query_rest, body_rest, signatures = self._parse(request.query_string, body)
            record.params = params
            headers = self._count_weight(request.remote or "", route.weight(params))
            fault = self._take_fault(request.method, request.path)
            if fault is not None and fault.kind in ("rate_limit", "ban"):
                raise self._fault_error(fault)
            if fault is not None and fault.kind == "timeout_before_processing":
                await self._hold(fault.delay_s)
            if route.signed:
                self._authenticate(request, params, query_rest + body_rest, signatures)
            self._check_unread(route, params)
            result = route.handler(params)
            if fault is not None and fault.kind == "server_error":
                raise BinanceApiError(500, -1001, "Internal error; unable to process your request. Please try again.")
            if fault is not None and fault.kind == "timeout_after_processing":
                await self._hold(fault.delay_s)
            record.status = 200
            return web.Response(body=orjson.dumps(result), content_type="application/json", headers=headers)
        except BinanceApiError as exc:
            record.status = exc.status
            headers.update(exc.headers)
            return web.Response(body=orjson.dumps(exc.body()), status=exc.status, content_type="application/json",
                                headers=headers)

    @staticmethod
    def _parse(query: str, body: str) -> tuple[dict[str, str], str, str, list[str]]:
        """Split the parameters of the query string and the body; a parameter in both takes the query string value."""
        signatures: list[str] = []
        kept_parts: list[str] = []
        params: dict[str, str] = {}
        for raw in (body, query):
            parts = [p for p in raw.split("&") if p] if raw else []
            kept = [p for p in parts if not p.startswith("signature=")]
            signatures += [p.partition("=")[2] for p in parts if p.startswith("signature=")]
            kept_parts.append("&".join(kept))
            seen: set[str] = set()
            for name, value in parse_qsl("&".join(kept), keep_blank_values=True):
                if name in seen:
                    raise BinanceApiError(400, -1101, "Duplicate values for a parameter detected.")
                seen.add(name)
                params[name] = value
        body_rest, query_rest = kept_parts
        return params, query_rest, body_rest, signatures

    @staticmethod
    def _check_unread(route: _Route, params: dict[str, str]) -> None:
        if not route.signed:
            return
        unread = [name for name in params if name not in route.allowed]
        if unread:
            read = len(params) - len(unread) + 1
            raise BinanceApiError(400, -1104, f"Not all sent parameters were read; read '{read}' parameter(s) "
                                              f"but was sent '{len(params) + 1}'.")

    def _authenticate(self, request: web.Request, params: dict[str, str], payload: str, signatures: list[str]) -> None:
        api_key = request.headers.get("X-MBX-APIKEY", "")
        if not api_key:
            raise BinanceApiError(401, -2014, "API-key format invalid.")
        secret = self._api_keys.get(api_key)
        if secret is None:
            raise BinanceApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        timestamp = self._timing_params(params)
        if not signatures:
            raise missing("signature")
        if len(signatures) > 1:
            raise BinanceApiError(400, -1101, "Duplicate values for a parameter detected.")
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        # HMAC signatures are not case sensitive on Binance.
        if not hmac.compare_digest(expected, signatures[0].lower()):
            raise BinanceApiError(400, -1022, "Signature for this request is not valid.")
        self._check_timing(timestamp, params)

    def _timing_params(self, params: dict[str, str]) -> int:
        raw = params.get("timestamp", "")
        if not raw:
            raise missing("timestamp")
        if not raw.isdigit():
            raise BinanceApiError(400, -1100, "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'.")
        return int(raw)

    def _check_timing(self, timestamp: int, params: dict[str, str]) -> None:
        raw_window = params.get("recvWindow", "5000")
        if not raw_window.isdigit():
            raise BinanceApiError(400, -1100, "Illegal characters found in parameter 'recvWindow'; legal range is '^[0-9]{1,20}$'.")
        recv_window = int(raw_window)
        if recv_window > MAX_RECV_WINDOW_MS:
            raise BinanceApiError(400, -1131, "recvWindow must be less than 60000")
        now = self.server_time_ms()
        if timestamp >= now + 1000:
            raise BinanceApiError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - timestamp > recv_window:
            raise BinanceApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def _count_weight(self, address: str, weight: int) -> dict[str, str]:
        now = time.monotonic()
        window = self._windows.get(address)
        if window is None or now - window.start >= self.weight_window_s:
            banned_until = window.banned_until if window else 0.0
            window = self._windows[address] = _WeightWindow(now, banned_until=banned_until)
        if now < window.banned_until:
            raise self._limit_error(418, window.banned_until - now, window.used)
        window.used += weight
        headers = {"X-MBX-USED-WEIGHT-1M": str(window.used), "X-MBX-USED-WEIGHT": str(window.used)}
        if window.used > self.weight_limit:
            window.violations += 1
            if window.violations > self.ban_after:
                window.banned_until = now + self.ban_s
                raise self._limit_error(418, self.ban_s, window.used)
            raise self._limit_error(429, window.start + self.weight_window_s - now, window.used)
        return headers

    def _limit_error(self, status: int, wait_s: float, used: int) -> BinanceApiError:
        headers = {"Retry-After": str(max(1, math.ceil(wait_s))), "X-MBX-USED-WEIGHT-1M": str(used)}
        if status == 418:
            until = self.server_time_ms() + int(wait_s * 1000)
            msg = (f"Way too much request weight used; IP banned until {until}. "
                   f"Please use WebSocket Streams for live updates to avoid bans.")
        else:
            msg = (f"Too much request weight used; current limit is {self.weight_limit} request weight per "
                   f"1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")
        return BinanceApiError(status, -1003, msg, headers)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.path == path:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                log.info("injecting %s on %s %s", fault.kind, method, path)
                return fault
        return None

    def _fault_error(self, fault: Fault) -> BinanceApiError:
        status = 429 if fault.kind == "rate_limit" else 418
        return self._limit_error(status, fault.retry_after, 0)

    async def _hold(self, delay_s: float) -> None:
        try:
            await asyncio.wait_for(self._closing.wait(), delay_s)
        except asyncio.TimeoutError:
            pass

    def _exchange_info(self, params: dict[str, str]) -> dict:
        symbol = params.get("symbol")
        info = dict(self.exchange_info, serverTime=self.server_time_ms())
        if symbol:
            chosen = [s for s in self.exchange_info["symbols"] if s["symbol"] == symbol]
            if not chosen:
                raise BinanceApiError(400, -1121, "Invalid symbol.")
            info["symbols"] = chosen
        return info

