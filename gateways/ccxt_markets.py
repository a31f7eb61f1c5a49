"""Turn ccxt markets into :class:`Instrument` values with the exchange's own filters.

For the Binance family the filters are read from the raw exchangeInfo entry
ccxt keeps in ``market['info']``: PRICE_FILTER (tick size, min and max
price), LOT_SIZE (step size, min and max quantity), MARKET_LOT_SIZE, and
MIN_NOTIONAL or the newer NOTIONAL filter.  The strings are parsed as
``Decimal``, so ``0.01000000`` stays exact.  Other exchanges go through
ccxt's unified ``precision`` and ``limits``, read according to the
exchange's precision mode.  A market without a price or amount grid is
skipped, never given a default precision.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable, Mapping

from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE

from cryptobot.core.errors import ValidationError
from cryptobot.core.instruments import Instrument, decimals_of, plain, to_decimal
from cryptobot.core.symbols import check_symbol

ZERO = Decimal(0)

# Engine exchange name -> (ccxt exchange id, ccxt market types traded).
EXCHANGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "binance": ("binance", ("spot",)),
    "binance_usdm": ("binanceusdm", ("swap",)),
    "kraken": ("kraken", ("spot",)),
}
BINANCE_FAMILY = ("binance", "binance_usdm")


def exact(value: Any, field: str) -> Decimal:
    """Parse an exchange number into a Decimal without trailing zeros or exponent: ``'10.00000000'`` -> 10."""
    return Decimal(plain(to_decimal(value, field)))


def binance_filters(info: Mapping[str, Any]) -> dict[str, Decimal] | None:
    """Read the Binance filters of one exchangeInfo symbol; None without PRICE_FILTER or LOT_SIZE."""
    filters = {f.get("filterType"): f for f in info.get("filters") or [] if isinstance(f, Mapping)}
    price, lot = filters.get("PRICE_FILTER"), filters.get("LOT_SIZE")
    if price is None or lot is None:
        return None
    market_lot = filters.get("MARKET_LOT_SIZE") or {}
    symbol = info.get("symbol", "?")
    notionals = [exact(filters[name].get("minNotional", filters[name].get("notional", "0")), f"{symbol}.{name}")
                 for name in ("MIN_NOTIONAL", "NOTIONAL") if name in filters]
    return {
        "tick_size": exact(price.get("tickSize", "0"), f"{symbol}.tickSize"),
        "min_price": exact(price.get("minPrice", "0"), f"{symbol}.minPrice"),
        "max_price": exact(price.get("maxPrice", "0"), f"{symbol}.maxPrice"),
        "step_size": exact(lot.get("stepSize", "0"), f"{symbol}.stepSize"),
        "min_qty": exact(lot.get("minQty", "0"), f"{symbol}.minQty"),
        "max_qty": exact(lot.get("maxQty", "0"), f"{symbol}.maxQty"),
        "market_step_size": exact(market_lot.get("stepSize", "0"), f"{symbol}.MARKET_LOT_SIZE.stepSize"),
        "market_max_qty": exact(market_lot.get("maxQty", "0"), f"{symbol}.MARKET_LOT_SIZE.maxQty"),
        # A symbol carries one of the two notional filters; if both, the stricter minimum applies.
        "min_notional": max(notionals, default=ZERO),
    }


def _grid(value: Any, precision_mode: int, field: str) -> Decimal | None:
    """Return the price or amount grid of a unified market, or None where the mode gives no fixed grid."""
    if value is None:
        return None
    if precision_mode == TICK_SIZE:
        return exact(value, field)
    if precision_mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    return None  # SIGNIFICANT_DIGITS: the grid depends on the magnitude of the value


def unified_filters(market: Mapping[str, Any], precision_mode: int) -> dict[str, Decimal] | None:
    """Read tick size, step size and limits from ccxt's unified market; None without a grid."""
    precision = market.get("precision") or {}
    symbol = market.get("symbol", "?")
    tick = _grid(precision.get("price"), precision_mode, f"{symbol}.precision.price")
    step = _grid(precision.get("amount"), precision_mode, f"{symbol}.precision.amount")
    if tick is None or step is None:
        return None
    limits = market.get("limits") or {}

    def limit(kind: str, bound: str) -> Decimal:
        value = (limits.get(kind) or {}).get(bound)
        return ZERO if value is None else exact(value, f"{symbol}.limits.{kind}.{bound}")

    return {
        "tick_size": tick, "step_size": step, "min_price": limit("price", "min"), "max_price": limit("price", "max"),
        "min_qty": limit("amount", "min"), "max_qty": limit("amount", "max"), "min_notional": limit("cost", "min"),
        "market_step_size": ZERO, "market_max_qty": limit("market", "max"),
    }


def build_instruments(exchange: str, markets: Iterable[Mapping[str, Any]], precision_mode: int,
                      ) -> tuple[dict[str, Instrument], dict[str, str], list[str]]:
    """Build the instruments of ``exchange`` from ccxt markets.

    Returns
    -------
    instruments
        Unified symbol (``BTC/USDT``) to instrument, for active markets of
        the exchange's traded types (spot, or USD-M perpetual swaps).
    ccxt_symbols
        Unified symbol to ccxt's market symbol (``BTC/USDT:USDT`` for a swap).
    skipped
        ccxt symbols left out: no base and quote that form a unified
        symbol, no price or amount grid, or a filter that is not a number.
    """
    _, types = EXCHANGES[exchange]
    instruments: dict[str, Instrument] = {}
    ccxt_symbols: dict[str, str] = {}
    skipped: list[str] = []
    for market in markets:
        if market.get("type") not in types or market.get("active") is False:
            continue
        try:
            if not market.get("base") or not market.get("quote"):
                raise ValidationError(f"market {market.get('symbol')!r} has no base or quote")
            symbol = check_symbol(f"{market['base']}/{market['quote']}")
            if symbol in instruments:
                continue
            info = market.get("info") or {}
            filters = binance_filters(info) if exchange in BINANCE_FAMILY else None
            if filters is None:
                filters = unified_filters(market, precision_mode)
        except ValidationError:
            filters = None
        if filters is None:
            skipped.append(str(market.get("symbol")))
            continue
        instruments[symbol] = Instrument(
            exchange=exchange, symbol=symbol, exchange_symbol=str(market.get("id")), base=symbol.split("/")[0],
            quote=symbol.split("/")[1], price_precision=decimals_of(filters["tick_size"]),
            size_precision=decimals_of(filters["step_size"]), **filters,
        )
        ccxt_symbols[symbol] = str(market["symbol"])
    return instruments, ccxt_symbols, skipped
