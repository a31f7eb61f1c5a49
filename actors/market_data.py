"""The engine's market data source, and the actors that carry it.

The source is the exchange emulator replaying the recorded real data over
local sockets when ``engine_market_data`` is ``emulator`` (or ``auto`` and
the recorded data exists), else the exchange's live public endpoints.
Either way the same feed and book actors connect to it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cryptobot.actors.feed import spawn_market_data
from cryptobot.actors.recorder import RecorderActor
from cryptobot.core.actor import ask
from cryptobot.core.config import Settings
from cryptobot.core.errors import ExchangeError, NotFound
from cryptobot.gateways.feeds.config import emulator_urls, feed_config_from_settings
from cryptobot.gateways.instruments import fetch_instruments, parse_reference
from cryptobot.storage.recorder import TickRecorder

log = logging.getLogger("cryptobot.actors.market_data")

LIVE_URLS = {
    "binance": {"rest": "https://api.binance.com", "ws": "wss://stream.binance.com:9443"},
    "binance_usdm": {"rest": "https://fapi.binance.com", "ws": "wss://fstream.binance.com"},
    "kraken": {"rest": "https://api.kraken.com", "ws": "wss://ws.kraken.com/v2"},
}


class MarketData:
    """Chooses the source, loads instruments, and starts the feed, book and recorder actors."""

    def __init__(self, settings: Settings, engine: Any, ticks: Any, emulator_options: dict | None = None):
        self.settings = settings
        self.emulator_options = {"pace": "recorded", "speed": settings.engine_emulator_speed, "loop": True,
                                 "rebase_time": True, **(emulator_options or {})}
        self.engine = engine
        self.ticks = ticks
        self.exchange = settings.engine_exchange
        self.emulator: Any = None
        self.source = "live"
        self.urls: dict[str, str] = dict(LIVE_URLS[self.exchange])
        self.feed_names: list[str] = []
        self.book_names: dict[str, str] = {}

    def use_emulator(self) -> bool:
        mode = self.settings.engine_market_data
        if mode == "emulator":
            return True
        return mode == "auto" and (Path(self.settings.sample_data) / "SOURCES.md").is_file()

    async def prepare(self) -> None:
        """Start the emulator when it is the source and note the URLs the feeds connect to."""
        if self.settings.engine_market_data == "none":
            self.source = "none"
            log.info("market data: none (no feed started)")
            return
        if not self.use_emulator():
            if self.settings.engine_market_data == "auto":
                log.info("no recorded data at %s (CRYPTOBOT_SAMPLE_DATA), so market data is live", self.settings.sample_data)
            log.info("market data: live %s streams at %s", self.exchange, self.urls["ws"])
            return
        from cryptobot.gateways.emulator import ExchangeEmulator

        self.emulator = ExchangeEmulator(self.settings.sample_data, venues=(self.exchange,), **self.emulator_options)
        await self.emulator.start()
        self.source = "emulator"
        kind = "v2" if self.exchange == "kraken" else "ws"
        self.urls = {"rest": self.emulator.url(self.exchange, "rest"), "ws": self.emulator.url(self.exchange, kind)}
        log.info("market data: exchange emulator replaying recorded %s data at %s", self.exchange, self.urls["ws"])

    async def load_instruments(self) -> dict:
        """Load the instruments of the exchange from its REST reference data (or the recorded copy without a feed)."""
        if self.source == "none":
            return self._recorded_instruments()
        try:
            return await fetch_instruments(self.exchange, self.urls["rest"])
        except ExchangeError as exc:
            if self.source != "live":
                raise
            raise ExchangeError(
                f"{exc.message}; without access to {self.exchange}, point CRYPTOBOT_SAMPLE_DATA at the recorded data "
                f"to replay it through the emulator, or set CRYPTOBOT_ENGINE_MARKET_DATA=none", exc.retryable) from None

    def _recorded_instruments(self) -> dict:
        from cryptobot.gateways.emulator.config import DEFAULT_RECORDINGS
        from cryptobot.gateways.recordings import load_reference

        reference = DEFAULT_RECORDINGS[self.exchange].reference
        path = Path(self.settings.sample_data) / reference if reference else None
        if path is None or not path.is_file():
            log.warning("no recorded reference data at %s: no instruments, so every order is rejected", path)
            return {}
        return parse_reference(self.exchange, load_reference(path).body)

    async def close_source(self) -> None:
        if self.emulator is not None:
            await self.emulator.stop()
            self.emulator = None

    async def start_recorder(self) -> None:
        """Spawn the recorder actor that writes every tick to ClickHouse (spilling to disk while it is down)."""
        # One spill folder per target database: two engines on one data folder
        # (tests, a second engine on a server) never share unwritten ticks.
        recorder = TickRecorder(self.ticks.clone(), self.settings.data_path / "spill" / self.ticks.database)
        await self.engine.spawn(RecorderActor(recorder))

    async def start_feeds(self, symbols: list[str], instruments: dict) -> None:
        """Spawn one book actor per symbol and the feed actor that fills them (none without a source)."""
        if self.source == "none":
            return
        overrides: dict[str, Any] = {"symbols": tuple(symbols)}
        if self.emulator is not None:
            overrides.update(emulator_urls(self.emulator, self.exchange))
        config = feed_config_from_settings(self.settings, **overrides)
        feed, books = await spawn_market_data(self.engine, config, recorder="recorder")
        self.feed_names = [feed.name]
        self.book_names = {symbol: ref.name for symbol, ref in books.items()}

    def book_ref(self, symbol: str) -> Any:
        """Return the book actor of ``symbol`` on this engine's exchange; raise NotFound when there is none."""
        name = self.book_names.get(symbol)
        if name is None:
            raise NotFound(f"no market data for {symbol} on {self.exchange}; served: {', '.join(self.book_names) or 'none'}",
                           {"symbol": symbol})
        return self.engine.ref(name)

    async def feed_status(self) -> list[dict]:
        """Return the status of each feed actor (connection state, latency, counters)."""
        result = []
        for name in self.feed_names:
            if self.engine.has_actor(name):
                result.append(await ask(self.engine.ref(name), "status"))
        return result
