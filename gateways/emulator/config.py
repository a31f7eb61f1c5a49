"""Settings of the exchange emulator and the recordings each venue replays."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptobot.core.errors import ConfigError
from cryptobot.gateways.recordings import Recording, ReferenceData, load_recording, load_reference

VENUES = ("binance", "binance_usdm", "kraken")
PACES = ("recorded", "fast")
WEIGHT_SCHEDULES = ("recorded", "current")


@dataclass(frozen=True)
class VenueRecordings:
    """Files one venue replays, relative to the data folder.

    ``tapes`` lists captures, and each is replayed by its own tape.  The files
    of one capture are loaded together: an F1 day with its continuation, an
    F2 connection with its snapshot file, or several F2 connections of one
    session.
    ``reference`` is the recorded exchangeInfo or AssetPairs body.
    """

    tapes: tuple[tuple[str, ...], ...]
    reference: str | None = None


DEFAULT_RECORDINGS = {
    "binance": VenueRecordings(
        tapes=(
            ("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz"),
            ("cryptofeed/BINANCE.ws.1.0", "cryptofeed/BINANCE.http.0.0"),
            ("cryptofeed/BINANCE-b38f7c.0",),
        ),
        reference="cryptofeed/BINANCE.0",
    ),
    "binance_usdm": VenueRecordings(
        tapes=(
            ("hftbacktest/usdm/btcusdt_20240808.gz",),
            ("hftbacktest/usdm/ethusdt_20240808.gz",),
            ("cryptofeed/BINANCE_FUTURES.ws.1.0", "cryptofeed/BINANCE_FUTURES.http.0.0"),
        ),
        reference="cryptofeed/BINANCE_FUTURES.0",
    ),
    "kraken": VenueRecordings(
        tapes=(("cryptofeed/KRAKEN.ws.48.0", "cryptofeed/KRAKEN.ws.49.0", "cryptofeed/KRAKEN.ws.50.0"),),
        reference="cryptofeed/KRAKEN.0",
    ),
}

# Documented connection rules: Binance spot pings every 20 s and drops a
# client silent for a minute, 5 incoming messages per second; USD-M pings
# every 3 minutes, allows 10 minutes, 10 messages per second.  Kraken sends
# no pings (it sends heartbeats).
VENUE_DEFAULTS = {
    "binance": {"ping_interval": 20.0, "pong_timeout": 60.0, "max_messages_per_second": 5},
    "binance_usdm": {"ping_interval": 180.0, "pong_timeout": 600.0, "max_messages_per_second": 10},
    "kraken": {"ping_interval": None, "pong_timeout": 60.0, "max_messages_per_second": None},
}


def _fail(name: str, message: str) -> ConfigError:
    return ConfigError(message, {name: message})


@dataclass(frozen=True)
class EmulatorConfig:
    """Every setting of :class:`ExchangeEmulator`; see its docstring for meanings.

    Raises
    ------
    ConfigError
        For an out-of-range or unknown value, naming the setting.
    """

    data_dir: Path
    venues: tuple[str, ...] = VENUES
    recordings: dict[str, VenueRecordings] = field(default_factory=lambda: dict(DEFAULT_RECORDINGS))
    host: str = "127.0.0.1"
    ws_port: int = 0
    rest_port: int = 0
    pace: str = "recorded"
    speed: float = 1.0
    loop: bool = False
    rebase_time: bool = False
    start_delay: float = 0.0
    slow_client_timeout: float = 10.0
    ping_interval: float | None = None
    pong_timeout: float | None = None
    max_connection_age: float | None = 86_400.0
    max_messages_per_second: int | None = None
    heartbeat_interval: float = 1.0
    weight_limit: int | None = None
    weight_window: float = 60.0
    weight_schedule: str = "recorded"
    ban_after: int = 3
    ban_seconds: float = 120.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "venues", tuple(self.venues))
        if not self.venues:
            raise _fail("venues", f"'venues' must name at least one of {', '.join(VENUES)}")
        for venue in self.venues:
            if venue not in VENUES:
                raise _fail("venues", f"'venues' must be among {', '.join(VENUES)}, was {venue!r}")
            if venue not in self.recordings:
                raise _fail("recordings", f"no recordings configured for venue {venue!r}")

        if self.pace not in PACES:
            raise _fail("pace", f"'pace' must be one of {', '.join(PACES)}, was {self.pace!r}")
        if self.weight_schedule not in WEIGHT_SCHEDULES:
            raise _fail("weight_schedule", f"'weight_schedule' must be one of {', '.join(WEIGHT_SCHEDULES)}, "
                                           f"was {self.weight_schedule!r}")
        for name in ("ws_port", "rest_port"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= 65535:
                raise _fail(name, f"'{name}' out of range [0, 65535], was {value!r}")

        self._positive("speed", self.speed, upper=1e6)
        self._positive("weight_window", self.weight_window, upper=86_400)
        self._positive("ban_seconds", self.ban_seconds, upper=3 * 86_400)
        self._positive("heartbeat_interval", self.heartbeat_interval, upper=3_600)
        self._positive("slow_client_timeout", self.slow_client_timeout, upper=3_600)
        if not isinstance(self.start_delay, (int, float)) or isinstance(self.start_delay, bool) \
                or not 0 <= self.start_delay <= 3_600:
            raise _fail("start_delay", f"'start_delay' out of range [0, 3600], was {self.start_delay!r}")

        for name in ("ping_interval", "pong_timeout", "max_connection_age"):
            value = getattr(self, name)
            if value is not None:
                self._positive(name, value, upper=7 * 86_400)
        for name, low in (("weight_limit", 1), ("max_messages_per_second", 1), ("ban_after", 1)):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < low):
                raise _fail(name, f"'{name}' must be an integer >= {low}, was {value!r}")

    @staticmethod
    def _positive(name: str, value: object, upper: float) -> None:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                or not 0 < value <= upper:
            raise _fail(name, f"'{name}' out of range (0, {upper:g}], was {value!r}")

    def venue_setting(self, venue: str, name: str):
        """Return a per-venue connection setting: the explicit value, else the venue's documented default."""
        value = getattr(self, name)
        return VENUE_DEFAULTS[venue][name] if value is None else value

    def with_changes(self, **changes) -> EmulatorConfig:
        return replace(self, **changes)


@functools.lru_cache(maxsize=32)
def _load_cached(paths: tuple[str, ...], stamps: tuple[float, ...]) -> Recording:
    return load_recording(*paths)


def load_tape(data_dir: Path, files: tuple[str, ...]) -> Recording:
    """Load one capture, reusing an earlier load of the same unchanged files in this process."""
    paths = tuple(str((data_dir / name).resolve()) for name in files)
    stamps = tuple(Path(p).stat().st_mtime if Path(p).exists() else 0.0 for p in paths)
    return _load_cached(paths, stamps)


@functools.lru_cache(maxsize=8)
def _reference_cached(path: str, stamp: float) -> ReferenceData:
    return load_reference(path)


def load_reference_file(data_dir: Path, name: str) -> ReferenceData:
    path = (data_dir / name).resolve()
    return _reference_cached(str(path), path.stat().st_mtime if path.exists() else 0.0)
