from decimal import Decimal as D

import numpy as np
import pytest

from cryptobot.core.instruments import Instrument
from cryptobot.core.messages import BookTop
from cryptobot.core.orders import Order
from cryptobot.core.types import Bar, TradeTick
from cryptobot.gateways.sim_account import SimulatedAccount
from cryptobot.gateways.simulated import SimulatedExchange

BTC = Instrument("binance", "BTC/USDT", "BTCUSDT", "BTC", "USDT", tick_size=D("0.01"), step_size=D("0.00001"),
                 min_qty=D("0.00001"), min_notional=D("10"), price_precision=2, size_precision=5)


def make_exchange(usdt="100000", btc="0", **kwargs):
    account = SimulatedAccount({"USDT": D(usdt), "BTC": D(btc)})
    exchange = SimulatedExchange("binance", {"BTC/USDT": BTC}, account, **kwargs)
    reports = []
    exchange.set_listener(reports.append)
    return exchange, account, reports


def top(ts, bids, asks):
    bids = np.array(bids, dtype=float)
    asks = np.array(asks, dtype=float)
    return BookTop("binance", "BTC/USDT", ts, ts, 1, bids[0][0], bids[0][1], asks[0][0], asks[0][1], bids, asks)


def order(order_id, side, type_, quantity, price=None, created=0, **kwargs):
    return Order(order_id, "c-" + order_id, "strategy_x", "binance", "BTC/USDT", side, type_, D(quantity),
                 price=None if price is None else D(price), created_at=created, **kwargs)


def fills(reports):
    return [(r.order_id, r.quantity, r.price, r.fee, r.fee_asset, r.maker) for r in reports if r.kind == "fill"]


def kinds(reports):
    return [(r.kind, r.order_id) for r in reports]


def test_market_buy_walks_levels_on_next_book():
    exchange, account, reports = make_exchange(taker_fee=D("0.001"))
    exchange.on_book(top(1, [[99, 1]], [[100, 0.5], [101, 1.0], [102, 5]]))
    exchange.submit_now(order("o1", "buy", "market", "1.2", created=1))
    assert reports == []  # nothing happens before the next event
    exchange.on_book(top(2, [[99, 1]], [[100, 0.5], [101, 1.0], [102, 5]]))
    assert kinds(reports) == [("accepted", "o1"), ("fill", "o1"), ("fill", "o1")]
    # 0.5 @ 100 then 0.7 @ 101; the fee is 0.1 % of the BTC received.
    assert fills(reports) == [("o1", D("0.5"), D("100.00"), D("0.0005"), "BTC", False),
                              ("o1", D("0.7"), D("101.00"), D("0.0007"), "BTC", False)]
    # Paid 50 + 70.7 = 120.7 USDT; received 1.2 - 0.0012 = 1.1988 BTC.
    assert account.free("USDT") == D("100000") - D("120.7")
    assert account.used("USDT") == 0
    assert account.free("BTC") == D("1.1988")


def test_two_market_orders_do_not_take_the_same_level_twice():
    exchange, _, reports = make_exchange()
    exchange.on_book(top(1, [[99, 1]], [[100, 1.0], [101, 1.0]]))
    exchange.submit_now(order("o1", "buy", "market", "0.6", created=1))
    exchange.submit_now(order("o2", "buy", "market", "0.6", created=1))
    exchange.on_book(top(2, [[99, 1]], [[100, 1.0], [101, 1.0]]))
    assert [(f[0], f[1], f[2]) for f in fills(reports)] == [
        ("o1", D("0.6"), D("100.00")), ("o2", D("0.4"), D("100.00")), ("o2", D("0.2"), D("101.00"))]


def test_latency_delays_arrival_until_an_event_after_it():
    exchange, _, reports = make_exchange(latency_ns=1000)
    exchange.on_book(top(0, [[99, 1]], [[100, 1]]))
    exchange.submit_now(order("o1", "buy", "market", "0.1", created=0))
    exchange.on_book(top(999, [[99, 1]], [[100, 1]]))
    assert reports == []
    exchange.on_book(top(1000, [[99, 1]], [[105, 1]]))
    assert fills(reports)[0][2] == D("105.00")


def test_resting_limit_fills_partially_on_smaller_trades_strictly_through():
    exchange, account, reports = make_exchange(maker_fee=D("0.0002"))
    exchange.on_book(top(1, [[99, 1]], [[101, 1]]))
    exchange.submit_now(order("o1", "buy", "limit", "1.0", price="100", created=1))
    exchange.on_book(top(2, [[99, 1]], [[101, 1]]))
    assert kinds(reports) == [("accepted", "o1")]
    # A trade at the limit price does not prove our order was reached.
    exchange.on_trade(TradeTick("binance", "BTC/USDT", 3, 3, 100.0, 5.0, "sell", 1))
    assert fills(reports) == []
    exchange.on_trade(TradeTick("binance", "BTC/USDT", 4, 4, 99.5, 0.3, "sell", 2))
    exchange.on_trade(TradeTick("binance", "BTC/USDT", 5, 5, 99.0, 2.0, "sell", 3))
    assert [(f[1], f[2], f[5]) for f in fills(reports)] == [(D("0.3"), D("100.00"), True), (D("0.7"), D("100.00"), True)]
    # Reserved 100 * 1.0 * 1.001 = 100.1; spent 100; the rest went back to free.
    assert account.used("USDT") == 0
    assert account.free("USDT") == D("99900")


def test_marketable_limit_takes_then_rests():
    exchange, _, reports = make_exchange()
    exchange.on_book(top(1, [[99, 1]], [[100, 0.4], [100.5, 1]]))
    exchange.submit_now(order("o1", "buy", "limit", "1.0", price="100.2", created=1))
    exchange.on_book(top(2, [[99, 1]], [[100, 0.4], [100.5, 1]]))
    assert [(f[1], f[2], f[5]) for f in fills(reports)] == [(D("0.4"), D("100.00"), False)]
    assert exchange.open_order_ids() == ["o1"]


def test_fok_without_enough_liquidity_expires_untouched():
    exchange, account, reports = make_exchange()
    exchange.on_book(top(1, [[99, 1]], [[100, 0.4]]))
    exchange.submit_now(order("o1", "buy", "limit", "1.0", price="100", created=1, time_in_force="FOK"))
    exchange.on_book(top(2, [[99, 1]], [[100, 0.4]]))
    assert kinds(reports) == [("accepted", "o1"), ("expired", "o1")]
    assert account.free("USDT") == D("100000")


def test_ioc_remainder_expires():
    exchange, _, reports = make_exchange()
    exchange.on_book(top(1, [[99, 1]], [[100, 0.4]]))
    exchange.submit_now(order("o1", "buy", "limit", "1.0", price="100", created=1, time_in_force="IOC"))
    exchange.on_book(top(2, [[99, 1]], [[100, 0.4]]))
    assert kinds(reports) == [("accepted", "o1"), ("fill", "o1"), ("expired", "o1")]


def test_post_only_that_would_take_is_rejected():
    exchange, _, reports = make_exchange()
    exchange.on_book(top(1, [[99, 1]], [[100, 1]]))
    exchange.submit_now(order("o1", "buy", "limit", "0.5", price="100", created=1, post_only=True))
    exchange.on_book(top(2, [[99, 1]], [[100, 1]]))
    assert kinds(reports) == [("accepted", "o1"), ("rejected", "o1")]
    assert reports[-1].reason == "post-only order would take liquidity"


def test_insufficient_funds_is_rejected_with_amounts():
    exchange, _, reports = make_exchange(usdt="50")
    exchange.on_book(top(1, [[99, 1]], [[100, 1]]))
    exchange.submit_now(order("o1", "buy", "limit", "1", price="100", created=1))
    exchange.on_book(top(2, [[99, 1]], [[100, 1]]))
    assert kinds(reports) == [("rejected", "o1")]
    assert reports[0].reason == "insufficient USDT: 100.1 needed, 50 free"


def test_sell_fee_is_taken_in_quote():
    exchange, account, reports = make_exchange(usdt="0", btc="1", taker_fee=D("0.001"))
    exchange.on_book(top(1, [[100, 2]], [[101, 1]]))
    exchange.submit_now(order("o1", "sell", "market", "1", created=1))
    exchange.on_book(top(2, [[100, 2]], [[101, 1]]))
    assert fills(reports) == [("o1", D("1"), D("100.00"), D("0.100"), "USDT", False)]
    assert account.free("USDT") == D("99.900")
    assert account.free("BTC") == 0


def test_stop_triggers_on_trade_and_fills_at_book():
    exchange, account, reports = make_exchange(usdt="0", btc="1")
    exchange.on_book(top(1, [[100, 2]], [[101, 1]]))
    stop = order("o1", "sell", "stop", "1", created=1)
    stop.stop_price = D("95")
    exchange.submit_now(stop)
    exchange.on_book(top(2, [[100, 2]], [[101, 1]]))
    exchange.on_trade(TradeTick("binance", "BTC/USDT", 3, 3, 96.0, 1.0, "sell", 1))
    assert fills(reports) == []
    exchange.on_book(top(4, [[94, 2]], [[94.5, 1]]))
    exchange.on_trade(TradeTick("binance", "BTC/USDT", 5, 5, 94.0, 1.0, "sell", 2))
    assert [(f[1], f[2]) for f in fills(reports)] == [(D("1"), D("94.00"))]


def test_cancel_arrives_after_latency_and_releases_funds():
    exchange, account, reports = make_exchange(latency_ns=10)
    exchange.on_book(top(0, [[99, 1]], [[101, 1]]))
    exchange.submit_now(order("o1", "buy", "limit", "1", price="100", created=0))
    exchange.on_book(top(10, [[99, 1]], [[101, 1]]))
    exchange.on_book(top(20, [[99, 1]], [[101, 1]]))
    # Sent after the book at 20, the cancel arrives at 30: the trade at 25 still fills.
    exchange.cancel_now("o1", 20)
    exchange.on_trade(TradeTick("binance", "BTC/USDT", 25, 25, 99.0, 0.25, "sell", 1))
    exchange.on_trade(TradeTick("binance", "BTC/USDT", 30, 30, 101.0, 1.0, "buy", 2))
    assert kinds(reports) == [("accepted", "o1"), ("fill", "o1"), ("canceled", "o1")]
    # 0.25 filled at 100 (25 USDT); the rest of the reservation came back.
    assert account.used("USDT") == 0
    assert account.free("USDT") == D("100000") - D("25")


def test_bar_mode_market_fills_at_next_open_and_limit_on_range():
    exchange, account, reports = make_exchange(fee_mode="quote", taker_fee=D("0"), maker_fee=D("0"))
    exchange.on_bar(Bar("binance", "BTC/USDT", "1m", 0, 100, 101, 99, 100.5, 10))
    exchange.submit_now(order("o1", "buy", "market", "1", created=60))
    exchange.submit_now(order("o2", "buy", "limit", "1", price="98", created=60))
    exchange.on_bar(Bar("binance", "BTC/USDT", "1m", 60, 100.7, 102, 99.5, 101, 10))
    assert [(f[0], f[2]) for f in fills(reports)] == [("o1", D("100.70"))]
    exchange.on_bar(Bar("binance", "BTC/USDT", "1m", 120, 99, 99.2, 97, 98.5, 10))
    assert [(f[0], f[2]) for f in fills(reports)] == [("o1", D("100.70")), ("o2", D("98.00"))]


def test_unknown_symbol_is_rejected():
    exchange, _, reports = make_exchange()
    bad = order("o1", "buy", "market", "1")
    bad.symbol = "DOGE/USDT"
    exchange.submit_now(bad)
    assert kinds(reports) == [("rejected", "o1")]


def test_bad_fee_mode_is_rejected():
    with pytest.raises(ValueError, match="'fee_mode' must be 'received' or 'quote', was 'base'"):
        make_exchange(fee_mode="base")
