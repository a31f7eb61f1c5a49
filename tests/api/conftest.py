"""Fixtures of the API tests: one engine with its API for the session, HTTP clients, users."""

from __future__ import annotations

import secrets

import aiohttp
import pytest

import cryptobot.storage.database as database_module
from cryptobot.storage.testing import FAST_PASSWORDS
from cryptobot.tests.api.support import ADMIN_USERNAME, EngineThread, engine_settings


def start_engine(pg_server, data_dir, sample_data, app_options=None, **overrides) -> tuple[EngineThread, str]:
    """Start an engine and API on a fresh database; return it with the database URL to give back."""
    url = pg_server.supply.take()
    # Engines of one test process share the embedded ClickHouse folder: each gets its own database.
    overrides.setdefault("clickhouse_database", "api_" + secrets.token_hex(4))
    settings = engine_settings(str(data_dir), url, str(sample_data), **overrides)
    engine = EngineThread(settings, app_options)
    # Argon2 at its minimum cost, so creating and logging in users takes
    # milliseconds; the code path is the production one.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(database_module, "PasswordHasher", lambda: FAST_PASSWORDS)
        engine.start()
    return engine, url


@pytest.fixture(scope="session")
def engine(pg_server, clickhouse_data_dir, sample_data):
    """The engine and API shared by the API tests; each test works with users of its own."""
    engine, url = start_engine(pg_server, clickhouse_data_dir, sample_data)
    yield engine
    engine.stop()
    pg_server.supply.give_back(url)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def admin(engine, http):
    """The first admin's access token, obtained by logging in through the API."""
    async with http.post(f"{engine.url}/api/v1/auth/token",
                         json={"username": ADMIN_USERNAME, "password": engine.settings.auth_admin_password}) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    return {"Authorization": f"Bearer {body['access_token']}"}
