from decimal import Decimal as D

from cryptobot.actors.risk_exposure import OpenOrders
from cryptobot.core.orders import Order


def order(order_id, side="buy", qty="1", price="100", strategy="s1", reduce_only=False):
    return Order(order_id, "c" + order_id, strategy, "binance", "BTC/USDT", side, "limit" if price else "market", D(qty),
                 price=D(price) if price else None, reduce_only=reduce_only)


def test_totals_follow_adds_fills_and_removals():
    book = OpenOrders()
    first = order("o1", qty="2", price="100")
    book.put(first)
    book.put(order("o2", qty="1", price=None))
    book.put(order("o3", side="sell", qty="0.5", price="120", reduce_only=True))
    mids = {("binance", "BTC/USDT"): D("110")}.get
    # 2 * 100 priced, 1 * 110 at mid; the reduce-only sell adds no exposure.
    assert book.notional("s1", mids) == D("310")
    assert book.pending("s1", "binance", "BTC/USDT", "buy") == D("3")
    assert book.pending("s1", "binance", "BTC/USDT", "sell") == D("-0.5")
    # The execution actor changes its own Order; the book counts only what it is given.
    first.apply_fill(D("1.5"), D("100"), D(0), 1)
    assert book.notional("s1", mids) == D("310")
    update = order("o1", qty="2", price="100")
    update.apply_fill(D("1.5"), D("100"), D(0), 1)
    book.put(update)
    assert book.notional("s1", mids) == D("160")
    book.remove("o2")
    book.remove("o1")
    book.remove("unknown")
    assert book.notional("s1", mids) == 0
    assert len(book) == 1
