"""The store goes away mid-stream: ticks wait in memory, spill to disk, and land once, exactly."""

import asyncio
import time

import numpy as np
import pytest

from cryptobot.storage import tick_queries
from cryptobot.storage.recorder import TickRecorder
from cryptobot.storage.spill import read_blocks
from cryptobot.tests.storage.ch_data import SPOT_0808, SPOT_0809, binance_trades, take

WIDE = (1_700_000_000_000_000_000, 1_800_000_000_000_000_000)


@pytest.fixture(scope="module")
def real_trades(sample_data):
    first = binance_trades(sample_data / SPOT_0808)
    second = binance_trades(sample_data / SPOT_0809)
    return {name: np.concatenate((first[name], second[name])) for name in first}


async def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def _feed(recorder, trades, start, stop, step=500):
    for begin in range(start, stop, step):
        recorder.add_trades_columnar("binance", "BTC/USDT", **take(trades, begin, min(stop, begin + step)))


def _stored_keys(store):
    stored = tick_queries.trades(store, "binance", "BTC/USDT", *WIDE)
    return list(zip(stored["ts_event"].tolist(), stored["trade_id"].tolist()))


def _expected_keys(trades, stop=None):
    keys = sorted(zip(trades["ts_event"][:stop].tolist(), trades["trade_id"][:stop].tolist()))
    return keys


def _stop_store(admin, store):
    admin.command(f"DETACH TABLE {store.table('trades')}")


def _start_store(admin, store):
    admin.command(f"ATTACH TABLE {store.table('trades')}")


def _candles_match_trades(store):
    built = tick_queries.trade_candles(store, "binance", "BTC/USDT", "1m", *WIDE)
    plain = tick_queries.candles_from_trades(store, "binance", "BTC/USDT", "1m", *WIDE)
    return (np.array_equal(built.trades, plain.trades) and np.array_equal(built.open, plain.open)
            and np.array_equal(built.close, plain.close))


async def test_outage_spills_then_writes_every_tick_once(ch_store, clickhouse_admin, tmp_path, real_trades):
    total = len(real_trades["ts_event"])
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill", batch_rows=1000, max_memory_rows=3000,
                            flush_interval=0.1, retry_max_seconds=0.2)
    await recorder.start()
    _feed(recorder, real_trades, 0, 5000)
    assert await recorder.flush(20)

    _stop_store(clickhouse_admin, ch_store)
    _feed(recorder, real_trades, 5000, total)
    recorder.seal_all()
    await _wait_for(lambda: recorder.counters()["spilled"] > 0 and recorder.counters()["retries"] > 0)
    down = recorder.counters()
    assert down["written"] == 5000
    assert "trades" in down["last_error"]
    assert list((tmp_path / "spill").glob("*.spill"))

    _start_store(clickhouse_admin, ch_store)
    assert await recorder.flush(30)
    await recorder.close()

    up = recorder.counters()
    assert up["written"] == total
    assert up["buffered"] == 0
    assert up["spill_pending"] == 0
    assert not list((tmp_path / "spill").glob("*.spill"))
    assert _stored_keys(ch_store) == _expected_keys(real_trades)
    assert _candles_match_trades(ch_store)


async def test_outage_at_shutdown_is_written_by_next_recorder(ch_store, clickhouse_admin, tmp_path, real_trades):
    _stop_store(clickhouse_admin, ch_store)
    first = TickRecorder(ch_store.clone(), tmp_path / "spill", batch_rows=2000, retry_max_seconds=0.1)
    await first.start()
    _feed(first, real_trades, 0, 9000)
    await first.close(timeout=0.5)
    assert first.counters()["spilled"] == 9000
    assert first.counters()["written"] == 0

    _start_store(clickhouse_admin, ch_store)
    second = TickRecorder(ch_store.clone(), tmp_path / "spill")
    assert second.counters()["spill_pending"] == 9000
    await second.start()
    assert await second.flush(30)
    await second.close()
    assert second.counters()["written"] == 9000
    assert _stored_keys(ch_store) == _expected_keys(real_trades, 9000)


async def test_spilled_batch_already_stored_is_not_written_twice(ch_store, clickhouse_admin, tmp_path, real_trades):
    _stop_store(clickhouse_admin, ch_store)
    first = TickRecorder(ch_store.clone(), tmp_path / "spill", batch_rows=1000, retry_max_seconds=0.1)
    await first.start()
    _feed(first, real_trades, 0, 3000)
    await first.close(timeout=0.3)
    _start_store(clickhouse_admin, ch_store)

    # As if the process died after the insert of the first spilled batch but
    # before the spill file recorded it.
    segment = next((tmp_path / "spill").glob("*.spill"))
    batch = next(read_blocks(segment))
    ch_store.insert_arrow(batch.table, batch.data, token=batch.token)

    second = TickRecorder(ch_store.clone(), tmp_path / "spill")
    await second.start()
    assert await second.flush(30)
    await second.close()
    assert _stored_keys(ch_store) == _expected_keys(real_trades, 3000)
    assert _candles_match_trades(ch_store)


async def test_torn_spill_block_is_detected_not_misread(ch_store, clickhouse_admin, tmp_path, real_trades):
    _stop_store(clickhouse_admin, ch_store)
    first = TickRecorder(ch_store.clone(), tmp_path / "spill", batch_rows=1000, retry_max_seconds=0.1)
    await first.start()
    _feed(first, real_trades, 0, 4000)
    await first.close(timeout=0.3)
    _start_store(clickhouse_admin, ch_store)

    segment = next((tmp_path / "spill").glob("*.spill"))
    whole = segment.read_bytes()
    # Cut the last block in half, as a crash during its write would.
    blocks = list(read_blocks(segment))
    assert len(blocks) == 4
    segment.write_bytes(whole[: len(whole) - 200])

    second = TickRecorder(ch_store.clone(), tmp_path / "spill")
    await second.start()
    assert await second.flush(30)
    await second.close()
    counters = second.counters()
    assert counters["corrupt_spill_blocks"] == 1
    assert "torn spill block" in counters["last_error"]
    assert _stored_keys(ch_store) == _expected_keys(real_trades, 3000)
    assert list((tmp_path / "spill").glob("*.spill.corrupt"))


async def test_closed_client_mid_stream_reconnects(ch_store, tmp_path, real_trades):
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill", batch_rows=1000, retry_max_seconds=0.1)
    await recorder.start()
    _feed(recorder, real_trades, 0, 3000)
    assert await recorder.flush(20)
    recorder.store.close()
    _feed(recorder, real_trades, 3000, 6000)
    assert await recorder.flush(20)
    await recorder.close()
    assert _stored_keys(ch_store) == _expected_keys(real_trades, 6000)
