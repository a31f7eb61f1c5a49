"""Compare tracked orders with the exchange's view and report what changed, exactly once."""

from __future__ import annotations

import logging
from typing import Any

from cryptobot.core.clock import Clock
from cryptobot.core.errors import ExchangeError
from cryptobot.core.orders import Order
from cryptobot.gateways.base import ACCEPTED, ExecutionReport, Listener
from cryptobot.gateways.ccxt_calls import RetryingCaller
from cryptobot.gateways.ccxt_errors import NOT_FOUND, ExchangeRefusal
from cryptobot.gateways.ccxt_markets import BINANCE_FAMILY
from cryptobot.gateways.ccxt_tracking import OPEN_STATUSES, TERMINAL_KINDS, TrackedOrder, filled_of, ms_to_ns

log = logging.getLogger("cryptobot.gateways.ccxt")


class OrderReconciler:
    """The tracked orders of one gateway and the reports derived from them.

    Parameters
    ----------
    caller
        Runs the reads (``fetch_order``, ``fetch_my_trades``) with retries.
    clock
        Time stamps reports that carry no exchange time.
    """

    def __init__(self, caller: RetryingCaller, clock: Clock):
        self.caller = caller
        self.clock = clock
        self.listener: Listener = lambda report: None
        self.tracked: dict[str, TrackedOrder] = {}
        self.ccxt_symbols: dict[str, str] = {}
        self.sent = 0

    @property
    def exchange(self) -> str:
        return self.caller.exchange

    def track(self, order: Order) -> TrackedOrder:
        """Return the tracked state of ``order``, tracking it first if needed."""
        tracked = self.tracked.get(order.order_id)
        if tracked is None:
            ccxt_symbol = self.ccxt_symbols.get(order.symbol)
            if ccxt_symbol is None:
                raise ExchangeError(f"Cannot follow order {order.order_id}: {order.symbol} is not a loaded "
                                    f"{self.exchange} instrument; call load_instruments first", retryable=False)
            tracked = self.tracked[order.order_id] = TrackedOrder.from_order(order, ccxt_symbol)
        return tracked

    def forget(self, tracked: TrackedOrder) -> None:
        self.tracked.pop(tracked.order_id, None)

    def report(self, kind: str, order_id: str, ts: int | None = None, **fields: Any) -> None:
        self.emit(ExecutionReport(kind, order_id, ts if ts is not None else self.clock.now_ns(), **fields))

    def emit(self, report: ExecutionReport) -> None:
        self.sent += 1
        self.listener(report)

    async def reconcile(self, tracked: TrackedOrder, snapshot: dict) -> None:
        """Report what ``snapshot`` (a ccxt order) shows that was not reported yet.

        The reports are: accepted once, then each new fill, then the end of
        the order (canceled, expired or rejected, and nothing more when
        filled).  The end comes only after every executed quantity has been
        reported as fills.
        """
        ts = ms_to_ns(snapshot.get("lastUpdateTimestamp") or snapshot.get("timestamp"), self.clock.now_ns())
        if snapshot.get("id") is not None:
            tracked.exchange_order_id = str(snapshot["id"])
        status = snapshot.get("status")
        if not tracked.accepted and status != "rejected":
            tracked.accepted = True
            self.report(ACCEPTED, tracked.order_id, ts, exchange_order_id=tracked.exchange_order_id)
        for report in tracked.new_fills(snapshot.get("trades") or [], ts):
            self.emit(report)
        filled = filled_of(snapshot)
        if filled > tracked.reported_quantity:
            for report in tracked.new_fills(await self.order_trades(tracked), ts):
                self.emit(report)
        if status in OPEN_STATUSES or status is None or tracked.reported_quantity < filled:
            return  # still open, or trades not visible yet: the next poll finishes the order
        self.forget(tracked)
        if tracked.finished:
            return
        tracked.finished = True
        kind = TERMINAL_KINDS.get(status)
        if kind is not None:
            reason = None if kind == "canceled" else (f"{self.exchange} reported the order {status} with "
                                                      f"{filled} of {tracked.quantity} filled")
            self.report(kind, tracked.order_id, ts, exchange_order_id=tracked.exchange_order_id, reason=reason)

    async def order_trades(self, tracked: TrackedOrder) -> list[dict]:
        """Fetch the trades of one order."""
        symbol, order_id = tracked.ccxt_symbol, tracked.exchange_order_id
        client = self.caller.client
        if self.exchange in BINANCE_FAMILY:
            return await self.caller.call(lambda: client.fetch_my_trades(symbol, None, None, {"orderId": order_id}),
                                          f"fetch trades of order {tracked.order_id}")
        # NOTE: on an exchange without fetchMyTrades, fills seen only in the executed quantity stay unreported.
        if not client.has.get("fetchMyTrades"):
            return []
        trades = await self.caller.call(lambda: client.fetch_my_trades(symbol), f"fetch {symbol} trades")
        return [t for t in trades if str(t.get("order")) == order_id]

    async def snapshot(self, tracked: TrackedOrder) -> dict | None:
        """Fetch one order by exchange id (or client order id before it has one); None if unknown."""
        if tracked.exchange_order_id:
            order_id, params = tracked.exchange_order_id, {}
        else:
            order_id, params = None, {"clientOrderId": tracked.client_order_id}
        client = self.caller.client
        try:
            return await self.caller.call(lambda: client.fetch_order(order_id, tracked.ccxt_symbol, params),
                                          f"fetch order {tracked.order_id}")
        except ExchangeRefusal as refused:
            if refused.kind == NOT_FOUND:
                return None
            raise
