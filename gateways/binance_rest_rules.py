"""Symbol filters of the Binance spot REST emulator, checked the way Binance documents them.

Each check raises :class:`BinanceApiError` with Binance's HTTP status, error
code and message (``-1013 Filter failure: LOT_SIZE``), so a client sees the
same failure it would see from the exchange.  The rules are read from the
symbol entries of a real ``GET /api/v3/exchangeInfo`` response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Mapping

ZERO = Decimal(0)
EIGHT_PLACES = Decimal("0.00000001")

# Binance's pattern for DECIMAL parameters, quoted in its -1100 message.
DECIMAL_PATTERN = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
_DECIMAL = re.compile(DECIMAL_PATTERN)


class BinanceApiError(Exception):
    """A failure as Binance reports it: HTTP ``status`` and a body ``{"code", "msg"}``."""

    def __init__(self, status: int, code: int, msg: str, headers: Mapping[str, str] | None = None):
        super().__init__(f"{code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def filter_failure(name: str) -> BinanceApiError:
    return BinanceApiError(400, -1013, f"Filter failure: {name}")


def missing(name: str) -> BinanceApiError:
    return BinanceApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def fmt(value: Decimal) -> str:
    """Write a decimal with Binance's eight places: ``Decimal('0.5')`` -> ``'0.50000000'``."""
    # NOTE: Binance does not document how it rounds commissions to eight
    # places; half-up is an assumption.
    return format(value.quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP), "f")


def parse_decimal(params: Mapping[str, str], name: str, precision: int) -> Decimal | None:
    """Read an optional DECIMAL parameter, raising -1100 or -1111 as Binance does."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _DECIMAL.match(raw):
        raise BinanceApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{DECIMAL_PATTERN}'.")
    value = Decimal(raw)
    if "." in raw and len(raw.split(".")[1].rstrip("0")) > precision:
        raise BinanceApiError(400, -1111, f"Parameter '{name}' has too much precision.")
    return value


def _decimal_field(entry: Mapping[str, Any], key: str) -> Decimal:
    try:
        return Decimal(str(entry.get(key, "0")))
    except InvalidOperation:
        raise ValueError(f"exchangeInfo filter {entry.get('filterType')!r} has a non-numeric {key!r}: {entry.get(key)!r}") from None


def _on_grid(value: Decimal, minimum: Decimal, step: Decimal) -> bool:
    return step == 0 or (value - minimum) % step == 0


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """The trading rules of one symbol, from its exchangeInfo entry."""

    symbol: str
    status: str
    base: str
    quote: str
    base_precision: int
    quote_precision: int
    order_types: frozenset[str]
    filters: Mapping[str, Mapping[str, Any]]

    @classmethod
    def from_exchange_info(cls, entry: Mapping[str, Any]) -> SymbolRules:
        """Build the rules from one element of ``symbols[]``, raising ValueError if a field is missing."""
        try:
            return cls(
                symbol=entry["symbol"], status=entry["status"], base=entry["baseAsset"], quote=entry["quoteAsset"],
                base_precision=int(entry["baseAssetPrecision"]),
                quote_precision=int(entry.get("quoteAssetPrecision", entry.get("quotePrecision", 8))),
                order_types=frozenset(entry["orderTypes"]),
                filters={f["filterType"]: f for f in entry["filters"]},
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"exchangeInfo symbol entry {entry.get('symbol')!r} lacks field {exc}") from None

    def step_floor(self, quantity: Decimal) -> Decimal:
        """Round a quantity down to the LOT_SIZE step (used for quoteOrderQty market orders)."""
        lot = self.filters.get("LOT_SIZE")
        step = _decimal_field(lot, "stepSize") if lot else ZERO
        if step == 0:
            return quantity
        return (quantity / step).to_integral_value(rounding=ROUND_FLOOR) * step

    def check_price(self, price: Decimal) -> None:
        """Check PRICE_FILTER on a price or stop price: range and tick grid, each rule off when 0."""
        rule = self.filters.get("PRICE_FILTER")
        if rule is None:
            return
        low, high, tick = (_decimal_field(rule, k) for k in ("minPrice", "maxPrice", "tickSize"))
        if (low > 0 and price < low) or (high > 0 and price > high) or (tick > 0 and not _on_grid(price, low, tick)):
            raise filter_failure("PRICE_FILTER")

    def check_percent_price(self, price: Decimal, average: Decimal | None) -> None:
        """Check PERCENT_PRICE against the average price, skipped while the emulator has no price."""
        rule = self.filters.get("PERCENT_PRICE")
        if rule is None or average is None:
            return
        if price > average * _decimal_field(rule, "multiplierUp") or price < average * _decimal_field(rule, "multiplierDown"):
            raise filter_failure("PERCENT_PRICE")

    def check_quantity(self, quantity: Decimal, market: bool) -> None:
        """Check LOT_SIZE on every order, then MARKET_LOT_SIZE on market orders (rules of 0 are off)."""
        names = ("LOT_SIZE", "MARKET_LOT_SIZE") if market else ("LOT_SIZE",)
        for name in names:
            rule = self.filters.get(name)
            if rule is None:
                continue
            low, high, step = (_decimal_field(rule, k) for k in ("minQty", "maxQty", "stepSize"))
            if name == "LOT_SIZE" and quantity <= 0:
                raise filter_failure(name)
            if (low > 0 and quantity < low) or (high > 0 and quantity > high) or not _on_grid(quantity, low, step):
                raise filter_failure(name)

    def check_notional(self, notional: Decimal, market: bool) -> None:
        """Check MIN_NOTIONAL and the newer NOTIONAL filter, on market orders only where the filter applies to them."""
        rule = self.filters.get("MIN_NOTIONAL")
        if rule is not None and (not market or rule.get("applyToMarket", True)):
            if notional < _decimal_field(rule, "minNotional"):
                raise filter_failure("MIN_NOTIONAL")
        rule = self.filters.get("NOTIONAL")
        if rule is not None:
            if (not market or rule.get("applyMinToMarket", True)) and notional < _decimal_field(rule, "minNotional"):
                raise filter_failure("NOTIONAL")
            high = _decimal_field(rule, "maxNotional")
            if (not market or rule.get("applyMaxToMarket", False)) and high > 0 and notional > high:
                raise filter_failure("NOTIONAL")

    def check_open_order_counts(self, open_orders: int, open_algo_orders: int, algo: bool) -> None:
        """Check MAX_NUM_ORDERS (every open order) and MAX_NUM_ALGO_ORDERS (stop and take-profit orders)."""
        rule = self.filters.get("MAX_NUM_ORDERS")
        if rule is not None and open_orders + 1 > int(rule["maxNumOrders"]):
            raise filter_failure("MAX_NUM_ORDERS")
        rule = self.filters.get("MAX_NUM_ALGO_ORDERS")
        if algo and rule is not None and open_algo_orders + 1 > int(rule["maxNumAlgoOrders"]):
            raise filter_failure("MAX_NUM_ALGO_ORDERS")

    def check_max_position(self, position_after: Decimal) -> None:
        """Check MAX_POSITION: base balance plus open buy quantity, for buy orders."""
        rule = self.filters.get("MAX_POSITION")
        if rule is not None and position_after > _decimal_field(rule, "maxPosition"):
            raise filter_failure("MAX_POSITION")
