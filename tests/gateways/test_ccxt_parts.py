"""The parts of the ccxt gateway on their own: market filters, order arguments, errors, fill tracking."""

import copy
from decimal import Decimal as D

import ccxt
import pytest
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE

from cryptobot.core.errors import ConfigError, InsufficientFunds, OrderRejected
from cryptobot.core.instruments import Instrument
from cryptobot.core.orders import Order
from cryptobot.gateways.binance_rest_emulator import load_exchange_info
from cryptobot.gateways.binance_rest_rules import BinanceApiError, SymbolRules
from cryptobot.gateways.ccxt_client import resolve_exchange
from cryptobot.gateways.ccxt_errors import (
    AUTHENTICATION, CLOCK, INSUFFICIENT_FUNDS, NOT_FOUND, RATE_LIMITED, REJECTED, UNCERTAIN, ExchangeRefusal,
    Redactor, RetryPolicy, exchange_message, failure_kind, parse_retry_after, refusal,
)
from cryptobot.gateways.ccxt_markets import binance_filters, build_instruments, unified_filters
from cryptobot.gateways.ccxt_orders import order_request
from cryptobot.gateways.ccxt_tracking import TrackedOrder

BTC = Instrument("binance", "BTC/USDT", "BTCUSDT", "BTC", "USDT", tick_size=D("0.01"), step_size=D("0.00001"))


@pytest.fixture(scope="module")
def btcusdt(sample_data):
    info = load_exchange_info(sample_data)
    return next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")


def test_binance_filters_notional(btcusdt):
    entry = copy.deepcopy(btcusdt)
    entry["filters"] = [f for f in entry["filters"] if f["filterType"] != "MIN_NOTIONAL"]
    entry["filters"].append({"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
                             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5})
    assert binance_filters(entry)["min_notional"] == D("5")


def test_binance_filters_missing_lot_size(btcusdt):
    entry = copy.deepcopy(btcusdt)
    entry["filters"] = [f for f in entry["filters"] if f["filterType"] != "LOT_SIZE"]
    assert binance_filters(entry) is None


def test_emulator_rules_notional_max(btcusdt):
    entry = copy.deepcopy(btcusdt)
    entry["filters"].append({"filterType": "NOTIONAL", "minNotional": "5", "applyMinToMarket": True,
                             "maxNotional": "1000", "applyMaxToMarket": False, "avgPriceMins": 5})
    rules = SymbolRules.from_exchange_info(entry)
    with pytest.raises(BinanceApiError, match="Filter failure: NOTIONAL"):
        rules.check_notional(D("1000.01"), market=False)
    rules.check_notional(D("1000.01"), market=True)  # the maximum does not apply to market orders here


@pytest.mark.parametrize("mode, precision, tick, step", [
    (TICK_SIZE, {"price": 0.5, "amount": 0.001}, D("0.5"), D("0.001")),
    (DECIMAL_PLACES, {"price": 2, "amount": 4}, D("0.01"), D("0.0001")),
])
def test_unified_filters_by_precision_mode(mode, precision, tick, step):
    market = {"symbol": "XBT/USD", "precision": precision,
              "limits": {"amount": {"min": 0.0001, "max": None}, "cost": {"min": 0.5}, "price": {}}}
    filters = unified_filters(market, mode)
    assert (filters["tick_size"], filters["step_size"]) == (tick, step)
    assert (filters["min_qty"], filters["max_qty"], filters["min_notional"]) == (D("0.0001"), D(0), D("0.5"))


def test_unified_filters_significant_digits():
    market = {"symbol": "X/Y", "precision": {"price": 5, "amount": 8}, "limits": {}}
    assert unified_filters(market, SIGNIFICANT_DIGITS) is None
    instruments, _, skipped = build_instruments("kraken", [{**market, "type": "spot", "base": "X", "quote": "Y",
                                                            "id": "XY", "active": True}], SIGNIFICANT_DIGITS)
    assert instruments == {}
    assert skipped == ["X/Y"]


def test_build_instruments_swap_symbols():
    market = {"symbol": "BTC/USDT:USDT", "id": "BTCUSDT", "type": "swap", "base": "BTC", "quote": "USDT",
              "active": True, "precision": {"price": 0.1, "amount": 0.001}, "limits": {}, "info": {}}
    instruments, symbols, _ = build_instruments("binance_usdm", [market], TICK_SIZE)
    assert symbols == {"BTC/USDT": "BTC/USDT:USDT"}
    assert instruments["BTC/USDT"].tick_size == D("0.1")


def test_resolve_exchange_names():
    assert resolve_exchange("binance_usdm") == ("binance_usdm", "binanceusdm")
    assert resolve_exchange("BinanceUSDM") == ("binance_usdm", "binanceusdm")
    with pytest.raises(ConfigError, match="'exchange' must be one of"):
        resolve_exchange("mtgox")


def order(type_="limit", price="40000", **kwargs):
    return Order("order_1", kwargs.pop("client_order_id", "client-1"), None, "binance", "BTC/USDT",
                 kwargs.pop("side", "buy"), type_, D("0.001"), price=None if price is None else D(price), **kwargs)


def test_order_request_limit():
    request = order_request(order(), BTC, "BTC/USDT", "binance")
    assert (request.type, request.amount, request.price) == ("limit", "0.001", "40000")
    assert request.params == {"clientOrderId": "client-1", "timeInForce": "GTC", "quantity": "0.001", "price": "40000"}


def test_order_request_stop_and_reduce_only():
    spot = order_request(order("stop", None, stop_price=D("39000.50"), reduce_only=True), BTC, "BTC/USDT", "binance")
    swap = order_request(order("stop", None, stop_price=D("39000.50"), reduce_only=True), BTC, "BTC/USDT:USDT",
                         "binance_usdm", contract=True)
    assert (spot.type, spot.price, spot.params["triggerPrice"]) == ("market", None, "39000.5")
    assert "reduceOnly" not in spot.params
    assert swap.params["reduceOnly"] is True


@pytest.mark.parametrize("kwargs, message", [
    ({"type_": "limit", "price": None}, "needs a price"),
    ({"type_": "stop_limit", "price": "40000"}, "needs a stop price"),
    ({"post_only": True, "time_in_force": "IOC"}, "post-only order must be a GTC limit order"),
    ({"time_in_force": "GTD"}, "'time_in_force' must be one of GTC, IOC, FOK, was 'GTD'"),
    ({"client_order_id": "has space"}, "client order id 'has space'"),
])
def test_order_request_rejections(kwargs, message):
    with pytest.raises(OrderRejected, match=message):
        order_request(order(**kwargs), BTC, "BTC/USDT", "binance")


@pytest.mark.parametrize("error, kind", [
    (ccxt.RateLimitExceeded("x"), RATE_LIMITED),
    (ccxt.DDoSProtection("x"), RATE_LIMITED),
    (ccxt.InvalidNonce("x"), CLOCK),
    (ccxt.RequestTimeout("x"), UNCERTAIN),
    (ccxt.ExchangeNotAvailable("x"), UNCERTAIN),
    (ccxt.OperationFailed("x"), UNCERTAIN),
    (ccxt.AuthenticationError("x"), AUTHENTICATION),
    (ccxt.InsufficientFunds("x"), INSUFFICIENT_FUNDS),
    (ccxt.OrderNotFound("x"), NOT_FOUND),
    (ccxt.InvalidOrder("x"), REJECTED),
    (ccxt.BadSymbol("x"), REJECTED),
])
def test_failure_kind(error, kind):
    assert failure_kind(error) == kind


def test_exchange_message_reads_binance_body():
    error = ccxt.InvalidOrder('binance order amount should be evenly divisible by lot size '
                              '{"code":-1013,"msg":"Filter failure: LOT_SIZE"}')
    assert exchange_message(error) == "Filter failure: LOT_SIZE (code -1013)"
    assert exchange_message(ccxt.RequestTimeout("binance GET http://x")) == "binance GET http://x"


def test_refusal_of_funds_type():
    error = refusal(INSUFFICIENT_FUNDS, "no money")
    assert isinstance(error, InsufficientFunds)
    assert isinstance(error, ExchangeRefusal)
    assert (error.retryable, error.details["reason"]) == (False, INSUFFICIENT_FUNDS)


def test_redactor_hides_credentials():
    redact = Redactor(["KEY123456", "SECRET987654"])
    line = "GET /api/v3/account?timestamp=1&signature=ab12cd {'X-MBX-APIKEY': 'KEY123456'} SECRET987654"
    assert redact(line) == "GET /api/v3/account?timestamp=1&signature=*** {'X-MBX-APIKEY': '***'} ***"


def test_retry_policy_delays_and_bounds():
    policy = RetryPolicy(retries=3, base_delay_s=0.5, max_delay_s=2.0)
    for retry, ceiling in enumerate([0.5, 1.0, 2.0, 2.0]):
        delay = policy.delay(retry)
        assert ceiling / 2 <= delay <= ceiling
    assert policy.delay(0, retry_after_s=7) == 7
    with pytest.raises(ValueError, match="'retries' out of range"):
        RetryPolicy(retries=-1)


def test_parse_retry_after_any_case():
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after(None) is None


def trade(trade_id, quantity, price="40000"):
    return {"id": trade_id, "amount": float(quantity), "price": float(price), "timestamp": 1,
            "fee": {"cost": 0.0, "currency": "BTC"}, "takerOrMaker": "maker",
            "info": {"qty": quantity, "price": price, "commission": "0"}}


def test_tracked_order_each_trade_once():
    tracked = TrackedOrder("order_1", "client-1", "BTC/USDT", "BTC/USDT", "buy", D("0.003"), exchange_order_id="7")
    first = tracked.new_fills([trade("1", "0.001")], 0)
    again = tracked.new_fills([trade("1", "0.001"), trade("2", "0.002")], 0)
    assert [r.trade_id for r in first] == ["1"]
    assert [(r.trade_id, r.quantity, r.maker) for r in again] == [("2", D("0.002"), True)]
    assert tracked.reported_quantity == D("0.003")


def test_tracked_order_caps_at_quantity():
    tracked = TrackedOrder("order_1", "client-1", "BTC/USDT", "BTC/USDT", "buy", D("0.001"), exchange_order_id="7")
    reports = tracked.new_fills([trade("1", "0.001"), trade("2", "0.001")], 0)
    assert [r.trade_id for r in reports] == ["1"]
    assert tracked.reported_quantity == D("0.001")


def test_build_instruments_skips_bad_filter(btcusdt):
    entry = copy.deepcopy(btcusdt)
    next(f for f in entry["filters"] if f["filterType"] == "PRICE_FILTER")["tickSize"] = "n/a"
    market = {"symbol": "BTC/USDT", "id": "BTCUSDT", "type": "spot", "base": "BTC", "quote": "USDT", "active": True,
              "precision": {}, "limits": {}, "info": entry}
    instruments, _, skipped = build_instruments("binance", [market], TICK_SIZE)
    assert instruments == {}
    assert skipped == ["BTC/USDT"]


def test_tracked_order_skips_booked_fills():
    booked = Order("order_1", "client-1", None, "binance", "BTC/USDT", "buy", "limit", D("0.003"), price=D("40000"),
                   exchange_order_id="7", filled=D("0.001"))
    tracked = TrackedOrder.from_order(booked, "BTC/USDT")
    reports = tracked.new_fills([trade("1", "0.001"), trade("2", "0.002")], 0)
    assert [(r.trade_id, r.quantity) for r in reports] == [("2", D("0.002"))]
