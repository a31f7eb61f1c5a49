"""Property tests: streaming equals batch, and window results equal naive ones."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from cryptobot.hotpath import indicators as ind

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
series = st.lists(finite, min_size=0, max_size=120)
periods = st.integers(min_value=1, max_value=12)
PROFILE = settings(max_examples=60, deadline=None)

SINGLE = [
    (ind.SMA, ind.sma),
    (ind.EMA, ind.ema),
    (ind.WMA, ind.wma),
    (ind.RSI, ind.rsi),
    (ind.RollingStd, ind.rolling_std),
    (ind.ZScore, ind.zscore),
    (ind.RollingMin, ind.rolling_min),
    (ind.RollingMax, ind.rolling_max),
]


@PROFILE
@given(values=series, period=periods)
def test_streaming_equals_batch(values, period):
    for cls, batch in SINGLE:
        indicator = cls(period)
        streamed = np.array([indicator.update(v) for v in values], dtype=float)
        np.testing.assert_array_equal(streamed, batch(np.array(values, dtype=float), period), err_msg=cls.__name__)


@PROFILE
@given(values=series, periods=st.tuples(periods, periods, periods))
def test_macd_and_bands_streaming_equals_batch(values, periods):
    fast, slow, signal = sorted(periods[:2])[0], sorted(periods[:2])[1] + 1, periods[2]
    macd, bands = ind.MACD(fast, slow, signal), ind.BollingerBands(periods[2], 2.0)
    rows = []
    for v in values:
        macd.update(v)
        bands.update(v)
        rows.append((macd.macd, macd.signal, macd.histogram, bands.middle, bands.upper, bands.lower))
    streamed = np.array(rows, dtype=float).reshape(len(values), 6).T
    array = np.array(values, dtype=float)
    for column, batch in zip(streamed, [*ind.macd(array, fast, slow, signal), *ind.bollinger_bands(array, periods[2])]):
        np.testing.assert_array_equal(column, batch)


bars = st.lists(
    st.tuples(finite, st.floats(min_value=0, max_value=1e6), st.floats(min_value=0, max_value=1)),
    min_size=0,
    max_size=80,
)


@PROFILE
@given(rows=bars, period=periods)
def test_bar_indicators_streaming_equals_batch(rows, period):
    # Build bars with low <= close <= high from (low, range, position).
    low = np.array([r[0] for r in rows], dtype=float)
    high = low + np.array([r[1] for r in rows], dtype=float)
    close = low + (high - low) * np.array([r[2] for r in rows], dtype=float)
    volume = np.array([r[1] for r in rows], dtype=float)
    stamps = np.arange(len(rows), dtype=np.int64) * 7_200_000_000_000
    atr, session, rolling = ind.ATR(period), ind.SessionVWAP(), ind.RollingVWAP(period)
    streamed = np.array(
        [
            (atr.update(h, l, c), session.update(c, v, int(t)), rolling.update(c, v))
            for h, l, c, v, t in zip(high, low, close, volume, stamps)
        ],
        dtype=float,
    ).reshape(len(rows), 3).T
    np.testing.assert_array_equal(streamed[0], ind.atr(high, low, close, period))
    np.testing.assert_array_equal(streamed[1], ind.session_vwap(close, volume, stamps))
    np.testing.assert_array_equal(streamed[2], ind.rolling_vwap(close, volume, period))


@PROFILE
@given(values=st.lists(finite, min_size=1, max_size=120), period=periods)
def test_window_results_equal_naive(values, period):
    array = np.array(values, dtype=float)
    if len(array) < period:
        assert np.isnan(ind.sma(array, period)).all()
        return
    window = sliding_window_view(array, period)
    warm_up = np.full(period - 1, np.nan)
    np.testing.assert_array_equal(ind.rolling_min(array, period), np.concatenate([warm_up, window.min(axis=1)]))
    np.testing.assert_array_equal(ind.rolling_max(array, period), np.concatenate([warm_up, window.max(axis=1)]))
    # The window sum is built from prefix sums of the current and previous
    # block of `period` values, so it rounds at about eps * period times the
    # largest magnitude among the last 2 * period values.
    expected = window.sum(axis=1) / period
    actual = ind.sma(array, period)[period - 1 :]
    padded = np.concatenate([np.zeros(period), np.abs(array)])
    span = sliding_window_view(padded, 2 * period).max(axis=1)
    atol = 4 * period * np.finfo(float).eps * span
    assert np.all(np.abs(actual - expected) <= atol)


@PROFILE
@given(values=st.lists(finite, min_size=1, max_size=120), period=periods)
def test_rolling_std_equals_two_pass(values, period):
    array = np.array(values, dtype=float)
    if len(array) < period:
        return
    window = sliding_window_view(array, period)
    deviations = window - window.mean(axis=1, keepdims=True)
    expected_m2 = (deviations**2).sum(axis=1)
    actual_m2 = ind.rolling_std(array, period)[period - 1 :] ** 2 * period
    # Welford and Chan round each term at about eps times the squared spread
    # of the values involved: those of the window and the block before it.
    padded = np.concatenate([np.full(period, array[0]), array])
    spans = sliding_window_view(padded, 2 * period)
    spread = spans.max(axis=1) - spans.min(axis=1)
    atol = 16 * period * np.finfo(float).eps * spread**2
    assert np.all(np.abs(actual_m2 - expected_m2) <= 1e-9 * expected_m2 + atol)
