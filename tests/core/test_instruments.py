from decimal import Decimal as D

import pytest

from cryptobot.core.errors import OrderRejected, ValidationError
from cryptobot.core.instruments import Instrument, decimals_of, plain, to_decimal

BTC = Instrument("binance", "BTC/USDT", "BTCUSDT", "BTC", "USDT", tick_size=D("0.01"), step_size=D("0.00001"),
                 min_qty=D("0.00001"), max_qty=D("9000"), min_notional=D("10"), min_price=D("0.01"), max_price=D("1000000"))


def test_plain_has_no_exponent_or_trailing_zeros():
    assert plain(D("1E-5")) == "0.00001"
    assert plain(D("0.01000000")) == "0.01"
    assert plain(D("100.00")) == "100"
    assert plain(D("1.5E+3")) == "1500"
    assert plain(D("-0.000")) == "0"


def test_decimals_of_step():
    assert decimals_of(D("0.01000000")) == 2
    assert decimals_of(D("0.00001000")) == 5
    assert decimals_of(D("1.00000000")) == 0
    assert decimals_of(D("10")) == 0


def test_buy_price_rounds_down_sell_rounds_up():
    assert BTC.round_price(D("64628.017"), "buy") == D("64628.01")
    assert BTC.round_price(D("64628.011"), "sell") == D("64628.02")
    assert BTC.round_price(D("64628.01"), "sell") == D("64628.01")


def test_quantity_rounds_down_to_step():
    assert BTC.round_quantity(D("0.123456789")) == D("0.12345")
    assert BTC.round_quantity(D("0.000009")) == D("0")


def test_float_goes_through_repr_not_binary_expansion():
    assert to_decimal(0.1, "quantity") == D("0.1")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "abc", True, None])
def test_to_decimal_rejects_non_numbers(value):
    with pytest.raises(ValidationError, match="'price' must be a"):
        to_decimal(value, "price")


def test_check_rejects_below_min_notional_with_reason():
    with pytest.raises(OrderRejected, match="notional 9.99 is below the minimum 10 of BTC/USDT") as info:
        BTC.check(D("0.001"), D("9990"))
    assert info.value.reason == "min_notional"


def test_check_rejects_above_max_qty():
    with pytest.raises(OrderRejected, match="above the maximum 9000") as info:
        BTC.check(D("9001"), D("1"))
    assert info.value.reason == "max_qty"


def test_check_accepts_exact_minimums():
    BTC.check(D("0.001"), D("10000"))


def test_closable_quantity_leaves_dust_after_base_fee():
    # Bought 0.001 BTC, 0.1 % fee taken in BTC: 0.000999 held; step 0.00001 sells 0.00099.
    sellable, dust = BTC.closable_quantity(D("0.000999"), D("60000"))
    assert sellable == D("0.00099")
    assert dust == D("0.000009")


def test_closable_quantity_below_min_notional_is_all_dust():
    sellable, dust = BTC.closable_quantity(D("0.0001"), D("60000"))
    assert sellable == 0
    assert dust == D("0.0001")
