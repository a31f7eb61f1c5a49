"""Shared fixtures: the recorded real data and a uvloop event loop."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import uvloop

from cryptobot.core.config import _default_sample_data

pytest_plugins = (
    "cryptobot.storage.testing",  # PostgreSQL: pg_server, pg_url, db, open_store
    "cryptobot.tests.storage.clickhouse_fixtures",  # ClickHouse: a database per test
)


def sample_data_path() -> Path:
    return Path(os.environ.get("CRYPTOBOT_SAMPLE_DATA") or _default_sample_data())


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The folder of recorded real exchange data; tests that need it skip without it."""
    path = sample_data_path()
    if not (path / "SOURCES.md").is_file():
        pytest.skip(f"recorded exchange data not found at {path}: set CRYPTOBOT_SAMPLE_DATA to the data/real folder")
    return path


def pytest_asyncio_loop_factories(config, item):
    """Run every async test on uvloop, the loop the engine runs on."""
    return {"uvloop": uvloop.new_event_loop}

