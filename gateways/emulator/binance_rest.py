"""Binance REST endpoints of the emulator: depth, exchangeInfo, ping, time.

Each response carries ``X-MBX-USED-WEIGHT-1M`` (and the older
``X-MBX-USED-WEIGHT``): the weight used by the client's IP in the current
window.  Past the limit the response is 429 with ``Retry-After`` (seconds to
the end of the window) and code -1003; a client that keeps sending after
``ban_after`` 429s in one window is banned for ``ban_seconds``: 418 with
``Retry-After`` until the ban ends.  The window is one minute unless
``weight_window`` shortens it for tests; the header keeps its ``1M`` name.

Depth returns the emulator's current book for the symbol: every diff sent
so far is applied, ``lastUpdateId`` is the ``u`` of the last one, and only
the best ``limit`` levels per side are returned.
"""

from __future__ import annotations

import math
import re
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from cryptobot.gateways.emulator.binance_reference import (
    FUTURES_DEPTH_LIMITS,
    SPOT_DEPTH_LIMIT_MAX,
    default_weight_limit,
    depth_weight,
    endpoint_weight,
)

if TYPE_CHECKING:
    from cryptobot.gateways.emulator.binance_venue import BinanceVenue

_SYMBOL = re.compile(r"^[A-Z0-9\-_.]{1,20}$")
_INTEGER = re.compile(r"^[0-9]{1,20}$")


class WeightLimiter:
    """Request-weight accounting per client IP in fixed windows, with 429s and bans."""

    def __init__(self, limit: int, window: float, ban_after: int, ban_seconds: float):
        self.limit = limit
        self.window = window
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self._used: dict[str, tuple[int, int]] = {}
        self._rejected: dict[str, tuple[int, int]] = {}
        self._banned_until: dict[str, float] = {}

    def used(self, client: str) -> int:
        window_id = int(time.time() // self.window)
        current, used = self._used.get(client, (window_id, 0))
        return used if current == window_id else 0

    def charge(self, client: str, weight: int) -> tuple[int, int, int]:
        """Account a request; return (HTTP status 200/429/418, weight used, Retry-After seconds)."""
        now = time.time()
        window_id = int(now // self.window)
        banned_until = self._banned_until.get(client, 0.0)
        used = self.used(client)
        if now < banned_until:
            return 418, used, math.ceil(banned_until - now)
        if used + weight <= self.limit:
            self._used[client] = (window_id, used + weight)
            return 200, used + weight, 0
        rejected_window, rejected = self._rejected.get(client, (window_id, 0))
        rejected = rejected + 1 if rejected_window == window_id else 1
        self._rejected[client] = (window_id, rejected)
        if rejected > self.ban_after:
            self._banned_until[client] = now + self.ban_seconds
            return 418, used, math.ceil(self.ban_seconds)
        return 429, used, max(1, math.ceil((window_id + 1) * self.window - now))

    def ban_message(self, client: str) -> str:
        until_ms = int(self._banned_until.get(client, time.time()) * 1000)
        return (f"Way too much request weight used; IP banned until {until_ms}. "
                "Please use WebSocket Streams for live updates to avoid bans.")


def binance_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps({"code": code, "msg": message}),
                        content_type="application/json", headers=headers)


class BadParameter(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class BinanceRest:
    """REST handlers of one Binance venue, mounted under ``/api/v3`` or ``/fapi/v1``."""

    def __init__(self, venue: BinanceVenue):
        self.venue = venue
        self.futures = venue.futures
        config = venue.config
        limit = config.weight_limit or default_weight_limit(venue.exchange_info, self.futures, config.weight_schedule)
        self.limiter = WeightLimiter(limit, config.weight_window, config.ban_after, config.ban_seconds)
        self.prefix = "/fapi/v1" if self.futures else "/api/v3"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{self.prefix}/depth", self.depth),
            web.get(f"{self.prefix}/exchangeInfo", self.exchange_info),
            web.get(f"{self.prefix}/ping", self.ping),
            web.get(f"{self.prefix}/time", self.server_time),
        ]

    # ---- plumbing ---------------------------------------------------------------

    def _charged(self, request: web.Request, weight: int) -> tuple[web.Response | None, dict[str, str]]:
        client = request.remote or "unknown"
        status, used, retry_after = self.limiter.charge(client, weight)
        headers = {"X-MBX-USED-WEIGHT-1M": str(used), "X-MBX-USED-WEIGHT": str(used)}
        if status == 429:
            headers["Retry-After"] = str(retry_after)
            message = (f"Too much request weight used; current limit is {self.limiter.limit} request weight per 1 "
                       "MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")
            return binance_error(429, -1003, message, headers), headers
        if status == 418:
            headers["Retry-After"] = str(retry_after)
            return binance_error(418, -1003, self.limiter.ban_message(client), headers), headers
        return None, headers

    @staticmethod
    def _json(body: Any, headers: dict[str, str]) -> web.Response:
        return web.Response(body=orjson.dumps(body), content_type="application/json", headers=headers)

    @staticmethod
    def _check_params(request: web.Request, allowed: tuple[str, ...]) -> None:
        sent = list(request.query.keys())
        read = [name for name in sent if name in allowed]
        if len(read) != len(sent):
            raise BadParameter(-1104, f"Not all sent parameters were read; read '{len(read)}' parameter(s) "
                                      f"but was sent '{len(sent)}'.")

    @staticmethod
    def _symbol(request: web.Request) -> str:
        symbol = request.query.get("symbol")
        if not symbol:
            raise BadParameter(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        if not _SYMBOL.match(symbol):
            raise BadParameter(-1100, "Illegal characters found in parameter 'symbol'; legal range is "
                                      "'^[A-Z0-9-_.]{1,20}$'.")
        return symbol

    def _limit(self, request: web.Request) -> int:
        text = request.query.get("limit")
        if text is None:
            return 500 if self.futures else 100
        if not _INTEGER.match(text):
            raise BadParameter(-1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.")
        limit = int(text)
        if self.futures:
            if limit not in FUTURES_DEPTH_LIMITS:
                raise BadParameter(-4021, "Invalid depth limit.")
            return limit
        if limit < 1:
            raise BadParameter(-1130, "Data sent for parameter 'limit' is not valid.")
        return min(limit, SPOT_DEPTH_LIMIT_MAX)

    # ---- endpoints ----------------------------------------------------------------

    async def depth(self, request: web.Request) -> web.Response:
        try:
            limit = self._limit(request)
        except BadParameter as exc:
            limit, error = (500 if self.futures else 100), exc
        else:
            error = None
        rejected, headers = self._charged(request, depth_weight(limit, self.futures, self.venue.config.weight_schedule))
        if rejected is not None:
            return rejected
        try:
            if error is not None:
                raise error
            self._check_params(request, ("symbol", "limit"))
            symbol = self._symbol(request)
            found = self.venue.current_book(symbol)
            if found is None:
                raise BadParameter(-1121, "Invalid symbol.")
        except BadParameter as exc:
            return binance_error(400, exc.code, exc.message, headers)
        book, tape = found
        offsets = tape.offsets
        bids, asks = book.top(limit)
        body: dict[str, Any] = {"lastUpdateId": book.last_update_id + offsets.update_ids}
        if self.futures:
            body["E"] = (book.event_time or 0) + offsets.time_ms
            body["T"] = (book.transaction_time or book.event_time or 0) + offsets.time_ms
        body["bids"] = bids
        body["asks"] = asks
        return self._json(body, headers)

    async def exchange_info(self, request: web.Request) -> web.Response:
        weight = endpoint_weight("exchangeInfo", self.futures, self.venue.config.weight_schedule)
        rejected, headers = self._charged(request, weight)
        if rejected is not None:
            return rejected
        info = self.venue.exchange_info
        try:
            self._check_params(request, () if self.futures else ("symbol", "symbols"))
            wanted = self._wanted_symbols(request)
        except BadParameter as exc:
            return binance_error(400, exc.code, exc.message, headers)
        body = dict(info)
        body["serverTime"] = time.time_ns() // 1_000_000
        if wanted is not None:
            unknown = [s for s in wanted if s not in self.venue.listed]
            if unknown:
                return binance_error(400, -1121, "Invalid symbol.", headers)
            body["symbols"] = [entry for entry in info["symbols"] if entry["symbol"] in wanted]
        return self._json(body, headers)

    def _wanted_symbols(self, request: web.Request) -> list[str] | None:
        if "symbol" in request.query and "symbols" in request.query:
            raise BadParameter(-1128, "Combination of optional parameters invalid.")
        if "symbol" in request.query:
            return [self._symbol(request)]
        if "symbols" in request.query:
            try:
                symbols = orjson.loads(request.query["symbols"])
            except orjson.JSONDecodeError:
                symbols = None
            if not isinstance(symbols, list) or not symbols or not all(
                    isinstance(s, str) and _SYMBOL.match(s) for s in symbols):
                raise BadParameter(-1100, "Illegal characters found in parameter 'symbols'; legal range is "
                                          "'^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.")
            return symbols
        return None

    async def ping(self, request: web.Request) -> web.Response:
        rejected, headers = self._charged(request, endpoint_weight("ping", self.futures, ""))
        return rejected or self._json({}, headers)

    async def server_time(self, request: web.Request) -> web.Response:
        rejected, headers = self._charged(request, endpoint_weight("time", self.futures, ""))
        return rejected or self._json({"serverTime": time.time_ns() // 1_000_000}, headers)
