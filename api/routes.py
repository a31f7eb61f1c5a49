"""Every route of the API in one table: method, path, handler, access rule and its OpenAPI description.

The application registers these routes and the OpenAPI document is built
from the same table, so the two cannot disagree on which endpoints exist
or who may call them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from cryptobot.api.access import ADMIN_ANY, PUBLIC, READ_ANY, READ_JWT, TRADE_ANY, Access
from cryptobot.api.handlers import (auth, backtests, keys, market, portfolio, strategies, system, trading, webhooks,
                                    websocket)

PREFIX = "/api/v1"


@dataclass(frozen=True)
class Route:
    """One endpoint.

    ``path`` is the OpenAPI path; ``pattern`` the aiohttp path when it
    differs (a symbol that contains a slash).  ``request`` and
    ``response`` name component schemas; ``query`` names parameter
    components; ``errors`` lists the error statuses beyond the common ones.
    """

    method: str
    path: str
    handler: Callable
    access: Access
    tag: str
    summary: str
    request: str | None = None
    status: int = 200
    response: str | None = "Detail"
    query: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    pattern: str | None = None
    body_optional: bool = False

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    @property
    def aiohttp_path(self) -> str:
        return self.pattern or self.path


def _v1(path: str) -> str:
    return PREFIX + path


PAGE = ("page", "limit")
MARKET_PATTERN = "{exchange}/{symbol:.+}"

ROUTES: tuple[Route, ...] = (
    Route("POST", _v1("/auth/token"), auth.issue_token, PUBLIC, "Authentication", "Get an access and a refresh token",
          "TokenRequest", response="TokenResponse", errors=(401,)),
    Route("POST", _v1("/auth/refresh"), auth.refresh_token, PUBLIC, "Authentication",
          "Exchange a refresh token (used once) for new tokens", "RefreshRequest", response="TokenResponse",
          errors=(401,)),
    Route("GET", _v1("/auth/validate"), auth.validate_token, READ_JWT, "Authentication", "Validate the request's JWT",
          response="ValidateResponse"),

    Route("GET", _v1("/api-keys"), keys.list_keys, READ_JWT, "API keys", "List API keys", response="ApiKeyList",
          query=("owner_id",)),
    Route("POST", _v1("/api-keys"), keys.create_key, READ_JWT, "API keys", "Create an API key", "ApiKeyCreate", 201,
          "IssuedApiKey", body_optional=True),
    Route("POST", _v1("/api-keys/rotate"), keys.rotate_key, READ_JWT, "API keys", "Rotate an API key", "ApiKeyRotate",
          201, "IssuedApiKey", errors=(404, 409)),
    Route("POST", _v1("/api-keys/revoke"), keys.revoke_key, READ_JWT, "API keys", "Revoke an API key", "ApiKeyRevoke",
          errors=(404, 409)),
    Route("POST", _v1("/api-keys/emergency-revoke"), keys.emergency_revoke_key, READ_JWT, "API keys",
          "Mark an API key compromised and revoke it", "ApiKeyEmergencyRevoke", response="EmergencyRevokeResponse",
          errors=(404, 409)),
    Route("GET", _v1("/api-keys/{key_id}/rotated"), keys.claim_rotated_key, READ_JWT, "API keys",
          "Claim the plain text of an automatically rotated key (once)", response="IssuedApiKey", errors=(404,)),

    Route("GET", _v1("/strategies"), strategies.list_strategies, READ_ANY, "Strategies", "List strategies",
          response="StrategyList", query=("strategy_status", "exchange", "symbol") + PAGE),
    Route("POST", _v1("/strategies"), strategies.create_strategy, TRADE_ANY, "Strategies", "Create a strategy",
          "StrategyCreate", 201, "StrategyWritten", errors=(404,)),
    Route("GET", _v1("/strategies/{strategy_id}"), strategies.get_strategy, READ_ANY, "Strategies", "Get a strategy",
          response="StrategyDetail", errors=(404,)),
    Route("PUT", _v1("/strategies/{strategy_id}"), strategies.update_strategy, TRADE_ANY, "Strategies",
          "Update a strategy", "StrategyUpdate", response="StrategyWritten", errors=(404, 409)),
    Route("DELETE", _v1("/strategies/{strategy_id}"), strategies.delete_strategy, TRADE_ANY, "Strategies",
          "Delete an inactive strategy", errors=(404, 409)),
    Route("POST", _v1("/strategies/{strategy_id}/start"), strategies.start_strategy, TRADE_ANY, "Strategies",
          "Start a strategy", "StrategyStart", response="StrategyStarted", errors=(404, 409)),
    Route("POST", _v1("/strategies/{strategy_id}/stop"), strategies.stop_strategy, TRADE_ANY, "Strategies",
          "Stop a strategy", "StrategyStop", response="StrategyStopped", errors=(404, 409), body_optional=True),

    Route("POST", _v1("/backtest"), backtests.run_backtest, TRADE_ANY, "Backtesting", "Run a backtest",
          "BacktestRequest", 201, "BacktestCreated", errors=(404, 409)),
    Route("GET", _v1("/backtest/{backtest_id}"), backtests.get_backtest, READ_ANY, "Backtesting",
          "Get a backtest's status", response="BacktestStatus", errors=(404,)),
    Route("GET", _v1("/backtest/{backtest_id}/results"), backtests.get_results, READ_ANY, "Backtesting",
          "Get a completed backtest's results", response="BacktestResults", errors=(404, 409)),
    Route("DELETE", _v1("/backtest/{backtest_id}"), backtests.cancel_backtest, TRADE_ANY, "Backtesting",
          "Cancel a backtest", errors=(404, 409)),

    Route("GET", _v1("/data/market/{exchange}/{symbol}"), market.get_candles, READ_ANY, "Market data",
          "Get candles", response="Candles", query=("timeframe", "start", "end", "candle_limit"),
          pattern=_v1("/data/market/" + MARKET_PATTERN)),
    Route("GET", _v1("/data/orderbook/{exchange}/{symbol}"), market.get_order_book, READ_ANY, "Market data",
          "Get the order book", response="OrderBook", query=("depth",), errors=(404,),
          pattern=_v1("/data/orderbook/" + MARKET_PATTERN)),
    Route("GET", _v1("/data/ticker/{exchange}/{symbol}"), market.get_ticker, READ_ANY, "Market data", "Get the ticker",
          response="Ticker", errors=(404,), pattern=_v1("/data/ticker/" + MARKET_PATTERN)),

    Route("POST", _v1("/trade/execute"), trading.execute_order, TRADE_ANY, "Trading", "Submit an order",
          "OrderRequest", 201, "Order", errors=(404,)),
    Route("GET", _v1("/trade/order/{order_id}"), trading.get_order, READ_ANY, "Trading", "Get an order",
          response="Order", errors=(404,)),
    Route("DELETE", _v1("/trade/order/{order_id}"), trading.cancel_order, TRADE_ANY, "Trading", "Cancel an order",
          response="OrderCanceled", errors=(404, 409)),
    Route("GET", _v1("/trade/orders/open"), trading.list_open_orders, READ_ANY, "Trading", "List open orders",
          response="OrderList", query=("exchange", "symbol", "strategy_id") + PAGE),
    Route("GET", _v1("/trade/orders/history"), trading.list_order_history, READ_ANY, "Trading", "List order history",
          response="OrderList", query=("exchange", "symbol", "strategy_id", "start", "end", "order_status") + PAGE),

    Route("GET", _v1("/portfolio"), portfolio.get_portfolio, READ_ANY, "Portfolio", "Get the portfolio",
          response="Portfolio"),
    Route("GET", _v1("/portfolio/positions"), portfolio.list_positions, READ_ANY, "Portfolio", "List open positions",
          response="PositionList", query=("strategy_id", "exchange", "symbol") + PAGE),
    Route("POST", _v1("/portfolio/positions/{position_id}/close"), portfolio.close_position, TRADE_ANY, "Portfolio",
          "Close a position", response="PositionClosed", errors=(404, 409)),

    Route("GET", _v1("/system/status"), system.get_status, READ_ANY, "System", "Get the system status",
          response="SystemStatus"),
    Route("GET", _v1("/system/metrics"), system.get_metrics, READ_ANY, "System", "Get system metrics",
          response="SystemMetrics"),
    Route("GET", _v1("/system/kill-switch"), system.get_kill_switch, READ_ANY, "System", "Get the kill switch",
          response="KillSwitch"),
    Route("POST", _v1("/system/kill-switch"), system.set_kill_switch, ADMIN_ANY, "System",
          "Engage or release the kill switch", "KillSwitchRequest", response="KillSwitch"),

    Route("POST", _v1("/webhooks"), webhooks.create_webhook, READ_JWT, "Webhooks", "Register a webhook",
          "WebhookCreate", 201, "Webhook"),
    Route("GET", _v1("/webhooks"), webhooks.list_webhooks, READ_JWT, "Webhooks", "List webhooks", response="WebhookList",
          query=("owner_id",) + PAGE),
    Route("DELETE", _v1("/webhooks/{webhook_id}"), webhooks.delete_webhook, READ_JWT, "Webhooks", "Delete a webhook",
          errors=(404,)),
    Route("GET", _v1("/webhooks/{webhook_id}/deliveries"), webhooks.list_deliveries, READ_JWT, "Webhooks",
          "List a webhook's deliveries", response="DeliveryList", query=("delivery_status",) + PAGE, errors=(404,)),

    Route("GET", "/metrics", system.get_prometheus, READ_ANY, "System", "Prometheus metrics", response=None),
    Route("GET", "/ws", websocket.websocket, PUBLIC, "WebSocket", "Open the WebSocket", response=None),
)
