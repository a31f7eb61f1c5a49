"""``/system``: health and figures, the kill switch, and the Prometheus page at ``/metrics``."""

from __future__ import annotations

import time

from aiohttp import web

from cryptobot.api import views
from cryptobot.api.health import prometheus_text
from cryptobot.api.responses import json_response
from cryptobot.api.state import audit, state_of
from cryptobot.api.validation import Problems, body_bool, body_text, read_json_object
from cryptobot.core import topics

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def get_status(request: web.Request) -> web.Response:
    """GET /system/status: overall and per-service health, stores, exchanges (at most 1 s old)."""
    return json_response(await state_of(request).probe.status())


async def get_metrics(request: web.Request) -> web.Response:
    """GET /system/metrics: process, request, trade, strategy and backtest figures (at most 1 s old)."""
    return json_response(await state_of(request).probe.metrics())


async def get_prometheus(request: web.Request) -> web.Response:
    """GET /metrics: the same figures in the Prometheus text format."""
    probe = state_of(request).probe
    text = prometheus_text(await probe.status(), await probe.metrics())
    return web.Response(body=text.encode(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})


def _kill_switch_view(state) -> dict:
    return {"engaged": state.system.kill_switch, "reason": state.kill_switch_reason,
            "changed_at": views.iso(state.kill_switch_changed_at)}


async def get_kill_switch(request: web.Request) -> web.Response:
    """GET /system/kill-switch: whether new orders are halted."""
    return json_response(_kill_switch_view(state_of(request)))


async def set_kill_switch(request: web.Request) -> web.Response:
    """POST /system/kill-switch: halt (and cancel open orders) or resume trading; admin only."""
    body = await read_json_object(request, ("engaged", "reason"), ("engaged",))
    problems = Problems()
    if not isinstance(body.get("engaged"), bool):
        problems.add("engaged", "expected true or false", "'engaged' must be true or false")
    engaged = body_bool(body, "engaged", problems, False)
    reason = body_text(body, "reason", problems, max_length=500, min_length=0, default="") or ""
    problems.raise_if_any()
    state = state_of(request)
    state.system.set_kill_switch(engaged, reason or "set through the API")
    state.kill_switch_reason = reason
    state.kill_switch_changed_at = time.time_ns()
    await audit(request, "system.kill_switch", "system", "kill_switch", {"engaged": engaged, "reason": reason})
    state.system.engine.bus.publish(topics.SYSTEM_STATUS, {"event": "kill_switch", "engaged": engaged, "reason": reason})
    return json_response(_kill_switch_view(state))
