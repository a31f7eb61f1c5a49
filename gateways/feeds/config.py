"""Configuration of one market-data feed, and its construction from the engine settings.

One :class:`FeedConfig` describes one exchange connection group: the
exchange, the unified symbols, the URLs, the streams and every timeout.
The composition root builds it with :func:`feed_config_from_settings`, or
directly; every field is validated in ``__post_init__`` and an invalid one
raises :class:`~cryptobot.core.errors.ConfigError` naming it.

Default URLs are the exchanges' public endpoints; tests and the emulator
mode point them at the local emulator (:func:`emulator_urls`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from cryptobot.core.errors import ConfigError, ValidationError
from cryptobot.core.symbols import EXCHANGES, check_symbol

DEFAULT_URLS = {
    "binance": ("wss://stream.binance.com:9443", "https://api.binance.com"),
    "binance_usdm": ("wss://fstream.binance.com", "https://fapi.binance.com"),
    "kraken": ("wss://ws.kraken.com", "https://api.kraken.com"),
}
"""Exchange -> (WebSocket base URL, REST base URL).  Kraken v2 is ``wss://ws.kraken.com/v2``."""

BINANCE_STREAMS = ("depth", "trade", "aggTrade", "bookTicker", "kline")
KRAKEN_STREAMS = ("book", "trade", "ticker")
DEFAULT_STREAMS = {"binance": ("depth", "trade", "bookTicker"), "binance_usdm": ("depth", "trade", "bookTicker"),
                   "kraken": ("book", "trade", "ticker")}
KRAKEN_DEPTHS = (10, 25, 100, 500, 1000)
BINANCE_SPOT_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)
BINANCE_FUTURES_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
DEPTH_SPEEDS = {"binance": ("100ms", "1000ms"), "binance_usdm": ("100ms", "0ms", "250ms", "500ms")}
"""Diff-depth update speeds each Binance market offers; the first is the default."""


def _fail(name: str, message: str) -> ConfigError:
    return ConfigError(message, {name: message})


@dataclass(frozen=True)
class FeedConfig:
    """Everything one feed needs: what to subscribe, where, and how patiently.

    Attributes
    ----------
    exchange
        ``binance`` (spot), ``binance_usdm`` (USD-M futures) or ``kraken``.
    symbols
        Unified symbols (``BTC/USDT``); one book actor each.
    ws_url
        WebSocket base: Binance stream host (``/stream?streams=`` is
        appended), Kraken endpoint (v1, or v2 when ``kraken_version`` is 2).
    rest_url
        REST base for Binance depth snapshots (``/api/v3/depth`` or
        ``/fapi/v1/depth`` is appended); unused for Kraken.
    streams
        Binance: subset of depth, trade, aggTrade, bookTicker, kline (not
        both trade and aggTrade, which would count every trade twice).
        Kraken: subset of book, trade, ticker.
    depth
        Binance: REST snapshot ``limit`` (levels per side); Kraken: book
        subscription depth (10, 25, 100, 500 or 1000).
    depth_speed
        Binance diff-depth speed (spot 100ms or 1000ms; USD-M 0ms, 100ms,
        250ms or 500ms); ignored for Kraken.
    kline_interval
        Interval of the Binance kline stream (``1m``...).
    kraken_version
        1 or 2: which Kraken WebSocket API to speak.
    connect_timeout
        Seconds for the TCP connect and WebSocket handshake.
    silence_timeout
        Seconds without any frame after which the connection is presumed
        dead and replaced.
    ping_interval
        Seconds between client pings (WebSocket pings to Binance, ``ping``
        requests to Kraken) that measure the round trip and keep the
        connection busy.
    max_connection_age
        Seconds after which the connection is rolled over to a new one
        (Binance cuts connections at 24 h).
    reconnect_initial, reconnect_max
        Exponential reconnect backoff bounds in seconds; each wait gets up
        to 25 % random jitter.
    snapshot_retries
        Attempts per REST snapshot before the feed reports the failure to
        the book, which requests a new snapshot after its ``retry_delay``.
    snapshot_retry_initial, snapshot_retry_max
        Snapshot retry backoff bounds in seconds.
    rest_timeout
        Seconds for one REST request.
    rest_weight_budget
        Binance request weight per minute this feed may use, a share of the
        exchange's limit (spot 6000, USD-M 2400) so other clients on the IP
        keep room.
    rest_weight_window
        Length in seconds of the exchange's weight window (one minute on
        Binance; the emulator can shorten it for tests).
    max_buffered_updates
        Diff events a book buffers while its snapshot is fetched.
    ticker_interval
        Minimum seconds between two Ticker messages per symbol.
    log_interval
        Seconds over which repeated warnings of one kind are logged once.
    """

    exchange: str
    symbols: tuple[str, ...]
    ws_url: str = ""
    rest_url: str = ""
    streams: tuple[str, ...] = ()
    depth: int = 0
    depth_speed: str = ""
    kline_interval: str = "1m"
    kraken_version: int = 2
    connect_timeout: float = 10.0
    silence_timeout: float = 30.0
    ping_interval: float = 15.0
    max_connection_age: float = 23.5 * 3600
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    snapshot_retries: int = 5
    snapshot_retry_initial: float = 0.25
    snapshot_retry_max: float = 10.0
    rest_timeout: float = 10.0
    rest_weight_budget: int = 0
    rest_weight_window: float = 60.0
    max_buffered_updates: int = 10_000
    ticker_interval: float = 0.5
    log_interval: float = 60.0

    def __post_init__(self) -> None:
        exchange = self.exchange
        if exchange not in EXCHANGES:
            raise _fail("exchange", f"'exchange' must be one of {', '.join(EXCHANGES)}, was {exchange!r}")
        if isinstance(self.symbols, str) or not self.symbols:
            raise _fail("symbols", f"'symbols' must be a non-empty list of unified symbols, was {self.symbols!r}")
        try:
            symbols = tuple(dict.fromkeys(check_symbol(s) for s in self.symbols))
        except ValidationError as exc:
            raise _fail("symbols", f"invalid 'symbols': {exc.message}") from None
        set_ = object.__setattr__
        set_(self, "symbols", symbols)
        ws_default, rest_default = DEFAULT_URLS[exchange]
        if exchange == "kraken" and self.kraken_version == 2:
            ws_default += "/v2"
        set_(self, "ws_url", (self.ws_url or ws_default).rstrip("/"))
        set_(self, "rest_url", (self.rest_url or rest_default).rstrip("/"))
        for name in ("ws_url", "rest_url"):
            value = getattr(self, name)
            schemes = ("ws://", "wss://") if name == "ws_url" else ("http://", "https://")
            if not value.startswith(schemes):
                raise _fail(name, f"'{name}' must start with {' or '.join(schemes)}, was {value!r}")
        self._check_streams()
        self._check_depth()
        for name, low, high in (("connect_timeout", 0, 600), ("silence_timeout", 0, 3600), ("ping_interval", 0, 3600),
                                ("max_connection_age", 0, 86_400), ("reconnect_initial", 0, 600),
                                ("reconnect_max", 0, 3600), ("snapshot_retry_initial", 0, 600),
                                ("snapshot_retry_max", 0, 3600), ("rest_timeout", 0, 600), ("rest_weight_window", 0, 3600), ("ticker_interval", 0, 3600),
                                ("log_interval", 0, 86_400)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not low < value <= high:
                raise _fail(name, f"'{name}' out of range ({low}, {high}], was {value!r}")
        if self.reconnect_max < self.reconnect_initial:
            raise _fail("reconnect_max", f"'reconnect_max' must be >= reconnect_initial ({self.reconnect_initial}), "
                                         f"was {self.reconnect_max!r}")
        for name, low, high in (("snapshot_retries", 1, 100), ("max_buffered_updates", 1, 10_000_000),
                                ("rest_weight_budget", 0, 1_000_000)):
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= high:
                raise _fail(name, f"'{name}' out of range [{low}, {high}], was {value!r}")
        if self.kraken_version not in (1, 2):
            raise _fail("kraken_version", f"'kraken_version' must be 1 or 2, was {self.kraken_version!r}")
        if self.rest_weight_budget == 0 and exchange != "kraken":
            # A quarter of today's documented per-minute limits (spot 6000, USD-M 2400).
            set_(self, "rest_weight_budget", 1500 if exchange == "binance" else 600)

    def _check_streams(self) -> None:
        exchange = self.exchange
        allowed = KRAKEN_STREAMS if exchange == "kraken" else BINANCE_STREAMS
        streams = tuple(dict.fromkeys(self.streams or DEFAULT_STREAMS[exchange]))
        unknown = [s for s in streams if s not in allowed]
        if unknown:
            raise _fail("streams", f"'streams' must be among {', '.join(allowed)} for {exchange}, was {unknown[0]!r}")
        if "trade" in streams and "aggTrade" in streams:
            raise _fail("streams", "'streams' must not hold both trade and aggTrade: every trade would count twice")
        object.__setattr__(self, "streams", streams)
        if exchange != "kraken":
            speeds = DEPTH_SPEEDS[exchange]
            speed = self.depth_speed or speeds[0]
            if speed not in speeds:
                raise _fail("depth_speed", f"'depth_speed' must be one of {', '.join(speeds)} for {exchange}, "
                                           f"was {self.depth_speed!r}")
            object.__setattr__(self, "depth_speed", speed)

    def _check_depth(self) -> None:
        exchange = self.exchange
        if exchange == "kraken":
            allowed, default = KRAKEN_DEPTHS, 100
        elif exchange == "binance":
            allowed, default = BINANCE_SPOT_LIMITS, 1000
        else:
            allowed, default = BINANCE_FUTURES_LIMITS, 1000
        depth = self.depth or default
        if depth not in allowed:
            raise _fail("depth", f"'depth' must be one of {', '.join(map(str, allowed))} for {exchange}, was {self.depth!r}")
        object.__setattr__(self, "depth", depth)

    def with_changes(self, **changes: Any) -> FeedConfig:
        """Return a copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @property
    def actor_name(self) -> str:
        """Name of the feed actor: ``feed.<exchange>``."""
        return f"feed.{self.exchange}"

    def book_name(self, symbol: str) -> str:
        """Name of a symbol's book actor: ``book.<exchange>.<symbol>``."""
        return f"book.{self.exchange}.{symbol}"


def emulator_urls(emulator: Any, exchange: str, kraken_version: int = 2) -> dict[str, str]:
    """Return ``ws_url`` and ``rest_url`` for a running :class:`ExchangeEmulator`."""
    if exchange == "kraken":
        return {"ws_url": emulator.url("kraken", f"v{kraken_version}"), "rest_url": emulator.url("kraken", "rest")}
    return {"ws_url": emulator.url(exchange, "ws"), "rest_url": emulator.url(exchange, "rest")}


def feed_config_from_settings(settings: Any, **overrides: Any) -> FeedConfig:
    """Build the feed of ``settings.engine_exchange`` for ``settings.symbol_list``.

    ``overrides`` sets any other :class:`FeedConfig` field (URLs of a local
    emulator, for instance).

    Raises
    ------
    ConfigError
        If a value is invalid; the message names the field.
    """
    values: dict[str, Any] = {"exchange": settings.engine_exchange, "symbols": tuple(settings.symbol_list)}
    values.update(overrides)
    return FeedConfig(**values)
