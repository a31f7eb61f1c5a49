"""Background jobs of the API: API-key rotation and expiry, and the system status feed of /ws.

Keys rotate automatically when they are ``max_age_days`` old (90 by
default).  No user is present to receive the new key then, so the store keeps
it encrypted for its owner, and the owner gets an ``api_key.rotated``
webhook naming the new key's id and the URL that returns it once:
``GET /api/v1/api-keys/{new_key_id}/rotated``.  The old key keeps working
for the grace period (24 hours by default).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cryptobot.core import topics

log = logging.getLogger("cryptobot.api.jobs")


async def rotate_and_expire_keys(state: Any, max_age_days: int = 90, grace_period_hours: int = 24) -> int:
    """Run one pass: expire keys past their dates, rotate keys that are due; return how many were rotated."""
    from cryptobot.api.handlers.keys import rotation_event

    db = state.db
    changed = await db.api_keys.expire_due()
    if changed:
        log.info("%d API keys expired or ended their grace period", changed)
    rotated = 0
    for key in await db.api_keys.due_for_rotation(max_age_days):
        try:
            issued = await db.api_keys.rotate(key.id, grace_period_hours=grace_period_hours, keep_for_owner=True)
        except Exception:  # noqa: BLE001 - one key failing must not stop the others
            log.exception("automatic rotation of API key %s failed", key.id, extra={"key_id": key.id})
            continue
        rotated += 1
        state.auth.forget_key(key.id)
        await db.audit.append("api_key.rotate", actor_type="system", target_type="api_key", target_id=key.id,
                              details={"new_key_id": issued.record.id, "automatic": True,
                                       "grace_period_hours": grace_period_hours, "owner_id": key.owner_id})
        state.webhooks.emit("api_key.rotated", rotation_event(key.id, issued.record, automatic=True), key.owner_id)
        log.info("rotated API key %s to %s", key.id, issued.record.id, extra={"key_id": key.id})
    return rotated


async def key_maintenance_loop(state: Any, interval_seconds: float = 3600.0) -> None:
    """Run :func:`rotate_and_expire_keys` every ``interval_seconds`` until cancelled."""
    while True:
        try:
            await rotate_and_expire_keys(state)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - retried at the next interval
            log.exception("API key maintenance failed; retrying in %.0f s", interval_seconds)
        await asyncio.sleep(interval_seconds)


async def status_feed_loop(state: Any, interval_seconds: float = 5.0) -> None:
    """Publish the system status on the bus every ``interval_seconds`` while a WebSocket client wants it."""
    while True:
        await asyncio.sleep(interval_seconds)
        if not state.hub.has_subscribers("system.status"):
            continue
        try:
            status = await state.probe.status()
            state.system.engine.bus.publish(topics.SYSTEM_STATUS, {"event": "status", **status})
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the next interval tries again
            log.exception("publishing the system status failed")
