import numpy as np
import pytest

from cryptobot.core.errors import StorageError, ValidationError
from cryptobot.storage.clickhouse import ClickHouseStore
from cryptobot.storage.native import decode_native
from cryptobot.storage.tick_schema import SCHEMA_VERSION, check_identifier

EXPECTED_TABLES = {"schema_version", "trades", "book_deltas", "book_snapshots", "trade_minutes", "trade_candles",
                   "klines", "imports", "trade_minutes_mv", "trade_candles_mv"}


def _tables(store):
    columns = store.query_columns("SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
                                  {"db": store.database})
    return set(columns["name"])


def test_schema_creates_every_table(ch_store):
    assert _tables(ch_store) == EXPECTED_TABLES


def test_schema_apply_twice_is_idempotent(ch_store):
    ch_store.apply_schema()
    ch_store.apply_schema()
    assert _tables(ch_store) == EXPECTED_TABLES
    assert ch_store.command(f"SELECT count() FROM {ch_store.table('schema_version')}") == 1


def test_schema_newer_version_is_rejected(ch_store):
    ch_store.command(f"INSERT INTO {ch_store.table('schema_version')} (version) VALUES ({SCHEMA_VERSION + 1})")
    with pytest.raises(StorageError, match=f"schema version is {SCHEMA_VERSION + 1}"):
        ch_store.apply_schema()


def test_identifier_rejects_sql():
    with pytest.raises(ValidationError, match="was 'x; DROP'"):
        check_identifier("x; DROP")


def test_store_rejects_non_http_url():
    with pytest.raises(Exception, match="expected an http:// or https:// URL"):
        ClickHouseStore(url="tcp://127.0.0.1:9000")


def test_store_reconnects_after_close(ch_store):
    ch_store.close()
    assert not ch_store.connected
    assert ch_store.ping()


def test_native_decodes_fixed_types(ch_store):
    columns = ch_store.query_columns(
        "SELECT toInt64(number) - 2 AS i, toFloat64(number) / 4 AS f, toUInt32(number) AS u, "
        "toDateTime64(number, 9, 'UTC') AS t, CAST(number % 2 + 1, 'Enum8(\\'a\\' = 1, \\'b\\' = 2)') AS e, "
        "toString(number) AS s, range(number) AS r FROM numbers(4)")
    assert columns["i"].tolist() == [-2, -1, 0, 1]
    assert columns["f"].tolist() == [0.0, 0.25, 0.5, 0.75]
    assert columns["u"].dtype == np.uint32
    assert columns["t"].tolist() == [0, 1_000_000_000, 2_000_000_000, 3_000_000_000]
    assert columns["e"].tolist() == [1, 2, 1, 2]
    assert columns["s"].tolist() == ["0", "1", "2", "3"]
    values, ends = columns["r"]
    assert values.tolist() == [0, 0, 1, 0, 1, 2]
    assert ends.tolist() == [0, 1, 3, 6]


def test_native_concatenates_blocks(ch_store):
    columns = ch_store.query_columns("SELECT number AS n FROM numbers(10)", settings={"max_block_size": 3})
    assert columns["n"].tolist() == list(range(10))


def test_native_empty_result_is_empty_dict(ch_store):
    assert ch_store.query_columns("SELECT number AS n FROM numbers(0)") == {}


def test_native_rejects_unknown_type():
    payload = b"\x01\x01\x01x\x04UUID" + bytes(16)
    with pytest.raises(StorageError, match="Cannot decode ClickHouse column type 'UUID'"):
        decode_native(payload)


def test_query_leaves_out_settings_the_server_lacks(ch_store):
    columns = ch_store.query_columns("SELECT 1 AS x", settings={"no_such_setting_anywhere": 1, "max_threads": 1})
    assert columns["x"].tolist() == [1]


def test_second_engine_path_is_rejected(clickhouse_admin, tmp_path):
    # chdb hosts one engine path per process while any client on it is open.
    other = ClickHouseStore(path=tmp_path / "other", database="x")
    with pytest.raises(StorageError, match="Cannot connect to ClickHouse at chdb:"):
        other.connect()
