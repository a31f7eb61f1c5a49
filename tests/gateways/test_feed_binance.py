"""Binance spot and USD-M feeds against the emulator replaying real captures."""

from __future__ import annotations

import pytest

from cryptobot.core import topics
from cryptobot.gateways.emulator import ExchangeEmulator
from cryptobot.tests.gateways.feed_support import (
    SPOT_BTC, SPOT_SMALL, USDM_TWO, binance_reference, market_data, status, wait_until,
)

SPOT_FILES = ("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz")


def _collect(engine, exchange, symbol):
    tops, trades, statuses = [], [], []
    engine.bus.subscribe(topics.book(exchange, symbol), tops.append)
    engine.bus.subscribe(topics.trades(exchange, symbol), trades.append)
    engine.bus.subscribe(topics.book_status(exchange, symbol), statuses.append)
    return tops, trades, statuses


def _check_tops(tops, reference):
    checked = 0
    for index, top in enumerate(tops):
        if index % 25 and index != len(tops) - 1:
            continue
        bids, asks = reference[top.sequence]
        assert top.bids.tolist() == bids, f"bids differ at u={top.sequence}"
        assert top.asks.tolist() == asks, f"asks differ at u={top.sequence}"
        checked += 1
    return checked


def _check_book_tickers(tops, tickers):
    by_sequence = {top.sequence: top for top in tops}
    matched = 0
    for ticker in tickers:
        top = by_sequence.get(ticker["u"])
        if top is None:
            continue
        assert (top.bid, top.bid_size, top.ask, top.ask_size) == (
            float(ticker["b"]), float(ticker["B"]), float(ticker["a"]), float(ticker["A"])), f"u={ticker['u']}"
        matched += 1
    return matched


async def test_feed_spot_book_matches_reconstruction(sample_data):
    reference, tickers, recorded_trades = binance_reference([sample_data / f for f in SPOT_FILES], "BTCUSDT")
    last_u = max(reference)
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_BTC}, pace="fast") as emulator:
        async with market_data(emulator, "binance", ["BTC/USDT"]) as (engine, feed, books):
            tops, trades, statuses = _collect(engine, "binance", "BTC/USDT")
            await wait_until(lambda: tops and tops[-1].sequence == last_u and len(trades) == len(recorded_trades))
            book_status = await status(books["BTC/USDT"])
            feed_status = await status(feed)
    assert _check_tops(tops, reference) > 100
    assert _check_book_tickers(tops, tickers) > 100
    assert book_status["gaps"] == 0
    assert feed_status["fast_path"] > 6000
    assert feed_status["malformed"] == 0
    assert statuses[-1].ready


async def test_feed_spot_trades_aggressor_side(sample_data):
    _, _, recorded = binance_reference([sample_data / f for f in SPOT_FILES], "BTCUSDT")
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_BTC}, pace="fast") as emulator:
        async with market_data(emulator, "binance", ["BTC/USDT"], streams=("trade",)) as (engine, feed, books):
            _, trades, _ = _collect(engine, "binance", "BTC/USDT")
            await wait_until(lambda: len(trades) == len(recorded))
    expected = [(t["t"], "sell" if t["m"] else "buy", float(t["p"]), float(t["q"]), t["T"] * 1_000_000) for t in recorded]
    got = [(t.trade_id, t.side, t.price, t.quantity, t.ts_event) for t in trades]
    assert got == expected


async def test_feed_usdm_books_match_reconstruction(sample_data):
    files = {"BTC/USDT": ("hftbacktest/usdm/btcusdt_20240808.gz", "BTCUSDT"),
             "ETH/USDT": ("hftbacktest/usdm/ethusdt_20240808.gz", "ETHUSDT")}
    references = {symbol: binance_reference([sample_data / path], exchange_symbol)
                  for symbol, (path, exchange_symbol) in files.items()}
    async with ExchangeEmulator(sample_data, venues=["binance_usdm"], recordings={"binance_usdm": USDM_TWO},
                                pace="fast") as emulator:
        async with market_data(emulator, "binance_usdm", list(files), depth_speed="0ms") as (engine, feed, books):
            collected = {symbol: _collect(engine, "binance_usdm", symbol) for symbol in files}
            for symbol, (reference, _, _) in references.items():
                tops = collected[symbol][0]
                await wait_until(lambda: tops and tops[-1].sequence == max(reference))
            counters = {symbol: await status(books[symbol]) for symbol in files}
    for symbol, (reference, tickers, _) in references.items():
        tops = collected[symbol][0]
        assert _check_tops(tops, reference) > 100, symbol
        assert _check_book_tickers(tops, tickers) > 50, symbol
        assert counters[symbol]["gaps"] == 0, symbol


async def test_feed_spot_waits_for_weight_budget(sample_data):
    # Four symbols at weight 10 each (the recorded era's schedule for limit 1000)
    # against a budget of 20 per 2-second window: the feed must wait, never get a 429.
    symbols = ["NKN/USDT", "BLZ/ETH", "LRC/BTC", "RUNE/EUR"]
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_SMALL}, pace="recorded",
                                speed=4.0, weight_limit=25, weight_window=2.0) as emulator:
        async with market_data(emulator, "binance", symbols, rest_weight_budget=20, rest_weight_window=2.0) as (
                engine, feed, books):
            await wait_until(lambda: all(engine._cells[b.name].actor.ready for b in books.values()), timeout=15)
            feed_status = await status(feed)
    assert feed_status["rest"]["rate_limited"] == 0
    assert feed_status["rest"]["banned"] == 0
    assert feed_status["rest"]["budget_waits"] >= 1
    assert feed_status["snapshots"] == 4


@pytest.mark.parametrize("status_code", [429])
async def test_feed_rest_429_backs_off(sample_data, status_code):
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_SMALL}, pace="recorded",
                                speed=4.0) as emulator:
        emulator.inject_fault("rest_status", venue="binance", status=status_code, count=2, seconds=1, path="/api/v3/depth")
        async with market_data(emulator, "binance", ["NKN/USDT"], snapshot_retry_initial=0.05) as (engine, feed, books):
            book = engine._cells[books["NKN/USDT"].name].actor
            await wait_until(lambda: book.ready, timeout=15)
            feed_status = await status(feed)
    assert feed_status["rest"]["rate_limited"] == 2
    assert feed_status["rest"]["banned"] == 0
    assert feed_status["snapshots"] == 1
