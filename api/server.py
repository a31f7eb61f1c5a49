"""The API server's entry point: ``await serve(system, settings)``."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from aiohttp import web

from cryptobot.api.app import create_app
from cryptobot.api.bootstrap import check_api_settings, ensure_first_admin
from cryptobot.core.config import Settings

log = logging.getLogger("cryptobot.api.server")


class ApiServer:
    """A started API server; :meth:`stop` shuts it down (closing WebSockets, stopping background jobs)."""

    def __init__(self, runner: web.AppRunner, site: web.TCPSite, app: web.Application):
        self.runner = runner
        self.site = site
        self.app = app

    @property
    def port(self) -> int:
        return self.site._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = self.site._server.sockets[0].getsockname()[0]
        return f"http://{host if ':' not in host else f'[{host}]'}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_api(system: Any, settings: Settings, **app_options: Any) -> ApiServer:
    """Create the first admin if needed, build the application and listen on ``api_host:api_port``."""
    check_api_settings(settings)
    await ensure_first_admin(system.db, settings)
    app = create_app(system, settings, **app_options)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.api_host, settings.api_port, reuse_address=True)
    await site.start()
    server = ApiServer(runner, site, app)
    if not _is_loopback(settings.api_host):
        log.warning("the API listens on %s, reachable from other machines; put it behind TLS", settings.api_host)
    log.info("API listening on %s/api/v1 (WebSocket at /ws)", server.url)
    return server


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def serve(system: Any, settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve the API until ``stop`` is set (default: until the engine requests a stop), then shut it down cleanly."""
    server = await start_api(system, settings)
    try:
        if stop is not None:
            await stop.wait()
        else:
            await system.engine.wait_stop_requested()
    finally:
        await server.stop()
        log.info("API stopped")
