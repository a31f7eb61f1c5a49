"""``/webhooks``: register, list and delete webhooks, and list their deliveries.

These take a JWT only, like key management: a webhook makes the server send
data to a URL, which a leaked API key must not be able to set up.
"""

from __future__ import annotations

from aiohttp import web

from cryptobot.api import views
from cryptobot.api.responses import json_response
from cryptobot.api.state import audit, principal_of, state_of
from cryptobot.api.validation import Problems, body_text, pagination, pagination_block, query_choice, query_text, read_json_object
from cryptobot.api.webhooks import EVENTS, check_target
from cryptobot.core.errors import PermissionDenied
from cryptobot.core.ids import check_id
from cryptobot.storage.repositories.webhooks import DELIVERY_STATUSES, check_url


def _view(webhook) -> dict:
    return {"id": webhook.id, "url": webhook.url, "events": list(webhook.events), "active": webhook.active,
            "created_at": views.iso(webhook.created_at), "updated_at": views.iso(webhook.updated_at)}


def _webhook_id(request: web.Request) -> str:
    return check_id(request.match_info["webhook_id"], "webhook", "webhook_id")


async def create_webhook(request: web.Request) -> web.Response:
    """POST /webhooks: subscribe a URL to events; deliveries are signed with ``secret``."""
    body = await read_json_object(request, ("url", "secret", "events"), ("url", "secret", "events"))
    problems = Problems()
    url = problems.check("url", lambda: check_url(body["url"]))
    secret = body_text(body, "secret", problems, min_length=16, max_length=256)
    events = body["events"]
    if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
        problems.add("events", f"expected a non-empty list of {', '.join(EVENTS)}")
    problems.raise_if_any()
    state, principal = state_of(request), principal_of(request)
    await check_target(url, state.settings.api_webhook_allow_private)
    webhook = await state.db.webhooks.create(url=url, secret=secret, events=events, owner_id=principal.user_id)
    await audit(request, "webhook.create", "webhook", webhook.id, {"url": url, "events": sorted(set(events))})
    return json_response(_view(webhook), status=201)


def _owner(request: web.Request, problems: Problems) -> str:
    principal = principal_of(request)
    owner_id = query_text(request, "owner_id", problems, lambda v: check_id(v, "user", "owner_id"))
    if owner_id is not None and owner_id != principal.user_id and not principal.is_admin:
        raise PermissionDenied("Cannot list another user's webhooks: the 'admin' permission is required",
                               {"owner_id": "admin only"})
    return owner_id or principal.user_id


async def list_webhooks(request: web.Request) -> web.Response:
    """GET /webhooks: the caller's webhooks (an admin may pass ``owner_id``), oldest first."""
    problems = Problems()
    owner_id = _owner(request, problems)
    page, limit = pagination(request, problems)
    problems.raise_if_any()
    result = await state_of(request).db.webhooks.list(owner_id=owner_id, page=page, limit=limit)
    return json_response({"data": [_view(w) for w in result.items], "pagination": pagination_block(result.total, page, limit)})


async def delete_webhook(request: web.Request) -> web.Response:
    """DELETE /webhooks/{webhook_id}: stop deliveries to a webhook and remove it."""
    webhook_id = _webhook_id(request)
    await state_of(request).db.webhooks.delete(webhook_id, principal_of(request).owner_filter)
    await audit(request, "webhook.delete", "webhook", webhook_id)
    return json_response({"detail": "Webhook deleted successfully"})


async def list_deliveries(request: web.Request) -> web.Response:
    """GET /webhooks/{webhook_id}/deliveries: the delivery log of a webhook, newest first."""
    webhook_id = _webhook_id(request)
    problems = Problems()
    status = query_choice(request, "status", problems, DELIVERY_STATUSES)
    page, limit = pagination(request, problems)
    problems.raise_if_any()
    db = state_of(request).db
    await db.webhooks.get(webhook_id, principal_of(request).owner_filter)
    result = await db.webhooks.list_deliveries(webhook_id, status=status, page=page, limit=limit)
    data = [{"id": d.id, "event": d.event, "status": d.status, "attempts": d.attempts, "response_code": d.response_code,
             "error": d.error, "created_at": views.iso(d.created_at), "delivered_at": views.iso(d.delivered_at),
             "next_attempt_at": views.iso(d.next_attempt_at)} for d in result.items]
    return json_response({"data": data, "pagination": pagination_block(result.total, page, limit)})
