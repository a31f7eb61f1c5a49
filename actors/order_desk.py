"""Manual orders from the API: submit through the risk manager and wait for the outcome.

``POST /trade/execute`` answers with the order as the exchange left it a
moment after submission: accepted (open), filled, or rejected.  The desk
sends the intent to the risk manager with a reply callback, listens to the
order topic for the client order id, and returns the first update that
settles the order's fate, or its last known state after ``timeout``.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from cryptobot.core import topics
from cryptobot.core.errors import NotFound, OrderRejected, ServiceUnavailable
from cryptobot.core.messages import CancelRequest, OrderIntent, OrderUpdate, RiskRejection
from cryptobot.core.orders import Order, OrderStatus

SETTLED = {"accepted", "fill", "rejected", "canceled", "expired", "duplicate"}


class OrderDesk:
    """Submits and cancels orders on behalf of API users."""

    def __init__(self, engine: Any, store: Any, risk: str = "risk", execution: str = "execution"):
        self.engine = engine
        self.store = store
        self.risk = risk
        self.execution = execution
        self._waiting: dict[str, asyncio.Future] = {}
        self._cancels: dict[str, asyncio.Future] = {}
        engine.bus.subscribe(topics.ALL_ORDERS, self._on_update)

    @staticmethod
    def new_client_order_id() -> str:
        return "api-" + secrets.token_hex(10)

    async def submit(self, intent: OrderIntent, timeout: float = 2.0) -> Order:
        """Send ``intent`` through risk; return the order once accepted, filled or rejected.

        Raises
        ------
        OrderRejected
            If the risk manager rejects the intent (its reason and message).
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting[intent.client_order_id] = future
        intent.reply_to = self._on_rejection
        intent.ts_created = self.engine.clock.now_ns()
        try:
            await self.engine.ref(self.risk).put(intent)
            result = await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            try:
                return await self.store.orders.get_by_client_order_id(intent.exchange, intent.client_order_id)
            except NotFound:
                raise ServiceUnavailable(f"order {intent.client_order_id} was sent but not confirmed within {timeout} s; "
                                         "look it up again shortly") from None
        finally:
            self._waiting.pop(intent.client_order_id, None)
        if isinstance(result, RiskRejection):
            raise OrderRejected(result.message, result.reason, {"reason": result.reason, **_plain(result.details)})
        return result

    async def cancel(self, order: Order, timeout: float = 2.0) -> Order:
        """Ask the exchange to cancel ``order``; return its state once canceled (or after ``timeout``)."""
        future = asyncio.get_running_loop().create_future()
        self._cancels[order.order_id] = future
        try:
            await self.engine.ref(self.execution).put(CancelRequest(order.order_id, reason="user"))
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            return await self.store.orders.get(order.order_id)
        finally:
            self._cancels.pop(order.order_id, None)

    def _on_rejection(self, rejection: RiskRejection) -> None:
        future = self._waiting.get(rejection.intent.client_order_id)
        if future is not None and not future.done():
            future.set_result(rejection)

    def _on_update(self, update: OrderUpdate) -> None:
        order = update.order
        future = self._waiting.get(order.client_order_id)
        if future is not None and not future.done() and update.event in SETTLED:
            future.set_result(order)
        waiter = self._cancels.get(order.order_id)
        if waiter is not None and not waiter.done() and order.status.is_terminal:
            waiter.set_result(order)


def _plain(details: dict) -> dict:
    return {k: str(v) for k, v in (details or {}).items()}


def is_open(order: Order) -> bool:
    return order.status in (OrderStatus.NEW, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
