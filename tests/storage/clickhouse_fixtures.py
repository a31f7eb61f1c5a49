"""ClickHouse fixtures: one embedded engine per test session, one database per test.

chdb hosts a single engine path per process, so every test shares the
engine opened here and isolates itself in a database of its own, dropped
afterwards.  The engine folder is ``<session tmp>/data/clickhouse``: a test
that runs the command line with ``CRYPTOBOT_DATA_DIR`` set to
:func:`clickhouse_data_dir` opens the same engine.
"""

from __future__ import annotations

import itertools
import re

import pytest

from cryptobot.storage.clickhouse import ClickHouseStore

_counter = itertools.count()


@pytest.fixture(scope="session")
def clickhouse_data_dir(tmp_path_factory):
    """The data folder whose ``clickhouse`` subfolder contains the session's embedded engine."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def clickhouse_admin(clickhouse_data_dir):
    """A store kept open for the whole session, so the engine stays up between tests."""
    store = ClickHouseStore(path=clickhouse_data_dir / "clickhouse", database="default").connect()
    yield store
    store.close()


@pytest.fixture
def ch_database(clickhouse_admin, request):
    """A fresh database name for this test; the database is dropped afterwards."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
    database = f"t{next(_counter)}_{name}"
    yield database
    clickhouse_admin.command(f"DROP DATABASE IF EXISTS {database} SYNC")


@pytest.fixture
def ch_store(clickhouse_admin, ch_database):
    """A store on this test's own database with the schema applied."""
    store = ClickHouseStore(path=clickhouse_admin.path, database=ch_database)
    store.apply_schema()
    yield store
    store.close()
