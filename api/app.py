"""Building the aiohttp application of the API on a running :class:`TradingSystem`."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from aiohttp import web

from cryptobot.api.access import PUBLIC
from cryptobot.api.auth import AuthService
from cryptobot.api.bootstrap import check_api_settings, load_jwt_secret
from cryptobot.api.handlers.market import TickReader
from cryptobot.api.health import RequestMetrics, SystemProbe
from cryptobot.api.jobs import key_maintenance_loop, status_feed_loop
from cryptobot.api.middleware import make_edge_middleware
from cryptobot.api.openapi import OPENAPI_PATH, build_openapi
from cryptobot.api.ratelimit import ClientAddress, SlidingWindowLimiter
from cryptobot.api.responses import dumps
from cryptobot.api.routes import ROUTES
from cryptobot.api.state import STATE, ApiState
from cryptobot.api.webhooks import WebhookDispatcher
from cryptobot.api.ws import WebSocketHub
from cryptobot.core.config import Settings

log = logging.getLogger("cryptobot.api.app")

MAX_BODY_BYTES = 1024 * 1024


def create_app(system: Any, settings: Settings, *, clock_ns: Callable[[], int] = time.time_ns,
               webhook_options: dict | None = None, websocket_options: dict | None = None,
               key_maintenance_seconds: float = 3600.0, status_feed_seconds: float = 5.0,
               background_jobs: bool = True) -> web.Application:
    """Return the API application for a started ``system``.

    The background jobs (webhook delivery, key rotation and expiry, the
    status feed of /ws) start with the application and stop with it.
    ``background_jobs=False`` leaves them out, for a second application on
    the same engine (one set of jobs per engine is enough, and two webhook
    dispatchers would queue every event twice).

    Raises
    ------
    ConfigError
        If the signing secret or admin password in ``settings`` is weak.
    """
    check_api_settings(settings)
    secret = load_jwt_secret(settings)
    bus = system.engine.bus
    dispatcher = WebhookDispatcher(system.db, bus, settings.api_webhook_allow_private, **(webhook_options or {}))
    auth = AuthService(system.db, secret, settings.auth_access_token_seconds, settings.auth_refresh_token_seconds,
                       on_security_alert=dispatcher.security_alert_soon, clock_ns=clock_ns)
    requests = RequestMetrics()
    hub = WebSocketHub(bus, lambda symbol: [system.exchange] if symbol in system.symbols else [], clock_ns,
                       **(websocket_options or {}))
    probe = SystemProbe(system, requests, time.monotonic(), websocket_clients=lambda: len(hub.clients))
    state = ApiState(
        system=system, settings=settings, auth=auth,
        ip_limiter=SlidingWindowLimiter(settings.api_rate_limit_ip_per_minute, 60.0),
        key_limiter=SlidingWindowLimiter(settings.api_rate_limit_key_per_hour, 3600.0),
        client_address=ClientAddress(settings.api_trusted_proxies), requests=requests, probe=probe, hub=hub,
        webhooks=dispatcher, ticks_pool=TickReader(system.ticks),
    )
    app = web.Application(middlewares=[make_edge_middleware(state)], client_max_size=MAX_BODY_BYTES)
    app[STATE] = state
    for route in ROUTES:
        registered = app.router.add_route(route.method, route.aiohttp_path, route.handler)
        state.access[registered] = route.access
    document = dumps(build_openapi())

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    state.access[app.router.add_get(OPENAPI_PATH, openapi, allow_head=False)] = PUBLIC
    jobs: list[asyncio.Task] = []

    async def on_startup(_app: web.Application) -> None:
        if not background_jobs:
            return
        await dispatcher.start()
        loop = asyncio.get_running_loop()
        jobs.append(loop.create_task(key_maintenance_loop(state, key_maintenance_seconds)))
        jobs.append(loop.create_task(status_feed_loop(state, status_feed_seconds)))

    async def on_shutdown(_app: web.Application) -> None:
        await hub.close_all()

    async def on_cleanup(_app: web.Application) -> None:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await dispatcher.stop()
        await asyncio.to_thread(state.ticks_pool.close)

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
