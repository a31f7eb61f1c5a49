"""The application state every handler reaches: the engine, the store and the API's services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from cryptobot.api.access import Access, Principal
from cryptobot.api.auth import AuthService
from cryptobot.api.health import RequestMetrics, SystemProbe
from cryptobot.api.ratelimit import ClientAddress, SlidingWindowLimiter
from cryptobot.api.webhooks import WebhookDispatcher
from cryptobot.api.ws import WebSocketHub
from cryptobot.core.config import Settings


@dataclass
class ApiState:
    """The services of one API application.

    ``access`` maps each registered aiohttp route to its access rule; the
    edge middleware reads it to authenticate before the handler runs.
    """

    system: Any
    settings: Settings
    auth: AuthService
    ip_limiter: SlidingWindowLimiter
    key_limiter: SlidingWindowLimiter
    client_address: ClientAddress
    requests: RequestMetrics
    probe: SystemProbe
    hub: WebSocketHub
    webhooks: WebhookDispatcher
    access: dict[Any, Access] = field(default_factory=dict)
    ticks_pool: Any = None
    kill_switch_reason: str = ""
    kill_switch_changed_at: int | None = None

    @property
    def db(self) -> Any:
        return self.system.db

    def served_exchanges(self, symbol: str) -> list[str]:
        """Exchanges this engine has market data for ``symbol`` on."""
        return [self.system.exchange] if symbol in self.system.symbols else []


STATE = web.AppKey("cryptobot_api_state", ApiState)


def _request_key(name: str, kind: type) -> Any:
    # aiohttp 3.14 added typed request keys; older releases take plain strings.
    factory = getattr(web, "RequestKey", None)
    return factory(name, kind) if factory is not None else name


PRINCIPAL = _request_key("cryptobot_principal", Principal)
CLIENT_IP = _request_key("cryptobot_client_ip", str)
REQUEST_ID = _request_key("cryptobot_request_id", str)
RATE_HEADERS = _request_key("cryptobot_rate_headers", dict)


def state_of(request: web.Request) -> ApiState:
    return request.app[STATE]


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


async def audit(request: web.Request, action: str, target_type: str | None = None, target_id: str | None = None,
                details: dict | None = None, actor: tuple[str, str | None] | None = None) -> None:
    """Append an action of the request's caller (or of ``actor``: type and id) to the audit log."""
    principal: Principal | None = request.get(PRINCIPAL)
    if actor is None:
        actor = principal.audit_actor if principal is not None else ("system", None)
    actor_type, actor_id = actor
    merged = dict(details or {})
    merged["request_id"] = request.get(REQUEST_ID)
    if principal is not None and principal.scheme == "api_key":
        merged["user_id"] = principal.user_id
    ip = request.get(CLIENT_IP)
    await state_of(request).db.audit.append(action, actor_type=actor_type, actor_id=actor_id, target_type=target_type,
                                            target_id=target_id, details=merged, ip=ip if _is_ip(ip) else None)


def _is_ip(value: Any) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except (TypeError, ValueError):
        return False
    return True
