import numpy as np
import pytest

from cryptobot.core.errors import ValidationError
from cryptobot.core.types import BookDeltas, TradeTick
from cryptobot.storage.recorder import TickRecorder
from cryptobot.storage.replay import KIND_BOOK_DELTA, KIND_TRADE, ReplayReader
from cryptobot.tests.storage.ch_data import SPOT_0808, binance_depth_events, binance_trades

BASE = 1_723_161_600_000_000_000
WIDE = (BASE - 10**13, BASE + 10**13)


def _delta(ts_event, ts_recv, last_id, bids, asks):
    return BookDeltas("binance", "BTC/USDT", ts_event, ts_recv, last_id - 1, last_id, last_id - 2,
                      np.array(bids, dtype=float).reshape(-1, 2), np.array(asks, dtype=float).reshape(-1, 2))


def _expected(trades, deltas):
    """The documented replay order, by a plain sort: (ts_event, trades first, the table's own key)."""
    rows = [((t.ts_event, KIND_TRADE, t.trade_id, 0, 0), (KIND_TRADE, t.ts_event, t.trade_id, t.price)) for t in trades]
    for d in deltas:
        levels = [(1, p, s) for p, s in d.bids] + [(2, p, s) for p, s in d.asks]
        for ordinal, (side, price, size) in enumerate(levels):
            rows.append(((d.ts_event, KIND_BOOK_DELTA, d.ts_recv, d.last_id, ordinal),
                         (KIND_BOOK_DELTA, d.ts_event, d.last_id, price)))
    return [row for _, row in sorted(rows)]


def _replayed(chunks):
    out = []
    for chunk in chunks:
        out += list(zip(chunk.kind.tolist(), chunk.ts_event.tolist(), chunk.id.tolist(), chunk.price.tolist()))
    return out


async def _record(store, tmp_path, trades=(), deltas=()):
    recorder = TickRecorder(store.clone(), tmp_path / "spill", batch_rows=7)
    await recorder.start()
    for trade in trades:
        recorder.add_trade(trade)
    for delta in deltas:
        recorder.add_book_deltas(delta)
    await recorder.close()


def _trade(ts, trade_id, price=1.0):
    return TradeTick("binance", "BTC/USDT", ts, ts + 1, price, 1.0, "buy", trade_id)


async def test_replay_orders_ties_stably(ch_store, tmp_path):
    trades = [_trade(BASE + 100, 5, 10.0), _trade(BASE + 100, 3, 11.0), _trade(BASE + 50, 9, 12.0),
              _trade(BASE + 300, 1, 13.0)]
    deltas = [_delta(BASE + 100, BASE + 120, 41, [[1.0, 2.0]], [[3.0, 4.0]]),
              _delta(BASE + 100, BASE + 110, 40, [], [[5.0, 6.0], [7.0, 0.0]]),
              _delta(BASE + 10, BASE + 11, 30, [[8.0, 1.0]], []),
              _delta(BASE + 300, BASE + 301, 50, [[9.0, 1.0]], [])]
    await _record(ch_store, tmp_path, trades, deltas)
    for chunk_rows in (1, 2, 3, 100):
        chunks = list(ReplayReader(ch_store, "binance", "BTC/USDT", *WIDE, chunk_rows=chunk_rows))
        assert _replayed(chunks) == _expected(trades, deltas), chunk_rows


async def test_replay_chunks_stay_small(ch_store, tmp_path):
    trades = [_trade(BASE + i * 1000, i) for i in range(100)]
    await _record(ch_store, tmp_path, trades)
    chunks = list(ReplayReader(ch_store, "binance", "BTC/USDT", *WIDE, chunk_rows=10, tables=("trades",)))
    assert len(chunks) == 10
    assert max(len(chunk) for chunk in chunks) <= 10
    assert np.concatenate([c.id for c in chunks]).tolist() == list(range(100))


async def test_replay_passes_many_rows_at_one_timestamp(ch_store, tmp_path):
    trades = [_trade(BASE, 100 - i) for i in range(50)] + [_trade(BASE - 5, 500)]
    deltas = [_delta(BASE, BASE + i, 1000 + i, [[1.0, float(i)]], []) for i in range(20)]
    await _record(ch_store, tmp_path, trades, deltas)
    chunks = list(ReplayReader(ch_store, "binance", "BTC/USDT", *WIDE, chunk_rows=8))
    assert _replayed(chunks) == _expected(trades, deltas)


async def test_replay_range_is_half_open(ch_store, tmp_path):
    await _record(ch_store, tmp_path, [_trade(BASE + i, i) for i in range(10)])
    chunks = list(ReplayReader(ch_store, "binance", "BTC/USDT", BASE + 2, BASE + 7))
    assert np.concatenate([c.id for c in chunks]).tolist() == [2, 3, 4, 5, 6]


async def test_replay_merges_real_capture_in_order(ch_store, tmp_path, sample_data):
    columns = binance_trades(sample_data / SPOT_0808)
    trades = [TradeTick("binance", "BTC/USDT", *row) for row in zip(
        columns["ts_event"].tolist(), columns["ts_recv"].tolist(), columns["price"].tolist(),
        columns["quantity"].tolist(), ["buy" if s == 1 else "sell" for s in columns["side"].tolist()],
        columns["trade_id"].tolist())]
    deltas = binance_depth_events(sample_data / SPOT_0808)
    recorder = TickRecorder(ch_store.clone(), tmp_path / "spill", batch_rows=20_000)
    await recorder.start()
    for trade in trades:
        recorder.add_trade(trade)
    for delta in deltas:
        recorder.add_book_deltas(delta)
    await recorder.close()
    reader = ReplayReader(ch_store, "binance", "BTC/USDT", *WIDE, chunk_rows=5_000)
    chunks = [chunk async for chunk in reader.chunks()]
    assert len(chunks) > 10
    assert _replayed(chunks) == _expected(trades, deltas)


def test_replay_rejects_bad_arguments(ch_store):
    with pytest.raises(ValidationError, match=r"'chunk_rows' out of range \[1, inf\), was 0"):
        ReplayReader(ch_store, "binance", "BTC/USDT", *WIDE, chunk_rows=0)
    with pytest.raises(ValidationError, match="'tables' must be"):
        ReplayReader(ch_store, "binance", "BTC/USDT", *WIDE, tables=("quotes",))
    with pytest.raises(ValidationError, match="'end' must be after 'start'"):
        ReplayReader(ch_store, "binance", "BTC/USDT", BASE, BASE)
