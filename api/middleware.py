"""The edge middleware: request id, rate limits, authentication, the error body, metrics.

One middleware does all of it, because each aiohttp middleware layer costs
a coroutine call on every request.  Every response, errors included,
carries ``X-Request-Id`` and the three ``X-RateLimit-*`` headers.  When both
the client IP's limit and the API key's limit apply, the headers show the
one with fewer requests remaining.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from aiohttp import web

from cryptobot.api.access import API_KEY, JWT, Access
from cryptobot.api.ratelimit import Verdict
from cryptobot.api.responses import error_body, json_response
from cryptobot.api.state import CLIENT_IP, PRINCIPAL, RATE_HEADERS, REQUEST_ID, ApiState
from cryptobot.core.errors import (ActorStopped, AuthenticationError, CryptobotError, PermissionDenied, RateLimited,
                                   ServiceUnavailable)

log = logging.getLogger("cryptobot.api.edge")

AUTHENTICATE_HEADER = 'Bearer realm="cryptobot", ApiKey realm="cryptobot"'
# Our own 5xx errors whose message is written for users; any other 5xx
# message may carry internal detail and is replaced by a generic one.
_SAFE_SERVER_ERRORS = (ServiceUnavailable, ActorStopped)


def _rate_headers(verdict: Verdict) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(verdict.limit), "X-RateLimit-Remaining": str(verdict.remaining),
            "X-RateLimit-Reset": str(verdict.reset)}


async def _authenticate(request: web.Request, state: ApiState, access: Access) -> None:
    """Resolve the caller into ``request[PRINCIPAL]``, counting an API key's request against its limit."""
    api_key = request.headers.get("X-API-Key")
    authorization = request.headers.get("Authorization")
    if api_key is not None and authorization is not None:
        raise AuthenticationError("Send one credential: X-API-Key or Authorization, not both",
                                  {"authorization": "ambiguous credentials"})
    if api_key is not None:
        if API_KEY not in access.schemes:
            raise AuthenticationError("This endpoint accepts only a JWT: send Authorization: Bearer <token>",
                                      {"X-API-Key": "not accepted here"})
        principal = await state.auth.principal_from_key(api_key)
        verdict = state.key_limiter.hit(principal.key_id)
        headers = request[RATE_HEADERS]
        if not verdict.allowed or verdict.remaining < int(headers["X-RateLimit-Remaining"]):
            headers.update(_rate_headers(verdict))
        if not verdict.allowed:
            raise RateLimited(f"Rate limit of API key {principal.key_id} exceeded: {verdict.limit} requests per hour",
                              verdict.retry_after, {"X-API-Key": "rate limit exceeded"})
    elif authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("The Authorization header must be 'Bearer <token>'", {"Authorization": "expected a bearer token"})
        if JWT not in access.schemes:
            raise AuthenticationError("This endpoint accepts only an API key: send X-API-Key", {"Authorization": "not accepted here"})
        principal = await state.auth.principal_from_bearer(token.strip())
    else:
        accepted = " or ".join("X-API-Key" if s == API_KEY else "Authorization: Bearer <token>" for s in access.schemes)
        raise AuthenticationError(f"Authentication required: send {accepted}", {"credentials": "missing"})
    request[PRINCIPAL] = principal
    principal.require(access.permission)


def _http_error(exc: web.HTTPException, request: web.Request) -> web.Response:
    status = exc.status
    headers = {}
    if status == 404:
        body = error_body("not_found", f"No such endpoint: {request.method} {request.path}; see /api/v1/openapi.json",
                          {"path": "unknown route"})
    elif status == 405:
        allowed = sorted(getattr(exc, "allowed_methods", ()) or ())
        headers["Allow"] = ", ".join(allowed)
        body = error_body("method_not_allowed", f"Method {request.method} is not allowed on {request.path}; "
                          f"allowed: {', '.join(allowed)}", {"method": f"allowed: {', '.join(allowed)}"})
    elif status == 413:
        body = error_body("payload_too_large", "The request body is too large", {"body": "too large"})
    elif status >= 500:
        body = error_body("internal_error", "An internal error occurred", {})
    else:
        body = error_body("invalid_request", exc.reason or "Invalid request", {})
    return json_response(body, status=status, headers=headers)


def make_edge_middleware(state: ApiState):
    """Return the middleware bound to one application's services."""
    ip_limiter, client_address, requests = state.ip_limiter, state.client_address, state.requests
    access_of = state.access

    @web.middleware
    async def edge(request: web.Request, handler):
        started = time.perf_counter_ns()
        request_id = secrets.token_hex(8)
        request[REQUEST_ID] = request_id
        ip = client_address.resolve(request.remote, request.headers.get("X-Forwarded-For"))
        request[CLIENT_IP] = ip
        shown = ip_limiter.hit(ip)
        headers = _rate_headers(shown)
        request[RATE_HEADERS] = headers
        try:
            if not shown.allowed:
                raise RateLimited(f"Rate limit exceeded: {shown.limit} requests per minute per client address",
                                  shown.retry_after, {"client": "rate limit exceeded"})
            access = access_of.get(request.match_info.route)
            if access is not None and not access.public:
                await _authenticate(request, state, access)
            response = await handler(request)
        except RateLimited as exc:
            response = json_response(exc.to_body(), status=429, headers={"Retry-After": str(exc.retry_after)})
        except (AuthenticationError, PermissionDenied) as exc:
            extra = {"WWW-Authenticate": AUTHENTICATE_HEADER} if exc.http_status == 401 else None
            response = json_response(exc.to_body(), status=exc.http_status, headers=extra)
        except CryptobotError as exc:
            response = _error(exc, request, request_id)
        except web.HTTPException as exc:
            response = _http_error(exc, request)
        except asyncio.TimeoutError:
            response = json_response(error_body("service_unavailable", "The engine did not answer in time; retry shortly",
                                                {"request_id": request_id}), status=503)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the client learns only that it failed, the log gets the rest
            log.exception("request %s %s failed", request.method, request.path, extra={"request_id": request_id})
            response = _internal(request_id)
        if not response.prepared:
            response.headers.update(headers)
            response.headers["X-Request-Id"] = request_id
        requests.record(response.status, time.perf_counter_ns() - started)
        return response

    return edge


def _error(exc: CryptobotError, request: web.Request, request_id: str) -> web.Response:
    if exc.http_status >= 500 and not isinstance(exc, _SAFE_SERVER_ERRORS):
        log.error("request %s %s failed: %s", request.method, request.path, exc, extra={"request_id": request_id})
        if exc.http_status == 500:
            return _internal(request_id)
        return json_response(error_body(exc.code, f"The {exc.code.replace('_', ' ')} prevented this request; retry later",
                                        {"request_id": request_id}), status=exc.http_status)
    return json_response(exc.to_body(), status=exc.http_status)


def _internal(request_id: str) -> web.Response:
    return json_response(error_body("internal_error", f"An internal error occurred; quote request id {request_id} "
                                    "when reporting it", {"request_id": request_id}), status=500)
