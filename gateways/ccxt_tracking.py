"""What the ccxt gateway remembers about each live order, so every fill is reported once.

Fills reach the gateway in the ``fills`` of an order response and, while
polling, from ``fetch_my_trades`` once an order shows a larger executed
quantity.  A :class:`TrackedOrder` records the trade ids already reported and
the quantity reported without an id (fills from a response that had no trade
ids, or fills the engine booked before a restart), so a trade seen again is
skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

from cryptobot.core.clock import NANOS_PER_MILLI
from cryptobot.core.instruments import plain, to_decimal
from cryptobot.core.orders import Order
from cryptobot.gateways.base import FILL, ExecutionReport

log = logging.getLogger("cryptobot.gateways.ccxt")

ZERO = Decimal(0)

# ccxt's unified order status -> what the gateway does with it.
OPEN_STATUSES = ("open", "canceling")
TERMINAL_KINDS = {"canceled": "canceled", "expired": "expired", "rejected": "rejected"}


def decimal_of(raw: Any, unified: Any, field_name: str) -> Decimal:
    """Return the exchange's raw string (exact) as a normalized Decimal, else ccxt's unified number.

    Raises ValidationError for a value that is not a finite number.
    """
    value = raw if raw not in (None, "") else unified
    if value in (None, ""):
        return ZERO
    return Decimal(plain(to_decimal(value, field_name)))


def filled_of(order: Mapping[str, Any]) -> Decimal:
    """Return the executed quantity of a ccxt order, from Binance's ``executedQty`` when present."""
    info = order.get("info") or {}
    return decimal_of(info.get("executedQty") if isinstance(info, Mapping) else None, order.get("filled"), "filled")


def average_of(order: Mapping[str, Any]) -> Decimal | None:
    """Return the average fill price of a ccxt order, exact from Binance's quote and executed quantities."""
    info = order.get("info") if isinstance(order.get("info"), Mapping) else {}
    executed = decimal_of(info.get("executedQty"), None, "executedQty")
    quote = decimal_of(info.get("cummulativeQuoteQty"), None, "cummulativeQuoteQty")
    if executed > 0 and quote > 0:
        return Decimal(plain(quote / executed))
    average = order.get("average")
    return None if average is None else decimal_of(None, average, "average")


def ms_to_ns(ms: Any, default_ns: int) -> int:
    return int(ms) * NANOS_PER_MILLI if isinstance(ms, (int, float)) and ms > 0 else default_ns


@dataclass(slots=True)
class TrackedOrder:
    """One order the gateway placed (or adopted) and has not yet seen finish.

    ``state`` is ``sending`` while :meth:`CcxtGateway.submit` waits for the
    exchange, ``live`` once the exchange has acknowledged the order, and
    ``unknown`` while a placement that failed on the way has neither been
    found at the exchange nor ruled out.
    """

    order_id: str
    client_order_id: str
    symbol: str
    ccxt_symbol: str
    side: str
    quantity: Decimal
    exchange_order_id: str | None = None
    state: str = "live"
    accepted: bool = False
    finished: bool = False
    reported_quantity: Decimal = ZERO
    unmatched_quantity: Decimal = ZERO
    trade_ids: set[str] = field(default_factory=set)
    lookup_deadline: float = 0.0

    @classmethod
    def from_order(cls, order: Order, ccxt_symbol: str, state: str = "live") -> TrackedOrder:
        """Track ``order`` as the engine has booked it; its booked fills count as reported, without ids."""
        return cls(order.order_id, order.client_order_id or order.order_id, order.symbol, ccxt_symbol, order.side,
                   order.quantity, exchange_order_id=order.exchange_order_id, state=state,
                   accepted=order.exchange_order_id is not None, reported_quantity=order.filled,
                   unmatched_quantity=order.filled)

    def new_fills(self, trades: list[Mapping[str, Any]], default_ts: int) -> list[ExecutionReport]:
        """Turn ccxt trades of this order into fill reports, skipping every trade already reported."""
        reports = []
        ordered = sorted(trades, key=lambda t: (t.get("timestamp") or 0, str(t.get("id") or "")))
        for trade in ordered:
            report = self._fill_report(trade, default_ts)
            if report is None:
                continue
            trade_id = report.trade_id
            if trade_id is not None and trade_id in self.trade_ids:
                continue
            if trade_id is not None:
                self.trade_ids.add(trade_id)
            if self.unmatched_quantity > 0:
                # Reported earlier without an id: this trade is one of those.
                self.unmatched_quantity = max(ZERO, self.unmatched_quantity - report.quantity)
                continue
            if self.reported_quantity + report.quantity > self.quantity:
                log.warning("ignored trade %s of order %s: it would fill %s beyond the order quantity %s",
                            trade_id, self.order_id, self.reported_quantity + report.quantity, self.quantity)
                continue
            self.reported_quantity += report.quantity
            reports.append(report)
        return reports

    def _fill_report(self, trade: Mapping[str, Any], default_ts: int) -> ExecutionReport | None:
        info = trade.get("info") if isinstance(trade.get("info"), Mapping) else {}
        quantity = decimal_of(info.get("qty"), trade.get("amount"), "amount")
        if quantity <= 0:
            return None
        fee = trade.get("fee") or {}
        # Binance's FULL fills carry no maker flag: they executed on arrival, so as taker.
        maker = info.get("isMaker") if isinstance(info.get("isMaker"), bool) else trade.get("takerOrMaker") == "maker"
        raw_id = trade.get("id") or info.get("tradeId") or info.get("id")
        return ExecutionReport(
            FILL, self.order_id, ms_to_ns(trade.get("timestamp"), default_ts), exchange_order_id=self.exchange_order_id,
            quantity=quantity, price=decimal_of(info.get("price"), trade.get("price"), "price"),
            fee=decimal_of(info.get("commission"), fee.get("cost"), "fee"),
            fee_asset=fee.get("currency") or info.get("commissionAsset"), maker=maker,
            trade_id=None if raw_id in (None, "") else str(raw_id),
        )
