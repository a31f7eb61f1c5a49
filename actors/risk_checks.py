"""Pre-trade checks of the risk manager, as plain functions over its state.

Each check raises :class:`OrderRejected` with a short ``reason`` code and a
sentence naming the value and the limit; the risk actor turns that into a
rejection event.  Limits of ``None`` are off.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields, replace
from decimal import Decimal

from cryptobot.core.errors import OrderRejected, ValidationError
from cryptobot.core.instruments import plain, to_decimal
from cryptobot.core.messages import OrderIntent
from cryptobot.core.orders import ORDER_TYPES, TIME_IN_FORCE
from cryptobot.core.types import SIDES

ZERO = Decimal(0)
NANOS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True)
class RiskLimits:
    """Limits for one strategy (or the defaults for all); ``None`` disables a limit.

    Amounts are in the quote currency of the order's symbol.
    """

    capital_allocation: Decimal | None = None
    max_positions: int | None = None
    max_order_notional: Decimal | None = None
    max_order_quantity: Decimal | None = None
    max_position_notional: Decimal | None = None
    price_band_percent: Decimal | None = Decimal("5")
    orders_per_second: int | None = 20
    daily_loss_limit: Decimal | None = None

    def merged(self, override: "RiskLimits | None") -> "RiskLimits":
        """Return these limits with every limit ``override`` sets replacing ours."""
        if override is None:
            return self
        changes = {f.name: getattr(override, f.name) for f in fields(self) if getattr(override, f.name) is not None}
        return replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: dict) -> "RiskLimits":
        """Build limits from JSON-like input; raise ValidationError naming a bad field."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValidationError(f"unknown risk limit '{unknown[0]}'", {name: "unknown risk limit" for name in unknown})
        parsed: dict = {}
        for name, raw in values.items():
            if raw is None:
                parsed[name] = None
                continue
            if name in ("max_positions", "orders_per_second"):
                if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                    raise ValidationError(f"'{name}' must be an integer >= 1, was {raw!r}", {name: "expected an integer >= 1"})
                parsed[name] = raw
            else:
                value = to_decimal(raw, name)
                if value <= 0:
                    raise ValidationError(f"'{name}' must be > 0, was {raw!r}", {name: "expected a number > 0"})
                parsed[name] = value
        return replace(cls(**{f.name: None for f in fields(cls)}), **parsed)


def check_shape(intent: OrderIntent) -> None:
    """Reject intents that are malformed whatever the market: side, type, quantities, prices."""
    if intent.side not in SIDES:
        raise OrderRejected(f"side must be buy or sell, was {intent.side!r}", "invalid_order", {"side": intent.side})
    if intent.type not in ORDER_TYPES:
        raise OrderRejected(f"type must be one of {', '.join(ORDER_TYPES)}, was {intent.type!r}", "invalid_order",
                            {"type": intent.type})
    if intent.time_in_force not in TIME_IN_FORCE:
        raise OrderRejected(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}, was {intent.time_in_force!r}",
                            "invalid_order", {"time_in_force": intent.time_in_force})
    if not intent.quantity.is_finite() or intent.quantity <= 0:
        raise OrderRejected(f"quantity must be > 0, was {plain(intent.quantity)}", "invalid_order",
                            {"quantity": str(intent.quantity)})
    needs_price = intent.type in ("limit", "stop_limit")
    if needs_price and (intent.price is None or not intent.price.is_finite() or intent.price <= 0):
        raise OrderRejected(f"a {intent.type} order needs a price > 0, was {intent.price}", "invalid_order", {"price": str(intent.price)})
    if not needs_price and intent.price is not None:
        raise OrderRejected(f"a {intent.type} order takes no price, was {plain(intent.price)}", "invalid_order",
                            {"price": str(intent.price)})
    needs_stop = intent.type in ("stop", "stop_limit")
    if needs_stop and (intent.stop_price is None or not intent.stop_price.is_finite() or intent.stop_price <= 0):
        raise OrderRejected(f"a {intent.type} order needs a stop_price > 0, was {intent.stop_price}", "invalid_order",
                            {"stop_price": str(intent.stop_price)})
    if intent.post_only and intent.type != "limit":
        raise OrderRejected("post_only applies to limit orders only", "invalid_order", {"post_only": True})


class Throttle:
    """Sliding one-second window of order times."""

    __slots__ = ("_times",)

    def __init__(self) -> None:
        self._times: deque[int] = deque()

    def check(self, limit: int | None, now_ns: int, who: str) -> None:
        if limit is None:
            return
        self._forget(now_ns)
        sent = len(self._times)
        if sent >= limit:
            raise OrderRejected(f"{who} sent {sent} orders in the last second; the limit is {limit} per second",
                                "throttled", {"orders_per_second": limit})

    def record(self, now_ns: int) -> None:
        # Trimmed here too, so a window whose limit is off does not grow without end.
        self._forget(now_ns)
        self._times.append(now_ns)

    def __len__(self) -> int:
        return len(self._times)

    def _forget(self, now_ns: int) -> None:
        times = self._times
        while times and now_ns - times[0] >= NANOS_PER_SECOND:
            times.popleft()


def check_price_band(price: Decimal, mid: Decimal, band_percent: Decimal | None, field: str = "price") -> None:
    if band_percent is None:
        return
    distance = abs(price - mid) / mid * 100
    if distance > band_percent:
        raise OrderRejected(
            f"{field} {plain(price)} is {distance.quantize(Decimal('0.01'))} % from mid {plain(mid)}; the band is ±{plain(band_percent)} %",
            "price_band", {field: plain(price), "mid": plain(mid)},
        )


def check_order_size(quantity: Decimal, notional: Decimal, limits: RiskLimits) -> None:
    if limits.max_order_quantity is not None and quantity > limits.max_order_quantity:
        raise OrderRejected(f"quantity {plain(quantity)} is above the per-order limit {plain(limits.max_order_quantity)}",
                            "max_order_quantity", {"quantity": plain(quantity)})
    if limits.max_order_notional is not None and notional > limits.max_order_notional:
        raise OrderRejected(f"notional {plain(notional)} is above the per-order limit {plain(limits.max_order_notional)}",
                            "max_order_notional", {"notional": plain(notional)})


def check_position_limit(resulting: Decimal, price: Decimal, limits: RiskLimits, symbol: str) -> None:
    if limits.max_position_notional is None:
        return
    notional = abs(resulting) * price
    if notional > limits.max_position_notional:
        raise OrderRejected(
            f"the position in {symbol} would be worth {plain(notional.quantize(Decimal('0.01')))}, above the limit {plain(limits.max_position_notional)}",
            "max_position", {"position_notional": plain(notional)},
        )


def check_capital(exposure: Decimal, limits: RiskLimits) -> None:
    if limits.capital_allocation is not None and exposure > limits.capital_allocation:
        raise OrderRejected(
            f"the strategy's exposure would be {plain(exposure.quantize(Decimal('0.01')))}, above its capital allocation {plain(limits.capital_allocation)}",
            "capital_allocation", {"exposure": plain(exposure)},
        )


def check_max_positions(open_symbols: int, opens_new: bool, limits: RiskLimits) -> None:
    if limits.max_positions is not None and opens_new and open_symbols >= limits.max_positions:
        raise OrderRejected(f"the strategy already holds {open_symbols} positions; the limit is {limits.max_positions}",
                            "max_positions", {"open_positions": open_symbols})


def check_daily_loss(day_pnl: Decimal, limits: RiskLimits) -> None:
    if limits.daily_loss_limit is not None and day_pnl <= -limits.daily_loss_limit:
        raise OrderRejected(
            f"the strategy lost {plain((-day_pnl).quantize(Decimal('0.01')))} today, reaching its daily loss limit {plain(limits.daily_loss_limit)}",
            "daily_loss_limit", {"day_pnl": plain(day_pnl)},
        )
