"""The OpenAPI 3.1 document of the API, built from the route table and the component schemas."""

from __future__ import annotations

import re
from typing import Any

from cryptobot import __version__
from cryptobot.api.access import API_KEY, JWT
from cryptobot.api.openapi_schemas import EXCHANGE, SCHEMAS, SYMBOL, TIME, TIMEFRAME, id_of, ref
from cryptobot.api.routes import ROUTES, Route
from cryptobot.api.webhooks import EVENTS, SIGNATURE_HEADER
from cryptobot.api import ws_topics
from cryptobot.core.orders import OrderStatus

OPENAPI_PATH = "/api/v1/openapi.json"

DESCRIPTION = """\
REST and WebSocket API of the Cryptobot trading engine.

**Authentication.** Send an API key in `X-API-Key` or a JWT in `Authorization: Bearer <token>` (from
`POST /auth/token`).  Each operation's `security` lists what it accepts: key management, webhooks and
`/auth/validate` take a JWT only, so a leaked API key cannot mint keys or redirect notifications.

**Permissions.** `read` (see what you may see), `trade` (change strategies, orders, positions, backtests),
`admin` (control the engine, see every user's resources).  Roles grant them: user → read; trader → read,
trade; admin → all.  An API key holds the permissions it was created with, limited to its owner's roles.
A user sees only their own strategies, orders, positions, backtests, keys and webhooks: another user's id
answers 404.  An API key created for one exchange can act only on that exchange; a test key (`is_test`)
cannot trade on a live engine.

**Rate limits.** 60 requests per minute per client address and 1000 per hour per API key by default.
Every response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (Unix
seconds) for the stricter of the two; past the limit the answer is 429 with `Retry-After` (seconds).
`X-Forwarded-For` counts only from configured trusted proxies.

**Errors.** Every 4xx and 5xx response has the body `{"error": {"code", "message", "details"}}`, where
`details` names the offending fields.  A 500 says only that an internal error happened and gives the
request id (also in `X-Request-Id` on every response) that the server logged it under.

**Times and money.** Times are ISO 8601 in UTC with `Z`; prices, quantities and money are JSON numbers.

**Key rotation.** Keys rotate automatically at 90 days.  The old key keeps working for a 24-hour grace
period; the owner receives an `api_key.rotated` webhook with the new key's id and obtains the new key
once from `GET /api-keys/{key_id}/rotated`.  A manual rotation returns the new key at once.

**Redis.** Cryptobot uses no Redis: `/system/status` reports `redis` as `not_used` and the tick store
under `clickhouse`.

**Status figures.** `/system/status` and `/system/metrics` are computed at most once per second and
shared by the requests of that second.
"""

WEBSOCKET_DESCRIPTION = """\
Upgrade to a WebSocket (`ws://HOST:PORT/ws`).  Messages are JSON objects in text frames.

Client messages: `{"action": "authenticate", "api_key": "..."}` or `{"action": "authenticate",
"token": "<JWT>"}` (first, within 10 s, or the server closes with 1008); `{"action": "subscribe",
"topics": [...]}`; `{"action": "unsubscribe", "topics": [...]}`; `{"action": "ping", "id": 1}`;
`{"action": "close"}`.  Any message may carry an `id`, echoed in the reply.

Server replies: `{"action": "authenticated", "username", "permissions"}`, `{"action": "subscribed",
"topics"}`, `{"action": "unsubscribed", "topics"}`, `{"action": "pong", "id"}`, and
`{"action": "error", "error": {"code", "message", "details"}}` where `details` names each bad topic.
A subscribe or unsubscribe request applies to all its topics or none.  A failed authentication closes
the connection with 1008.

Data messages: `{"topic", "timestamp", "data"}`.  Topics: `market.{symbol}.ticker` (data: exchange,
symbol, bid, ask, last, volume, change, change_percent), `market.{symbol}.trades` (exchange, symbol,
price, quantity, side, trade_id), `market.{symbol}.orderbook` (exchange, symbol, sequence, bids,
asks), `trades.{strategy_id}` (the strategy's order updates: the Order schema plus `event`),
`positions.{strategy_id}` (position_id, strategy_id, exchange, symbol, side, quantity, entry_price,
current_price, unrealized_pnl, realized_pnl, fees, opened_at, closed_at, status) and `system.status`
(every 5 s the SystemStatus schema with `"event": "status"`; when the kill switch changes, at once,
`{"event": "kill_switch", "engaged", "reason"}`).

Slow clients: ticker and order-book messages a client has not yet been sent are replaced by newer ones
(latest wins).  Other messages queue; a client whose queue reaches 2000 messages, or whose data waits
more than 5 s for its socket, is disconnected with close code 1008 and a reason.
"""

_PARAMETERS: dict[str, dict[str, Any]] = {
    "page": {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 1},
             "description": "Page number"},
    "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
              "description": "Items per page"},
    "strategy_status": {"name": "status", "in": "query",
                        "schema": {"type": "string", "enum": ["active", "inactive", "all"], "default": "all"}},
    "exchange": {"name": "exchange", "in": "query", "schema": EXCHANGE},
    "symbol": {"name": "symbol", "in": "query", "schema": SYMBOL},
    "strategy_id": {"name": "strategy_id", "in": "query", "schema": id_of("strategy")},
    "owner_id": {"name": "owner_id", "in": "query", "schema": id_of("user"),
                 "description": "Another user's id (admin only); default: the caller"},
    "start": {"name": "start", "in": "query", "schema": TIME, "description": "Inclusive start (ISO 8601 with a zone)"},
    "end": {"name": "end", "in": "query", "schema": TIME, "description": "Exclusive end (ISO 8601 with a zone)"},
    "timeframe": {"name": "timeframe", "in": "query", "required": True, "schema": TIMEFRAME},
    "candle_limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                     "description": "Candles to return: the first ones from start, or the last ones before end"},
    "depth": {"name": "depth", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10}},
    "order_status": {"name": "status", "in": "query", "schema": {"type": "string", "enum": [s.value for s in OrderStatus]}},
    "delivery_status": {"name": "status", "in": "query",
                        "schema": {"type": "string", "enum": ["pending", "sending", "delivered", "failed"]}},
}

_PATH_PARAMETERS = {
    "strategy_id": id_of("strategy"), "backtest_id": id_of("backtest"), "order_id": id_of("order"),
    "position_id": id_of("position"), "key_id": id_of("key"), "webhook_id": id_of("webhook"),
    "exchange": EXCHANGE, "symbol": SYMBOL,
}

_HEADERS = {
    "X-RateLimit-Limit": {"description": "Requests allowed in the window of the stricter limit",
                          "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in that window", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "Unix time (seconds) when the window resets", "schema": {"type": "integer"}},
    "X-Request-Id": {"description": "Id of this request in the server's log", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}},
    "WWW-Authenticate": {"description": "The accepted authentication schemes", "schema": {"type": "string"}},
    "Allow": {"description": "Methods the path accepts", "schema": {"type": "string"}},
}
_COMMON_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-Id")

_ERRORS = {
    400: "Invalid request: bad JSON, unknown or invalid fields or parameters (named in details), or an order the "
         "risk manager or the exchange rejected (code order_rejected)",
    401: "Missing, invalid, expired or revoked credentials",
    403: "The caller lacks the permission, or the API key's exchange scope does not cover the exchange",
    404: "No such resource, or it belongs to another user",
    409: "The request conflicts with the current state (for example starting an active strategy)",
    429: "Rate limit exceeded",
    500: "Internal error; details carry the request id",
    503: "A dependency (database, engine, order book, backtest service) cannot serve the request now",
}


def _headers(*extra: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in _COMMON_HEADERS + extra}


def _error_response(status: int) -> dict[str, Any]:
    extra = {429: ("Retry-After",), 401: ("WWW-Authenticate",)}.get(status, ())
    return {"description": _ERRORS[status], "headers": _headers(*extra),
            "content": {"application/json": {"schema": ref("Error")}}}


def _security(route: Route) -> list[dict[str, list]]:
    schemes = {API_KEY: "ApiKeyAuth", JWT: "BearerAuth"}
    return [{schemes[s]: []} for s in route.access.schemes]


def _operation(route: Route) -> dict[str, Any]:
    # Handler docstrings read "METHOD /path: what it does"; the part after the colon describes the operation.
    doc = (route.handler.__doc__ or "").strip()
    description = doc
    if ":" in doc.split("\n", 1)[0]:
        description = doc.split(":", 1)[1].strip()
    permission = route.access.permission
    if permission:
        schemes = " or ".join("an API key" if s == API_KEY else "a JWT" for s in route.access.schemes)
        description += f"\n\nRequires the `{permission}` permission, with {schemes}."
    else:
        description += "\n\nNo authentication."
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "tags": [route.tag],
                                 "description": description, "security": _security(route)}
    path_names = re.findall(r"{(\w+)}", route.path)
    parameters = [{"name": name, "in": "path", "required": True, "schema": _PATH_PARAMETERS[name]} for name in path_names]
    parameters += [{"$ref": f"#/components/parameters/{name}"} for name in route.query]
    if parameters:
        operation["parameters"] = parameters
    if route.request:
        operation["requestBody"] = {"required": not route.body_optional,
                                    "content": {"application/json": {"schema": ref(route.request)}}}
    success: dict[str, Any] = {"description": "Success", "headers": _headers()}
    if route.response:
        success["content"] = {"application/json": {"schema": ref(route.response)}}
    responses: dict[str, Any] = {str(route.status): success}
    codes = set(route.errors) | {429, 500, 503}
    if permission:
        codes |= {401, 403}
    if route.request or route.query or path_names:
        codes.add(400)
    for code in sorted(codes):
        responses[str(code)] = _error_response(code)
    operation["responses"] = responses
    return operation


def _special_cases(paths: dict[str, Any]) -> None:
    ws = paths["/ws"]["get"]
    ws["description"] = WEBSOCKET_DESCRIPTION + "\n\n" + (ws_topics.__doc__ or "")
    ws["responses"] = {
        "101": {"description": "Switching Protocols: the WebSocket is open", "headers": _headers()},
        "400": _error_response(400), "429": _error_response(429), "500": _error_response(500),
    }
    prometheus = paths["/metrics"]["get"]
    prometheus["responses"]["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
    prometheus["description"] = ("The figures of /system/status and /system/metrics in the Prometheus text format "
                                 "(version 0.0.4).\n\nRequires the `read` permission, with an API key or a JWT.")
    backtest = paths["/api/v1/backtest"]["post"]
    backtest["description"] += ("\n\nAnswers 503 when the engine runs no backtest service; status, results and "
                                "cancellation work regardless.")
    paths[OPENAPI_PATH] = {"get": {
        "operationId": "openapi", "summary": "This document", "tags": ["System"], "security": [],
        "description": "The OpenAPI 3.1 description of the API.\n\nNo authentication.",
        "responses": {"200": {"description": "The document", "headers": _headers(),
                              "content": {"application/json": {"schema": {"type": "object"}}}},
                      "429": _error_response(429), "500": _error_response(500)},
    }}


def _webhooks() -> dict[str, Any]:
    description = (
        "Sent as POST with a JSON body to each registered URL subscribed to the event, with the headers "
        f"`{SIGNATURE_HEADER}`, `X-Cryptobot-Event` and `X-Cryptobot-Delivery`.  The body's last member is "
        '`"signature"`: the hex HMAC-SHA256 under the webhook\'s secret of the body without that member, '
        'i.e. of `body[:body.rindex(\',"signature":\')] + "}"` (the exact bytes as sent, then `}`).  '
        f"`{SIGNATURE_HEADER}` carries the same value.  Verify with the reference's verify_webhook(signed, signature, "
        "secret).  A 2xx answer acknowledges the delivery; anything else (or no answer in 10 s) is retried after "
        "5 s, 10 s, 20 s ... (doubling, at most 1 h) up to 8 attempts.  Redirects are not followed, and private, "
        "loopback and link-local targets are refused unless the server allows them."
    )
    data = {
        "trade.executed": "A fill of one of the owner's orders: fill_id, order_id, client_order_id, strategy_id, exchange, "
                          "symbol, side, type, price, quantity, fee, fee_asset, liquidity, order_status, filled, "
                          "remaining, average_price, executed_at",
        "trade.closed": "A position round trip closed: position_id, strategy_id, exchange, symbol, side, quantity, "
                        "entry_price, exit_price, realized_pnl, realized_pnl_percent, fees, opened_at, closed_at",
        "strategy.started": "strategy_id, name, status, exchange, symbol, started_at, capital_allocation, max_positions",
        "strategy.stopped": "strategy_id, name, status, exchange, symbol, stopped_at",
        "api_key.rotated": "key_id (the old key), new_key_id, version, description, automatic, expires_at and, for an "
                           "automatic rotation, claim_url: GET it once to obtain the new key",
        "security.alert": "kind (api_key_compromised or refresh_token_reused) and its ids; sent to the owner and to "
                          "every admin",
    }
    hooks = {}
    for event in EVENTS:
        hooks[event] = {"post": {
            "summary": event, "description": f"{data[event]}.\n\n{description}",
            "parameters": [{"name": SIGNATURE_HEADER, "in": "header", "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("WebhookPayload")}}},
            "responses": {"200": {"description": "Acknowledged (any 2xx)"}},
        }}
    return hooks


def build_openapi(server_url: str | None = None) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document as a dict."""
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    _special_cases(paths)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Cryptobot API", "version": __version__, "description": DESCRIPTION},
        "servers": [{"url": server_url or "/"}],
        "tags": [{"name": name} for name in dict.fromkeys(route.tag for route in ROUTES)],
        "paths": paths,
        "webhooks": _webhooks(),
        "components": {
            "schemas": SCHEMAS,
            "parameters": _PARAMETERS,
            "headers": _HEADERS,
            "securitySchemes": {
                "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "An access token from POST /api/v1/auth/token"},
            },
        },
    }
    return document
