"""Build the ccxt async client behind :class:`~cryptobot.gateways.ccxt_gateway.CcxtGateway`.

The client gets the exchange keys, a logger that redacts them, and the
exchange's ``Retry-After`` on rate-limit errors.  Its options keep it on the
engine's market types.  For Binance, only the spot (or USD-M) exchangeInfo is
loaded, and the private currency and margin endpoints (``sapi``) are not called.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import ccxt.async_support as ccxt_async

from cryptobot.core.errors import ConfigError
from cryptobot.gateways.ccxt_errors import RedactingLogger, Redactor, SafeClientMixin
from cryptobot.gateways.ccxt_markets import BINANCE_FAMILY, EXCHANGES

_CLASSES: dict[str, type] = {}


def resolve_exchange(exchange: str) -> tuple[str, str]:
    """Return (engine name, ccxt id) for an engine name (``binance_usdm``) or ccxt id (``binanceusdm``)."""
    name = exchange.strip().lower() if isinstance(exchange, str) else ""
    for engine_name, (ccxt_id, _) in EXCHANGES.items():
        if name in (engine_name, ccxt_id):
            return engine_name, ccxt_id
    raise ConfigError(f"'exchange' must be one of {', '.join(EXCHANGES)}, was {exchange!r}",
                      {"exchange": f"expected one of {', '.join(EXCHANGES)}"})


def _client_class(ccxt_id: str) -> type:
    cls = _CLASSES.get(ccxt_id)
    if cls is None:
        base = getattr(ccxt_async, ccxt_id)
        cls = _CLASSES[ccxt_id] = type(f"Safe_{ccxt_id}", (SafeClientMixin, base), {})
    return cls


def _options(engine_name: str, recv_window_ms: int) -> dict[str, Any]:
    if engine_name not in BINANCE_FAMILY:
        return {}
    return {
        "fetchMarkets": {"types": ["spot"] if engine_name == "binance" else ["linear"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
        # Measure the offset to the exchange clock on every market load, so
        # signed timestamps stay inside recvWindow despite local clock drift.
        "adjustForTimeDifference": True,
        "recvWindow": recv_window_ms,
        "newOrderRespType": {"market": "FULL", "limit": "FULL"},
    }


def make_client(engine_name: str, ccxt_id: str, api_key: str, secret: str, *, sandbox: bool,
                urls: Mapping[str, str] | None, timeout_ms: int, recv_window_ms: int, throttle: bool,
                redact: Redactor) -> Any:
    """Create the ccxt client; ``urls`` replaces entries of its ``urls['api']`` (tests, proxies)."""
    http_log = logging.getLogger(f"cryptobot.gateways.ccxt.{ccxt_id}.http")
    client = _client_class(ccxt_id)({
        "apiKey": api_key,
        "secret": secret,
        "enableRateLimit": throttle,
        "timeout": timeout_ms,
        "verbose": False,
        "logger": RedactingLogger(http_log, redact),
        "options": _options(engine_name, recv_window_ms),
    })
    if sandbox:
        client.set_sandbox_mode(True)
    if urls:
        client.urls["api"] = {**client.urls["api"], **dict(urls)}
    return client
