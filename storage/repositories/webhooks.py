"""Webhooks and the queue of their deliveries.

The signing secret is stored AES-GCM encrypted (see
:mod:`cryptobot.storage.keyring`) because signing a delivery needs it in
plain text; only :meth:`WebhookRepository.get_secret` decrypts it.

Deliveries form a queue in the table.  :meth:`WebhookRepository.claim_due`
takes due rows with ``FOR UPDATE SKIP LOCKED`` and leases them to one
sender until ``next_attempt_at``.  When a sender dies, its lease runs out
and the delivery is claimed again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from cryptobot.core.clock import NANOS_PER_SECOND
from cryptobot.core.errors import Conflict, NotFound, ValidationError
from cryptobot.core.ids import check_id, new_id
from cryptobot.storage.repositories.base import Filters, Page, Repository, record_to
from cryptobot.storage.values import check_bool, check_choice, check_int, check_json_object, check_text

DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed")
MAX_URL_LENGTH = 2048

_EVENT = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)+")
_COLUMNS = "id, owner_id, url, events, active, created_at, updated_at"
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class Webhook:
    """A subscription of a URL to events; the secret is not part of it."""

    id: str
    owner_id: str | None
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event sent (or to be sent) to one webhook."""

    id: str
    webhook_id: str
    event: str
    payload: dict
    status: str
    attempts: int
    response_code: int | None
    error: str | None
    next_attempt_at: int | None
    created_at: int
    updated_at: int
    delivered_at: int | None


def _webhook(record: asyncpg.Record) -> Webhook:
    return record_to(Webhook, record, events=tuple(record["events"]))


def _delivery(record: asyncpg.Record) -> Delivery:
    return record_to(Delivery, record)


def check_url(value: object) -> str:
    """Return ``value`` if it is an absolute http(s) URL with a host.

    Whether private and loopback hosts are allowed is the API's decision
    (``api_webhook_allow_private``); the store only checks the form.
    """
    url = check_text(value, "url", max_length=MAX_URL_LENGTH)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"'url' must be an http or https URL with a host, was {url!r}", {"url": "expected an http(s) URL"})
    return url


def check_events(value: object) -> tuple[str, ...]:
    """Return event names such as ``trade.executed`` as a sorted tuple without duplicates."""
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)) or not value:
        raise ValidationError(f"'events' must be a non-empty list of event names, was {value!r}", {"events": "expected a list"})
    for event in value:
        check_text(event, "events", max_length=100, pattern=_EVENT, hint="an event name such as trade.executed")
    return tuple(sorted(set(value)))


def _check_secret(value: object) -> str:
    return check_text(value, "secret", max_length=256, min_length=8)


class WebhookRepository(Repository):
    """Store webhooks, their encrypted secrets and their delivery queue."""

    async def create(self, *, url: str, secret: str, events: list[str], owner_id: str | None = None) -> Webhook:
        """Create an active webhook."""
        url, secret, events = check_url(url), _check_secret(secret), check_events(events)
        if owner_id is not None:
            check_id(owner_id, "user", "owner_id")
        webhook_id = new_id("webhook")
        now = self._now()
        async with self._transaction() as conn:
            try:
                row = await conn.fetchrow(
                    f"""INSERT INTO webhooks (id, owner_id, url, secret_sealed, events, created_at, updated_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {_COLUMNS}""",
                    webhook_id, owner_id, url, self._ctx.keyring.seal(secret, webhook_id), list(events), now,
                )
            except asyncpg.ForeignKeyViolationError:
                raise NotFound(f"user {owner_id} not found") from None
        return _webhook(row)

    async def get(self, webhook_id: str, owner_id: str | None = None) -> Webhook:
        """Return webhook ``webhook_id``; with ``owner_id``, only if that user owns it (else NotFound)."""
        check_id(webhook_id, "webhook", "webhook_id")
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM webhooks WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)", webhook_id, owner_id
            )
        if row is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return _webhook(row)

    async def get_secret(self, webhook_id: str) -> str:
        """Return the plain signing secret of ``webhook_id`` (for the sender only; never log it)."""
        check_id(webhook_id, "webhook", "webhook_id")
        async with self._connection() as conn:
            sealed = await conn.fetchval("SELECT secret_sealed FROM webhooks WHERE id = $1", webhook_id)
        if sealed is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return self._ctx.keyring.unseal(bytes(sealed), webhook_id)

    async def list(self, *, owner_id: str | None = None, page: int = 1, limit: int = 10) -> Page[Webhook]:
        """Return webhooks, oldest first."""
        filters = Filters().add_if("owner_id = {}", owner_id)
        async with self._connection() as conn:
            return await self._fetch_page(conn, f"SELECT {_COLUMNS} FROM webhooks", filters, "created_at, id", page, limit,
                                          _webhook)

    async def list_for_event(self, event: str) -> list[Webhook]:
        """Return the active webhooks subscribed to ``event``."""
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM webhooks WHERE active AND events @> ARRAY[$1::text] ORDER BY created_at, id", event
            )
        return [_webhook(row) for row in rows]

    async def update(self, webhook_id: str, *, owner_id: str | None = None, url: str = _UNSET, secret: str = _UNSET,
                     events: list[str] = _UNSET, active: bool = _UNSET) -> Webhook:
        """Change the given fields of a webhook."""
        check_id(webhook_id, "webhook", "webhook_id")
        filters = Filters().add("id = {}", webhook_id)
        filters.add_if("owner_id = {}", owner_id)
        assignments = [f"updated_at = {filters.param(self._now())}"]
        if url is not _UNSET:
            assignments.append(f"url = {filters.param(check_url(url))}")
        if secret is not _UNSET:
            assignments.append(f"secret_sealed = {filters.param(self._ctx.keyring.seal(_check_secret(secret), webhook_id))}")
        if events is not _UNSET:
            assignments.append(f"events = {filters.param(list(check_events(events)))}")
        if active is not _UNSET:
            assignments.append(f"active = {filters.param(check_bool(active, 'active'))}")
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"UPDATE webhooks SET {', '.join(assignments)} {filters.where} RETURNING {_COLUMNS}", *filters.args
            )
        if row is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return _webhook(row)

    async def delete(self, webhook_id: str, owner_id: str | None = None) -> None:
        """Delete a webhook and its deliveries."""
        check_id(webhook_id, "webhook", "webhook_id")
        async with self._connection() as conn:
            status = await conn.execute(
                "DELETE FROM webhooks WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)", webhook_id, owner_id
            )
        if status == "DELETE 0":
            raise NotFound(f"webhook {webhook_id} not found")

    async def enqueue(self, event: str, payload: dict, *, owner_id: str | None = None) -> list[Delivery]:
        """Queue ``payload`` for every active webhook subscribed to ``event`` (of ``owner_id`` only, if given)."""
        check_text(event, "event", max_length=100, pattern=_EVENT, hint="an event name such as trade.executed")
        payload = check_json_object(payload, "payload")
        now = self._now()
        async with self._transaction() as conn:
            targets = await conn.fetch(
                "SELECT id FROM webhooks WHERE active AND events @> ARRAY[$1::text] AND ($2::text IS NULL OR owner_id = $2)",
                event, owner_id,
            )
            rows = []
            for target in targets:
                rows.append(await conn.fetchrow(
                    """INSERT INTO webhook_deliveries (id, webhook_id, event, payload, status, next_attempt_at, created_at,
                                                       updated_at)
                       VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5) RETURNING *""",
                    new_id("delivery"), target["id"], event, payload, now,
                ))
        return [_delivery(row) for row in rows]

    async def claim_due(self, limit: int = 10, lease_seconds: int = 30) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries to the caller, counting an attempt for each.

        Concurrent callers get disjoint deliveries.  The lease ends at
        ``next_attempt_at``; record the outcome before then.
        """
        limit = check_int(limit, "limit", minimum=1, maximum=1000)
        lease_ns = check_int(lease_seconds, "lease_seconds", minimum=1, maximum=3600) * NANOS_PER_SECOND
        now = self._now()
        async with self._connection() as conn:
            rows = await conn.fetch(
                """WITH due AS (
                       SELECT id FROM webhook_deliveries
                       WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1
                       ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
                   UPDATE webhook_deliveries d SET status = 'sending', attempts = d.attempts + 1,
                       next_attempt_at = $3, updated_at = $1
                   FROM due WHERE d.id = due.id RETURNING d.*""",
                now, limit, now + lease_ns,
            )
        return sorted((_delivery(row) for row in rows), key=lambda d: (d.created_at, d.id))

    async def record_attempt(self, delivery_id: str, *, delivered: bool, response_code: int | None = None,
                             error: str | None = None, retry_at: int | None = None) -> Delivery:
        """Record the outcome of an attempt on a claimed delivery.

        A failed attempt with ``retry_at`` goes back to pending until then;
        without it the delivery fails for good.
        """
        check_id(delivery_id, "delivery", "delivery_id")
        check_bool(delivered, "delivered")
        check_int(response_code, "response_code", minimum=100, maximum=599, optional=True)
        error = check_text(error, "error", max_length=2000, optional=True)
        now = self._now()
        if delivered:
            status, next_at = "delivered", None
        elif retry_at is not None:
            status, next_at = "pending", check_int(retry_at, "retry_at", minimum=now)
        else:
            status, next_at = "failed", None
        async with self._connection() as conn:
            row = await conn.fetchrow(
                """UPDATE webhook_deliveries SET status = $2, response_code = $3, error = $4, next_attempt_at = $5,
                       updated_at = $6, delivered_at = CASE WHEN $2::text = 'delivered' THEN $6::timestamptz END
                   WHERE id = $1 AND status = 'sending' RETURNING *""",
                delivery_id, status, response_code, error, next_at, now,
            )
            if row is None:
                current = await conn.fetchval("SELECT status FROM webhook_deliveries WHERE id = $1", delivery_id)
        if row is None:
            if current is None:
                raise NotFound(f"delivery {delivery_id} not found")
            raise Conflict(f"Cannot record an attempt on delivery {delivery_id}: it is {current}, not sending", {"status": current})
        return _delivery(row)

    async def list_deliveries(self, webhook_id: str, *, status: str | None = None, page: int = 1,
                              limit: int = 10) -> Page[Delivery]:
        """Return deliveries of ``webhook_id``, newest first."""
        check_id(webhook_id, "webhook", "webhook_id")
        filters = Filters().add("webhook_id = {}", webhook_id)
        filters.add_if("status = {}", check_choice(status, "status", DELIVERY_STATUSES, optional=True))
        async with self._connection() as conn:
            return await self._fetch_page(conn, "SELECT * FROM webhook_deliveries", filters, "created_at DESC, id DESC",
                                          page, limit, _delivery)
