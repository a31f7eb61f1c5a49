"""Feeds under the emulator's fault injection: gaps, drops, stalls, bad frames, rollover."""

from __future__ import annotations

import pytest

from cryptobot.core import topics
from cryptobot.core.messages import BookStatus, BookTop
from cryptobot.core.types import TradeTick
from cryptobot.gateways.emulator import ExchangeEmulator
from cryptobot.tests.gateways.feed_support import USDM_TWO, market_data, status, wait_until

SYMBOLS = ["BTC/USDT", "ETH/USDT"]


@pytest.fixture
async def emulator(sample_data):
    async with ExchangeEmulator(sample_data, venues=["binance_usdm"], recordings={"binance_usdm": USDM_TWO},
                                pace="recorded", speed=10.0) as running:
        yield running


def _actor(engine, ref):
    return engine._cells[ref.name].actor


async def test_feed_gap_resyncs_one_symbol(emulator):
    async with market_data(emulator, "binance_usdm", SYMBOLS, depth_speed="0ms") as (engine, feed, books):
        events = []
        engine.bus.subscribe_all(lambda topic, message: events.append((topic, message)))
        btc, eth = _actor(engine, books["BTC/USDT"]), _actor(engine, books["ETH/USDT"])
        await wait_until(lambda: btc.sync.applied > 20 and eth.sync.applied > 20)
        # A slow snapshot keeps BTC/USDT not ready long enough to see ETH/USDT go on.
        emulator.inject_fault("rest_delay", venue="binance_usdm", seconds=0.3)
        emulator.inject_fault("skip_update", venue="binance_usdm", symbol="BTCUSDT")
        await wait_until(lambda: btc.sync.gaps >= 1 and btc.ready)
        btc_status, eth_status = await status(books["BTC/USDT"]), await status(books["ETH/USDT"])
    transitions = [(i, m.ready) for i, (t, m) in enumerate(events) if type(m) is BookStatus and m.symbol == "BTC/USDT"]
    lost = next(i for i, ready in transitions if not ready)
    regained = next(i for i, ready in transitions if ready and i > lost)
    eth_tops = [m for t, m in events[lost:regained] if type(m) is BookTop and m.symbol == "ETH/USDT"]
    assert btc_status["gaps"] == 1
    assert btc_status["resync_reasons"] == {"gap": 1}
    assert eth_status["resyncs"] == 0
    assert [ready for _, ready in transitions[-2:]] == [False, True]
    assert eth_tops, "ETH/USDT published nothing while BTC/USDT resynced"


async def test_feed_drop_reconnects_and_resyncs(emulator):
    async with market_data(emulator, "binance_usdm", SYMBOLS, depth_speed="0ms", reconnect_initial=0.05) as (
            engine, feed, books):
        statuses = []
        engine.bus.subscribe(topics.book_status("binance_usdm", "BTC/USDT"), statuses.append)
        btc = _actor(engine, books["BTC/USDT"])
        await wait_until(lambda: btc.sync.applied > 5)
        emulator.inject_fault("drop", venue="binance_usdm")
        await wait_until(lambda: btc.snapshots >= 2 and btc.ready)
        feed_status = await status(feed)
    assert feed_status["reconnects"] == 1
    assert feed_status["state"] == "connected"
    assert [s.ready for s in statuses] == [True, False, True]
    assert statuses[1].reason.startswith("connection lost")


async def test_feed_stall_detected_as_silence(emulator):
    async with market_data(emulator, "binance_usdm", SYMBOLS, depth_speed="0ms", silence_timeout=0.5,
                           reconnect_initial=0.05) as (engine, feed, books):
        btc = _actor(engine, books["BTC/USDT"])
        await wait_until(lambda: btc.sync.applied > 5)
        emulator.inject_fault("stall", venue="binance_usdm", seconds=30)
        await wait_until(lambda: btc.snapshots >= 2 and btc.ready)
        feed_status = await status(feed)
    assert feed_status["silent_disconnects"] == 1
    assert feed_status["reconnects"] == 1


async def test_feed_counts_malformed_and_unknown(emulator):
    async with market_data(emulator, "binance_usdm", SYMBOLS, depth_speed="0ms") as (engine, feed, books):
        btc = _actor(engine, books["BTC/USDT"])
        await wait_until(lambda: btc.ready)
        emulator.inject_fault("malformed", venue="binance_usdm", count=3)
        emulator.inject_fault("unknown_message", venue="binance_usdm", count=2)
        applied = btc.sync.applied
        await wait_until(lambda: btc.sync.applied > applied + 5)
        feed_status = await status(feed)
    assert feed_status["malformed"] == 3
    assert feed_status["unknown"] == 2
    assert feed_status["state"] == "connected"
    assert feed_status["reconnects"] == 0


async def test_feed_rollover_keeps_stream(emulator):
    async with market_data(emulator, "binance_usdm", SYMBOLS, depth_speed="0ms", max_connection_age=0.6) as (
            engine, feed, books):
        trades = []
        engine.bus.subscribe(topics.trades("binance_usdm", "BTC/USDT"), trades.append)
        btc = _actor(engine, books["BTC/USDT"])
        await wait_until(lambda: btc.ready)
        feed_actor = _actor(engine, feed)
        await wait_until(lambda: feed_actor.connection.rollovers >= 2, timeout=10)
        applied = btc.sync.applied
        await wait_until(lambda: btc.sync.applied > applied + 5)
        btc_status, feed_status = await status(books["BTC/USDT"]), await status(feed)
    ids = [t.trade_id for t in trades if type(t) is TradeTick]
    assert feed_status["reconnects"] == 0
    assert btc_status["resyncs"] == 0
    assert btc_status["gaps"] == 0
    assert ids == sorted(set(ids)), "a trade was published twice during a rollover"
