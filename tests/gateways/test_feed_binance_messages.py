"""Binance aggTrade, bookTicker and kline messages through the feed's parser.

The recorded USD-M stream checks the parser against a plain reading of real
messages; the edge cases are written here in the shape Binance documents.
"""

import logging

import orjson
import pytest

from cryptobot.core import topics
from cryptobot.core.types import Bar, Quote, TradeTick
from cryptobot.gateways.feeds.binance import BinanceProtocol
from cryptobot.gateways.feeds.config import FeedConfig
from cryptobot.gateways.feeds.problems import MALFORMED, OUT_OF_RANGE, UNKNOWN, ProblemLog

BOOK = object()


@pytest.fixture
def feed():
    delivered, published = [], []
    config = FeedConfig("binance", ("BTC/USDT",), streams=("aggTrade", "bookTicker", "kline"))
    protocol = BinanceProtocol(config, {"BTC/USDT": BOOK}, lambda ref, message: delivered.append((ref, message)),
                               lambda topic, message: published.append((topic, message)),
                               ProblemLog(logging.getLogger("test")))
    return protocol, delivered, published


def send(protocol, data, ts_recv=1_700_000_000_123_000_000):
    stream = f"btcusdt@{data.get('e', 'bookTicker')}"
    protocol.on_text(orjson.dumps({"stream": stream, "data": data}), ts_recv)


def agg_trade(trade_id, price="64010.50", quantity="0.012", maker=True):
    return {"e": "aggTrade", "E": 1_700_000_000_100, "s": "BTCUSDT", "a": trade_id, "p": price, "q": quantity,
            "f": 900, "l": 902, "T": 1_700_000_000_099, "m": maker, "M": True}


def kline(closed=True, **prices):
    candle = {"t": 1_700_000_040_000, "T": 1_700_000_099_999, "s": "BTCUSDT", "i": "1m", "f": 100, "L": 180,
              "o": "64000.00", "c": "64020.00", "h": "64050.00", "l": "63990.00", "v": "12.5", "n": 81,
              "x": closed, "q": "800000.0", "V": "6.0", "Q": "384000.0", "B": "0"}
    candle.update(prices)
    return {"e": "kline", "E": 1_700_000_100_000, "s": "BTCUSDT", "k": candle}


def test_agg_trade_becomes_tick(feed):
    protocol, delivered, _ = feed
    send(protocol, agg_trade(5001))
    assert delivered == [(BOOK, TradeTick("binance", "BTC/USDT", 1_700_000_000_099_000_000, 1_700_000_000_123_000_000,
                                          64010.5, 0.012, "sell", 5001))]


def test_agg_trade_taker_buy_side(feed):
    protocol, delivered, _ = feed
    send(protocol, agg_trade(5001, maker=False))
    assert delivered[0][1].side == "buy"


def test_agg_trade_repeat_dropped(feed):
    protocol, delivered, _ = feed
    for trade_id in (5001, 5002, 5002, 5001):
        send(protocol, agg_trade(trade_id))
    assert [message.trade_id for _, message in delivered] == [5001, 5002]
    assert protocol.duplicates == 2


@pytest.mark.parametrize("field, value", [("p", "-1"), ("p", "NaN"), ("q", "0"), ("a", -3), ("a", "7")])
def test_agg_trade_out_of_range(feed, field, value):
    protocol, delivered, _ = feed
    send(protocol, {**agg_trade(5001), field: value})
    assert delivered == []
    assert protocol.problems.counts[OUT_OF_RANGE] == 1


def test_agg_trade_missing_field(feed):
    protocol, delivered, _ = feed
    data = agg_trade(5001)
    del data["q"]
    send(protocol, data)
    assert delivered == []
    assert protocol.problems.counts[MALFORMED] == 1


def test_closed_kline_published_as_bar(feed):
    protocol, _, published = feed
    send(protocol, kline())
    assert published == [(topics.bars("binance", "BTC/USDT", "1m"),
                          Bar("binance", "BTC/USDT", "1m", 1_700_000_040_000_000_000, 64000.0, 64050.0, 63990.0,
                              64020.0, 12.5, 81))]


def test_open_kline_ignored(feed):
    protocol, _, published = feed
    send(protocol, kline(closed=False))
    assert published == []
    assert sum(protocol.problems.counts.values()) == 0


@pytest.mark.parametrize("change", [{"h": "63995.00"}, {"l": "64010.00"}, {"v": "-1"}, {"v": "inf"}, {"i": "7m"},
                                    {"n": -1}, {"t": "1700000040000"}])
def test_kline_out_of_range(feed, change):
    protocol, _, published = feed
    send(protocol, kline(**change))
    assert published == []
    assert protocol.problems.counts[OUT_OF_RANGE] == 1


def test_book_ticker_becomes_quote(feed):
    protocol, delivered, _ = feed
    send(protocol, {"u": 400900217, "s": "BTCUSDT", "b": "64010.10", "B": "1.5", "a": "64010.20", "A": "0.25"})
    assert delivered == [(BOOK, Quote("binance", "BTC/USDT", 1_700_000_000_123_000_000, 1_700_000_000_123_000_000,
                                      64010.1, 1.5, 64010.2, 0.25))]


@pytest.mark.parametrize("change", [{"b": "64010.30"}, {"B": "-1"}, {"A": "nan"}])
def test_book_ticker_out_of_range(feed, change):
    protocol, delivered, _ = feed
    data = {"u": 400900217, "s": "BTCUSDT", "b": "64010.10", "B": "1.5", "a": "64010.20", "A": "0.25"}
    send(protocol, {**data, **change})
    assert delivered == []
    assert protocol.problems.counts[OUT_OF_RANGE] == 1


def test_unknown_event_counted(feed):
    protocol, delivered, published = feed
    send(protocol, {"e": "markPriceUpdate", "E": 1, "s": "BTCUSDT"})
    assert (delivered, published) == ([], [])
    assert protocol.problems.counts[UNKNOWN] == 1


def test_unsubscribed_symbol_counted(feed):
    protocol, delivered, _ = feed
    send(protocol, {**agg_trade(5001), "s": "ETHUSDT"})
    assert delivered == []
    assert protocol.problems.counts[MALFORMED] == 1


def test_recorded_usdm_stream_parsed(sample_data):
    symbols = ("SUSHI/USDT", "AKRO/USDT", "KEEP/USDT", "CTK/USDT")
    delivered, published = [], []
    config = FeedConfig("binance_usdm", symbols, streams=("aggTrade", "bookTicker", "kline"))
    protocol = BinanceProtocol(config, {symbol: symbol for symbol in symbols},
                               lambda ref, message: delivered.append(message),
                               lambda topic, message: published.append(message), ProblemLog(logging.getLogger("test")))
    by_exchange = {symbol.replace("/", ""): symbol for symbol in symbols}
    expected_ticks, expected_quotes, expected_bars = [], [], []
    with open(sample_data / "cryptofeed" / "BINANCE_FUTURES.ws.1.0") as handle:
        for line in handle:
            stamp, _, text = line.partition(": ")
            if not text.startswith("{"):
                continue
            data = orjson.loads(text)["data"]
            if data["e"] == "depthUpdate":
                continue
            ts_recv = int(float(stamp) * 1e9)
            protocol.on_text(text.encode(), ts_recv)
            symbol = by_exchange[data["s"]]
            if data["e"] == "aggTrade":
                expected_ticks.append(TradeTick("binance_usdm", symbol, data["T"] * 1_000_000, ts_recv, float(data["p"]),
                                                float(data["q"]), "sell" if data["m"] else "buy", data["a"]))
            elif data["e"] == "bookTicker":
                expected_quotes.append(Quote("binance_usdm", symbol, data["E"] * 1_000_000, ts_recv, float(data["b"]),
                                             float(data["B"]), float(data["a"]), float(data["A"])))
            elif data["k"]["x"]:
                k = data["k"]
                expected_bars.append(Bar("binance_usdm", symbol, "1m", k["t"] * 1_000_000, float(k["o"]), float(k["h"]),
                                         float(k["l"]), float(k["c"]), float(k["v"]), k["n"]))
    assert (len(expected_ticks), len(expected_quotes), len(expected_bars)) == (91, 613, 4)
    assert [m for m in delivered if isinstance(m, TradeTick)] == expected_ticks
    assert [m for m in delivered if isinstance(m, Quote)] == expected_quotes
    assert published == expected_bars
    assert sum(protocol.problems.counts.values()) == 0
