"""Stores: PostgreSQL (asyncpg) for state, ClickHouse (clickhouse-connect) for ticks and candles.

``Database.open(settings)`` is the way in to the state store; see
:mod:`cryptobot.storage.database`.
"""

from cryptobot.storage.database import Database
from cryptobot.storage.keyring import Keyring
from cryptobot.storage.passwords import PasswordHasher
from cryptobot.storage.repositories import Page, Repositories

__all__ = ["Database", "Keyring", "Page", "PasswordHasher", "Repositories"]
