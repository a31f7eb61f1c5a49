"""Configuration from ``CRYPTOBOT_*`` environment variables and a TOML file.

Every setting has one name.  In TOML it is written either flat
(``api_port = 8000``) or inside a table whose name is its prefix
(``[api]`` then ``port = 8000``); in the environment it is the upper-case
name with ``CRYPTOBOT_`` in front (``CRYPTOBOT_API_PORT=8000``).  The
environment wins over the file, and the file over the defaults.  The file is
``--config PATH`` on the command line or ``CRYPTOBOT_CONFIG``.

Invalid values raise :class:`ConfigError` naming the setting, where it came
from, the accepted values and what was given.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from cryptobot.core.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _default_sample_data() -> str:
    # The recorded exchange data sits beside the repository in ../shared;
    # look there first, then relative to the working directory.
    for candidate in (PACKAGE_ROOT.parent / "shared" / "data" / "real", Path("../shared/data/real")):
        if candidate.is_dir():
            return str(candidate.resolve())
    return "../shared/data/real"


def _setting(default: Any, help: str, *, choices: tuple | None = None, minimum: float | None = None,
             maximum: float | None = None, secret: bool = False, kind: Callable | None = None) -> Any:
    meta = {"help": help, "choices": choices, "minimum": minimum, "maximum": maximum, "secret": secret, "kind": kind}
    if callable(default) and not isinstance(default, type):
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Settings:
    """All settings of one engine process.  See the module docstring for sources."""

    data_dir: str = _setting("./data", "folder for the embedded databases, the signing secret and spill files")
    sample_data: str = _setting(_default_sample_data, "folder of recorded real exchange data used by the emulator and tests")
    database_url: str = _setting("", "PostgreSQL URL; empty starts the embedded server in data_dir", secret=True)
    database_pool_size: int = _setting(10, "maximum number of connections the engine keeps open to PostgreSQL", minimum=1, maximum=200)
    database_secret_key: str = _setting(
        "", "base64 of 32 random bytes that encrypts webhook secrets and peppers API-key hashes; empty generates one kept in data_dir",
        secret=True)
    clickhouse_url: str = _setting("", "ClickHouse http(s) URL; empty uses the embedded engine in data_dir", secret=True)
    clickhouse_database: str = _setting("cryptobot", "ClickHouse database of the tick tables")
    log_level: str = _setting("INFO", "lowest level logged", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    log_format: str = _setting("text", "log line format", choices=("text", "json"))

    api_host: str = _setting("127.0.0.1", "address the API listens on")
    api_port: int = _setting(8000, "TCP port the API listens on", minimum=0, maximum=65535)
    api_trusted_proxies: str = _setting("", "comma-separated proxy addresses whose X-Forwarded-For is believed")
    api_rate_limit_ip_per_minute: int = _setting(60, "requests per minute per client IP", minimum=1)
    api_rate_limit_key_per_hour: int = _setting(1000, "requests per hour per API key", minimum=1)
    api_webhook_allow_private: bool = _setting(False, "allow webhook URLs on private, loopback and link-local addresses")

    auth_jwt_secret: str = _setting("", "JWT signing secret; empty generates one kept in data_dir", secret=True)
    auth_access_token_seconds: int = _setting(3600, "lifetime of an access token in seconds", minimum=60)
    auth_refresh_token_seconds: int = _setting(14 * 86_400, "lifetime of a refresh token in seconds", minimum=300)
    auth_admin_username: str = _setting("admin", "name of the admin user created on first start")
    auth_admin_password: str = _setting("", "password of the first admin; empty generates one and prints it once", secret=True)
    auth_max_login_failures: int = _setting(5, "failed logins before a user is locked out", minimum=1)
    auth_lockout_seconds: int = _setting(900, "how long a locked-out user must wait, in seconds", minimum=1)

    engine_mode: str = _setting("paper", "paper trades on the simulated exchange; live sends orders through ccxt", choices=("paper", "live"))
    engine_market_data: str = _setting("auto", "emulator replays recorded data; live connects to exchanges; auto picks emulator when sample data exists; none starts no feed (instruments from the recorded reference data)", choices=("auto", "emulator", "live", "none"))
    engine_emulator_speed: float = _setting(1.0, "replay speed of the exchange emulator, times the recorded pace", minimum=0.01, maximum=1000)
    engine_exchange: str = _setting("binance", "exchange whose market data the engine runs on", choices=("binance", "binance_usdm", "kraken"))
    engine_symbols: str = _setting("BTC/USDT", "comma-separated unified symbols to subscribe")
    engine_base_currency: str = _setting("USDT", "currency the portfolio is valued in")
    engine_initial_balance: float = _setting(100_000.0, "paper account starting balance in the base currency", minimum=0)

    exchange_api_key: str = _setting("", "exchange API key for live trading; kept in memory only and never logged", secret=True)
    exchange_api_secret: str = _setting("", "exchange API secret for live trading; kept in memory only and never logged", secret=True)
    exchange_sandbox: bool = _setting(False, "send live orders to the exchange's test network (ccxt sandbox mode)")
    exchange_poll_seconds: float = _setting(1.0, "seconds between polls of open orders for fills in live mode", minimum=0.1)

    backtest_workers: int = _setting(2, "backtests that run at once; the rest queue", minimum=1, maximum=64)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret") and value:
                value = "***"
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def symbol_list(self) -> list[str]:
        return [s.strip().upper() for s in self.engine_symbols.split(",") if s.strip()]


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "_"))
        else:
            flat[name] = value
    return flat


def _coerce(name: str, raw: Any, target: type, source: str) -> Any:
    if isinstance(raw, target) and not (target is int and isinstance(raw, bool)):
        return raw
    text = str(raw).strip()
    try:
        if target is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if target is int:
            return int(text)
        if target is float:
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
            return value
        return text
    except ValueError:
        raise ConfigError(
            f"invalid setting '{name}' from {source}: expected {target.__name__}, was {raw!r}", {name: f"expected {target.__name__}"}
        ) from None


def _check(name: str, value: Any, meta: Mapping[str, Any], source: str) -> None:
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(
            f"invalid setting '{name}' from {source}: expected one of {', '.join(map(str, choices))}, was {value!r}",
            {name: f"expected one of {', '.join(map(str, choices))}"},
        )
    low, high = meta.get("minimum"), meta.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise ConfigError(f"invalid setting '{name}' from {source}: out of range {bounds}, was {value!r}", {name: f"out of range {bounds}"})


def load_settings(config_file: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Build the settings from defaults, the TOML file, the environment and ``overrides``.

    Raises
    ------
    ConfigError
        For an unreadable or malformed file, an unknown setting in it, or an
        invalid value from any source.
    """
    env = os.environ if environ is None else environ
    path = config_file or env.get("CRYPTOBOT_CONFIG") or None
    values: dict[str, tuple[Any, str]] = {}
    known = {f.name: f for f in fields(Settings)}

    if path:
        try:
            with open(path, "rb") as handle:
                table = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"configuration file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
        for name, raw in _flatten(table).items():
            if name not in known:
                raise ConfigError(f"unknown setting '{name}' in {path}", {name: "unknown setting"})
            values[name] = (raw, f"file {path}")

    for name in known:
        env_name = f"CRYPTOBOT_{name.upper()}"
        if env_name in env:
            values[name] = (env[env_name], f"environment variable {env_name}")

    for name, raw in overrides.items():
        if name not in known:
            raise ConfigError(f"unknown setting '{name}'", {name: "unknown setting"})
        values[name] = (raw, "the command line")

    settings = Settings()
    for name, (raw, source) in values.items():
        spec = known[name]
        target = type(getattr(settings, name))
        value = _coerce(name, raw, target, source)
        _check(name, value, spec.metadata, source)
        setattr(settings, name, value)
    return settings


def describe_settings() -> list[tuple[str, str, Any, str]]:
    """Return (setting, environment variable, default, help) rows for documentation."""
    rows = []
    defaults = Settings()
    for f in fields(Settings):
        default = "" if f.metadata.get("secret") else getattr(defaults, f.name)
        rows.append((f.name, f"CRYPTOBOT_{f.name.upper()}", default, f.metadata.get("help", "")))
    return rows
