"""``/auth``: log in, refresh a token, validate a token."""

from __future__ import annotations

import logging

from aiohttp import web

from cryptobot.api.responses import json_response
from cryptobot.api.state import CLIENT_IP, audit, principal_of, state_of
from cryptobot.api.validation import Problems, body_text, read_json_object
from cryptobot.core.errors import AuthenticationError

log = logging.getLogger("cryptobot.api.auth")


async def issue_token(request: web.Request) -> web.Response:
    """POST /auth/token: a username and password for an access token and a refresh token."""
    body = await read_json_object(request, ("username", "password"), ("username", "password"))
    problems = Problems()
    username = body_text(body, "username", problems, max_length=64)
    password = body_text(body, "password", problems, max_length=1024)
    problems.raise_if_any()
    state = state_of(request)
    try:
        user, tokens = await state.auth.login(username, password)
    except AuthenticationError as exc:
        log.info("login failed for %r from %s: %s", username, request.get(CLIENT_IP), exc.message)
        await audit(request, "auth.login_failed", "user", None, {"username": username, "reason": exc.message[:200]})
        raise
    await audit(request, "auth.login", "user", user.id, {"username": user.username}, actor=("user", user.id))
    return json_response(tokens)


async def refresh_token(request: web.Request) -> web.Response:
    """POST /auth/refresh: a refresh token, used once, for a new access token and its successor."""
    body = await read_json_object(request, ("refresh_token",), ("refresh_token",))
    problems = Problems()
    token = body_text(body, "refresh_token", problems, max_length=4096)
    problems.raise_if_any()
    _user_id, tokens = await state_of(request).auth.refresh(token)
    return json_response(tokens)


async def validate_token(request: web.Request) -> web.Response:
    """GET /auth/validate: confirm the request's JWT is valid and return whose it is."""
    principal = principal_of(request)
    return json_response({"valid": True, "username": principal.username, "roles": list(principal.roles),
                          "user_id": principal.user_id, "permissions": sorted(principal.permissions)})

