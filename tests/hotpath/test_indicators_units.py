"""Hand-computed cases, parameter validation, NaN rejection and reset."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cryptobot.core.errors import ValidationError
from cryptobot.hotpath import indicators as ind

NAN = math.nan


def feed(indicator, values):
    return [indicator.update(value) for value in values]


def assert_series(actual, expected):
    np.testing.assert_allclose(np.array(actual, dtype=float), np.array(expected, dtype=float), rtol=1e-12)


def test_sma_hand_computed():
    # (1+2+3)/3 = 2, (2+3+4)/3 = 3, (3+4+8)/3 = 5
    assert_series(feed(ind.SMA(3), [1, 2, 3, 4, 8]), [NAN, NAN, 2, 3, 5])


def test_sma_across_many_blocks():
    # Windows of 2 over 1..7: (1+2)/2 = 1.5, then +1 each step.
    assert_series(feed(ind.SMA(2), [1, 2, 3, 4, 5, 6, 7]), [NAN, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5])


def test_ema_hand_computed():
    # alpha = 2/(3+1) = 0.5; seed (1+2+3)/3 = 2; (4-2)*0.5+2 = 3; (8-3)*0.5+3 = 5.5
    assert_series(feed(ind.EMA(3), [1, 2, 3, 4, 8]), [NAN, NAN, 2, 3, 5.5])


def test_wma_hand_computed():
    # weights 1,2,3 over 6: (1*1+2*2+3*3)/6 = 14/6; (2+6+12)/6 = 20/6; (3+8+24)/6 = 35/6
    assert_series(feed(ind.WMA(3), [1, 2, 3, 4, 8]), [NAN, NAN, 14 / 6, 20 / 6, 35 / 6])


def test_rsi_hand_computed():
    # changes +2, -1, +3, -2; seed (period 2): gain (2+0)/2 = 1, loss (0+1)/2 = 0.5
    # -> 100*1/1.5; then gain (1*1+3)/2 = 2, loss (0.5*1+0)/2 = 0.25 -> 100*2/2.25;
    # then gain (2+0)/2 = 1, loss (0.25+2)/2 = 1.125 -> 100*1/2.125
    expected = [NAN, NAN, 100 / 1.5, 100 * 2 / 2.25, 100 / 2.125]
    assert_series(feed(ind.RSI(2), [10, 12, 11, 14, 12]), expected)


def test_rsi_flat_prices_are_zero():
    # No change at all: both averages are 0, reported as 0 like TA-Lib.
    assert feed(ind.RSI(2), [5, 5, 5])[-1] == 0.0


def test_macd_hand_computed():
    # fast 1, slow 2, signal 1 (alpha 1, 2/3, 1):
    # index 1: slow = (1+3)/2 = 2, fast seed = mean of the last 1 value = 3,
    #          line = 1, signal seed = 1, histogram 0.
    # index 2: slow = (7-2)*2/3+2 = 16/3, fast = 7, line = 5/3, signal = 5/3.
    macd = ind.MACD(1, 2, 1)
    assert math.isnan(macd.update(1))
    assert macd.update(3) == 1.0
    assert macd.signal == 1.0
    assert macd.histogram == 0.0
    assert macd.update(7) == pytest.approx(5 / 3, rel=1e-15)
    assert macd.signal == pytest.approx(5 / 3, rel=1e-15)


def test_bollinger_hand_computed():
    # window 2,4,6: mean 4, population variance (4+0+4)/3 = 8/3
    bands = ind.BollingerBands(3, 2.0)
    feed(bands, [2, 4, 6])
    assert bands.middle == pytest.approx(4.0, rel=1e-15)
    assert bands.upper == pytest.approx(4 + 2 * math.sqrt(8 / 3), rel=1e-15)
    assert bands.lower == pytest.approx(4 - 2 * math.sqrt(8 / 3), rel=1e-15)


def test_rolling_std_hand_computed():
    # window 2,4,6: population sqrt(8/3), sample sqrt(8/2) = 2
    assert feed(ind.RollingStd(3), [2, 4, 6])[-1] == pytest.approx(math.sqrt(8 / 3), rel=1e-15)
    assert feed(ind.RollingStd(3, ddof=1), [2, 4, 6])[-1] == pytest.approx(2.0, rel=1e-15)


def test_rolling_std_flat_window_is_zero():
    values = [60000.01, 60000.01, 60000.01, 60000.01, 60000.01]
    assert feed(ind.RollingStd(2), values)[1:] == [0.0, 0.0, 0.0, 0.0]


def test_zscore_hand_computed():
    # window 2,4,6, latest 6: (6-4)/sqrt(8/3); sample: (6-4)/2 = 1
    assert feed(ind.ZScore(3), [2, 4, 6])[-1] == pytest.approx(2 / math.sqrt(8 / 3), rel=1e-15)
    assert feed(ind.ZScore(3, ddof=1), [2, 4, 6])[-1] == pytest.approx(1.0, rel=1e-15)


def test_zscore_flat_window_is_zero():
    assert feed(ind.ZScore(3), [7, 7, 7, 7])[2:] == [0.0, 0.0]


def test_atr_hand_computed():
    # bars (h, l, c): (10,8,9) (12,9,11) (11,7,8) (9,8,8.5)
    # TR2 = max(3, |9-12|, |9-9|) = 3; TR3 = max(4, 0, 4) = 4; TR4 = max(1, 1, 0) = 1
    # period 2: first ATR (3+4)/2 = 3.5; then (3.5*1+1)/2 = 2.25
    atr = ind.ATR(2)
    results = [atr.update(h, l, c) for h, l, c in [(10, 8, 9), (12, 9, 11), (11, 7, 8), (9, 8, 8.5)]]
    assert_series(results, [NAN, NAN, 3.5, 2.25])


def test_session_vwap_resets_at_utc_day():
    # day 0: (10*1 + 20*3)/4 = 17.5; next day restarts at 30.
    vwap = ind.SessionVWAP()
    day = ind.NS_PER_DAY
    assert feed_trades(vwap, [(10, 1, 0), (20, 3, day - 1), (30, 2, day)]) == [10.0, 17.5, 30.0]
    assert vwap.count == 1


def test_session_vwap_offset_moves_boundary():
    # sessions start at 08:00 UTC, so 07:59 and 08:00 fall in different sessions
    hour = 3_600_000_000_000
    vwap = ind.SessionVWAP(offset_ns=8 * hour)
    assert feed_trades(vwap, [(10, 1, 7 * hour), (20, 1, 8 * hour)]) == [10.0, 20.0]


def test_session_vwap_zero_volume_is_nan():
    vwap = ind.SessionVWAP()
    assert math.isnan(vwap.update(10.0, 0.0, 0))
    assert not vwap.ready


def test_session_vwap_rejects_earlier_session():
    vwap = ind.SessionVWAP()
    vwap.update(10.0, 1.0, ind.NS_PER_DAY)
    with pytest.raises(ValidationError, match=r"Cannot update SessionVWAP: 'timestamp_ns' 5 falls"):
        vwap.update(10.0, 1.0, 5)
    assert vwap.value == 10.0


def test_rolling_vwap_hand_computed():
    # (10*1+20*3)/4 = 17.5; (20*3+30*1)/4 = 22.5; window of zero volume -> NaN
    vwap = ind.RollingVWAP(2)
    results = [vwap.update(p, v) for p, v in [(10, 1), (20, 3), (30, 1), (40, 0), (50, 0)]]
    assert_series(results, [NAN, 17.5, 22.5, 30.0, NAN])


def test_rolling_min_max_hand_computed():
    values = [5, 3, 4, 4, 6, 1, 2]
    assert_series(feed(ind.RollingMin(3), values), [NAN, NAN, 3, 3, 4, 1, 1])
    assert_series(feed(ind.RollingMax(3), values), [NAN, NAN, 5, 4, 6, 6, 6])


def feed_trades(vwap, trades):
    return [vwap.update(price, volume, stamp) for price, volume, stamp in trades]


SINGLE_INPUT = [ind.SMA, ind.EMA, ind.WMA, ind.RSI, ind.RollingStd, ind.ZScore, ind.RollingMin, ind.RollingMax]


@pytest.mark.parametrize("cls", SINGLE_INPUT + [ind.ATR, ind.RollingVWAP])
@pytest.mark.parametrize("period, shown", [(0, "0"), (100_001, "100001"), (-3, "-3")])
def test_period_out_of_range(cls, period, shown):
    with pytest.raises(ValidationError, match=rf"'period' out of range \[1, 100000\], was {shown}$"):
        cls(period)


@pytest.mark.parametrize("cls", SINGLE_INPUT)
def test_period_not_integer(cls):
    with pytest.raises(ValidationError, match=r"'period' must be an integer in \[1, 100000\], was 2.5"):
        cls(2.5)


def test_sample_std_needs_two_values():
    with pytest.raises(ValidationError, match=r"'period' out of range \[2, 100000\], was 1"):
        ind.RollingStd(1, ddof=1)
    with pytest.raises(ValidationError, match=r"'ddof' out of range \[0, 1\], was 2"):
        ind.ZScore(5, ddof=2)


def test_macd_fast_must_be_below_slow():
    with pytest.raises(ValidationError, match=r"'fast_period' out of range \[1, 9\] .*was 10"):
        ind.MACD(10, 10, 9)
    with pytest.raises(ValidationError, match=r"'slow_period' out of range \[2, 100000\], was 1"):
        ind.MACD(1, 1, 1)
    with pytest.raises(ValidationError, match=r"'signal_period' out of range \[1, 100000\], was 0"):
        ind.MACD(12, 26, 0)


def test_bollinger_num_std_out_of_range():
    with pytest.raises(ValidationError, match=r"'num_std' out of range \(0, 100.0\], was 0.0"):
        ind.BollingerBands(20, 0.0)


def test_session_vwap_parameters_out_of_range():
    with pytest.raises(ValidationError, match=r"'session_ns' out of range \[1, 31622400000000000\], was 0"):
        ind.SessionVWAP(0)
    with pytest.raises(ValidationError, match=r"'offset_ns' out of range \[0, 9\], was 10"):
        ind.SessionVWAP(10, 10)


@pytest.mark.parametrize("cls", SINGLE_INPUT)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_update_rejects_non_finite(cls, bad):
    indicator = cls(3)
    feed(indicator, [1.0, 2.0, 3.0, 5.0])
    before = indicator.value
    assert indicator.ready
    with pytest.raises(ValidationError, match=r"'value' must be a finite number, was"):
        indicator.update(bad)
    assert indicator.value == before
    assert indicator.count == 4


def test_atr_rejects_inverted_bar():
    atr = ind.ATR(2)
    with pytest.raises(ValidationError, match=r"'high' must not be below 'low', was high 1.0 < low 2.0"):
        atr.update(1.0, 2.0, 1.5)
    assert atr.count == 0


def test_vwap_rejects_negative_volume():
    with pytest.raises(ValidationError, match=r"'volume' must be a finite number >= 0, was -1.0"):
        ind.RollingVWAP(3).update(10.0, -1.0)


def test_batch_rejects_non_finite_element():
    with pytest.raises(ValidationError, match=r"'values' must contain only finite numbers, was nan at index 2"):
        ind.sma([1.0, 2.0, math.nan, 4.0], 2)


def test_batch_rejects_two_dimensional():
    with pytest.raises(ValidationError, match=r"'values' must be a 1-D array, was 2-D with shape \(2, 2\)"):
        ind.ema(np.ones((2, 2)), 2)


def test_batch_rejects_strings():
    with pytest.raises(ValidationError, match=r"'values' must hold real numbers convertible to float64, was dtype <U1"):
        ind.wma(np.array(["1", "2"]), 2)


def test_batch_converts_integers_and_strided():
    values = np.arange(20, dtype=np.int32)
    np.testing.assert_array_equal(ind.sma(values, 3), ind.sma(values.astype(float), 3))
    strided = np.arange(40, dtype=float)[::2]
    np.testing.assert_array_equal(ind.sma(strided, 3), ind.sma(strided.copy(), 3))


def test_batch_rejects_length_mismatch():
    with pytest.raises(ValidationError, match=r"input arrays differ in length \('high' 3, 'low' 2, 'close' 3\)"):
        ind.atr([3.0, 3, 3], [1.0, 1], [2.0, 2, 2], 2)


def test_batch_empty_input():
    assert ind.rsi(np.array([], dtype=float), 14).shape == (0,)


def test_session_vwap_batch_rejects_earlier_session():
    day = ind.NS_PER_DAY
    with pytest.raises(ValidationError, match=r"'timestamps_ns' must not go back to an earlier session, was 0 at index 1"):
        ind.session_vwap([1.0, 2.0], [1.0, 1.0], np.array([day, 0]))


RESETTABLE = [
    lambda: ind.SMA(3), lambda: ind.EMA(3), lambda: ind.WMA(3), lambda: ind.RSI(3),
    lambda: ind.RollingStd(3), lambda: ind.ZScore(3), lambda: ind.RollingMin(3),
    lambda: ind.RollingMax(3), lambda: ind.MACD(2, 3, 2), lambda: ind.BollingerBands(3),
]


@pytest.mark.parametrize("make", RESETTABLE)
def test_reset_restarts_warm_up(make):
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    fresh = feed(make(), values)
    indicator = make()
    feed(indicator, [100.0, -7.0, 12.5, 8.0])
    indicator.reset()
    assert not indicator.ready
    assert indicator.count == 0
    assert math.isnan(indicator.value)
    np.testing.assert_array_equal(feed(indicator, values), fresh)


def test_reset_atr_and_vwaps():
    atr, session, rolling = ind.ATR(2), ind.SessionVWAP(), ind.RollingVWAP(2)
    atr.update(5, 1, 2)
    session.update(5.0, 1.0, ind.NS_PER_DAY)
    rolling.update(5.0, 1.0)
    for indicator in (atr, session, rolling):
        indicator.reset()
        assert indicator.count == 0
        assert math.isnan(indicator.value)
    # After reset an earlier session is accepted again.
    assert session.update(7.0, 1.0, 0) == 7.0


def test_ready_and_count_follow_warm_up():
    sma = ind.SMA(2)
    sma.update(1.0)
    assert (sma.ready, sma.count) == (False, 1)
    sma.update(2.0)
    assert (sma.ready, sma.count) == (True, 2)


def test_attributes_are_read_only():
    with pytest.raises(AttributeError):
        ind.SMA(2).value = 1.0


def test_window_sums_forget_large_past_values():
    # 5,000 prices near 1e9, then 5,000 near 1.  A running sum (sum += new -
    # old) keeps the rounding errors of the large values: on this series its
    # SMA is off by up to 3e-6 relative.  Block-prefix sums and Welford groups
    # only remember the last two windows.
    rng = np.random.default_rng(11)
    values = np.concatenate([1e9 + rng.normal(0, 1e6, 5000), 1.0 + rng.normal(0, 0.01, 5000)])
    volumes = rng.uniform(0.0, 2.0, values.size)
    period = 10
    tail = slice(-1000, None)
    window = np.lib.stride_tricks.sliding_window_view(values, period)[tail]
    weights = np.arange(1, period + 1)

    np.testing.assert_allclose(ind.sma(values, period)[tail], window.mean(axis=1), rtol=1e-13)
    np.testing.assert_allclose(ind.wma(values, period)[tail], window @ weights / weights.sum(), rtol=1e-13)
    np.testing.assert_allclose(ind.rolling_std(values, period)[tail], window.std(axis=1), rtol=1e-12)
    traded = np.lib.stride_tricks.sliding_window_view(values * volumes, period)[tail].sum(axis=1)
    volume = np.lib.stride_tricks.sliding_window_view(volumes, period)[tail].sum(axis=1)
    np.testing.assert_allclose(ind.rolling_vwap(values, volumes, period)[tail], traded / volume, rtol=1e-13)
