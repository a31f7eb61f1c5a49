"""Instruments from the exchanges' own public reference data.

Binance ``exchangeInfo`` gives each symbol's PRICE_FILTER, LOT_SIZE,
MARKET_LOT_SIZE and (MIN_)NOTIONAL filters; Kraken ``AssetPairs`` gives
``pair_decimals`` (the price grid), ``lot_decimals`` (the quantity grid),
``ordermin`` and ``costmin``.  The risk manager rounds every order to what
these say, never to a default precision.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

import aiohttp
import orjson

from cryptobot.core.errors import ExchangeError, ValidationError
from cryptobot.core.instruments import Instrument, decimals_of
from cryptobot.gateways.ccxt_markets import binance_filters, exact
from cryptobot.gateways.feeds.symbols import kraken_unified

ZERO = Decimal(0)

REST_PATHS = {"binance": "/api/v3/exchangeInfo", "binance_usdm": "/fapi/v1/exchangeInfo", "kraken": "/0/public/AssetPairs"}


def kraken_asset(code: str) -> str:
    """Unified code of a Kraken asset: ``XBT`` -> ``BTC``; ``XXBT``/``ZUSD`` lose their class prefix."""
    if len(code) == 4 and code[0] in "XZ" and code not in ("USDT", "USDC"):
        code = code[1:]
    return kraken_unified(f"{code}/USD").partition("/")[0]


def from_binance_exchange_info(exchange: str, body: Mapping[str, Any]) -> dict[str, Instrument]:
    """Instruments of every TRADING symbol in a Binance exchangeInfo body, keyed by unified symbol."""
    symbols = body.get("symbols")
    if not isinstance(symbols, list):
        raise ValidationError("exchangeInfo has no 'symbols' list", {"symbols": "missing"})
    result: dict[str, Instrument] = {}
    for info in symbols:
        if not isinstance(info, Mapping) or info.get("status") not in ("TRADING", None):
            continue
        if info.get("contractType", "PERPETUAL") != "PERPETUAL":
            # A dated futures contract would take the perpetual's unified symbol.
            continue
        filters = binance_filters(info)
        base, quote = info.get("baseAsset"), info.get("quoteAsset")
        if filters is None or not base or not quote:
            continue
        unified = f"{base}/{quote}"
        result[unified] = Instrument(
            exchange, unified, str(info.get("symbol")), base, quote,
            price_precision=decimals_of(filters["tick_size"]) if filters["tick_size"] else 8,
            size_precision=decimals_of(filters["step_size"]) if filters["step_size"] else 8,
            **filters,
        )
    return result


def from_kraken_asset_pairs(body: Mapping[str, Any]) -> dict[str, Instrument]:
    """Instruments of every pair in a Kraken AssetPairs body, keyed by unified symbol."""
    pairs = body.get("result")
    if not isinstance(pairs, Mapping):
        raise ValidationError("AssetPairs has no 'result' object", {"result": "missing"})
    result: dict[str, Instrument] = {}
    for name, info in pairs.items():
        if not isinstance(info, Mapping) or ".d" in name or not info.get("wsname"):
            continue
        base_code, _, quote_code = str(info["wsname"]).partition("/")
        base, quote = kraken_asset(base_code), kraken_asset(quote_code)
        price_decimals, lot_decimals = int(info.get("pair_decimals", 8)), int(info.get("lot_decimals", 8))
        tick = Decimal(1).scaleb(-price_decimals)
        step = Decimal(1).scaleb(-lot_decimals)
        unified = f"{base}/{quote}"
        result[unified] = Instrument(
            "kraken", unified, str(info["wsname"]), base, quote, tick_size=tick, step_size=step,
            min_qty=exact(info.get("ordermin", "0"), f"{name}.ordermin"),
            min_notional=exact(info.get("costmin", "0"), f"{name}.costmin"),
            price_precision=price_decimals, size_precision=lot_decimals,
        )
    return result


def parse_reference(exchange: str, body: Mapping[str, Any]) -> dict[str, Instrument]:
    if exchange == "kraken":
        return from_kraken_asset_pairs(body)
    return from_binance_exchange_info(exchange, body)


async def fetch_instruments(exchange: str, rest_url: str, timeout: float = 10.0) -> dict[str, Instrument]:
    """Download and parse the exchange's reference data from ``rest_url`` (its REST base address)."""
    url = rest_url.rstrip("/") + REST_PATHS[exchange]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url) as response:
                body = await response.read()
                if response.status != 200:
                    raise ExchangeError(f"{url} answered {response.status}", retryable=response.status >= 500 or response.status == 429)
    except aiohttp.ClientError as exc:
        raise ExchangeError(f"cannot load instruments from {url}: {exc}", retryable=True) from None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ExchangeError(f"{url} did not answer JSON") from None
    return parse_reference(exchange, parsed)
