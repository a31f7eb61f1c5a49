"""Webhook deliveries: events from the engine to users' URLs, signed, retried with backoff.

Events are queued in memory by synchronous bus callbacks, written to the
delivery queue in PostgreSQL by one task, and sent by another that leases
due deliveries (``claim_due``), so a delivery survives a restart.  A failed
attempt (network error or a status other than 2xx) is retried after
``base_delay * 2 ** (attempt - 1)`` seconds, at most ``max_delay``, until
``max_attempts`` attempts have failed.

Signature
---------
The body is a JSON object whose last member is ``"signature"``.  The
signature is the hex HMAC-SHA256, under the webhook's secret, of the body
with that last member removed: the exact bytes before ``,"signature":``
followed by ``}``.  The same hex value is sent in the
``X-Cryptobot-Signature`` header.  A receiver verifies with::

    text = body.decode()
    signed = text[:text.rindex(',"signature":')] + "}"
    verify_webhook(signed, request.headers["X-Cryptobot-Signature"], secret)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

from cryptobot.api import views
from cryptobot.core import topics
from cryptobot.core.clock import ns_to_iso
from cryptobot.core.errors import ValidationError

log = logging.getLogger("cryptobot.api.webhooks")

EVENTS = ("trade.executed", "trade.closed", "strategy.started", "strategy.stopped", "api_key.rotated", "security.alert")
SIGNATURE_HEADER = "X-Cryptobot-Signature"
SIGNATURE_MEMBER = b',"signature":"'
MAX_PENDING_EVENTS = 10_000


def sign_body(unsigned: bytes, secret: str) -> tuple[bytes, str]:
    """Return (body with the signature appended as its last member, hex signature) for a serialized object."""
    signature = hmac.new(secret.encode(), unsigned, hashlib.sha256).hexdigest()
    return unsigned[:-1] + SIGNATURE_MEMBER + signature.encode() + b'"}', signature


def is_non_public(address: str) -> bool:
    """Tell whether an IP address is private, loopback, link-local or otherwise not public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def check_target(url: str, allow_private: bool) -> None:
    """Refuse a webhook URL whose host is (or resolves to) a private, loopback or link-local address.

    Raises
    ------
    ValidationError
        Naming ``url``, for such hosts and for hosts that do not resolve.
    """
    host = urlsplit(url).hostname or ""
    if allow_private:
        return
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        addresses = [host]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            raise ValidationError(f"Cannot use webhook URL: host {host!r} does not resolve", {"url": "host does not resolve"}) from None
        addresses = [info[4][0] for info in infos]
    if any(is_non_public(a) for a in addresses):
        raise ValidationError(f"Cannot use webhook URL: host {host!r} is a private, loopback or link-local address",
                              {"url": "private, loopback and link-local targets are not allowed"})


class GuardedResolver(AbstractResolver):
    """A resolver that drops non-public addresses, so a host cannot be re-pointed at one after registration."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        results = [r for r in await self._inner.resolve(host, port, family) if not is_non_public(r["host"])]
        if not results:
            raise OSError(f"webhook host {host!r} resolves only to private, loopback or link-local addresses")
        return results

    async def close(self) -> None:
        await self._inner.close()


class WebhookDispatcher:
    """Turns engine events into webhook deliveries and sends them.

    Parameters
    ----------
    db
        The PostgreSQL store.
    bus
        The engine's event bus (orders and strategy events are read from it).
    allow_private
        Allow private, loopback and link-local targets (``api_webhook_allow_private``).
    base_delay, max_delay, max_attempts
        The retry schedule, in seconds and attempts.
    """

    def __init__(self, db: Any, bus: Any, allow_private: bool = False, *, base_delay: float = 5.0,
                 max_delay: float = 3600.0, max_attempts: int = 8, timeout: float = 10.0, poll_seconds: float = 1.0):
        self.db = db
        self.bus = bus
        self.allow_private = allow_private
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self._pending: asyncio.Queue | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._unsubscribe: list = []
        self._session: aiohttp.ClientSession | None = None
        self._sending: set[asyncio.Task] = set()
        self.dropped = 0
        self.sent = 0
        self.failed_attempts = 0

    async def start(self) -> None:
        self._pending = asyncio.Queue(MAX_PENDING_EVENTS)
        connector = aiohttp.TCPConnector(limit=20, resolver=None if self.allow_private else GuardedResolver())
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._unsubscribe += [self.bus.subscribe(topics.ALL_ORDERS, self._on_order_update),
                              self.bus.subscribe(topics.STRATEGY_EVENTS, self._on_strategy_event)]
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._write_loop()), loop.create_task(self._send_loop())]

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for task in self._tasks + list(self._sending):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._sending, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- events -----------------------------------------------------------------------------

    def emit(self, event: str, data: dict[str, Any], owner_id: str | None, ts_ns: int | None = None) -> None:
        """Queue ``event`` for the webhooks of ``owner_id`` (synchronous and cheap; safe in bus callbacks)."""
        if self._pending is None:
            return
        payload = {"event": event, "timestamp": ns_to_iso(ts_ns or time.time_ns()), "data": data}
        try:
            self._pending.put_nowait((event, payload, owner_id))
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("webhook event %s dropped: %d events already waiting to be queued", event, MAX_PENDING_EVENTS)

    async def security_alert(self, owner_id: str | None, data: dict[str, Any]) -> None:
        """Send ``security.alert`` to the webhooks of ``owner_id`` and of every admin."""
        recipients = {owner_id} if owner_id else set()
        page = 1
        while True:
            users = await self.db.users.list(page=page, limit=500)
            recipients.update(u.id for u in users.items if "admin" in u.roles and u.is_active)
            if page >= users.pages:
                break
            page += 1
        for recipient in sorted(recipients):
            self.emit("security.alert", data, recipient)

    def security_alert_soon(self, owner_id: str | None, data: dict[str, Any]) -> None:
        """Schedule :meth:`security_alert` from synchronous code."""
        task = asyncio.get_running_loop().create_task(self.security_alert(owner_id, data))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _on_order_update(self, update: Any) -> None:
        order, fill = update.order, update.fill
        if fill is not None:
            self.emit("trade.executed", {
                "fill_id": fill.fill_id, "order_id": order.order_id, "client_order_id": order.client_order_id,
                "strategy_id": order.strategy_id, "exchange": order.exchange, "symbol": order.symbol,
                "side": fill.side, "type": order.type, "price": fill.price, "quantity": fill.quantity, "fee": fill.fee,
                "fee_asset": fill.fee_asset, "liquidity": fill.liquidity, "order_status": order.status.value,
                "filled": order.filled, "remaining": order.quantity - order.filled,
                "average_price": order.average_price, "executed_at": views.iso(fill.ts_event),
            }, order.owner_id, fill.ts_event)
        for position in update.positions or ():
            if position.status == "closed":
                self.emit("trade.closed", {
                    "position_id": position.id, "strategy_id": position.strategy_id, "exchange": position.exchange,
                    "symbol": position.symbol, "side": position.side, "quantity": position.closed_quantity,
                    "entry_price": position.entry_price, "exit_price": position.exit_price,
                    "realized_pnl": position.realized_pnl, "realized_pnl_percent": position.realized_pnl_percent,
                    "fees": position.fees, "opened_at": views.iso(position.opened_at),
                    "closed_at": views.iso(position.closed_at),
                }, position.owner_id, position.closed_at)

    def _on_strategy_event(self, event: Any) -> None:
        change, strategy_id, record = event
        if change not in ("started", "stopped"):
            return
        data = {"strategy_id": strategy_id, "name": record.name, "status": record.status, "exchange": record.exchange,
                "symbol": record.symbol}
        if change == "started":
            data.update(started_at=views.iso(record.started_at), capital_allocation=record.capital_allocation,
                        max_positions=record.max_positions)
        else:
            data["stopped_at"] = views.iso(record.stopped_at)
        self.emit(f"strategy.{change}", data, record.owner_id)

    # -- queueing and sending ---------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            event, payload, owner_id = await self._pending.get()
            try:
                plain = orjson.loads(orjson.dumps(payload, default=_json_default))
                queued = await self.db.webhooks.enqueue(event, plain, owner_id=owner_id)
                if queued:
                    self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad event must not stop the queue
                log.exception("queueing webhook event %s failed", event)

    async def wait_idle(self) -> None:
        """Wait until every queued event is written to the delivery queue (for shutdown and tests)."""
        while self._pending is not None and not self._pending.empty():
            await asyncio.sleep(0.01)

    async def _send_loop(self) -> None:
        while True:
            try:
                due = await self.db.webhooks.claim_due(limit=20, lease_seconds=max(5, int(self.timeout * 3)))
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the store may be briefly unreachable
                log.exception("claiming webhook deliveries failed; retrying")
                due = []
            for delivery in due:
                task = asyncio.get_running_loop().create_task(self._deliver(delivery))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
            if len(due) < 20:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                except asyncio.TimeoutError:
                    pass

    async def _deliver(self, delivery: Any) -> None:
        code, error = None, None
        try:
            webhook = await self.db.webhooks.get(delivery.webhook_id)
            secret = await self.db.webhooks.get_secret(delivery.webhook_id)
            payload = delivery.payload
            document = {"id": delivery.id, "event": payload["event"], "timestamp": payload["timestamp"],
                        "data": payload["data"]}
            body, signature = sign_body(orjson.dumps(document), secret)
            if not self.allow_private:
                await check_target(webhook.url, False)
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature,
                       "X-Cryptobot-Event": delivery.event, "X-Cryptobot-Delivery": delivery.id,
                       "User-Agent": "cryptobot-webhooks"}
            async with self._session.post(webhook.url, data=body, headers=headers, allow_redirects=False) as response:
                code = response.status
                await response.read()
            if 200 <= code < 300:
                await self.db.webhooks.record_attempt(delivery.id, delivered=True, response_code=code)
                self.sent += 1
                log.info("webhook %s delivered %s (attempt %d)", delivery.webhook_id, delivery.event, delivery.attempts,
                         extra={"webhook_id": delivery.webhook_id, "delivery_id": delivery.id})
                return
            error = f"the receiver answered HTTP {code}"
        except asyncio.CancelledError:
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValidationError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - record the failure and keep the sender alive
            log.exception("webhook delivery %s failed unexpectedly", delivery.id)
            error = type(exc).__name__
        await self._record_failure(delivery, code, error)

    async def _record_failure(self, delivery: Any, code: int | None, error: str) -> None:
        self.failed_attempts += 1
        retry_at = None
        if delivery.attempts < self.max_attempts:
            delay = min(self.max_delay, self.base_delay * 2 ** (delivery.attempts - 1))
            retry_at = time.time_ns() + int(delay * 1e9)
        log.warning("webhook %s delivery %s attempt %d failed: %s; %s", delivery.webhook_id, delivery.id,
                    delivery.attempts, error, "retrying" if retry_at else "giving up",
                    extra={"webhook_id": delivery.webhook_id, "delivery_id": delivery.id})
        try:
            await self.db.webhooks.record_attempt(delivery.id, delivered=False, response_code=code,
                                                  error=error[:2000], retry_at=retry_at)
        except Exception:  # noqa: BLE001 - the lease runs out and the delivery is claimed again
            log.exception("recording webhook attempt %s failed", delivery.id)
        if retry_at is not None:
            asyncio.get_running_loop().call_later(max(0.0, (retry_at - time.time_ns()) / 1e9), self._wake.set)


def _json_default(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot serialize {type(value).__name__} in a webhook payload")
