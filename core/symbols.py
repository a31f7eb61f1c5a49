"""Unified symbols: ``BASE/QUOTE`` in upper case, e.g. ``BTC/USDT``.

Exchanges spell instruments their own way (Binance ``BTCUSDT``, Kraken
``XBT/USD``); gateways translate at the edge so everything inside the engine
speaks the unified form.
"""

from __future__ import annotations

import re

from cryptobot.core.errors import ValidationError

EXCHANGES = ("binance", "binance_usdm", "kraken")

_SYMBOL = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$")


def check_symbol(value: object, field: str = "symbol") -> str:
    """Return ``value`` in unified form (upper case); raise ValidationError if malformed.

    Accepts ``btc/usdt`` and ``BTC-USDT`` as spellings of ``BTC/USDT``.
    """
    if not isinstance(value, str) or not value:
        raise ValidationError(f"'{field}' is required, in the form BASE/QUOTE such as BTC/USDT", {field: "Symbol is required"})
    unified = value.strip().upper().replace("-", "/").replace("_", "/")
    if not _SYMBOL.match(unified):
        raise ValidationError(
            f"'{field}' must look like BTC/USDT, was {value!r}", {field: "expected BASE/QUOTE, letters and digits only"}
        )
    return unified


def check_exchange(value: object, field: str = "exchange") -> str:
    """Return ``value`` if it names a supported exchange; raise ValidationError otherwise."""
    if not isinstance(value, str) or value.lower() not in EXCHANGES:
        raise ValidationError(
            f"'{field}' must be one of {', '.join(EXCHANGES)}, was {value!r}", {field: f"expected one of {', '.join(EXCHANGES)}"}
        )
    return value.lower()


def split_symbol(symbol: str) -> tuple[str, str]:
    """Return (base, quote) of a unified symbol."""
    base, _, quote = symbol.partition("/")
    return base, quote
