"""CcxtGateway against the Binance REST emulator: instruments, orders, fills, cancels."""

import secrets
from collections import Counter
from decimal import Decimal as D

import pytest

from cryptobot.core.orders import Order
from cryptobot.gateways.binance_rest_emulator import BinanceRestEmulator, load_exchange_info
from cryptobot.gateways.ccxt_gateway import CcxtGateway

KEY = secrets.token_hex(32)
SECRET = secrets.token_hex(32)
SYMBOLS = ("BTCUSDT", "ETHBTC", "LTCBTC")


@pytest.fixture(scope="module")
def exchange_info(sample_data):
    return load_exchange_info(sample_data)


@pytest.fixture(scope="module")
def small_info(exchange_info):
    # A few real symbol entries keep ccxt's market parsing quick.
    return dict(exchange_info, symbols=[s for s in exchange_info["symbols"] if s["symbol"] in SYMBOLS])


@pytest.fixture
async def emulator(small_info):
    emulator = BinanceRestEmulator(small_info, api_keys={KEY: SECRET})
    await emulator.start()
    emulator.venue.set_balance("USDT", D("100000"))
    emulator.venue.set_price("BTCUSDT", D("50000"))
    yield emulator
    await emulator.close()


@pytest.fixture
async def gateway(emulator):
    gateway = CcxtGateway("binance", KEY, SECRET, urls=emulator.ccxt_urls(), throttle=False)
    gateway.reports = []
    gateway.set_listener(gateway.reports.append)
    await gateway.load_instruments()
    yield gateway
    await gateway.close()


def order(order_id, side, type_, quantity, price=None, **kwargs):
    return Order(order_id, f"client-{order_id}", "strategy_x", "binance", "BTC/USDT", side, type_, D(quantity),
                 price=None if price is None else D(price), **kwargs)


def kinds(reports):
    return [(r.kind, r.order_id) for r in reports]


def fills(reports):
    return [(r.quantity, r.price, r.fee, r.fee_asset, r.maker) for r in reports if r.kind == "fill"]


async def test_ccxt_instruments_recorded_filters(emulator, exchange_info):
    emulator.exchange_info = exchange_info
    gateway = CcxtGateway("binance", KEY, SECRET, urls=emulator.ccxt_urls(), throttle=False)
    try:
        instruments = await gateway.load_instruments()
    finally:
        await gateway.close()
    btc = instruments["BTC/USDT"]
    # BTCUSDT filters of the 2021-10-12 recording.
    assert btc.tick_size == D("0.01")
    assert btc.step_size == D("0.00001")
    assert btc.min_notional == D("10")
    assert btc.min_qty == D("0.00001")
    assert btc.max_qty == D("9000")
    assert (btc.min_price, btc.max_price) == (D("0.01"), D("1000000"))
    assert (btc.market_step_size, btc.market_max_qty) == (D("0"), D("100.05381873"))
    assert (btc.price_precision, btc.size_precision) == (2, 5)
    assert btc.exchange_symbol == "BTCUSDT"
    statuses = Counter(s["status"] for s in exchange_info["symbols"])
    assert len(instruments) == statuses["TRADING"]


async def test_ccxt_market_buy_fee(gateway, emulator):
    await gateway.submit(order("o1", "buy", "market", "0.002"))
    assert kinds(gateway.reports) == [("accepted", "o1"), ("fill", "o1")]
    # Taker 0.1 % of the 0.002 BTC received.
    assert fills(gateway.reports) == [(D("0.002"), D("50000"), D("0.000002"), "BTC", False)]
    assert gateway.reports[0].exchange_order_id == str(next(iter(emulator.venue.orders)))
    assert gateway.tracked_orders == 0


async def test_ccxt_exact_strings_and_client_id(gateway, emulator):
    await gateway.submit(order("o1", "buy", "limit", "0.002", "40000.01"))
    sent = [r.params for r in emulator.requests if r.method == "POST"][0]
    assert (sent["quantity"], sent["price"], sent["timeInForce"]) == ("0.002", "40000.01", "GTC")
    assert sent["newClientOrderId"] == "client-o1"


async def test_ccxt_off_grid_price_rejected(gateway, emulator):
    await gateway.submit(order("o1", "buy", "limit", "0.002", "40000.015"))
    assert kinds(gateway.reports) == [("rejected", "o1")]
    assert "Filter failure: PRICE_FILTER" in gateway.reports[0].reason
    assert emulator.venue.orders == {}


async def test_ccxt_polled_fills_reported_once(gateway, emulator):
    await gateway.submit(order("o1", "buy", "limit", "0.002", "40000"))
    assert kinds(gateway.reports) == [("accepted", "o1")]
    assert await gateway.poll_open_orders() == 0

    emulator.venue.fill("client-o1", D("0.0005"))
    assert await gateway.poll_open_orders() == 1
    assert await gateway.poll_open_orders() == 0
    emulator.venue.fill("client-o1", D("0.0015"))
    assert await gateway.poll_open_orders() == 1
    assert await gateway.poll_open_orders() == 0

    # Maker at 0.1 % of the BTC received: 0.0000005 and 0.0000015.
    assert fills(gateway.reports) == [(D("0.0005"), D("40000"), D("0.0000005"), "BTC", True),
                                      (D("0.0015"), D("40000"), D("0.0000015"), "BTC", True)]
    assert len({r.trade_id for r in gateway.reports if r.kind == "fill"}) == 2
    assert gateway.tracked_orders == 0


async def test_ccxt_cancel_reports_unseen_fill(gateway, emulator):
    await gateway.submit(order("o1", "buy", "limit", "0.002", "40000"))
    emulator.venue.fill("client-o1", D("0.0005"))
    await gateway.cancel(order("o1", "buy", "limit", "0.002", "40000"))
    assert kinds(gateway.reports) == [("accepted", "o1"), ("fill", "o1"), ("canceled", "o1")]
    assert fills(gateway.reports)[0][0] == D("0.0005")
    balances = await gateway.fetch_balances()
    # 0.0005 BTC bought at 40000 = 20 USDT; the rest of the reservation is free again.
    assert (balances["USDT"].free, balances["USDT"].used) == (D("99980"), D(0))
    assert balances["BTC"].free == D("0.0005") - D("0.0000005")


async def test_ccxt_cancel_filled_order_reconciles(gateway, emulator):
    await gateway.submit(order("o1", "buy", "limit", "0.002", "40000"))
    emulator.venue.fill("client-o1")
    await gateway.cancel(order("o1", "buy", "limit", "0.002", "40000"))
    assert kinds(gateway.reports) == [("accepted", "o1"), ("fill", "o1")]
    assert gateway.tracked_orders == 0


async def test_ccxt_insufficient_funds_rejected(gateway, emulator):
    emulator.venue.set_balance("USDT", D("10"))
    await gateway.submit(order("o1", "buy", "market", "0.001"))
    assert kinds(gateway.reports) == [("rejected", "o1")]
    assert "Account has insufficient balance for requested action." in gateway.reports[0].reason
    assert emulator.count("POST", "/api/v3/order") == 1


async def test_ccxt_filter_failure_rejected(gateway):
    await gateway.submit(order("o1", "buy", "limit", "0.0002", "40000"))
    assert kinds(gateway.reports) == [("rejected", "o1")]
    assert "Filter failure: MIN_NOTIONAL (code -1013)" in gateway.reports[0].reason


async def test_ccxt_post_only_taker_rejected(gateway, emulator):
    await gateway.submit(order("o1", "buy", "limit", "0.001", "50001", post_only=True))
    assert kinds(gateway.reports) == [("rejected", "o1")]
    assert "Order would immediately match and take." in gateway.reports[0].reason
    assert [r.params["type"] for r in emulator.requests if r.method == "POST"] == ["LIMIT_MAKER"]


async def test_ccxt_ioc_without_match_expires(gateway):
    await gateway.submit(order("o1", "buy", "limit", "0.001", "40000", time_in_force="IOC"))
    assert kinds(gateway.reports) == [("accepted", "o1"), ("expired", "o1")]


async def test_ccxt_exchange_expiry_is_polled(gateway, emulator):
    await gateway.submit(order("o1", "buy", "limit", "0.002", "40000"))
    emulator.venue.fill("client-o1", D("0.0005"))
    emulator.venue.expire("client-o1")
    assert await gateway.poll_open_orders() == 2
    assert kinds(gateway.reports) == [("accepted", "o1"), ("fill", "o1"), ("expired", "o1")]
    assert gateway.reports[-1].reason == "binance reported the order expired with 0.0005 of 0.002 filled"
    assert gateway.tracked_orders == 0


async def test_ccxt_stop_limit_triggered_fill(gateway, emulator):
    emulator.venue.set_balance("BTC", D("0.01"))
    await gateway.submit(order("o1", "sell", "stop_limit", "0.001", "44900", stop_price=D("45000")))
    sent = [r.params for r in emulator.requests if r.method == "POST"][0]
    assert (sent["type"], sent["stopPrice"], sent["price"]) == ("STOP_LOSS_LIMIT", "45000", "44900")
    emulator.venue.set_price("BTCUSDT", D("44950"))
    assert await gateway.poll_open_orders() == 1
    # Triggered at 44950, the sell limit at 44900 takes at 44950: 0.1 % of 44.95 USDT.
    assert fills(gateway.reports) == [(D("0.001"), D("44950"), D("0.04495"), "USDT", False)]


async def test_ccxt_stop_market_unsupported(gateway, emulator):
    await gateway.submit(order("o1", "sell", "stop", "0.001", stop_price=D("45000")))
    assert kinds(gateway.reports) == [("rejected", "o1")]
    assert emulator.count("POST", "/api/v3/order") == 0


async def test_ccxt_unknown_symbol_rejected(gateway, emulator):
    unknown = Order("o1", "client-o1", None, "binance", "DOGE/USDT", "buy", "market", D("10"))
    await gateway.submit(unknown)
    assert kinds(gateway.reports) == [("rejected", "o1")]
    assert "DOGE/USDT is not a binance instrument" in gateway.reports[0].reason


async def test_ccxt_fetch_order_state(gateway, emulator):
    resting = order("o1", "buy", "limit", "0.002", "40000")
    await gateway.submit(resting)
    first = await gateway.fetch_order(resting)
    emulator.venue.fill("client-o1")
    second = await gateway.fetch_order(resting)
    assert (first.kind, first.exchange_order_id) == ("accepted", gateway.reports[0].exchange_order_id)
    assert (second.kind, second.quantity, second.price) == ("fill", D("0.002"), D("40000"))
    assert kinds(gateway.reports) == [("accepted", "o1"), ("fill", "o1")]


async def test_ccxt_restart_skips_booked_fills(gateway, emulator):
    await gateway.submit(order("o1", "buy", "limit", "0.002", "40000"))
    emulator.venue.fill("client-o1", D("0.0005"))
    exchange_id = gateway.reports[0].exchange_order_id
    restarted = CcxtGateway("binance", KEY, SECRET, urls=emulator.ccxt_urls(), throttle=False)
    restarted.reports = []
    restarted.set_listener(restarted.reports.append)
    await restarted.load_instruments()
    try:
        # The engine had booked the first fill before the restart.
        booked = order("o1", "buy", "limit", "0.002", "40000", exchange_order_id=exchange_id, filled=D("0.0005"))
        restarted.track(booked)
        emulator.venue.fill("client-o1", D("0.0015"))
        await restarted.poll_open_orders()
    finally:
        await restarted.close()
    assert fills(restarted.reports) == [(D("0.0015"), D("40000"), D("0.0000015"), "BTC", True)]
