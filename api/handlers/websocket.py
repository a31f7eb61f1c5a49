"""``/ws``: the WebSocket protocol of the reference, on top of :class:`cryptobot.api.ws.WebSocketHub`.

Client messages are JSON objects with an ``action``: ``authenticate``
(``api_key`` or ``token``), ``subscribe`` and ``unsubscribe`` (``topics``),
``ping`` (``id``) and ``close``.  The server replies ``authenticated``,
``subscribed``, ``unsubscribed``, ``pong`` or ``error`` (the documented
error body under ``error``, with the request's ``id`` when it had one), and
sends data as ``{"topic", "timestamp", "data"}``.

The first message must authenticate within the hub's ``auth_timeout`` (10 s by default);
a failed authentication, or none in time, closes the connection with code
1008.  A subscribe request is applied whole or not at all: one unknown,
malformed or forbidden topic gets an error reply naming each bad topic.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from cryptobot.api.access import READ
from cryptobot.api.responses import dumps, error_body
from cryptobot.api.state import CLIENT_IP, RATE_HEADERS, REQUEST_ID, state_of
from cryptobot.api.ws import Client
from cryptobot.api.ws_topics import parse_topic
from cryptobot.core.errors import AuthenticationError, CryptobotError, NotFound, ValidationError

log = logging.getLogger("cryptobot.api.ws")

MAX_TOPICS_PER_CLIENT = 100
MAX_MESSAGE_BYTES = 64 * 1024


def _error(client: Client, exc: CryptobotError, request_id: Any = None) -> None:
    reply: dict[str, Any] = {"action": "error", **error_body(exc.code, exc.message, exc.details)}
    if request_id is not None:
        reply["id"] = request_id
    client.send_soon(dumps(reply))


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """GET /ws: upgrade to a WebSocket and serve the subscription protocol."""
    state = state_of(request)
    ws = web.WebSocketResponse(heartbeat=30.0, compress=False, max_msg_size=MAX_MESSAGE_BYTES)
    ws.headers.update(request[RATE_HEADERS])
    ws.headers["X-Request-Id"] = request[REQUEST_ID]
    await ws.prepare(request)
    peer = request.transport.get_extra_info("peername") if request.transport else None
    client = Client(ws, request.transport, f"{request.get(CLIENT_IP)}:{peer[1] if peer else '?'}")
    state.hub.attach(client)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.hub.auth_timeout
    try:
        while not client.closed:
            timeout = max(0.05, deadline - loop.time()) if client.principal is None else None
            try:
                message = await ws.receive(timeout=timeout)
            except asyncio.TimeoutError:
                await _close(state, client, WSCloseCode.POLICY_VIOLATION, "authentication timeout")
                break
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
            if not await _handle(request, client, message):
                break
    finally:
        state.hub.detach(client)
        if not ws.closed and not client.close_reason:
            await ws.close()
    return ws


async def _close(state: Any, client: Client, code: int, reason: str) -> None:
    # Let the sender flush what is queued (the last error reply) before the close frame.
    sender = client.sender
    state.hub.detach(client)
    if sender is not None:
        await asyncio.gather(sender, return_exceptions=True)
    if client.queue:
        for payload in list(client.queue):
            await client.ws.send_frame(payload, WSMsgType.TEXT)
    await client.ws.close(code=code, message=reason.encode())


async def _handle(request: web.Request, client: Client, message: Any) -> bool:
    """Handle one client message; return False when the connection is to be closed."""
    state = state_of(request)
    if message.type != WSMsgType.TEXT:
        _error(client, ValidationError("Send text frames holding a JSON object", {"frame": "expected text"}))
        return True
    try:
        body = orjson.loads(message.data)
    except orjson.JSONDecodeError:
        _error(client, ValidationError("The message is not valid JSON", {"message": "invalid JSON"}))
        return True
    if not isinstance(body, dict):
        _error(client, ValidationError("The message must be a JSON object", {"message": "expected an object"}))
        return True
    action, request_id = body.get("action"), body.get("id")
    if action == "ping":
        client.send_soon(dumps({"action": "pong", "id": request_id}))
        return True
    if action == "close":
        await _close(state, client, WSCloseCode.OK, "closed by client request")
        return False
    if action == "authenticate":
        return await _authenticate(request, client, body, request_id)
    if action in ("subscribe", "unsubscribe"):
        if client.principal is None:
            _error(client, AuthenticationError("Authenticate first: send {\"action\": \"authenticate\", ...}",
                                               {"action": "authenticate first"}), request_id)
            return True
        try:
            if action == "subscribe":
                await _subscribe(request, client, body.get("topics"), request_id)
            else:
                _unsubscribe(request, client, body.get("topics"), request_id)
        except CryptobotError as exc:
            _error(client, exc, request_id)
        return True
    _error(client, ValidationError(f"unknown action {action!r}; expected authenticate, subscribe, unsubscribe, ping or "
                                   "close", {"action": "unknown action"}), request_id)
    return True


async def _authenticate(request: web.Request, client: Client, body: dict, request_id: Any) -> bool:
    state = state_of(request)
    if client.principal is not None:
        _error(client, ValidationError("This connection is already authenticated", {"action": "already authenticated"}),
               request_id)
        return True
    api_key, token = body.get("api_key"), body.get("token")
    try:
        if (api_key is None) == (token is None):
            raise AuthenticationError("Send exactly one of 'api_key' or 'token'", {"api_key": "or token required"})
        if api_key is not None:
            principal = await state.auth.principal_from_key(api_key)
        else:
            principal = await state.auth.principal_from_bearer(token)
        principal.require(READ)
    except CryptobotError as exc:
        _error(client, exc, request_id)
        await _close(state, client, WSCloseCode.POLICY_VIOLATION, "authentication failed")
        return False
    client.principal = principal
    client.send_soon(dumps({"action": "authenticated", "id": request_id, "username": principal.username,
                            "permissions": sorted(principal.permissions)}))
    return True


def _topic_list(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_TOPICS_PER_CLIENT:
        raise ValidationError(f"'topics' must be a list of 1 to {MAX_TOPICS_PER_CLIENT} topic names",
                              {"topics": "expected a non-empty list"})
    return raw


async def _subscribe(request: web.Request, client: Client, raw: Any, request_id: Any) -> None:
    state = state_of(request)
    principal = client.principal
    problems: dict[str, str] = {}
    parsed = []
    for name in _topic_list(raw):
        try:
            topic = parse_topic(name)
        except ValidationError as exc:
            problems.update(exc.details)
            continue
        if topic.symbol is not None and not state.served_exchanges(topic.symbol):
            problems[name] = f"no market data for {topic.symbol} on this engine"
        elif topic.strategy_id is not None:
            try:
                await state.db.strategies.get(topic.strategy_id, principal.owner_filter)
            except NotFound:
                problems[name] = f"strategy {topic.strategy_id} not found"
                continue
        parsed.append(topic)
    if problems:
        code = NotFound if all("not found" in p for p in problems.values()) else ValidationError
        first = next(iter(problems))
        raise code(f"Cannot subscribe: topic {first!r}: {problems[first]}", problems)
    if len(client.topics) + sum(t.name not in client.topics for t in parsed) > MAX_TOPICS_PER_CLIENT:
        raise ValidationError(f"Cannot subscribe: at most {MAX_TOPICS_PER_CLIENT} topics per connection",
                              {"topics": "too many"})
    for topic in parsed:
        state.hub.subscribe(client, topic)
    client.send_soon(dumps({"action": "subscribed", "id": request_id, "topics": [t.name for t in parsed]}))


def _unsubscribe(request: web.Request, client: Client, raw: Any, request_id: Any) -> None:
    hub = state_of(request).hub
    names, problems = [], {}
    for name in _topic_list(raw):
        try:
            canonical = parse_topic(name).name
        except ValidationError as exc:
            problems.update(exc.details)
            continue
        if canonical not in client.topics:
            problems[name] = "not subscribed"
        names.append(canonical)
    if problems:
        first = next(iter(problems))
        raise ValidationError(f"Cannot unsubscribe: topic {first!r}: {problems[first]}", problems)
    for name in names:
        hub.unsubscribe(client, name)
    client.send_soon(dumps({"action": "unsubscribed", "id": request_id, "topics": names}))

