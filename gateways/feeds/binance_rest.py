"""Binance REST depth snapshots within the request-weight limits.

Binance counts request weight per IP in fixed one-minute windows and
reports the weight used so far in the ``X-MBX-USED-WEIGHT-1M`` header of
every response.  Past the limit it answers 429 with ``Retry-After``; a
client that keeps sending is banned with 418.  :class:`WeightBudget` keeps
this client under its own budget (a share of the limit): it charges each
request's weight before sending, takes the exchange's figure from every
response, waits for the next window when the budget would be exceeded, and
after a 429 or 418 sends nothing until ``Retry-After`` has passed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

import aiohttp
import numpy as np
import orjson

from cryptobot.core.errors import ExchangeError, ValidationError

log = logging.getLogger("cryptobot.gateways.feeds.binance_rest")

SPOT_DEPTH_WEIGHTS = ((100, 5), (500, 25), (1000, 50), (5000, 250))
FUTURES_DEPTH_WEIGHTS = ((50, 2), (100, 5), (500, 10), (1000, 20))
"""(largest limit, weight) of ``GET /api/v3/depth`` and ``GET /fapi/v1/depth``, from Binance's documentation."""


def depth_weight(limit: int, futures: bool) -> int:
    """Return the request weight of a depth snapshot of ``limit`` levels."""
    table = FUTURES_DEPTH_WEIGHTS if futures else SPOT_DEPTH_WEIGHTS
    for upper, weight in table:
        if limit <= upper:
            return weight
    return table[-1][1]


def decimal_units(text: str, digits: int) -> int:
    """Convert a non-negative decimal string to integer units of ``10**-digits``, exactly.

    Raises
    ------
    ValueError
        If ``text`` is not a plain non-negative decimal, or has significant
        digits beyond ``digits`` decimals.
    """
    whole, dot, fraction = text.partition(".")
    if not (whole.isdigit() or (dot and not whole)) or (fraction and not fraction.isdigit()) or not (whole or fraction):
        raise ValueError(f"not a plain non-negative decimal: {text!r}")
    if len(fraction) > digits:
        if fraction[digits:].strip("0"):
            raise ValueError(f"{text!r} has more than {digits} significant decimals")
        fraction = fraction[:digits]
    return int((whole or "0") + fraction.ljust(digits, "0"))


def level_rows(levels: object, digits: int, name: str) -> np.ndarray:
    """Convert ``[["price", "size"], ...]`` to an int64 (n, 2) array of units.

    Raises
    ------
    ValidationError
        Naming ``name`` and the first bad row: not a pair of decimal
        strings, a price not above 0, or a value out of range.
    """
    if not isinstance(levels, list):
        raise ValidationError(f"'{name}' must be a list of [price, size] pairs, was {type(levels).__name__}", {name: "not a list"})
    rows = np.empty((len(levels), 2), dtype=np.int64)
    limit = 10**18
    for i, level in enumerate(levels):
        try:
            price, size = level[0], level[1]
            rows[i, 0] = price_units = decimal_units(price, digits)
            rows[i, 1] = size_units = decimal_units(size, digits)
        except (TypeError, ValueError, IndexError, KeyError, OverflowError) as exc:
            raise ValidationError(f"'{name}' row {i} is not a [price, size] pair of decimals: {level!r} ({exc})",
                                  {name: f"row {i} invalid"}) from None
        if price_units <= 0 or price_units >= limit or size_units >= limit:
            raise ValidationError(f"'{name}' row {i} out of range (price > 0, values below 1e10): {level!r}",
                                  {name: f"row {i} out of range"})
    return rows


@dataclass(slots=True)
class DepthSnapshotBody:
    """A parsed depth snapshot: ``lastUpdateId``, rows in units, and the event time (ns, 0 if absent)."""

    last_update_id: int
    bids: np.ndarray
    asks: np.ndarray
    ts_event: int


class WeightBudget:
    """Request weight this client may use per window, following the exchange's own count.

    Parameters
    ----------
    budget
        Weight this client allows itself per window.
    window
        Window length in seconds (60 on Binance).
    """

    def __init__(self, budget: int, window: float = 60.0):
        self.budget = budget
        self.window = window
        self.used = 0
        self._window_id = 0
        self.blocked_until = 0.0
        self.waits = 0
        self.rate_limited = 0
        self.banned = 0

    def _roll(self, now: float) -> None:
        window_id = int(now // self.window)
        if window_id != self._window_id:
            self._window_id = window_id
            self.used = 0

    async def acquire(self, weight: int) -> None:
        """Wait until ``weight`` fits the budget and no Retry-After is pending, then charge it."""
        while True:
            now = time.time()
            if now < self.blocked_until:
                self.waits += 1
                await asyncio.sleep(self.blocked_until - now)
                continue
            self._roll(now)
            if self.used + weight <= self.budget or self.used == 0:
                self.used += weight
                return
            self.waits += 1
            await asyncio.sleep((self._window_id + 1) * self.window - now + 0.01)

    def observe(self, used_header: str | None) -> None:
        """Take the exchange's count of the weight used in the current window."""
        if used_header and used_header.isdigit():
            self._roll(time.time())
            self.used = max(self.used, int(used_header))

    def block(self, seconds: float, status: int) -> None:
        """Send nothing for ``seconds`` (a 429 or 418 answer's Retry-After)."""
        if status == 418:
            self.banned += 1
        else:
            self.rate_limited += 1
        self.blocked_until = max(self.blocked_until, time.time() + seconds)


class BinanceDepthClient:
    """Fetches depth snapshots from Binance spot (``/api/v3/depth``) or USD-M (``/fapi/v1/depth``).

    Parameters
    ----------
    rest_url
        REST base URL.
    futures
        True for USD-M.
    budget
        The weight budget shared by every request of this feed.
    timeout
        Seconds per request.
    retries
        Attempts per snapshot.
    retry_initial, retry_max
        Backoff bounds in seconds between attempts (with up to 25 % jitter).
    """

    def __init__(self, rest_url: str, futures: bool, budget: WeightBudget, *, timeout: float = 10.0,
                 retries: int = 5, retry_initial: float = 0.25, retry_max: float = 10.0):
        self.rest_url = rest_url.rstrip("/")
        self.futures = futures
        self.budget = budget
        self.timeout = timeout
        self.retries = retries
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.requests = 0
        self.failures = 0
        self._session: aiohttp.ClientSession | None = None

    @property
    def path(self) -> str:
        return "/fapi/v1/depth" if self.futures else "/api/v3/depth"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def snapshot(self, symbol: str, limit: int, digits: int = 8) -> DepthSnapshotBody:
        """Fetch one snapshot, retrying with backoff up to ``retries`` attempts.

        Raises
        ------
        ExchangeError
            When every attempt failed; the message holds the last failure.
        """
        delay = self.retry_initial
        last_error = ""
        for attempt in range(1, self.retries + 1):
            try:
                return await self._fetch(symbol, limit, digits)
            except ExchangeError as exc:
                last_error = exc.message
            except (aiohttp.ClientError, asyncio.TimeoutError, ValidationError, ValueError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            self.failures += 1
            if attempt < self.retries:
                wait = min(delay, self.retry_max) * (1 + random.random() * 0.25)
                log.warning("depth snapshot of %s failed (attempt %d of %d, next in %.2f s): %s",
                            symbol, attempt, self.retries, wait, last_error)
                await asyncio.sleep(wait)
                delay *= 2
        raise ExchangeError(f"Cannot fetch the depth snapshot of {symbol}: {self.retries} attempts failed, "
                            f"last: {last_error}", retryable=True, details={"symbol": symbol})

    async def _fetch(self, symbol: str, limit: int, digits: int) -> DepthSnapshotBody:
        await self.budget.acquire(depth_weight(limit, self.futures))
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self.requests += 1
        url = f"{self.rest_url}{self.path}"
        async with self._session.get(url, params={"symbol": symbol, "limit": str(limit)}) as response:
            body = await response.read()
            self.budget.observe(response.headers.get("X-MBX-USED-WEIGHT-1M"))
            status = response.status
            if status in (429, 418):
                retry_after = _retry_after(response.headers.get("Retry-After"), 60.0 if status == 429 else 120.0)
                self.budget.block(retry_after, status)
                log.warning("Binance answered %d to a depth request for %s; sending nothing for %.0f s",
                            status, symbol, retry_after)
                raise ExchangeError(f"HTTP {status} (Retry-After {retry_after:.0f} s)", retryable=True)
            if status != 200:
                raise ExchangeError(f"HTTP {status}: {body[:200]!r}", retryable=status >= 500)
        return parse_depth_body(body, digits)


def _retry_after(header: str | None, default: float) -> float:
    try:
        value = float(header) if header else default
    except ValueError:
        return default
    return value if 0 <= value <= 86_400 else default


def parse_depth_body(body: bytes, digits: int = 8) -> DepthSnapshotBody:
    """Parse a depth snapshot body (spot or USD-M).

    Raises
    ------
    ValidationError
        If the body is not JSON, lacks ``lastUpdateId``/``bids``/``asks``, or
        holds an invalid level.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"depth snapshot is not JSON: {exc}", {"body": "invalid JSON"}) from None
    if not isinstance(data, dict):
        raise ValidationError("depth snapshot must be a JSON object", {"body": "not an object"})
    last = data.get("lastUpdateId")
    if type(last) is not int or last < 0:
        raise ValidationError(f"'lastUpdateId' must be an integer >= 0, was {last!r}", {"lastUpdateId": "invalid"})
    event_ms = data.get("E", 0)
    ts_event = event_ms * 1_000_000 if type(event_ms) is int and event_ms > 0 else 0
    return DepthSnapshotBody(last, level_rows(data.get("bids"), digits, "bids"), level_rows(data.get("asks"), digits, "asks"),
                             ts_event)
