"""CcxtGateway under failures: rate limits, lost responses, 5xx, clock skew, bad keys, and key hygiene."""

import asyncio
import logging
import pickle
import secrets
from decimal import Decimal as D

import pytest

from cryptobot.core.config import load_settings
from cryptobot.core.errors import ConfigError, ExchangeError
from cryptobot.core.orders import Order
from cryptobot.gateways.binance_rest_emulator import BinanceRestEmulator, load_exchange_info
from cryptobot.gateways.ccxt_errors import RetryPolicy
from cryptobot.gateways.ccxt_gateway import CcxtGateway

KEY = secrets.token_hex(32)
SECRET = secrets.token_hex(32)


@pytest.fixture(scope="module")
def small_info(sample_data):
    info = load_exchange_info(sample_data)
    return dict(info, symbols=[s for s in info["symbols"] if s["symbol"] in ("BTCUSDT", "ETHBTC")])


@pytest.fixture
async def emulator(small_info):
    emulator = BinanceRestEmulator(small_info, api_keys={KEY: SECRET})
    await emulator.start()
    emulator.venue.set_balance("USDT", D("100000"))
    emulator.venue.set_price("BTCUSDT", D("50000"))
    yield emulator
    await emulator.close()


@pytest.fixture
async def make_gateway(emulator):
    gateways = []

    async def make(secret=SECRET, **kwargs):
        delays = []

        async def record_sleep(seconds):
            delays.append(seconds)

        options = {"urls": emulator.ccxt_urls(), "throttle": False, "sleep": record_sleep,
                   "retry": RetryPolicy(retries=2, base_delay_s=0.1, max_delay_s=1.0), **kwargs}
        gateway = CcxtGateway("binance", KEY, secret, **options)
        gateway.reports, gateway.delays = [], delays
        gateway.set_listener(gateway.reports.append)
        await gateway.load_instruments()
        gateways.append(gateway)
        return gateway

    yield make
    for gateway in gateways:
        await gateway.close()
    

def market_buy(order_id="o1", quantity="0.001"):
    return Order(order_id, f"client-{order_id}", "strategy_x", "binance", "BTC/USDT", "buy", "market", D(quantity))


def kinds(reports):
    return [r.kind for r in reports]


async def test_ccxt_rate_limit_then_success(make_gateway, emulator):
    gateway = await make_gateway()
    emulator.inject("rate_limit", retry_after=3)
    await gateway.submit(market_buy())
    assert kinds(gateway.reports) == ["accepted", "fill"]
    assert emulator.count("POST", "/api/v3/order") == 2
    # The wait honors Retry-After (3 s) over the shorter backoff.
    assert gateway.delays == [3.0]


async def test_ccxt_rate_limit_retries_bounded(make_gateway, emulator):
    gateway = await make_gateway()
    emulator.inject("rate_limit", times=3, retry_after=1)
    with pytest.raises(ExchangeError) as caught:
        await gateway.submit(market_buy())
    assert caught.value.retryable is True
    assert caught.value.details["state"] == "not_placed"
    assert emulator.count("POST", "/api/v3/order") == 3
    assert gateway.reports == []
    assert emulator.venue.orders == {}


async def test_ccxt_backoff_grows_with_jitter(make_gateway, emulator):
    gateway = await make_gateway()
    emulator.inject("server_error", method="GET", path="/api/v3/account", times=2)
    await gateway.fetch_balances()
    # Retry n waits within [d/2, d], d = 0.1 * 2**n.
    assert len(gateway.delays) == 2
    assert 0.05 <= gateway.delays[0] <= 0.1
    assert 0.1 <= gateway.delays[1] <= 0.2


async def test_ccxt_timeout_placed_once(make_gateway, emulator):
    gateway = await make_gateway(timeout_ms=200)
    emulator.inject("timeout_after_processing", delay_s=0.6)
    await gateway.submit(market_buy())
    assert emulator.count("POST", "/api/v3/order") == 1
    assert len(emulator.venue.orders) == 1
    assert kinds(gateway.reports) == ["accepted", "fill"]
    lookup = [r.params for r in emulator.requests if r.method == "GET" and r.path == "/api/v3/order"]
    assert lookup[0]["origClientOrderId"] == "client-o1"


async def test_ccxt_server_error_placed_once(make_gateway, emulator):
    gateway = await make_gateway()
    emulator.inject("server_error")
    await gateway.submit(market_buy())
    assert emulator.count("POST", "/api/v3/order") == 1
    assert kinds(gateway.reports) == ["accepted", "fill"]


async def test_ccxt_stale_request_resent_once(make_gateway, emulator):
    gateway = await make_gateway(timeout_ms=200, recv_window_ms=300, lookup_grace_ms=50)
    # The first request reaches the venue after its recvWindow and is refused there.
    emulator.inject("timeout_before_processing", delay_s=0.7)
    await gateway.submit(market_buy())
    assert emulator.count("POST", "/api/v3/order") == 2
    assert kinds(gateway.reports) == ["accepted", "fill"]
    await asyncio.sleep(0.5)  # let the held request finish at the venue
    assert len(emulator.venue.orders) == 1
    statuses = [r.status for r in emulator.requests if r.method == "POST"]
    assert sorted(statuses) == [200, 400]


async def test_ccxt_unknown_placement_resolved_by_poll(make_gateway, emulator):
    gateway = await make_gateway(timeout_ms=200)
    emulator.inject("timeout_after_processing", delay_s=0.6)
    emulator.inject("server_error", method="GET", path="/api/v3/order", times=3)
    with pytest.raises(ExchangeError) as caught:
        await gateway.submit(market_buy())
    assert caught.value.retryable is True
    assert caught.value.details["state"] == "unknown"
    assert gateway.reports == []
    assert await gateway.poll_open_orders() == 2
    assert kinds(gateway.reports) == ["accepted", "fill"]
    assert emulator.count("POST", "/api/v3/order") == 1


async def test_ccxt_clock_skew_resync(make_gateway, emulator):
    gateway = await make_gateway()
    emulator.clock_offset_ms = 20_000  # the exchange clock jumps ahead after the markets were loaded
    await gateway.submit(market_buy())
    assert kinds(gateway.reports) == ["accepted", "fill"]
    statuses = [r.status for r in emulator.requests if r.method == "POST"]
    assert statuses == [400, 200]
    assert emulator.count("GET", "/api/v3/time") == 2


async def test_ccxt_wrong_secret_error(make_gateway, emulator):
    gateway = await make_gateway(secret=secrets.token_hex(32))
    with pytest.raises(ExchangeError, match="rejected the API key or signature") as caught:
        await gateway.submit(market_buy())
    assert caught.value.retryable is False
    assert kinds(gateway.reports) == ["rejected"]
    assert "Signature for this request is not valid. (code -1022)" in gateway.reports[0].reason
    with pytest.raises(ExchangeError, match="code -1022"):
        await gateway.fetch_balances()
    assert emulator.venue.orders == {}


async def test_ccxt_keys_never_logged(make_gateway, emulator, caplog):
    caplog.set_level(logging.DEBUG)
    gateway = await make_gateway(timeout_ms=200)
    await gateway.submit(market_buy("o1"))
    emulator.inject("timeout_after_processing", delay_s=0.6)
    await gateway.submit(market_buy("o2"))
    await gateway.fetch_balances()
    bad = await make_gateway(secret=SECRET[::-1])
    with pytest.raises(ExchangeError):
        await bad.submit(market_buy("o3"))
    text = caplog.text
    assert "X-MBX-APIKEY': '***'" in text  # request lines were logged, with the key redacted
    assert "signature=***" in text
    assert KEY not in text
    assert SECRET not in text
    assert SECRET[::-1] not in text


async def test_ccxt_verbose_output_redacted(make_gateway, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    gateway = await make_gateway()
    gateway._client.verbose = True
    await gateway.submit(market_buy())
    printed = capsys.readouterr().out
    assert KEY not in printed
    assert "fetch Request:" in caplog.text
    assert KEY not in caplog.text


async def test_ccxt_repr_and_pickle_hide_keys(make_gateway):
    gateway = await make_gateway()
    text = repr(gateway)
    assert KEY not in text and SECRET not in text
    assert text == "CcxtGateway(exchange='binance', sandbox=False, credentials='***')"
    with pytest.raises(TypeError, match="Cannot pickle"):
        pickle.dumps(gateway)


async def test_ccxt_keys_secret_settings():
    settings = load_settings(environ={"CRYPTOBOT_EXCHANGE_API_KEY": KEY, "CRYPTOBOT_EXCHANGE_API_SECRET": SECRET,
                                      "CRYPTOBOT_ENGINE_EXCHANGE": "binance_usdm"})
    assert settings.exchange_api_key == KEY
    assert KEY not in repr(settings)
    assert SECRET not in repr(settings)
    gateway = CcxtGateway.from_settings(settings)
    assert (gateway.exchange, gateway.ccxt_id) == ("binance_usdm", "binanceusdm")
    await gateway.close()


def test_ccxt_gateway_requires_keys():
    with pytest.raises(ConfigError, match="CRYPTOBOT_EXCHANGE_API_KEY"):
        CcxtGateway.from_settings(load_settings(environ={}))
