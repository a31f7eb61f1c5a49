"""``/api-keys``: list, create, rotate, revoke and emergency-revoke API keys, and claim a rotated key.

These endpoints take a JWT only: managing credentials needs a logged-in
person, so a leaked API key cannot mint or rotate keys.  A user manages
their own keys; an admin may act on any key by id and list another user's
keys with ``owner_id``.
"""

from __future__ import annotations

from aiohttp import web

from cryptobot.api import views
from cryptobot.api.responses import json_response
from cryptobot.api.state import audit, principal_of, state_of
from cryptobot.api.validation import Problems, body_bool, body_int, body_text, query_text, read_json_object
from cryptobot.core.errors import PermissionDenied
from cryptobot.core.ids import check_id
from cryptobot.core.symbols import check_exchange
from cryptobot.storage.repositories.api_keys import PERMISSIONS

DEFAULT_EXPIRY_DAYS = 90


async def list_keys(request: web.Request) -> web.Response:
    """GET /api-keys: the caller's keys (an admin may pass ``owner_id``) with counts by status."""
    principal = principal_of(request)
    problems = Problems()
    owner_id = query_text(request, "owner_id", problems, lambda v: check_id(v, "user", "owner_id"))
    problems.raise_if_any()
    if owner_id is not None and owner_id != principal.user_id and not principal.is_admin:
        raise PermissionDenied("Cannot list another user's API keys: the 'admin' permission is required",
                               {"owner_id": "admin only"})
    listing = await state_of(request).db.api_keys.list(owner_id or principal.user_id)
    return json_response({"keys": [views.api_key(k) for k in listing.keys], "total": listing.total,
                          "active": listing.active, "rotating": listing.rotating,
                          "expiring_soon": listing.expiring_soon})


def _permissions(body: dict, granted: frozenset[str], problems: Problems) -> tuple[str, ...] | None:
    raw = body.get("permissions")
    if raw is None:
        return tuple(p for p in ("read", "trade") if p in granted)
    if not isinstance(raw, list) or not raw or any(p not in PERMISSIONS for p in raw):
        problems.add("permissions", f"expected a non-empty list of {', '.join(PERMISSIONS)}")
        return None
    beyond = sorted(set(raw) - granted)
    if beyond:
        raise PermissionDenied(f"Cannot create a key with permissions you do not hold: {', '.join(beyond)}",
                               {"permissions": f"not granted to you: {', '.join(beyond)}"})
    return tuple(sorted(set(raw), key=PERMISSIONS.index))


async def create_key(request: web.Request) -> web.Response:
    """POST /api-keys: a new key, shown in plain text in this response only."""
    body = await read_json_object(request, ("description", "exchange", "is_test", "expiry_days", "permissions"), empty_ok=True)
    principal = principal_of(request)
    problems = Problems()
    description = body_text(body, "description", problems, max_length=200, min_length=0, default="")
    exchange = body.get("exchange")
    if exchange is not None:
        exchange = problems.check("exchange", lambda: check_exchange(exchange))
    is_test = body_bool(body, "is_test", problems, False)
    expiry_days = body_int(body, "expiry_days", problems, minimum=1, maximum=3650, default=DEFAULT_EXPIRY_DAYS)
    permissions = _permissions(body, principal.permissions, problems)
    problems.raise_if_any()
    issued = await state_of(request).db.api_keys.create(principal.user_id, description=description or "", exchange=exchange,
                                                        is_test=is_test, permissions=permissions, expiry_days=expiry_days)
    await audit(request, "api_key.create", "api_key", issued.record.id,
                {"permissions": list(permissions), "exchange": exchange, "is_test": is_test, "expiry_days": expiry_days})
    return json_response(views.issued_key(issued), status=201)


async def rotate_key(request: web.Request) -> web.Response:
    """POST /api-keys/rotate: a successor key; the old one keeps working for the grace period."""
    body = await read_json_object(request, ("key_id", "grace_period_hours"), ("key_id",))
    problems = Problems()
    key_id = problems.check("key_id", lambda: check_id(body["key_id"], "key", "key_id"))
    grace = body_int(body, "grace_period_hours", problems, minimum=0, maximum=720, default=24)
    problems.raise_if_any()
    state, principal = state_of(request), principal_of(request)
    issued = await state.db.api_keys.rotate(key_id, principal.owner_filter, grace_period_hours=grace)
    state.auth.forget_key(key_id)
    await audit(request, "api_key.rotate", "api_key", key_id, {"new_key_id": issued.record.id, "grace_period_hours": grace})
    state.webhooks.emit("api_key.rotated", rotation_event(key_id, issued.record, automatic=False), issued.record.owner_id)
    return json_response(views.issued_key(issued), status=201)


def rotation_event(old_key_id: str, new_key, automatic: bool) -> dict:
    """Return the data of an ``api_key.rotated`` webhook (never the key itself)."""
    event = {"key_id": old_key_id, "new_key_id": new_key.id, "version": new_key.version,
             "description": new_key.description, "automatic": automatic,
             "expires_at": views.iso(new_key.expires_at)}
    if automatic:
        event["claim_url"] = f"/api/v1/api-keys/{new_key.id}/rotated"
    return event


async def revoke_key(request: web.Request) -> web.Response:
    """POST /api-keys/revoke: the key stops working now."""
    body = await read_json_object(request, ("key_id", "reason"), ("key_id",))
    problems = Problems()
    key_id = problems.check("key_id", lambda: check_id(body["key_id"], "key", "key_id"))
    reason = body_text(body, "reason", problems, max_length=500, min_length=0, default="")
    problems.raise_if_any()
    state, principal = state_of(request), principal_of(request)
    await state.db.api_keys.revoke(key_id, principal.owner_filter, reason or "")
    state.auth.forget_key(key_id)
    await audit(request, "api_key.revoke", "api_key", key_id, {"reason": reason or ""})
    return json_response({"detail": "API key revoked successfully"})


async def emergency_revoke_key(request: web.Request) -> web.Response:
    """POST /api-keys/emergency-revoke: mark the key compromised, record a security alert, notify."""
    body = await read_json_object(request, ("key_id", "details"), ("key_id",))
    problems = Problems()
    key_id = problems.check("key_id", lambda: check_id(body["key_id"], "key", "key_id"))
    details = body_text(body, "details", problems, max_length=2000, min_length=0, default="")
    problems.raise_if_any()
    state, principal = state_of(request), principal_of(request)
    key = await state.db.api_keys.mark_compromised(key_id, principal.owner_filter, details or "")
    state.auth.forget_key(key_id)
    await audit(request, "security.api_key_compromised", "api_key", key_id,
                {"alert": "API key marked compromised", "details": details or "", "owner_id": key.owner_id})
    await state.webhooks.security_alert(key.owner_id, {
        "kind": "api_key_compromised", "key_id": key_id, "owner_id": key.owner_id, "details": details or "",
        "reported_by": principal.user_id, "revoked_at": views.iso(key.revoked_at)})
    return json_response({"detail": "API key marked as compromised and revoked",
                          "security_alert": "Security team has been notified"})


async def claim_rotated_key(request: web.Request) -> web.Response:
    """GET /api-keys/{key_id}/rotated: the plain text of an automatically rotated key, once, to its owner."""
    key_id = request.match_info["key_id"]
    check_id(key_id, "key", "key_id")
    state, principal = state_of(request), principal_of(request)
    plain = await state.db.api_keys.claim_rotated_key(key_id, principal.user_id)
    record = await state.db.api_keys.get(key_id, principal.user_id)
    await audit(request, "api_key.claim_rotated", "api_key", key_id)
    view = views.api_key(record)
    view["key"] = plain
    return json_response(view)

