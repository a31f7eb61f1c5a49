"""Market data: candles from ClickHouse, and the order book and ticker from the book actor."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from cryptobot.core.clock import ns_to_iso
from cryptobot.core.types import Ticker
from cryptobot.storage.clickhouse import arrow_repeat
from cryptobot.storage.tick_batches import to_arrow
from cryptobot.tests.api.support import StandInBook

V1 = "/api/v1"
HOUR = 3_600 * 1_000_000_000
START = 1_722_816_000_000_000_000  # 2024-08-05T00:00:00Z
BOOK_TS = 1_735_689_600_123_000_000


async def call(engine, http, path, headers, params=None):
    async with http.get(f"{engine.url}{V1}{path}", headers=headers, params=params) as response:
        return response.status, await response.json()


@pytest.fixture
async def book(engine):
    """A book actor for BTC/USDT with three levels a side and a ticker."""
    if await engine.run(lambda: engine.system.engine.has_actor("book.binance.BTC/USDT")):
        pytest.skip("a book actor of the engine serves BTC/USDT already; these tests need one with a known book")
    bids = [[50_000.0, 1.5], [49_900.0, 2.0], [49_800.0, 0.5]]
    asks = [[50_100.0, 1.0], [50_200.0, 2.5], [50_300.0, 4.0]]
    ticker = Ticker("binance", "BTC/USDT", BOOK_TS, 50_000.0, 50_100.0, 50_050.0, 1000.5, 2.5, 0.05)
    await engine.run(lambda: engine.system.engine.spawn(StandInBook("binance", "BTC/USDT", bids, asks, ticker, ts_ns=BOOK_TS)))
    yield {"bids": bids, "asks": asks, "ticker": ticker}
    await engine.run(lambda: engine.system.engine.stop_actor("book.binance.BTC/USDT"))


async def test_ticker_fields(engine, http, book):
    user = await engine.new_user(roles=("user",))
    status, body = await call(engine, http, "/data/ticker/binance/BTC/USDT", user.key())
    assert status == 200
    assert body == {"exchange": "binance", "symbol": "BTC/USDT", "timestamp": "2025-01-01T00:00:00.123Z", "bid": 50_000.0,
                    "ask": 50_100.0, "last": 50_050.0, "volume": 1000.5, "change": 2.5, "change_percent": 0.05}


async def test_ticker_symbol_spellings(engine, http, book):
    user = await engine.new_user()
    for spelling in ("BTC-USDT", "btc_usdt", "BTC%2FUSDT"):
        async with http.get(f"{engine.url}{V1}/data/ticker/binance/{spelling}", headers=user.key()) as response:
            assert response.status == 200, spelling
            assert (await response.json())["symbol"] == "BTC/USDT"


async def test_order_book_depth(engine, http, book):
    user = await engine.new_user()
    status, body = await call(engine, http, "/data/orderbook/binance/BTC/USDT", user.key(), {"depth": "2"})
    assert status == 200
    assert body["bids"] == book["bids"][:2]
    assert body["asks"] == book["asks"][:2]
    assert body["timestamp"] == "2025-01-01T00:00:00.123Z"
    assert (body["exchange"], body["symbol"]) == ("binance", "BTC/USDT")


async def test_order_book_bad_depth(engine, http, book):
    user = await engine.new_user()
    status, body = await call(engine, http, "/data/orderbook/binance/BTC/USDT", user.key(), {"depth": "0"})
    assert status == 400
    assert body["error"]["message"] == "'depth' out of range [1, 1000], was 0"


async def test_unserved_market_not_found(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "/data/ticker/binance/ETH/USDT", user.key())
    assert status == 404
    assert body["error"]["details"] == {"symbol": "market not served by this engine"}


async def test_unknown_exchange_invalid(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "/data/ticker/nasdaq/BTC/USDT", user.key())
    assert status == 400
    assert set(body["error"]["details"]) == {"exchange"}


async def test_missing_book_actor_unavailable(engine, http):
    if await engine.run(lambda: engine.system.engine.has_actor("book.binance.BTC/USDT")):
        pytest.skip("a book actor of the engine serves BTC/USDT, so its order book does not answer 503")
    user = await engine.new_user()
    status, body = await call(engine, http, "/data/orderbook/binance/BTC/USDT", user.key())
    assert status == 503
    assert body["error"]["code"] == "service_unavailable"


def _trades(symbol_prices):
    """Trades at fixed times: (offset in minutes, price, quantity)."""
    ts = np.array([START + minutes * 60_000_000_000 for minutes, _, _ in symbol_prices], dtype=np.int64)
    return {
        "ts_event": ts, "ts_recv": ts + 5,
        "price": np.array([p for _, p, _ in symbol_prices], dtype=np.float64),
        "quantity": np.array([q for _, _, q in symbol_prices], dtype=np.float64),
        "side": np.ones(len(ts), dtype=np.int8), "trade_id": np.arange(len(ts), dtype=np.int64),
    }


TRADES = [(0, 100.0, 1.0), (10, 105.0, 2.0), (59, 99.0, 0.5), (60, 101.0, 1.0), (125, 110.0, 3.0), (170, 108.0, 1.0)]


@pytest.fixture
async def candle_trades(engine):
    symbol = "CNDL/USDT"

    def insert():
        store = engine.system.ticks.clone().connect()
        try:
            columns = _trades(TRADES)
            n = len(TRADES)
            store.insert_arrow("trades", to_arrow(columns, arrow_repeat("binance", n), arrow_repeat(symbol, n)),
                               "api-test-candles")
        finally:
            store.close()

    await engine.run(lambda: asyncio.to_thread(insert))
    return symbol


def _expected(trades, step):
    bars = {}
    for minutes, price, quantity in trades:
        ts = START + minutes * 60_000_000_000
        start = ts // step * step
        bar = bars.setdefault(start, [price, price, price, price, 0.0])
        bar[1] = max(bar[1], price)
        bar[2] = min(bar[2], price)
        bar[3] = price
        bar[4] += quantity
    return [{"timestamp": ns_to_iso(t), "open": b[0], "high": b[1], "low": b[2], "close": b[3], "volume": b[4]}
            for t, b in sorted(bars.items())]


async def test_candles_from_trades(engine, http, candle_trades):
    user = await engine.new_user()
    status, body = await call(engine, http, f"/data/market/binance/{candle_trades}", user.key(),
                              {"timeframe": "1h", "start": ns_to_iso(START), "end": ns_to_iso(START + 5 * HOUR)})
    assert status == 200
    assert (body["exchange"], body["symbol"], body["timeframe"]) == ("binance", "CNDL/USDT", "1h")
    assert body["data"] == _expected(TRADES, HOUR)


async def test_candles_limit_from_start(engine, http, candle_trades):
    user = await engine.new_user()
    _, body = await call(engine, http, f"/data/market/binance/{candle_trades}", user.key(),
                         {"timeframe": "1h", "start": ns_to_iso(START), "limit": "2"})
    assert body["data"] == _expected(TRADES, HOUR)[:2]


async def test_candles_limit_before_end(engine, http, candle_trades):
    user = await engine.new_user()
    _, body = await call(engine, http, f"/data/market/binance/{candle_trades}", user.key(),
                         {"timeframe": "30m", "end": ns_to_iso(START + 3 * HOUR), "limit": "2"})
    assert body["data"] == _expected(TRADES, HOUR // 2)[-2:]


async def test_candles_need_timeframe(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "/data/market/binance/BTC/USDT", user.key(), {"limit": "5000"})
    assert status == 400
    assert set(body["error"]["details"]) == {"timeframe", "limit"}


async def test_candles_end_before_start(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "/data/market/binance/BTC/USDT", user.key(),
                              {"timeframe": "1m", "start": "2025-01-02T00:00:00Z", "end": "2025-01-01T00:00:00Z"})
    assert status == 400
    assert body["error"]["details"] == {"end": "must be after start"}
