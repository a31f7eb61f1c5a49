"""Live order execution through ccxt (async), implementing the ExecutionGateway protocol.

Orders go out with the quantities and prices the risk manager rounded,
written as plain decimal strings, and with the engine's client order id
(``newClientOrderId`` on Binance), which makes a resend of the same order
detectable.  Results come back as :class:`ExecutionReport` values through
the listener: accepted (with the exchange order id), rejected (with the
exchange's message), fill (quantity, price, fee, fee asset, maker flag,
trade id), canceled and expired.

Fills contained in an order response (Binance's ``FULL`` response) are
reported at once.  Later fills are found by :meth:`CcxtGateway.poll_open_orders`,
which the execution actor calls periodically.  A user-data WebSocket is not
implemented, so polling is the only source of later fills.  Each fill is
reported once (see :mod:`cryptobot.gateways.ccxt_tracking`).

Failures: an order the exchange rejects becomes a rejected report.  Rate
limits wait for ``Retry-After`` (or an exponential backoff with jitter) and
retry, a bounded number of times.  Reads and cancels retry on any network
failure.  An order placement that failed on the way (timeout, connection
loss, 5xx) may have reached the exchange.  So the order is first looked up
by its client order id, and sent again only when the exchange has no such
order and can no longer accept the original request, because its
``recvWindow`` has passed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

import ccxt

from cryptobot.core.clock import Clock, LiveClock
from cryptobot.core.config import Settings
from cryptobot.core.errors import ConfigError, ExchangeError, OrderRejected
from cryptobot.core.instruments import Instrument
from cryptobot.core.logs import secrets_filter
from cryptobot.core.orders import Order
from cryptobot.gateways.base import ACCEPTED, FILL, REJECTED, Balance, ExecutionReport, Listener
from cryptobot.gateways.ccxt_calls import RetryingCaller
from cryptobot.gateways.ccxt_client import make_client, resolve_exchange
from cryptobot.gateways.ccxt_errors import (
    AUTHENTICATION, CLOCK, NOT_FOUND, RATE_LIMITED, UNCERTAIN, ExchangeRefusal, Redactor, RetryPolicy, failure_kind,
)
from cryptobot.gateways.ccxt_markets import build_instruments
from cryptobot.gateways.ccxt_orders import OrderRequest, order_request
from cryptobot.gateways.ccxt_reconcile import OrderReconciler
from cryptobot.gateways.ccxt_tracking import TERMINAL_KINDS, TrackedOrder, average_of, decimal_of, filled_of, ms_to_ns

log = logging.getLogger("cryptobot.gateways.ccxt")


class CcxtGateway:
    """An :class:`~cryptobot.gateways.base.ExecutionGateway` on a ccxt async exchange client.

    Parameters
    ----------
    exchange
        ``binance`` (spot), ``binance_usdm`` (USD-M perpetuals) or ``kraken``;
        ccxt ids (``binanceusdm``) are accepted too.
    api_key, secret
        The exchange credentials.  They stay in memory only (inside the
        ccxt client), are registered with the log redaction filter and are
        never part of ``repr``.
    sandbox
        Use the exchange's test network (ccxt's sandbox mode).
    urls
        Entries replacing ccxt's ``urls['api']`` (a local emulator, a proxy).
    recv_window_ms
        How long a signed request stays valid at the exchange (Binance ``recvWindow``).
    timeout_ms
        HTTP timeout of one request.
    retry
        Retries and backoff of failed requests.
    lookup_grace_ms
        Margin added to ``recv_window_ms`` before an order not found after a
        failed placement is taken as never placed.
    throttle
        Keep ccxt's client-side rate limiter on.
    sleep
        The coroutine that waits between retries.
    """

    def __init__(self, exchange: str, api_key: str, secret: str, *, sandbox: bool = False,
                 urls: dict[str, str] | None = None, recv_window_ms: int = 5000, timeout_ms: int = 10_000,
                 retry: RetryPolicy | None = None, lookup_grace_ms: int = 1000, throttle: bool = True,
                 clock: Clock | None = None, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep):
        self.exchange, self.ccxt_id = resolve_exchange(exchange)
        if not api_key or not secret:
            raise ConfigError("Cannot create the ccxt gateway: the exchange API key and secret are required "
                              "(CRYPTOBOT_EXCHANGE_API_KEY, CRYPTOBOT_EXCHANGE_API_SECRET)")
        if not 1 <= recv_window_ms <= 60_000:
            raise ValueError(f"'recv_window_ms' out of range [1, 60000], was {recv_window_ms}")
        if not 0 <= lookup_grace_ms <= 60_000:
            raise ValueError(f"'lookup_grace_ms' out of range [0, 60000], was {lookup_grace_ms}")
        secrets_filter.add(api_key)
        secrets_filter.add(secret)
        redact = Redactor([api_key, secret])
        client = make_client(self.exchange, self.ccxt_id, api_key, secret, sandbox=sandbox, urls=urls,
                             timeout_ms=timeout_ms, recv_window_ms=recv_window_ms, throttle=throttle, redact=redact)
        self.sandbox = sandbox
        self.recv_window_ms = recv_window_ms
        self.lookup_grace_ms = lookup_grace_ms
        self.instruments: dict[str, Instrument] = {}
        self._client = client
        self._caller = RetryingCaller(client, self.exchange, retry or RetryPolicy(), sleep, redact)
        self._orders = OrderReconciler(self._caller, clock or LiveClock())

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> CcxtGateway:
        """Build the gateway for ``settings.engine_exchange`` with the configured keys."""
        return cls(settings.engine_exchange, settings.exchange_api_key, settings.exchange_api_secret,
                   sandbox=settings.exchange_sandbox, **kwargs)

    def __repr__(self) -> str:
        return f"CcxtGateway(exchange={self.exchange!r}, sandbox={self.sandbox}, credentials='***')"

    def __reduce__(self):
        raise TypeError("Cannot pickle a CcxtGateway: it holds exchange credentials, which are kept in memory only")

    # -- protocol ------------------------------------------------------------------

    def set_listener(self, listener: Listener) -> None:
        self._orders.listener = listener

    async def load_instruments(self) -> dict[str, Instrument]:
        """Load the exchange's markets and return the instruments by unified symbol."""
        markets = await self._caller.call(lambda: self._client.load_markets(True), "load markets")
        instruments, symbols, skipped = build_instruments(self.exchange, markets.values(), self._client.precisionMode)
        if skipped:
            log.warning("skipped %d %s markets with missing or invalid filters, e.g. %s",
                        len(skipped), self.exchange, ", ".join(skipped[:5]))
        self.instruments = instruments
        self._orders.ccxt_symbols = symbols
        log.info("loaded %d %s instruments", len(instruments), self.exchange)
        return dict(instruments)

    async def submit(self, order: Order) -> None:
        """Place ``order`` and report the outcome: accepted and fills, or rejected.

        Raises
        ------
        ExchangeError
            ``retryable=True`` when rate limits or network failures outlasted
            the retries: the order was not placed, or (``details['state'] ==
            'unknown'``) its placement could not be confirmed yet, in which
            case :meth:`poll_open_orders` keeps looking for it.  Nothing is
            reported then, and submitting the same order again is safe.
            ``retryable=False`` when the exchange rejected the credentials
            (the order is also reported rejected).
        """
        if not self.instruments:
            await self.load_instruments()
        tracked = self._orders.tracked.get(order.order_id)
        if tracked is not None and tracked.state == "live":
            log.warning("order %s was already placed as %s; not sending it again", order.order_id,
                        tracked.exchange_order_id)
            return
        ccxt_symbol = self._orders.ccxt_symbols.get(order.symbol)
        contract = bool((self._client.markets or {}).get(ccxt_symbol, {}).get("contract"))
        try:
            request = order_request(order, self.instruments.get(order.symbol), ccxt_symbol, self.exchange, contract)
        except OrderRejected as exc:
            self._orders.report(REJECTED, order.order_id, reason=exc.message)
            return
        if tracked is None:
            tracked = TrackedOrder.from_order(order, request.symbol, state="sending")
            self._orders.tracked[order.order_id] = tracked
        tracked.client_order_id = request.client_order_id
        if tracked.state == "unknown":
            # An earlier placement failed on the way: the order may exist already.
            found = await self._find_placed(tracked, wait=True)
            if found is not None:
                await self._adopt(tracked, found)
                return
        await self._place(tracked, request)

    async def cancel(self, order: Order) -> None:
        """Cancel ``order``; report its fills not yet reported, then canceled.

        An order that finished before the cancel arrived is reconciled
        instead: its fills and end are reported as the exchange shows them.

        Raises
        ------
        ExchangeError
            If the exchange has no such order, rejected the cancel, or kept failing.
        """
        tracked = self._orders.track(order)
        if tracked.exchange_order_id:
            order_id, params = tracked.exchange_order_id, {}
        else:
            order_id, params = None, {"clientOrderId": tracked.client_order_id}
        try:
            response = await self._caller.call(lambda: self._client.cancel_order(order_id, tracked.ccxt_symbol, params),
                                             f"cancel order {order.order_id}")
        except ExchangeRefusal as refused:
            if refused.kind != NOT_FOUND:
                raise
            snapshot = await self._orders.snapshot(tracked)
            if snapshot is None:
                self._orders.forget(tracked)
                raise ExchangeError(f"Cannot cancel order {order.order_id}: {self.exchange} has no such order",
                                    retryable=False, details={"order_id": order.order_id}) from None
            await self._orders.reconcile(tracked, snapshot)
            return
        await self._orders.reconcile(tracked, response)

    async def fetch_order(self, order: Order) -> ExecutionReport | None:
        """Return the exchange's view of ``order`` (not sent to the listener), or None if unknown.

        The kind is accepted for an open order, fill for a filled one (with
        the total quantity and average price), else canceled, expired or
        rejected.  Fills not yet reported are sent to the listener first.
        """
        tracked = self._orders.track(order)
        snapshot = await self._orders.snapshot(tracked)
        if snapshot is None:
            return None
        await self._orders.reconcile(tracked, snapshot)
        status = snapshot.get("status")
        ts = ms_to_ns(snapshot.get("lastUpdateTimestamp") or snapshot.get("timestamp"), self._orders.clock.now_ns())
        if status == "closed":
            return ExecutionReport(FILL, order.order_id, ts, exchange_order_id=tracked.exchange_order_id,
                                   quantity=filled_of(snapshot), price=average_of(snapshot))
        return ExecutionReport(TERMINAL_KINDS.get(status, ACCEPTED), order.order_id, ts,
                               exchange_order_id=tracked.exchange_order_id)

    async def fetch_balances(self) -> dict[str, Balance]:
        """Return the account's non-zero balances by unified asset code."""
        raw = await self._caller.call(self._client.fetch_balance, "fetch balances")
        info = raw.get("info")
        rows = info.get("balances") if isinstance(info, dict) else None
        balances: dict[str, Balance] = {}
        if isinstance(rows, list):  # Binance spot: exact strings per asset
            for row in rows:
                asset = self._client.safe_currency_code(row.get("asset"))
                balance = Balance(asset, decimal_of(row.get("free"), None, "free"),
                                  decimal_of(row.get("locked"), None, "locked"))
                if balance.total:
                    balances[asset] = balance
            return balances
        used = raw.get("used") or {}
        for asset, free in (raw.get("free") or {}).items():
            balance = Balance(asset, decimal_of(None, free, "free"), decimal_of(None, used.get(asset), "used"))
            if balance.total:
                balances[asset] = balance
        return balances

    async def close(self) -> None:
        """Close the HTTP session and drop the credentials from the client."""
        await self._client.close()
        self._client.apiKey = ""
        self._client.secret = ""

    # -- polling -------------------------------------------------------------------------

    def track(self, order: Order) -> None:
        """Follow an open order placed earlier (for example before a restart) in :meth:`poll_open_orders`."""
        self._orders.track(order)

    @property
    def tracked_orders(self) -> int:
        """The number of orders :meth:`poll_open_orders` follows."""
        return len(self._orders.tracked)

    async def poll_open_orders(self) -> int:
        """Look for fills and state changes of every tracked order; return the number of reports sent.

        One ``fetch_open_orders`` per symbol; an order whose executed
        quantity grew or that left the open list is then fetched with its
        trades.  Failures are logged and the order is tried again on the
        next poll.
        """
        before = self._orders.sent
        by_symbol: dict[str, list[TrackedOrder]] = {}
        for tracked in list(self._orders.tracked.values()):
            by_symbol.setdefault(tracked.ccxt_symbol, []).append(tracked)
        for symbol, orders in by_symbol.items():
            try:
                open_orders = await self._caller.call(lambda: self._client.fetch_open_orders(symbol),
                                                      f"fetch open {symbol} orders")
            except ExchangeError as exc:
                log.warning("cannot poll %s orders: %s", symbol, exc.message)
                continue
            open_by_id = {str(o.get("id")): o for o in open_orders}
            for tracked in orders:
                try:
                    await self._poll_one(tracked, open_by_id)
                except ExchangeError as exc:
                    log.warning("cannot poll order %s: %s", tracked.order_id, exc.message)
        return self._orders.sent - before

    async def _poll_one(self, tracked: TrackedOrder, open_by_id: dict[str, dict]) -> None:
        if tracked.state == "sending":
            return  # submit is still waiting for the exchange and reports the outcome itself
        if tracked.state == "unknown":
            found = await self._find_placed(tracked, wait=False)
            if found is not None:
                await self._adopt(tracked, found)
            elif time.monotonic() >= tracked.lookup_deadline:
                self._orders.forget(tracked)
                self._orders.report(REJECTED, tracked.order_id, reason=f"order was not placed: {self.exchange} has no "
                                                                       f"order with client order id {tracked.client_order_id}")
            return
        snapshot = open_by_id.get(str(tracked.exchange_order_id))
        if snapshot is not None and tracked.accepted and filled_of(snapshot) <= tracked.reported_quantity:
            return
        if snapshot is None:
            snapshot = await self._orders.snapshot(tracked)
            if snapshot is None:
                log.warning("order %s (%s) is unknown to %s", tracked.order_id, tracked.exchange_order_id, self.exchange)
                return
        await self._orders.reconcile(tracked, snapshot)

    # -- placement ---------------------------------------------------------------------------

    async def _place(self, tracked: TrackedOrder, request: OrderRequest) -> None:
        retry = 0
        while True:
            # The exchange accepts the request until recvWindow after its timestamp, taken about now.
            tracked.lookup_deadline = time.monotonic() + (self.recv_window_ms + self.lookup_grace_ms) / 1000
            try:
                response = await self._client.create_order(request.symbol, request.type, request.side, request.amount,
                                                         request.price, dict(request.params))
            except ccxt.BaseError as exc:
                kind, message = failure_kind(exc), self._caller.message(exc)
                if kind == UNCERTAIN:
                    log.warning("placing order %s failed on the way (%s); looking it up by client order id %s",
                                tracked.order_id, message, tracked.client_order_id)
                    found = await self._find_placed(tracked, wait=True)
                    if found is not None:
                        await self._adopt(tracked, found)
                        return
                elif kind not in (RATE_LIMITED, CLOCK):
                    error = self._reject(tracked, kind, message)
                    if error is not None:
                        raise error from None
                    return
                if retry >= self._caller.retry.retries:
                    self._orders.forget(tracked)
                    raise ExchangeError(f"Cannot place order {tracked.order_id}: {self.exchange} kept failing after "
                                        f"{retry + 1} attempts ({message}); the order was not placed", retryable=True,
                                        details={"order_id": tracked.order_id, "state": "not_placed"}) from None
                await self._caller.back_off(exc, kind, retry, f"place order {tracked.order_id}")
                retry += 1
                continue
            await self._adopt(tracked, response)
            return

    def _reject(self, tracked: TrackedOrder, kind: str, message: str) -> ExchangeError | None:
        """Report an order the exchange rejected; return the error to raise when the credentials were rejected."""
        self._orders.forget(tracked)
        self._orders.report(REJECTED, tracked.order_id, reason=f"{self.exchange} rejected the order: {message}")
        if kind != AUTHENTICATION:
            return None
        return ExchangeError(f"Cannot place orders on {self.exchange}: the exchange rejected the API key or "
                             f"signature ({message}); check CRYPTOBOT_EXCHANGE_API_KEY and "
                             f"CRYPTOBOT_EXCHANGE_API_SECRET", retryable=False,
                             details={"order_id": tracked.order_id, "reason": kind})

    async def _find_placed(self, tracked: TrackedOrder, wait: bool) -> dict | None:
        """Look an order up by client order id after a failed placement.

        Return the order, or None when it was not found.  With ``wait``, a
        miss is final: the lookup repeats until ``tracked.lookup_deadline``,
        when the original request has become too old for the exchange to
        accept.  Without it (polling), one lookup is made.
        """
        params = {"clientOrderId": tracked.client_order_id}
        while True:
            try:
                return await self._caller.call(lambda: self._client.fetch_order(None, tracked.ccxt_symbol, params),
                                               f"look up order {tracked.order_id}")
            except ExchangeRefusal as refused:
                if refused.kind != NOT_FOUND:
                    tracked.state = "unknown"
                    raise
            except ExchangeError as exc:
                tracked.state = "unknown"
                raise ExchangeError(f"Cannot tell whether order {tracked.order_id} was placed: {exc.message}; "
                                    f"poll_open_orders keeps looking it up", retryable=True,
                                    details={"order_id": tracked.order_id, "client_order_id": tracked.client_order_id,
                                             "state": "unknown"}) from None
            remaining = tracked.lookup_deadline - time.monotonic()
            if not wait or remaining <= 0:
                return None
            # Real time, not the backoff sleep: the exchange's recvWindow runs on the wall clock.
            await asyncio.sleep(remaining)

    async def _adopt(self, tracked: TrackedOrder, response: dict) -> None:
        tracked.state = "live"
        await self._orders.reconcile(tracked, response)
