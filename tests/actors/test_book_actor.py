"""The book actor on hand-made messages: ticker figures, readiness, queries, the sync rules."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from cryptobot.actors.book import BookActor
from cryptobot.core import topics
from cryptobot.core.actor import ask
from cryptobot.core.engine import Engine
from cryptobot.core.errors import ValidationError
from cryptobot.core.types import Ticker, TradeTick
from cryptobot.gateways.feeds.messages import SnapshotReady, StreamReset
from cryptobot.hotpath.depth_wire import DepthUpdate

S = 1_000_000_000
E8 = 100_000_000


def _rows(*levels) -> np.ndarray:
    return np.array([[round(p * E8), round(q * E8)] for p, q in levels], dtype=np.int64).reshape(-1, 2)


def _snapshot(sequence: int, depth: int = 1000) -> SnapshotReady:
    bids = _rows((100.0, 1.0), (99.5, 2.0), (99.0, 3.0))
    asks = _rows((101.0, 1.5), (101.5, 2.5), (102.0, 3.5))
    return SnapshotReady("BTC/USDT", sequence, bids, asks, 8, 8, depth, 5 * S, 6 * S)


def _update(first: int, last: int, bids=(), asks=()) -> DepthUpdate:
    return DepthUpdate.from_rows(b"BTCUSDT", first, last, -1, 7 * S, 8 * S, _rows(*bids), _rows(*asks))


@pytest.fixture
async def book():
    engine = Engine()
    actor = BookActor("binance", "BTC/USDT", ticker_interval=0.02)
    ref = await engine.spawn(actor)
    yield engine, actor, ref
    await engine.shutdown()


async def _settle(engine: Engine, ref) -> None:
    await engine._cells[ref.name].drained()


async def test_book_actor_ticker_hand_computed(book):
    engine, actor, ref = book
    published: list[Ticker] = []
    engine.bus.subscribe(topics.ticker("binance", "BTC/USDT"), published.append)
    trades = [(1_000 * S, 100.0, 1.0), (1_010 * S, 110.0, 2.0), (88_000 * S, 120.0, 0.5), (88_005 * S, 90.0, 0.25)]
    for i, (ts, price, quantity) in enumerate(trades):
        ref.tell(TradeTick("binance", "BTC/USDT", ts, ts, price, quantity, "buy", i + 1))
    ref.tell(_snapshot(10))
    await asyncio.sleep(0.1)
    ticker = await ask(ref, "ticker")
    # The window is the 86,400 s up to 88,005 s, so it starts after 1,605 s: it holds the
    # trades at 88,000 s and 88,005 s, and the last trade before it (1,010 s, 110.0) is the reference.
    assert ticker.last == 90.0
    assert ticker.volume == 0.75
    assert ticker.change == 90.0 - 110.0
    assert ticker.change_percent == pytest.approx(100 * (90.0 - 110.0) / 110.0)
    assert ticker.extra["window_complete"] is True
    assert (ticker.bid, ticker.ask) == (100.0, 101.0)
    assert 1 <= len(published) <= 3


async def test_book_actor_ticker_before_a_full_day(book):
    engine, actor, ref = book
    for i, (ts, price) in enumerate(((1_000 * S, 50.0), (1_100 * S, 55.0))):
        ref.tell(TradeTick("binance", "BTC/USDT", ts, ts, price, 2.0, "sell", i + 1))
    ticker = await ask(ref, "ticker")
    assert ticker.change == 5.0
    assert ticker.change_percent == 10.0
    assert ticker.extra["window_complete"] is False
    assert ticker.extra["window_seconds"] == 101


async def test_book_actor_status_transitions(book):
    engine, actor, ref = book
    statuses = []
    engine.bus.subscribe(topics.book_status("binance", "BTC/USDT"), statuses.append)
    ref.tell(_update(5, 9, bids=((99.5, 4.0),)))
    ref.tell(_snapshot(10))
    ref.tell(_update(11, 12, asks=((101.0, 0.0),)))
    ref.tell(_update(14, 15, bids=((100.0, 0.0),)))  # 13 is missing: a gap
    ref.tell(StreamReset("connection lost: test"))
    await _settle(engine, ref)
    counters = await ask(ref, "status")
    assert [s.ready for s in statuses] == [True, False]
    assert statuses[1].reason.startswith("sequence gap")
    assert counters["gaps"] == 1
    assert counters["stale"] == 1
    assert counters["applied"] == 1


async def test_book_actor_replays_buffered_updates(book):
    engine, actor, ref = book
    ref.tell(_update(8, 10, bids=((98.0, 1.0),)))  # stale: inside the snapshot
    ref.tell(_update(11, 12, asks=((101.0, 0.0),)))
    ref.tell(_update(13, 13, bids=((100.5, 0.5),)))
    ref.tell(_snapshot(10))
    await _settle(engine, ref)
    levels = await ask(ref, "orderbook", depth=2)
    assert levels["ready"] is True
    assert levels["sequence"] == 13
    assert levels["bids"] == [[100.5, 0.5], [100.0, 1.0]]
    assert levels["asks"] == [[101.5, 2.5], [102.0, 3.5]]


async def test_book_actor_stale_snapshot_asks_again(book):
    engine, actor, ref = book
    ref.tell(_update(20, 21, bids=((98.0, 1.0),)))
    ref.tell(_snapshot(10))  # lastUpdateId 10 < U 20 - 1: older than the buffered stream
    await _settle(engine, ref)
    counters = await ask(ref, "status")
    assert counters["stale_snapshots"] == 1
    assert counters["ready"] is False
    assert counters["buffered"] == 1


async def test_book_actor_drops_levels_outside_snapshot_band(book):
    engine, actor, ref = book
    ref.tell(_snapshot(10, depth=3))
    ref.tell(_update(11, 11, bids=((90.0, 7.0), (99.75, 1.0)), asks=((150.0, 1.0),)))
    await _settle(engine, ref)
    levels = await ask(ref, "orderbook", depth=10)
    assert levels["bids"] == [[100.0, 1.0], [99.75, 1.0], [99.5, 2.0], [99.0, 3.0]]
    assert levels["asks"] == [[101.0, 1.5], [101.5, 2.5], [102.0, 3.5]]


async def test_book_actor_orderbook_depth_checked(book):
    engine, actor, ref = book
    with pytest.raises(ValidationError, match=r"'depth' out of range \[1, 5000\], was 0"):
        await ask(ref, "orderbook", depth=0)
