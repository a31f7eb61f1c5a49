"""Exchange spellings of unified symbols, both ways.

Binance writes ``BTC/USDT`` as ``BTCUSDT`` (lower case in stream names).
Kraken keeps its legacy asset codes in WebSocket v1 pair names: ``XBT`` is
bitcoin and ``XDG`` is dogecoin, so ``BTC/USD`` is ``XBT/USD`` in v1; v2
uses the common codes (``BTC/USD``).  Inside the engine every symbol is
unified (``BTC/USDT``); these functions are the only place that converts.
"""

from __future__ import annotations

from cryptobot.core.errors import ValidationError
from cryptobot.core.symbols import check_symbol, split_symbol

KRAKEN_LEGACY_ASSETS = {"BTC": "XBT", "DOGE": "XDG"}
"""Unified asset code -> Kraken v1 asset code, for the assets whose codes differ."""

_KRAKEN_UNIFIED_ASSETS = {legacy: unified for unified, legacy in KRAKEN_LEGACY_ASSETS.items()}


def binance_symbol(symbol: str) -> str:
    """Return Binance's spelling of a unified symbol: ``BTC/USDT`` -> ``BTCUSDT``."""
    base, quote = split_symbol(check_symbol(symbol))
    return base + quote


def binance_unified(exchange_symbol: str, quotes: tuple[str, ...]) -> str:
    """Return the unified symbol of a Binance symbol, splitting at the longest matching quote asset.

    Raises
    ------
    ValidationError
        If no quote asset of ``quotes`` ends the symbol.
    """
    for quote in sorted(quotes, key=len, reverse=True):
        if exchange_symbol.endswith(quote) and len(exchange_symbol) > len(quote):
            return f"{exchange_symbol[:-len(quote)]}/{quote}"
    raise ValidationError(f"Cannot split Binance symbol {exchange_symbol!r}: no quote asset of {', '.join(quotes)} ends it",
                          {"symbol": exchange_symbol})


def kraken_v1_pair(symbol: str) -> str:
    """Return Kraken's WebSocket v1 pair of a unified symbol: ``BTC/USD`` -> ``XBT/USD``."""
    base, quote = split_symbol(check_symbol(symbol))
    return f"{KRAKEN_LEGACY_ASSETS.get(base, base)}/{KRAKEN_LEGACY_ASSETS.get(quote, quote)}"


def kraken_unified(pair: str) -> str:
    """Return the unified symbol of a Kraken v1 pair or v2 symbol: ``XBT/USD`` -> ``BTC/USD``."""
    base, _, quote = pair.upper().partition("/")
    if not base or not quote:
        raise ValidationError(f"Kraken pair must look like XBT/USD, was {pair!r}", {"pair": pair})
    return f"{_KRAKEN_UNIFIED_ASSETS.get(base, base)}/{_KRAKEN_UNIFIED_ASSETS.get(quote, quote)}"


def kraken_v2_symbol(symbol: str) -> str:
    """Return Kraken's WebSocket v2 symbol of a unified symbol (the unified form itself)."""
    return check_symbol(symbol)
