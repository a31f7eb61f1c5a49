"""The Binance spot REST emulator, driven over HTTP with a signer written here (not ccxt's)."""

import hashlib
import hmac
import time
from decimal import Decimal as D
from urllib.parse import urlencode

import aiohttp
import pytest

from cryptobot.gateways.binance_rest_emulator import BinanceRestEmulator, load_exchange_info

# The key pair and signatures of the SIGNED endpoint examples in Binance's
# spot REST documentation (POST /api/v3/order, LTCBTC, timestamp 1499827319559).
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_TIMESTAMP = 1499827319559
DOC_BODY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
DOC_BODY_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
DOC_MIXED_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
DOC_MIXED_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
DOC_MIXED_SIGNATURE = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"

KEY = "k" * 64
SECRET = "s" * 64
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def exchange_info(sample_data):
    return load_exchange_info(sample_data)


@pytest.fixture
async def emulator(exchange_info):
    emulator = BinanceRestEmulator(exchange_info, api_keys={KEY: SECRET, DOC_KEY: DOC_SECRET})
    await emulator.start()
    emulator.venue.set_balance("USDT", D("100000"))
    emulator.venue.set_price("BTCUSDT", D("50000"))
    yield emulator
    await emulator.close()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def signed(params: dict, secret: str = SECRET, timestamp: int | None = None) -> str:
    query = urlencode({**params, "timestamp": timestamp if timestamp is not None else int(time.time() * 1000)})
    return f"{query}&signature={hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()}"


async def call(http, emulator, method, path, params=None, key=KEY, secret=SECRET, timestamp=None):
    headers = {"X-MBX-APIKEY": key} if key else {}
    query = signed(params or {}, secret, timestamp)
    if method == "POST":
        response = await http.post(f"{emulator.url}{path}", data=query, headers={**headers, **FORM})
    else:
        response = await http.request(method, f"{emulator.url}{path}?{query}", headers=headers)
    return response.status, await response.json(), response.headers


async def test_emulator_exchange_info_recorded(emulator, http, exchange_info):
    response = await http.get(f"{emulator.url}/api/v3/exchangeInfo")
    body = await response.json()
    assert response.status == 200
    assert len(body["symbols"]) == 1695
    assert body["symbols"] == exchange_info["symbols"]
    assert abs(body["serverTime"] - time.time() * 1000) < 5000


async def test_emulator_documented_body_signature(emulator, http):
    emulator.venue.set_balance("BTC", D("1"))
    emulator.clock_offset_ms = DOC_TIMESTAMP + 1000 - int(time.time() * 1000)
    response = await http.post(f"{emulator.url}/api/v3/order", headers={"X-MBX-APIKEY": DOC_KEY, **FORM},
                               data=f"{DOC_BODY}&signature={DOC_BODY_SIGNATURE}")
    body = await response.json()
    assert response.status == 200, body
    assert body["status"] == "NEW"
    assert body["price"] == "0.10000000"


async def test_emulator_documented_mixed_signature(emulator, http):
    emulator.venue.set_balance("BTC", D("1"))
    emulator.clock_offset_ms = DOC_TIMESTAMP + 1000 - int(time.time() * 1000)
    response = await http.post(f"{emulator.url}/api/v3/order?{DOC_MIXED_QUERY}", headers={"X-MBX-APIKEY": DOC_KEY, **FORM},
                               data=f"{DOC_MIXED_BODY}&signature={DOC_MIXED_SIGNATURE}")
    assert response.status == 200, await response.text()


async def test_emulator_wrong_signature(emulator, http):
    status, body, _ = await call(http, emulator, "GET", "/api/v3/account", secret="x" * 64)
    assert status == 400
    assert body == {"code": -1022, "msg": "Signature for this request is not valid."}


async def test_emulator_missing_and_unknown_keys(emulator, http):
    status, body, _ = await call(http, emulator, "GET", "/api/v3/account", key="")
    assert (status, body["code"]) == (401, -2014)
    status, body, _ = await call(http, emulator, "GET", "/api/v3/account", key="nobody")
    assert (status, body["code"]) == (401, -2015)


async def test_emulator_timestamp_window(emulator, http):
    now = int(time.time() * 1000)
    _, stale, _ = await call(http, emulator, "GET", "/api/v3/account", timestamp=now - 6000)
    _, ahead, _ = await call(http, emulator, "GET", "/api/v3/account", timestamp=now + 5000)
    _, window, _ = await call(http, emulator, "GET", "/api/v3/account", {"recvWindow": 70000})
    assert stale == {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
    assert ahead == {"code": -1021, "msg": "Timestamp for this request was 1000ms ahead of the server's time."}
    assert window["code"] == -1131


async def test_emulator_market_buy_full_response(emulator, http):
    status, body, _ = await call(http, emulator, "POST", "/api/v3/order",
                                 {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"})
    assert status == 200, body
    assert body["status"] == "FILLED"
    # 0.002 BTC at 50000 as taker at 0.1 %: commission 0.000002 BTC, paid 100 USDT.
    assert [(f["price"], f["qty"], f["commission"], f["commissionAsset"]) for f in body["fills"]] == [
        ("50000.00000000", "0.00200000", "0.00000200", "BTC")]
    assert emulator.venue.balance("BTC") == (D("0.001998"), D(0))
    assert emulator.venue.balance("USDT") == (D("99900"), D(0))


@pytest.mark.parametrize("params, message", [
    ({"quantity": "0.000015", "price": "40000"}, "Filter failure: LOT_SIZE"),
    ({"quantity": "0.001", "price": "40000.005"}, "Filter failure: PRICE_FILTER"),
    ({"quantity": "0.0002", "price": "40000"}, "Filter failure: MIN_NOTIONAL"),
    ({"quantity": "0.001", "price": "300000"}, "Filter failure: PERCENT_PRICE"),
])
async def test_emulator_filter_failures(emulator, http, params, message):
    status, body, _ = await call(http, emulator, "POST", "/api/v3/order",
                                 {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", **params})
    assert status == 400
    assert body == {"code": -1013, "msg": message}


async def test_emulator_request_errors(emulator, http):
    base = {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001"}
    _, unknown_symbol, _ = await call(http, emulator, "POST", "/api/v3/order", {**base, "symbol": "NOPEUSDT", "price": "1"})
    _, no_price, _ = await call(http, emulator, "POST", "/api/v3/order", {**base, "symbol": "BTCUSDT"})
    _, extra, _ = await call(http, emulator, "POST", "/api/v3/order", {**base, "symbol": "BTCUSDT", "price": "40000", "color": "red"})
    _, no_order, _ = await call(http, emulator, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 7})
    _, no_cancel, _ = await call(http, emulator, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 7})
    assert unknown_symbol == {"code": -1121, "msg": "Invalid symbol."}
    assert no_price == {"code": -1102, "msg": "Mandatory parameter 'price' was not sent, was empty/null, or malformed."}
    assert extra["code"] == -1104
    assert no_order == {"code": -2013, "msg": "Order does not exist."}
    assert no_cancel == {"code": -2011, "msg": "Unknown order sent."}


async def test_emulator_insufficient_balance(emulator, http):
    status, body, _ = await call(http, emulator, "POST", "/api/v3/order",
                                 {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.001"})
    assert status == 400
    assert body == {"code": -2010, "msg": "Account has insufficient balance for requested action."}


async def test_emulator_limit_rests_then_cancels(emulator, http):
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
              "price": "40000", "newClientOrderId": "rest-1"}
    _, placed, _ = await call(http, emulator, "POST", "/api/v3/order", params)
    assert placed["status"] == "NEW"
    assert emulator.venue.balance("USDT") == (D("99600"), D("400"))
    _, duplicate, _ = await call(http, emulator, "POST", "/api/v3/order", params)
    assert duplicate == {"code": -2010, "msg": "Duplicate order sent."}
    _, canceled, _ = await call(http, emulator, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "rest-1"})
    assert canceled["status"] == "CANCELED"
    assert canceled["origClientOrderId"] == "rest-1"
    assert emulator.venue.balance("USDT") == (D("100000"), D(0))


async def test_emulator_weight_limit_then_ban(exchange_info, http):
    emulator = BinanceRestEmulator(exchange_info, weight_limit=2, weight_window_s=30, ban_after=1, ban_s=90)
    await emulator.start()
    try:
        statuses, used, retry_after = [], [], []
        for _ in range(5):
            response = await http.get(f"{emulator.url}/api/v3/ping")
            statuses.append(response.status)
            used.append(response.headers.get("X-MBX-USED-WEIGHT-1M"))
            retry_after.append(response.headers.get("Retry-After"))
        body = await response.json()
    finally:
        await emulator.close()
    # Weight 1 per ping: two pass, the third is refused, the fourth (second violation) bans.
    assert statuses == [200, 200, 429, 418, 418]
    assert used[:2] == ["1", "2"]
    assert 29 <= int(retry_after[2]) <= 30
    assert 89 <= int(retry_after[3]) <= 90
    assert body["code"] == -1003


async def test_emulator_fill_makes_maker_trade(emulator, http):
    _, placed, _ = await call(http, emulator, "POST", "/api/v3/order",
                              {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                               "quantity": "0.01", "price": "40000"})
    emulator.venue.fill(placed["orderId"], D("0.004"))
    _, trades, _ = await call(http, emulator, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT", "orderId": placed["orderId"]})
    _, order, _ = await call(http, emulator, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]})
    assert [(t["qty"], t["price"], t["commission"], t["isMaker"]) for t in trades] == [
        ("0.00400000", "40000.00000000", "0.00000400", True)]
    assert (order["status"], order["executedQty"]) == ("PARTIALLY_FILLED", "0.00400000")
