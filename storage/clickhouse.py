"""The ClickHouse connection: one clickhouse-connect client, embedded or remote.

With ``Settings.clickhouse_url`` empty the client is clickhouse-connect's
``chdb://`` interface on ``<data_dir>/clickhouse``: the ClickHouse engine
running inside this process, on disk.  An ``http(s)://`` URL reaches a server
instead.  Both go through the same calls (``command``, ``raw_query`` in
``Native`` format, ``insert_arrow``), so tests on the embedded engine run the
production code path.

What chdb allows, as found with chdb 4.4 / ClickHouse 26.9 and
clickhouse-connect 1.12 on this code's test machine:

* One engine path per process.  Opening a second path while any client on
  the first is open raises; once every client is closed, another path can be
  opened.  Any number of clients may share the open path, each with its own
  handle and session state.
* A client serializes its own calls with a lock, so one client used from two
  threads runs their queries one after the other.  Queries on two clients
  run at the same time.
* The engine releases the GIL while it works, so a query in a worker thread
  does not stop the event loop, though both compete for the CPU cores.
* There is no async client, so callers on the event loop run store calls in
  a thread.
* ``async_insert`` is on by default in 26.x.  Every insert here turns it off,
  so the deduplication token is honoured and the rows are visible on return.

One :class:`ClickHouseStore` is one client: give each thread its own store
(:meth:`ClickHouseStore.clone`) instead of sharing one.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa

from cryptobot.core.errors import ConfigError, StorageError
from cryptobot.storage.native import decode_native
from cryptobot.storage.tick_schema import apply_schema, check_identifier

log = logging.getLogger("cryptobot.storage.clickhouse")

DEFAULT_DATABASE = "cryptobot"

# Settings for every insert; see the module docstring of tick_schema for why.
_INSERT_SETTINGS = {
    "async_insert": 0,
    "insert_deduplicate": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
}

# One large block per result: fewer blocks to decode, and the columns come
# back as single contiguous buffers.
_READ_SETTINGS = {
    "max_block_size": 1_048_576,
    "preferred_block_size_bytes": 1 << 30,
}


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(parsed.password, "***")
    return url


class ClickHouseStore:
    """A connection to the tick database, embedded (chdb) or a server.

    Parameters
    ----------
    url
        ``http://`` or ``https://`` URL of a ClickHouse server; empty for the
        embedded engine.
    path
        Folder of the embedded engine; required when ``url`` is empty.
    database
        Database of the tables; created by :meth:`apply_schema`.

    Warnings
    --------
    Not for concurrent use from several threads: use :meth:`clone` to get a
    store with its own client for each thread.
    """

    def __init__(self, url: str = "", path: str | Path | None = None, database: str = DEFAULT_DATABASE):
        self.url = url.strip()
        self.database = check_identifier(database)
        if self.url:
            scheme = urlparse(self.url).scheme
            if scheme not in ("http", "https"):
                raise ConfigError(
                    f"invalid setting 'clickhouse_url': expected an http:// or https:// URL, was {_redact(self.url)!r}",
                    {"clickhouse_url": "expected http or https"},
                )
            self.path = None
        else:
            if path is None:
                raise ConfigError("Cannot open the embedded ClickHouse engine: no data folder given")
            self.path = Path(path).expanduser().resolve()
        self._client = None
        self._settings_names: frozenset[str] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings, database: str | None = None) -> "ClickHouseStore":
        """Build a store from :class:`cryptobot.core.config.Settings` (its ``clickhouse_database`` unless given)."""
        name = database or getattr(settings, "clickhouse_database", DEFAULT_DATABASE)
        return cls(settings.clickhouse_url, settings.data_path / "clickhouse", name)

    def clone(self) -> "ClickHouseStore":
        """Return an unconnected store on the same target, for another thread."""
        return ClickHouseStore(self.url, self.path, self.database)

    @property
    def target(self) -> str:
        """The server URL (password masked) or the embedded engine folder."""
        return _redact(self.url) if self.url else f"chdb:{self.path}"

    @property
    def connected(self) -> bool:
        return self._client is not None

    def connect(self) -> "ClickHouseStore":
        """Open the client if it is not open; raise StorageError when that fails."""
        with self._lock:
            if self._client is not None:
                return self
            import clickhouse_connect

            try:
                if self.url:
                    # NOTE: no test runs this branch against a ClickHouse server yet;
                    # it shares every call after connect with the embedded path.
                    self._client = clickhouse_connect.get_client(dsn=self.url)
                else:
                    self.path.mkdir(parents=True, exist_ok=True)
                    self._client = clickhouse_connect.get_client(dsn=f"chdb://{self.path}")
            except Exception as exc:
                raise StorageError(f"Cannot connect to ClickHouse at {self.target}: {exc}") from exc
            log.debug("connected to ClickHouse at %s", self.target)
        return self

    def close(self) -> None:
        """Close the client; the next call reconnects.  Closing twice is harmless."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def apply_schema(self) -> None:
        """Create the database, tables and views that are missing."""
        apply_schema(self._connected(), self.database)

    def _connected(self):
        client = self._client
        if client is None:
            client = self.connect()._client
        return client

    def table(self, name: str) -> str:
        """Return ``database.name`` for use in SQL."""
        return f"{self.database}.{check_identifier(name, 'table')}"

    def command(self, sql: str, parameters: dict[str, Any] | None = None):
        """Run a statement and return its scalar result, if any."""
        return self._connected().command(sql, parameters=parameters)

    def query_columns(self, sql: str, parameters: dict[str, Any] | None = None,
                      settings: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Run a SELECT and return its columns as numpy arrays (see :mod:`.native`).

        ``settings`` are integer query settings; ``sql`` must not end with
        its own SETTINGS or FORMAT clause.

        An empty result returns an empty dict, since ClickHouse sends no
        block (and so no column names) for it.
        """
        # Settings ride in the statement: passed separately, the embedded
        # client applies and restores each one with extra SET round trips.
        # Tuning settings a server does not know (older releases) are left out.
        merged = {**_READ_SETTINGS, **(settings or {})}
        known = self._known_settings()
        merged = {name: value for name, value in merged.items() if name in known}
        clause = ", ".join(f"{check_identifier(name, 'setting')} = {int(value)}" for name, value in merged.items())
        payload = self._connected().raw_query(f"{sql}\nSETTINGS {clause}", parameters=parameters, fmt="Native")
        return decode_native(payload)

    def _known_settings(self) -> frozenset[str]:
        if self._settings_names is None:
            payload = self._connected().raw_query("SELECT name FROM system.settings", fmt="TabSeparated")
            self._settings_names = frozenset(payload.decode().split())
        return self._settings_names

    def insert_arrow(self, table: str, data: pa.Table, token: str | None = None) -> None:
        """Insert an Arrow table into ``table`` (an unqualified name).

        ``token`` becomes the insert deduplication token: inserting the same
        token into the same table again is a no-op, in the table and in the
        candle views fed by it.
        """
        settings = dict(_INSERT_SETTINGS)
        if token is not None:
            settings["insert_deduplication_token"] = token
        self._connected().insert_arrow(self.table(table), data, settings=settings)

    def ping(self) -> bool:
        """Return True when a trivial query on the store succeeds."""
        try:
            return self.command("SELECT 1") == 1
        except Exception:
            return False


def arrow_timestamps(values: np.ndarray) -> pa.Array:
    """Wrap int64 nanoseconds as an Arrow ``timestamp[ns, UTC]`` array without a copy."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.timestamp("ns", tz="UTC"), len(values), [None, pa.py_buffer(values)])


def arrow_names(codes: np.ndarray, names: list[str]) -> pa.Array:
    """Build a dictionary-encoded string column (LowCardinality) from codes into ``names``."""
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int16()), pa.array(names, type=pa.string()))


def arrow_repeat(value: str, length: int) -> pa.Array:
    """Build a dictionary-encoded column holding ``value`` ``length`` times."""
    return arrow_names(np.zeros(length, dtype=np.int16), [value])
