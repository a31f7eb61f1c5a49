"""JSON Schemas (OpenAPI 3.1 components) of the API's request and response bodies."""

from __future__ import annotations

from typing import Any

from cryptobot.actors.strategies import STRATEGY_TYPES
from cryptobot.actors.strategies.params import schema as parameter_schema
from cryptobot.api.webhooks import EVENTS
from cryptobot.core.orders import ORDER_TYPES, TIME_IN_FORCE, OrderStatus
from cryptobot.core.symbols import EXCHANGES
from cryptobot.core.types import TIMEFRAMES_NS

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time", "description": "ISO 8601 UTC time with Z"}
ID_BODY = "[0-9a-hjkmnp-tv-z]{26}"


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: tuple[str, ...] | list[str] | None = None, *, closed: bool = False,
        description: str | None = None) -> dict[str, Any]:
    """Build an object schema; ``required`` defaults to every property, because response bodies carry all their fields."""
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "required": list(properties if required is None else required)}
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def id_of(prefix: str) -> dict[str, str]:
    return {"type": "string", "pattern": f"^{prefix}_{ID_BODY}$"}


EXCHANGE = {"type": "string", "enum": list(EXCHANGES)}
SYMBOL = {"type": "string", "pattern": "^[A-Za-z0-9]{1,20}[/_-][A-Za-z0-9]{1,20}$", "examples": ["BTC/USDT"],
          "description": "BASE/QUOTE; BASE-QUOTE and BASE_QUOTE are accepted too"}
TIMEFRAME = {"type": "string", "enum": list(TIMEFRAMES_NS)}
PERMISSION_LIST = {"type": "array", "items": {"type": "string", "enum": ["read", "trade", "admin"]}}
DETAIL = obj({"detail": STRING})
LEVELS = {"type": "array", "items": {"type": "array", "items": NUMBER, "minItems": 2, "maxItems": 2},
          "description": "[price, size] pairs, best first"}

_parameter_schemas = [{**parameter_schema(cls.params), "title": name} for name, cls in STRATEGY_TYPES.items()]
PARAMETERS = {"description": "Strategy parameters; each strategy type accepts its own (defaults fill the rest). "
                             "Types: " + ", ".join(STRATEGY_TYPES),
              "anyOf": _parameter_schemas}
PARAMETERS_OUT = {"type": "object", "description": "The strategy's full parameters, defaults included"}

_api_key = {
    "id": id_of("key"), "description": STRING, "exchange": nullable(EXCHANGE),
    "status": {"type": "string", "enum": ["active", "rotating", "revoked", "compromised", "expired"]},
    "version": INTEGER, "created_at": TIME, "expires_at": nullable(TIME), "permissions": PERMISSION_LIST,
    "is_test": BOOLEAN, "previous_key_id": nullable(id_of("key")), "grace_ends_at": nullable(TIME),
    "last_used_at": nullable(TIME),
    "rotated_key_waiting": {"type": "boolean", "description": "An automatically rotated key waits to be claimed"},
}
_strategy = {
    "id": id_of("strategy"), "name": STRING, "description": STRING,
    "status": {"type": "string", "enum": ["active", "inactive"]}, "exchange": EXCHANGE, "symbol": STRING,
    "timeframe": TIMEFRAME, "strategy_type": STRING, "created_at": TIME, "updated_at": TIME,
}
_allocation = {"capital_allocation": nullable(NUMBER), "max_positions": nullable(INTEGER)}
_performance = {"total_return": nullable(NUMBER), "win_rate": nullable(NUMBER), "sharpe_ratio": nullable(NUMBER),
                "drawdown": nullable(NUMBER)}
_performance_detailed = {**_performance, "trades": INTEGER, "winning_trades": INTEGER, "losing_trades": INTEGER}
_order = {
    "order_id": id_of("order"), "client_order_id": STRING, "strategy_id": nullable(id_of("strategy")),
    "exchange": EXCHANGE, "symbol": STRING, "side": {"type": "string", "enum": ["buy", "sell"]},
    "type": {"type": "string", "enum": list(ORDER_TYPES)}, "time_in_force": {"type": "string", "enum": list(TIME_IN_FORCE)},
    "quantity": NUMBER, "price": nullable(NUMBER), "stop_price": nullable(NUMBER),
    "status": {"type": "string", "enum": [s.value for s in OrderStatus]}, "filled": NUMBER, "remaining": NUMBER,
    "average_price": nullable(NUMBER), "fee": NUMBER, "reject_reason": nullable(STRING), "created_at": TIME,
    "updated_at": TIME,
}
_backtest = {"backtest_id": id_of("backtest"), "strategy_id": id_of("strategy"),
             "status": {"type": "string", "enum": ["created", "running", "completed", "failed", "cancelled"]},
             "start_date": TIME, "end_date": TIME, "initial_capital": NUMBER}
_service = obj({"status": {"type": "string", "enum": ["healthy", "unhealthy", "unavailable"]}, "uptime": INTEGER})
_position = {
    "position_id": id_of("position"), "exchange": EXCHANGE, "symbol": STRING, "side": {"type": "string", "enum": ["long", "short"]},
    "quantity": NUMBER, "entry_price": NUMBER, "current_price": nullable(NUMBER), "unrealized_pnl": nullable(NUMBER),
    "unrealized_pnl_percent": nullable(NUMBER), "strategy_id": nullable(id_of("strategy")), "opened_at": nullable(TIME),
}


def _list_of(item: str) -> dict[str, Any]:
    return obj({"data": {"type": "array", "items": ref(item)}, "pagination": ref("Pagination")})


SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": obj({"error": obj({"code": STRING, "message": STRING,
                                "details": {"type": "object", "description": "Offending field -> problem"}})},
                 description="The error body of every 4xx and 5xx response"),
    "Pagination": obj({"total": INTEGER, "page": INTEGER, "limit": INTEGER, "pages": INTEGER}),
    "Detail": DETAIL,
    "TokenRequest": obj({"username": {"type": "string", "minLength": 1, "maxLength": 64},
                         "password": {"type": "string", "minLength": 1, "maxLength": 1024}}, closed=True),
    "TokenResponse": obj({"access_token": STRING, "token_type": {"type": "string", "enum": ["bearer"]},
                          "expires_in": INTEGER, "refresh_token": STRING}),
    "RefreshRequest": obj({"refresh_token": {"type": "string", "minLength": 1, "maxLength": 4096}}, closed=True),
    "ValidateResponse": obj({"valid": {"type": "boolean", "const": True}, "username": STRING,
                             "roles": {"type": "array", "items": STRING}, "user_id": id_of("user"),
                             "permissions": PERMISSION_LIST}),
    "ApiKey": obj(_api_key),
    "IssuedApiKey": obj({**_api_key, "key": {"type": "string", "description": "The key itself; shown only in this response"}}),
    "ApiKeyList": obj({"keys": {"type": "array", "items": ref("ApiKey")}, "total": INTEGER, "active": INTEGER,
                       "rotating": INTEGER, "expiring_soon": INTEGER}),
    "ApiKeyCreate": obj({"description": {"type": "string", "maxLength": 200},
                         "exchange": {**nullable(EXCHANGE), "description": "The only exchange the key may act on; "
                                                                            "null: every exchange"},
                         "is_test": BOOLEAN,
                         "expiry_days": {**nullable({"type": "integer", "minimum": 1, "maximum": 3650}),
                                         "description": "Days until the key expires (default 90); null: never"},
                         "permissions": {**PERMISSION_LIST, "minItems": 1}}, required=(), closed=True),
    "ApiKeyRotate": obj({"key_id": id_of("key"), "grace_period_hours": {"type": "integer", "minimum": 0, "maximum": 720}},
                        required=("key_id",), closed=True),
    "ApiKeyRevoke": obj({"key_id": id_of("key"), "reason": {"type": "string", "maxLength": 500}}, required=("key_id",),
                        closed=True),
    "ApiKeyEmergencyRevoke": obj({"key_id": id_of("key"), "details": {"type": "string", "maxLength": 2000}},
                                 required=("key_id",), closed=True),
    "EmergencyRevokeResponse": obj({"detail": STRING, "security_alert": STRING}),
    "Performance": obj(_performance),
    "PerformanceDetailed": obj(_performance_detailed),
    "Strategy": obj({**_strategy, "performance": ref("Performance")}),
    "StrategyDetail": obj({**_strategy, "parameters": PARAMETERS_OUT, **_allocation,
                           "performance": ref("PerformanceDetailed")}),
    "StrategyWritten": obj({**_strategy, "parameters": PARAMETERS_OUT, **_allocation}),
    "StrategyList": _list_of("Strategy"),
    "StrategyCreate": obj({"name": {"type": "string", "minLength": 1, "maxLength": 200},
                           "description": {"type": "string", "maxLength": 2000}, "exchange": EXCHANGE, "symbol": SYMBOL,
                           "timeframe": TIMEFRAME, "strategy_type": {"type": "string", "enum": list(STRATEGY_TYPES)},
                           "parameters": PARAMETERS},
                          required=("name", "exchange", "symbol", "timeframe", "strategy_type"), closed=True),
    "StrategyUpdate": obj({"name": {"type": "string", "minLength": 1, "maxLength": 200},
                           "description": {"type": "string", "maxLength": 2000}, "exchange": EXCHANGE, "symbol": SYMBOL,
                           "timeframe": TIMEFRAME, "strategy_type": {"type": "string", "enum": list(STRATEGY_TYPES)},
                           "parameters": PARAMETERS}, required=(), closed=True,
                          description="Exchange, symbol, timeframe, strategy type and parameters change only while "
                                      "the strategy is inactive"),
    "StrategyStart": obj({"capital_allocation": {"type": "number", "exclusiveMinimum": 0},
                          "max_positions": {"type": "integer", "minimum": 1, "maximum": 10000}},
                         required=("capital_allocation",), closed=True),
    "StrategyStarted": obj({"id": id_of("strategy"), "name": STRING, "status": {"type": "string", "const": "active"},
                            "started_at": TIME, "capital_allocation": NUMBER, "max_positions": INTEGER}),
    "StrategyStop": obj({"close_positions": BOOLEAN}, required=(), closed=True),
    "StrategyStopped": obj({"id": id_of("strategy"), "name": STRING, "status": {"type": "string", "const": "inactive"},
                            "stopped_at": TIME, "positions_closed": BOOLEAN}),
    "BacktestRequest": obj({"strategy_id": id_of("strategy"), "start_date": TIME, "end_date": TIME,
                            "initial_capital": {"type": "number", "exclusiveMinimum": 0}, "parameters": PARAMETERS},
                           required=("strategy_id", "start_date", "end_date", "initial_capital"), closed=True),
    "BacktestCreated": obj({**_backtest, "estimated_completion_time": nullable(TIME)}),
    "BacktestStatus": obj({**_backtest, "completion_time": nullable(TIME), "progress": NUMBER,
                           "estimated_completion_time": nullable(TIME), "error": nullable(STRING), "created_at": TIME}),
    "BacktestResults": obj({
        **_backtest, "final_capital": nullable(NUMBER), "total_return": nullable(NUMBER),
        "annualized_return": nullable(NUMBER), "sharpe_ratio": nullable(NUMBER), "sortino_ratio": nullable(NUMBER),
        "max_drawdown": nullable(NUMBER), "win_rate": nullable(NUMBER), "profit_factor": nullable(NUMBER),
        "trades": nullable(INTEGER), "winning_trades": nullable(INTEGER), "losing_trades": nullable(INTEGER),
        "average_win": nullable(NUMBER), "average_loss": nullable(NUMBER), "largest_win": nullable(NUMBER),
        "largest_loss": nullable(NUMBER),
        "equity_curve": {"type": "array", "items": obj({"timestamp": TIME, "equity": NUMBER})},
        "monthly_returns": {"type": "array", "items": obj({"month": STRING, "return": NUMBER})},
        "trades_list": {"type": "array", "items": {"type": "object"}},
    }),
    "Candles": obj({"exchange": EXCHANGE, "symbol": STRING, "timeframe": TIMEFRAME,
                    "source": {"type": "string", "enum": ["trades", "klines"],
                               "description": "trades: built from recorded trades; klines: imported exchange candles"},
                    "data": {"type": "array", "items": obj({"timestamp": TIME, "open": NUMBER, "high": NUMBER, "low": NUMBER,
                                                            "close": NUMBER, "volume": NUMBER})}}),
    "OrderBook": obj({"exchange": EXCHANGE, "symbol": STRING, "timestamp": nullable(TIME), "sequence": nullable(INTEGER),
                      "bids": LEVELS, "asks": LEVELS}),
    "Ticker": obj({"exchange": EXCHANGE, "symbol": STRING, "timestamp": nullable(TIME), "bid": NUMBER, "ask": NUMBER,
                   "last": NUMBER, "volume": NUMBER, "change": NUMBER, "change_percent": NUMBER}),
    "OrderRequest": obj({"exchange": EXCHANGE, "symbol": SYMBOL, "side": {"type": "string", "enum": ["buy", "sell"]},
                         "type": {"type": "string", "enum": list(ORDER_TYPES)},
                         "quantity": {"type": "number", "exclusiveMinimum": 0},
                         "price": nullable({"type": "number", "exclusiveMinimum": 0}),
                         "stop_price": nullable({"type": "number", "exclusiveMinimum": 0}),
                         "time_in_force": {"type": "string", "enum": list(TIME_IN_FORCE)},
                         "strategy_id": nullable(id_of("strategy"))},
                        required=("exchange", "symbol", "side", "type", "quantity"), closed=True,
                        description="price is required for limit and stop_limit orders and not allowed for market and "
                                    "stop orders; stop_price is required for stop and stop_limit orders"),
    "Order": obj(_order),
    "OrderList": _list_of("Order"),
    "OrderCanceled": obj({"order_id": id_of("order"), "status": STRING, "canceled_at": nullable(TIME)}),
    "Portfolio": obj({
        "total_value": NUMBER, "base_currency": STRING, "last_updated": nullable(TIME),
        "assets": {"type": "array", "items": obj({"asset": STRING, "free": NUMBER, "used": NUMBER, "total": NUMBER,
                                                  "value_usd": {**nullable(NUMBER), "description":
                                                                "Value in base_currency (null when no price is known)"}})},
        "performance": obj({"daily_change": nullable(NUMBER), "weekly_change": nullable(NUMBER),
                            "monthly_change": nullable(NUMBER), "yearly_change": nullable(NUMBER)}),
    }),
    "Position": obj(_position),
    "PositionList": _list_of("Position"),
    "PositionClosed": obj({"position_id": id_of("position"), "status": {"type": "string", "enum": ["closed", "closing", "open"]},
                           "close_price": nullable(NUMBER), "realized_pnl": nullable(NUMBER),
                           "realized_pnl_percent": nullable(NUMBER), "closed_at": nullable(TIME)}),
    "SystemStatus": obj({
        "status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]}, "version": STRING, "uptime": INTEGER,
        "services": obj({name: _service for name in ("auth", "strategy", "data", "trade", "backtest")}),
        "database": obj({"status": STRING, "connections": INTEGER}, required=("status", "connections")),
        "clickhouse": obj({"status": STRING, "connections": INTEGER}, required=("status", "connections")),
        "redis": obj({"status": {"type": "string", "const": "not_used"}, "connections": {"type": "integer", "const": 0}},
                     description="Cryptobot uses no Redis; always not_used (ClickHouse is under clickhouse)"),
        "exchanges": {"type": "object", "description": "Feed connection per exchange; latency in ms is the exchange's "
                      "event time to our receive time on Binance (clock skew included), the ping round trip on Kraken",
                      "additionalProperties": obj({"status": STRING, "latency": nullable(NUMBER)})},
        "kill_switch": BOOLEAN, "mode": {"type": "string", "enum": ["paper", "live"]},
        "market_data": obj({"source": {"type": "string", "enum": ["emulator", "live", "none"],
                                       "description": "emulator: recorded real data replayed on local sockets"},
                            "exchange": STRING, "symbols": {"type": "array", "items": STRING}}),
    }),
    "SystemMetrics": obj({
        "cpu_usage": NUMBER, "memory_usage": NUMBER, "disk_usage": NUMBER,
        "network": obj({"rx_bytes": INTEGER, "tx_bytes": INTEGER}),
        "requests": obj({"total": INTEGER, "success": INTEGER, "error": INTEGER, "average_latency": NUMBER},
                        required=("total", "success", "error", "average_latency")),
        "trades": obj({"total": INTEGER, "success": INTEGER, "error": INTEGER, "average_latency": NUMBER}),
        "strategies": obj({"active": INTEGER, "total": INTEGER}),
        "backtests": obj({"running": INTEGER, "completed": INTEGER, "failed": INTEGER},
                         required=("running", "completed", "failed")),
        "websocket_clients": INTEGER,
        "actors": {"type": "array", "description": "Per actor: messages, mailbox depth, handling time in microseconds",
                   "items": obj({"name": STRING, "state": STRING, "messages_in": INTEGER, "messages_out": INTEGER,
                                 "mailbox_depth": INTEGER, "mailbox_max_depth": INTEGER, "conflated": INTEGER,
                                 "failures": INTEGER, "restarts": INTEGER, "handling_p50_us": NUMBER,
                                 "handling_p99_us": NUMBER})},
    }),
    "KillSwitchRequest": obj({"engaged": BOOLEAN, "reason": {"type": "string", "maxLength": 500}}, required=("engaged",),
                             closed=True),
    "KillSwitch": obj({"engaged": BOOLEAN, "reason": STRING, "changed_at": nullable(TIME)}),
    "WebhookCreate": obj({"url": {"type": "string", "format": "uri", "maxLength": 2048},
                          "secret": {"type": "string", "minLength": 16, "maxLength": 256},
                          "events": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(EVENTS)}}},
                         closed=True),
    "Webhook": obj({"id": id_of("webhook"), "url": STRING, "events": {"type": "array", "items": STRING}, "active": BOOLEAN,
                    "created_at": TIME, "updated_at": TIME}),
    "WebhookList": _list_of("Webhook"),
    "Delivery": obj({"id": id_of("delivery"), "event": STRING,
                     "status": {"type": "string", "enum": ["pending", "sending", "delivered", "failed"]},
                     "attempts": INTEGER, "response_code": nullable(INTEGER), "error": nullable(STRING),
                     "created_at": TIME, "delivered_at": nullable(TIME), "next_attempt_at": nullable(TIME)}),
    "DeliveryList": _list_of("Delivery"),
    "WebhookPayload": obj({"id": id_of("delivery"), "event": {"type": "string", "enum": list(EVENTS)}, "timestamp": TIME,
                           "data": {"type": "object"},
                           "signature": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                                         "description": "Hex HMAC-SHA256 of the body without this member"}}),
}
