import json
from decimal import Decimal as D

from cryptobot.gateways.instruments import from_binance_exchange_info, from_kraken_asset_pairs, kraken_asset


def recorded_body(path):
    line = path.read_text().split("\n")[0]
    return json.loads(line.split(": ", 1)[1])


def test_binance_spot_btcusdt_filters_from_recording(sample_data):
    instruments = from_binance_exchange_info("binance", recorded_body(sample_data / "cryptofeed" / "BINANCE.0"))
    btc = instruments["BTC/USDT"]
    # PRICE_FILTER tickSize 0.01, LOT_SIZE stepSize 0.00001, MIN_NOTIONAL 10 in the 2021 recording.
    assert (btc.tick_size, btc.step_size, btc.min_qty, btc.max_qty) == (D("0.01"), D("0.00001"), D("0.00001"), D("9000"))
    assert btc.min_notional == D("10")
    assert (btc.price_precision, btc.size_precision, btc.exchange_symbol) == (2, 5, "BTCUSDT")


def test_binance_usdm_btcusdt_filters_from_recording(sample_data):
    instruments = from_binance_exchange_info("binance_usdm", recorded_body(sample_data / "cryptofeed" / "BINANCE_FUTURES.0"))
    btc = instruments["BTC/USDT"]
    assert (btc.tick_size, btc.step_size, btc.min_notional) == (D("0.01"), D("0.001"), D("5"))


def test_kraken_pairs_from_recording(sample_data):
    body = json.loads((sample_data / "nautilus_trader" / "kraken" / "http_asset_pairs.json").read_text())
    btc = from_kraken_asset_pairs(body)["BTC/USDT"]
    # pair_decimals 1, lot_decimals 8 in the recording.
    assert (btc.tick_size, btc.step_size, btc.exchange_symbol) == (D("0.1"), D("0.00000001"), "XBT/USDT")


def test_kraken_asset_codes():
    assert [kraken_asset(c) for c in ("XBT", "XXBT", "ZUSD", "USDT", "XDG", "ETH")] == ["BTC", "BTC", "USD", "USDT", "DOGE", "ETH"]
