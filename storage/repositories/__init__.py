"""One repository per aggregate; :class:`Repositories` bundles them over one connection source.

Repositories take and return frozen dataclasses (``Order`` and ``Fill`` are
the mutable ones of :mod:`cryptobot.core.orders`).  Times are int
nanoseconds since the epoch, money and quantities ``Decimal``, JSON columns
plain dicts.  Lists return a :class:`Page`.
"""

from __future__ import annotations

from cryptobot.storage.repositories.api_keys import ApiKey, ApiKeyRepository, IssuedKey, KeyList
from cryptobot.storage.repositories.audit import AuditEntry, AuditLog
from cryptobot.storage.repositories.backtests import Backtest, BacktestRepository
from cryptobot.storage.repositories.balances import Balance, BalanceRepository
from cryptobot.storage.repositories.base import Page, StoreContext
from cryptobot.storage.repositories.equity import EquityRepository, EquitySnapshot
from cryptobot.storage.repositories.orders import FillResult, OrderRepository
from cryptobot.storage.repositories.positions import Position, PositionRepository
from cryptobot.storage.repositories.refresh_tokens import RefreshOutcome, RefreshTokenRepository
from cryptobot.storage.repositories.strategies import Strategy, StrategyRepository
from cryptobot.storage.repositories.users import User, UserRepository
from cryptobot.storage.repositories.webhooks import Delivery, Webhook, WebhookRepository

__all__ = [
    "ApiKey", "ApiKeyRepository", "AuditEntry", "AuditLog", "Backtest", "BacktestRepository", "Balance",
    "BalanceRepository", "Delivery", "EquityRepository", "EquitySnapshot", "FillResult", "IssuedKey", "KeyList", "OrderRepository", "Page", "Position",
    "PositionRepository", "RefreshOutcome", "RefreshTokenRepository", "Repositories", "Strategy", "StrategyRepository", "StoreContext", "User", "UserRepository",
    "Webhook", "WebhookRepository",
]


class Repositories:
    """Every repository, sharing one :class:`StoreContext` (and so one connection source)."""

    def __init__(self, ctx: StoreContext):
        self.users = UserRepository(ctx)
        self.api_keys = ApiKeyRepository(ctx)
        self.strategies = StrategyRepository(ctx)
        self.orders = OrderRepository(ctx)
        self.positions = PositionRepository(ctx)
        self.balances = BalanceRepository(ctx)
        self.backtests = BacktestRepository(ctx)
        self.webhooks = WebhookRepository(ctx)
        self.audit = AuditLog(ctx)
        self.equity = EquityRepository(ctx)
        self.refresh_tokens = RefreshTokenRepository(ctx)
