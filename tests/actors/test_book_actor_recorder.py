"""Ticks of a real replay go through feed, book and recorder actors into the embedded ClickHouse."""

from __future__ import annotations

from cryptobot.actors.feed import spawn_market_data
from cryptobot.actors.recorder import RecorderActor
from cryptobot.core.actor import ask
from cryptobot.core.engine import Engine
from cryptobot.gateways.emulator import ExchangeEmulator
from cryptobot.gateways.feeds.config import FeedConfig, emulator_urls
from cryptobot.storage.recorder import TickRecorder
from cryptobot.tests.gateways.feed_support import SPOT_BTC, read_frames, wait_until

FILES = ("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz")


def _recorded_counts(sample_data) -> tuple[int, int, int, int]:
    trades = sells = events = levels = 0
    for path in FILES:
        for stream, data in read_frames(sample_data / path):
            if data.get("e") == "trade":
                trades += 1
                sells += data["m"] is True
            elif data.get("e") == "depthUpdate":
                events += 1
                levels += len(data["b"]) + len(data["a"])
    return trades, sells, events, levels


async def test_recorder_actor_stores_replay(sample_data, ch_store, tmp_path):
    trades, sells, events, levels = _recorded_counts(sample_data)
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_BTC}, pace="fast") as emulator:
        engine = Engine()
        recorder = await engine.spawn(RecorderActor(TickRecorder(ch_store.clone(), tmp_path / "spill")))
        config = FeedConfig("binance", ("BTC/USDT",), **emulator_urls(emulator, "binance"))
        feed, books = await spawn_market_data(engine, config, recorder="recorder")
        book = engine._cells[books["BTC/USDT"].name].actor
        await wait_until(lambda: book.trades == trades and book.sync.applied + book.sync.stale >= 1)
        await wait_until(lambda: engine._cells["recorder"].actor.received["book_deltas"] == events)
        counters = await ask(recorder, "status")
        await engine.shutdown()
    stored_trades = ch_store.query_columns(
        f"SELECT count() AS n, countIf(side = 2) AS sells FROM {ch_store.table('trades')}")
    stored_levels = ch_store.query_columns(
        f"SELECT count() AS n, uniqExact(last_id) AS events FROM {ch_store.table('book_deltas')}")
    assert counters["received"]["trades"] == trades
    assert int(stored_trades["n"][0]) == trades
    assert int(stored_trades["sells"][0]) == sells
    assert int(stored_levels["n"][0]) == levels
    assert int(stored_levels["events"][0]) == events
