from decimal import Decimal as D

from cryptobot.actors.positions import Ledger


def buy(ledger, qty, price, fee="0", fee_asset="USDT", ts=1, reason=""):
    return ledger.apply_fill("s1", "binance", "BTC/USDT", "buy", D(qty), D(price), D(fee), fee_asset, "BTC", ts, reason)


def sell(ledger, qty, price, fee="0", fee_asset="USDT", ts=2, reason=""):
    return ledger.apply_fill("s1", "binance", "BTC/USDT", "sell", D(qty), D(price), D(fee), fee_asset, "BTC", ts, reason)


def test_average_entry_over_two_buys():
    ledger = Ledger()
    buy(ledger, "1", "100")
    position = buy(ledger, "3", "120")
    # (1*100 + 3*120) / 4 = 115
    assert position.entry_price == D("115")
    assert position.quantity == D("4")
    assert position.side == "long"


def test_partial_sell_realizes_against_average_entry():
    ledger = Ledger()
    buy(ledger, "2", "100")
    position = sell(ledger, "0.5", "110")
    assert position.realized_pnl == D("5.0")
    assert position.quantity == D("1.5")
    assert position.entry_price == D("100")


def test_round_trip_records_closed_trade_with_reason():
    ledger = Ledger()
    buy(ledger, "1", "100", ts=10)
    sell(ledger, "0.4", "105", ts=20)
    position = sell(ledger, "0.6", "110", ts=30, reason="take_profit")
    assert position.quantity == 0
    (trade,) = ledger.closed_trades
    # exit = (0.4*105 + 0.6*110) / 1 = 108; pnl = 2 + 6 = 8; 8 / 100 = 8 %
    assert trade.exit_price == D("108")
    assert trade.profit_loss == D("8")
    assert trade.profit_loss_percent == D("8")
    assert (trade.entry_time, trade.exit_time) == (10, 30)
    assert trade.exit_reason == "take_profit"
    assert trade.side == "buy"


def test_sell_through_zero_flips_to_short_with_new_id():
    ledger = Ledger()
    first = buy(ledger, "1", "100").position_id
    position = sell(ledger, "1.5", "90", reason="exit")
    assert position.quantity == D("-0.5")
    assert position.entry_price == D("90")
    assert position.position_id != first
    assert ledger.closed_trades[0].profit_loss == D("-10")


def test_short_pnl_and_unrealized():
    ledger = Ledger()
    sell(ledger, "2", "100")
    ledger.mark("binance", "BTC/USDT", D("95"))
    position = ledger.positions[(None, "s1", "binance", "BTC/USDT")]
    assert position.unrealized_pnl == D("10")
    assert position.unrealized_pnl_percent == D("5")


def test_base_fee_reduces_held_quantity_and_books_fee_value():
    ledger = Ledger()
    position = buy(ledger, "1", "100", fee="0.001", fee_asset="BTC")
    assert position.quantity == D("0.999")
    assert position.fees == D("0.100")


def test_accounting_identity_to_the_cent():
    start = D("1000")
    cash = start
    ledger = Ledger()
    # buy 1 @ 100, fee 0.001 BTC
    buy(ledger, "1", "100", fee="0.001", fee_asset="BTC")
    cash -= D("100")
    # sell 0.5 @ 110, fee 0.1 % in USDT = 0.055
    sell(ledger, "0.5", "110", fee="0.055")
    cash += D("55") - D("0.055")
    mid = D("105")
    ledger.mark("binance", "BTC/USDT", mid)
    held = ledger.positions[(None, "s1", "binance", "BTC/USDT")].quantity
    assert held == D("0.499")
    left = cash + held * mid
    right = start + ledger.realized_total + ledger.unrealized_total - ledger.fees_total
    assert left == right


def test_round_trip_fees_include_closing_fill():
    ledger = Ledger()
    for side, price, fee in (("buy", "100", "0.1"), ("sell", "110", "0.11"), ("buy", "120", "0.12"), ("sell", "120", "0.12")):
        ledger.apply_fill("s", "binance", "BTC/USDT", side, D(1), D(price), D(fee), "USDT", "BTC", 1)
    first, second = ledger.closed_trades
    assert first.fees == D("0.21")  # 0.1 on the entry, 0.11 on the exit
    assert second.fees == D("0.24")


def test_dust_write_off_books_its_cost_and_keeps_identity():
    ledger = Ledger()
    cash = D("1000")
    # Buy 0.001 @ 60000 with the fee in BTC: 0.000999 held.
    buy(ledger, "0.001", "60000", fee="0.000001", fee_asset="BTC")
    cash -= D("60")
    # Sell the sellable 0.00099 @ 61000, fee 0.1 % in USDT = 0.060390.
    position = sell(ledger, "0.00099", "61000", fee="0.06039", reason="take_profit")
    cash += D("60.39") - D("0.06039")
    assert position.quantity == D("0.000009")
    dust = ledger.write_off(position, 3, "dust")
    # The dust's cost, 0.000009 * 60000 = 0.54, becomes a realized loss.
    assert dust == D("0.000009")
    assert position.realized_pnl == D("0.99") - D("0.54")
    assert position.quantity == 0
    assert ledger.dust[("binance", "BTC/USDT")] == D("0.000009")
    (trade,) = ledger.closed_trades
    assert trade.exit_reason == "take_profit"
    mid = D("61000")
    ledger.mark("binance", "BTC/USDT", mid)
    assert cash + position.quantity * mid == D("1000") + ledger.realized_total + ledger.unrealized_total - ledger.fees_total


def test_ledger_keeps_latest_closed_trades():
    ledger = Ledger(keep_closed=3)
    for i in range(5):
        buy(ledger, "1", "100", ts=2 * i)
        sell(ledger, "1", str(101 + i), ts=2 * i + 1)
    assert [trade.exit_price for trade in ledger.closed_trades] == [D("103"), D("104"), D("105")]
