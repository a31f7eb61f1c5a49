"""Feed parts without a socket: symbols, configuration, the C depth parser, weights, the rolling ticker."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from cryptobot.core.config import load_settings
from cryptobot.core.errors import ConfigError, ValidationError
from cryptobot.gateways.feeds.binance_rest import decimal_units, depth_weight, level_rows
from cryptobot.gateways.feeds.config import FeedConfig, feed_config_from_settings
from cryptobot.gateways.feeds.symbols import binance_symbol, binance_unified, kraken_unified, kraken_v1_pair
from cryptobot.gateways.feeds.ticker import RollingTicker
from cryptobot.hotpath.depth_wire import parse_binance_depth
from cryptobot.tests.gateways.feed_support import read_frames

S = 1_000_000_000


@pytest.mark.parametrize("unified, pair", [("BTC/USD", "XBT/USD"), ("DOGE/EUR", "XDG/EUR"), ("ETH/BTC", "ETH/XBT"),
                                           ("ADA/EUR", "ADA/EUR")])
def test_kraken_symbols_both_ways(unified, pair):
    assert kraken_v1_pair(unified) == pair
    assert kraken_unified(pair) == unified


def test_binance_symbols_both_ways():
    assert binance_symbol("btc/usdt") == "BTCUSDT"
    assert binance_unified("BTCUSDT", ("USDT", "BTC", "USD")) == "BTC/USDT"
    with pytest.raises(ValidationError, match="no quote asset"):
        binance_unified("BTCEUR", ("USDT",))


def test_feed_config_defaults_are_exchange_urls():
    config = FeedConfig("kraken", ("BTC/USD",))
    assert config.ws_url == "wss://ws.kraken.com/v2"
    assert config.streams == ("book", "trade", "ticker")
    assert config.depth == 100


def test_feed_config_rejects_trade_and_agg_trade():
    with pytest.raises(ConfigError, match="trade and aggTrade"):
        FeedConfig("binance", ("BTC/USDT",), streams=("trade", "aggTrade"))


def test_feed_config_rejects_depth_off_list():
    with pytest.raises(ConfigError, match=r"'depth' must be one of 5, 10, 20, 50, 100, 500, 1000 for binance_usdm, was 5000"):
        FeedConfig("binance_usdm", ("BTC/USDT",), depth=5000)


def test_feed_config_from_settings():
    settings = load_settings(environ={"CRYPTOBOT_ENGINE_EXCHANGE": "binance_usdm",
                                      "CRYPTOBOT_ENGINE_SYMBOLS": "btc/usdt, ETH/USDT"})
    config = feed_config_from_settings(settings, silence_timeout=5.0)
    assert (config.exchange, config.symbols, config.silence_timeout) == ("binance_usdm", ("BTC/USDT", "ETH/USDT"), 5.0)
    assert config.rest_url == "https://fapi.binance.com"


def test_depth_parser_equals_orjson_on_recording(sample_data):
    checked = 0
    for stream, data in read_frames(sample_data / "hftbacktest/usdm/ethusdt_20240808.gz"):
        if stream == "snapshot" or data.get("e") != "depthUpdate":
            continue
        frame = orjson.dumps({"stream": stream, "data": data})
        update = parse_binance_depth(frame, 7)
        assert update is not None, frame[:200]
        assert (update.first_id, update.last_id, update.prev_id) == (data["U"], data["u"], data["pu"])
        assert update.ts_event == data["E"] * 1_000_000
        assert np.array_equal(update.bids_raw(), level_rows(data["b"], 8, "b").reshape(-1, 2))
        assert np.array_equal(update.asks_raw(), level_rows(data["a"], 8, "a").reshape(-1, 2))
        checked += 1
    assert checked == 6586


@pytest.mark.parametrize("text", [
    b'{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["-1.0","1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1.000000001","1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["NaN","1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"X","U":3,"u":2,"b":[],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["0","1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1","1"]]',
    b'{"e":"trade","E":1,"s":"X","t":1}',
])
def test_depth_parser_declines(text):
    assert parse_binance_depth(text) is None


def test_depth_parser_fixed_point_limits():
    # 8 decimals leave 10 integer digits in 18: the largest value passes, one more digit does not.
    frame = b'{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["9999999999.99999999","1"]],"a":[]}'
    assert parse_binance_depth(frame).bids_raw().tolist() == [[999_999_999_999_999_999, 100_000_000]]
    assert parse_binance_depth(frame.replace(b"9999999999.", b"10000000000.")) is None
    assert parse_binance_depth(frame.replace(b'"1"]', b'"0999999999999999999"]')) is None


def test_depth_parser_long_frame():
    levels = [[f"{100 + i}.5", f"{i}.25"] for i in range(300)]
    frame = orjson.dumps({"e": "depthUpdate", "E": 1, "s": "X", "U": 1, "u": 2, "b": levels, "a": levels[:37]})
    update = parse_binance_depth(frame)
    expected = [[(100 + i) * 10**8 + 50_000_000, i * 10**8 + 25_000_000] for i in range(300)]
    assert update.bids_raw().tolist() == expected
    assert update.asks_raw().tolist() == expected[:37]


def test_decimal_units_exact():
    assert decimal_units("61057.99000000", 8) == 6_105_799_000_000
    assert decimal_units("7.5040", 4) == 75_040
    with pytest.raises(ValueError, match="significant decimals"):
        decimal_units("0.123", 2)


def test_depth_weights_documented():
    assert [depth_weight(n, False) for n in (100, 500, 1000, 5000)] == [5, 25, 50, 250]
    assert [depth_weight(n, True) for n in (50, 100, 500, 1000)] == [2, 5, 10, 20]


def test_rolling_ticker_jump_past_window():
    ticker = RollingTicker()
    ticker.add_trade(10 * S, 100.0, 1.0)
    ticker.add_trade(20 * S, 104.0, 3.0)
    ticker.add_trade(500_000 * S, 78.0, 0.5)
    figures = ticker.figures()
    assert figures["volume"] == 0.5
    assert figures["change"] == 78.0 - 104.0
    assert figures["window_complete"] is True
