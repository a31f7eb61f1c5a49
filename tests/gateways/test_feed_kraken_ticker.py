"""Kraken v2 ticker messages through the feed's parser, in the shape Kraken documents."""

import logging

import orjson
import pytest

from cryptobot.gateways.feeds.config import FeedConfig
from cryptobot.gateways.feeds.kraken import KrakenProtocol
from cryptobot.gateways.feeds.messages import ExchangeTicker
from cryptobot.gateways.feeds.problems import OUT_OF_RANGE, ProblemLog

BOOK = object()
TICKER = {"symbol": "BTC/USD", "bid": 64010.1, "bid_qty": 0.5, "ask": 64010.2, "ask_qty": 1.25, "last": 64010.2,
          "volume": 1520.75, "vwap": 63800.0, "low": 63000.0, "high": 64500.0, "change": 410.2, "change_pct": 0.64}


@pytest.fixture
def feed():
    delivered = []
    protocol = KrakenProtocol(FeedConfig("kraken", ("BTC/USD",), streams=("ticker",)), {"BTC/USD": BOOK},
                              lambda ref, message: delivered.append((ref, message)), lambda *args: None,
                              ProblemLog(logging.getLogger("test")))
    return protocol, delivered


def send(protocol, item):
    protocol.on_text(orjson.dumps({"channel": "ticker", "type": "update", "data": [item]}), 1_700_000_000_000_000_000)


def test_ticker_open_is_last_minus_change(feed):
    protocol, delivered = feed
    send(protocol, TICKER)
    assert delivered == [(BOOK, ExchangeTicker("BTC/USD", 64010.1, 64010.2, 64010.2, 1520.75, 64010.2 - 410.2,
                                               1_700_000_000_000_000_000))]


@pytest.mark.parametrize("change", [{"volume": -1.0}, {"bid": 0.0}, {"last": 1e13}])
def test_ticker_out_of_range(feed, change):
    protocol, delivered = feed
    send(protocol, {**TICKER, **change})
    assert delivered == []
    assert protocol.problems.counts[OUT_OF_RANGE] == 1
