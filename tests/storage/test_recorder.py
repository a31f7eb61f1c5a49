import asyncio
import time

import numpy as np
import pytest

from cryptobot.core.errors import StorageError, ValidationError
from cryptobot.core.types import BookDelta, BookSnapshot, TradeTick
from cryptobot.storage import tick_queries
from cryptobot.storage.recorder import TickRecorder
from cryptobot.storage.replay import ReplayReader, snapshot_before
from cryptobot.tests.storage.ch_data import SPOT_0808, binance_depth_events, binance_trades

BASE = 1_723_161_600_000_000_000
WIDE = (BASE - 10**13, BASE + 10**13)


def _sorted(columns):
    order = np.lexsort((columns["trade_id"], columns["ts_event"]))
    return {name: values[order] for name, values in columns.items()}


async def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.fixture
def real_trades(sample_data):
    return binance_trades(sample_data / SPOT_0808)


async def test_recorder_trades_round_trip_exactly(ch_store, tmp_path, real_trades):
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill", batch_rows=4000)
    await recorder.start()
    recorder.add_trades_columnar("binance", "BTC/USDT", **real_trades)
    await recorder.close()
    stored = tick_queries.trades(ch_store, "binance", "BTC/USDT", *WIDE)
    expected = _sorted(real_trades)
    for name in expected:
        assert np.array_equal(stored[name], expected[name]), name


async def test_recorder_single_trade_objects_round_trip(ch_store, tmp_path):
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill")
    await recorder.start()
    ticks = [TradeTick("binance", "BTC/USDT", BASE + i, BASE + i + 7, 60_000.01 + i, 0.001 * (i + 1),
                       "buy" if i % 3 else "sell", 100 + i) for i in range(5)]
    for tick in ticks:
        recorder.add_trade(tick)
    await recorder.close()
    stored = tick_queries.trades(ch_store, "binance", "BTC/USDT", *WIDE)
    assert stored["ts_recv"].tolist() == [t.ts_recv for t in ticks]
    assert stored["price"].tolist() == [t.price for t in ticks]
    assert stored["quantity"].tolist() == [t.quantity for t in ticks]
    assert stored["side"].tolist() == [1 if t.side == "buy" else 2 for t in ticks]


async def test_recorder_book_deltas_round_trip_exactly(ch_store, tmp_path, sample_data):
    events = binance_depth_events(sample_data / SPOT_0808)[:500]
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill", batch_rows=5000)
    await recorder.start()
    for event in events:
        recorder.add_book_deltas(event)
    await recorder.close()
    chunks = list(ReplayReader(ch_store, "binance", "BTC/USDT", *WIDE, tables=("book_deltas",)))
    got = {name: np.concatenate([getattr(c, name) for c in chunks]) for name in ("ts_event", "id", "side", "price", "size")}
    expected = []
    for e in sorted(events, key=lambda e: (e.ts_event, e.ts_recv, e.last_id)):
        expected += [(e.ts_event, e.last_id, 1, p, s) for p, s in e.bids] + [(e.ts_event, e.last_id, 2, p, s) for p, s in e.asks]
    assert len(got["ts_event"]) == len(expected)
    assert list(zip(got["ts_event"].tolist(), got["id"].tolist(), got["side"].tolist(), got["price"].tolist(),
                    got["size"].tolist())) == expected


async def test_recorder_snapshot_keeps_top_levels(ch_store, tmp_path):
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill", snapshot_depth=3)
    await recorder.start()
    bids = np.array([[100.0 - i, 1.0 + i] for i in range(10)])
    asks = np.array([[101.0 + i, 2.0 + i] for i in range(10)])
    recorder.add_snapshot(BookSnapshot("binance", "BTC/USDT", BASE, BASE + 5, 42, bids, asks))
    await recorder.close()
    snapshot = snapshot_before(ch_store, "binance", "BTC/USDT", BASE + 1)
    assert snapshot.sequence == 42
    assert snapshot.ts_recv == BASE + 5
    assert snapshot.bids.tolist() == bids[:3].tolist()
    assert snapshot.asks.tolist() == asks[:3].tolist()


async def test_recorder_seals_full_batches(ch_store, tmp_path):
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill", batch_rows=100, flush_interval=3600)
    await recorder.start()
    for i in range(250):
        recorder.add_trade(TradeTick("binance", "BTC/USDT", BASE + i, BASE + i, 1.0, 1.0, "buy", i))
    await _wait_for(lambda: recorder.counters()["written"] == 200)
    assert recorder.counters()["buffered"] == 50
    assert recorder.counters()["batches_written"] == 2
    assert await recorder.flush(10)
    assert recorder.counters()["written"] == 250
    await recorder.close()


async def test_recorder_seals_after_flush_interval(ch_store, tmp_path):
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill", batch_rows=10_000, flush_interval=0.2)
    await recorder.start()
    for i in range(10):
        recorder.add_trade(TradeTick("binance", "BTC/USDT", BASE + i, BASE + i, 1.0, 1.0, "sell", i))
    await _wait_for(lambda: recorder.counters()["written"] == 10)
    assert ch_store.command(f"SELECT count() FROM {ch_store.table('trades')}") == 10
    await recorder.close()


async def test_recorder_rejects_unknown_side(ch_store, tmp_path):
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill")
    with pytest.raises(ValidationError, match="'side' must be buy or sell, was 'long'"):
        recorder.add_trade(TradeTick("binance", "BTC/USDT", BASE, BASE, 1.0, 1.0, "long", 1))
    with pytest.raises(ValidationError, match="'price' must be finite"):
        recorder.add_trades_columnar("binance", "BTC/USDT", [BASE], [BASE], [float("nan")], [1.0], [1], [1])
    await recorder.close()


def test_recorder_rejects_bad_batch_rows(ch_store, tmp_path):
    with pytest.raises(ValidationError, match=r"'batch_rows' out of range \[1, inf\), was 0"):
        TickRecorder(ch_store, tmp_path / "spill", batch_rows=0)


async def test_recorder_close_without_start_writes(ch_store, tmp_path):
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill")
    recorder.add_trade(TradeTick("binance", "BTC/USDT", BASE, BASE, 1.0, 2.0, "buy", 1))
    await recorder.close()
    assert recorder.counters()["written"] == 1
    assert ch_store.command(f"SELECT count() FROM {ch_store.table('trades')}") == 1


async def test_recorder_close_twice_is_harmless(ch_store, tmp_path):
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill", batch_rows=1)
    await recorder.start()
    await recorder.close()
    await recorder.close()
    with pytest.raises(StorageError, match="Cannot record ticks: the recorder is closed"):
        recorder.add_trade(TradeTick("binance", "BTC/USDT", BASE, BASE, 1.0, 2.0, "buy", 1))


async def test_recorder_single_book_delta_round_trip(ch_store, tmp_path):
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill")
    recorder.add_book_delta(BookDelta("binance", "BTC/USDT", BASE, BASE + 3, "ask", 101.5, 0.25, 77))
    recorder.add_book_delta(BookDelta("binance", "BTC/USDT", BASE + 1, BASE + 4, "bid", 100.5, 0.0, 78))
    await recorder.close()
    chunk = next(iter(ReplayReader(ch_store, "binance", "BTC/USDT", *WIDE)))
    assert chunk.side.tolist() == [2, 1]
    assert chunk.price.tolist() == [101.5, 100.5]
    assert chunk.size.tolist() == [0.25, 0.0]
    assert chunk.id.tolist() == [77, 78]


async def test_recorder_spill_folder_is_exclusive(ch_store, tmp_path):
    first = TickRecorder(ch_store.clone(), tmp_path / "spill")
    with pytest.raises(StorageError, match="another recorder has locked it"):
        TickRecorder(ch_store.clone(), tmp_path / "spill")
    await first.close()
