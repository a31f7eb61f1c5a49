"""Instruments and their exchange filters, with exact decimal rounding.

Every price and quantity sent to an exchange must be a multiple of the
instrument's tick size and step size and pass its minimums; the filters come
from the exchange's own market data (Binance ``exchangeInfo``, Kraken
``AssetPairs``), never from a default precision.  Rounding is done in
``Decimal`` and the result is written as a plain decimal string.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation

from cryptobot.core.errors import OrderRejected, ValidationError

ZERO = Decimal(0)


def to_decimal(value: object, field: str) -> Decimal:
    """Convert an int, str, float or Decimal to a finite Decimal; floats go through ``repr``.

    Raises
    ------
    ValidationError
        For booleans, NaN, infinities and text that is not a number.
    """
    if isinstance(value, bool):
        raise ValidationError(f"'{field}' must be a number, was {value!r}", {field: "expected a number"})
    try:
        result = Decimal(float.__repr__(value)) if isinstance(value, float) else Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError(f"'{field}' must be a number, was {value!r}", {field: "expected a number"}) from None
    if not result.is_finite():
        raise ValidationError(f"'{field}' must be a finite number, was {value!r}", {field: "expected a finite number"})
    return result


def plain(value: Decimal) -> str:
    """Write ``value`` without an exponent and without trailing zeros: ``Decimal('1E-5')`` -> ``'0.00001'``."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def decimals_of(step: Decimal) -> int:
    """Number of decimal places of a tick or step size: ``0.01000000`` -> 2."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -int(exponent))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable pair on one exchange with its filters.

    ``tick_size``/``step_size`` of 0 mean the exchange sets no grid for
    that value.  ``max_qty``/``max_price`` of 0 mean no maximum.
    """

    exchange: str
    symbol: str
    exchange_symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal = ZERO
    max_qty: Decimal = ZERO
    min_notional: Decimal = ZERO
    min_price: Decimal = ZERO
    max_price: Decimal = ZERO
    market_step_size: Decimal = ZERO
    market_max_qty: Decimal = ZERO
    price_precision: int = 8
    size_precision: int = 8

    def round_price(self, price: Decimal, side: str) -> Decimal:
        """Round a limit price to the tick grid on the passive side.

        A buy rounds down and a sell rounds up, so rounding never makes an
        order pay more or receive less than the strategy asked.
        """
        if self.tick_size <= 0:
            return price
        mode = ROUND_FLOOR if side == "buy" else ROUND_CEILING
        return ((price / self.tick_size).to_integral_value(rounding=mode) * self.tick_size).quantize(self.tick_size)

    def round_price_nearest(self, price: Decimal) -> Decimal:
        """Round a price (a stop trigger, a mark) to the nearest tick."""
        if self.tick_size <= 0:
            return price
        return ((price / self.tick_size).to_integral_value(rounding=ROUND_HALF_EVEN) * self.tick_size).quantize(self.tick_size)

    def round_quantity(self, quantity: Decimal, market: bool = False) -> Decimal:
        """Round a quantity down to the step grid (never more than asked)."""
        step = self.market_step_size if market and self.market_step_size > 0 else self.step_size
        if step <= 0:
            return quantity
        return ((quantity / step).to_integral_value(rounding=ROUND_FLOOR) * step).quantize(step)

    def check(self, quantity: Decimal, price: Decimal, market: bool = False) -> None:
        """Check a rounded order against the filters; raise OrderRejected naming the filter.

        ``price`` is the limit price, or the reference price (mid) of a
        market order for the notional check.
        """
        max_qty = self.market_max_qty if market and self.market_max_qty > 0 else self.max_qty
        if quantity <= 0:
            raise OrderRejected(f"quantity {plain(quantity)} rounds to nothing at step size {plain(self.step_size)}",
                                "min_qty", {"quantity": plain(quantity)})
        if quantity < self.min_qty:
            raise OrderRejected(f"quantity {plain(quantity)} is below the minimum {plain(self.min_qty)} of {self.symbol}",
                                "min_qty", {"quantity": plain(quantity), "min_qty": plain(self.min_qty)})
        if max_qty > 0 and quantity > max_qty:
            raise OrderRejected(f"quantity {plain(quantity)} is above the maximum {plain(max_qty)} of {self.symbol}",
                                "max_qty", {"quantity": plain(quantity), "max_qty": plain(max_qty)})
        if not market:
            if self.min_price > 0 and price < self.min_price:
                raise OrderRejected(f"price {plain(price)} is below the minimum {plain(self.min_price)} of {self.symbol}",
                                    "min_price", {"price": plain(price)})
            if self.max_price > 0 and price > self.max_price:
                raise OrderRejected(f"price {plain(price)} is above the maximum {plain(self.max_price)} of {self.symbol}",
                                    "max_price", {"price": plain(price)})
        notional = quantity * price
        if notional < self.min_notional:
            raise OrderRejected(
                f"notional {plain(notional)} is below the minimum {plain(self.min_notional)} of {self.symbol}",
                "min_notional", {"notional": plain(notional), "min_notional": plain(self.min_notional)},
            )

    def closable_quantity(self, held: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
        """Split a holding into the part a closing order can sell and the dust left over.

        The sellable part is rounded down to the step; if it would fail the
        minimum quantity or notional, nothing is sellable and all of it is dust.
        """
        sellable = self.round_quantity(held, market=True)
        if sellable <= 0 or sellable < self.min_qty or sellable * price < self.min_notional:
            return ZERO, held
        return sellable, held - sellable
