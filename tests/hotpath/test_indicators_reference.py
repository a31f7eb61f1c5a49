"""Indicators against TA-Lib and plain numpy on real recorded candles.

Closes, highs and lows come from Binance spot BTCUSDT 1-minute klines
(August 2024 plus 2025-01-01, whose timestamps are in microseconds) and the
FTX BTC-PERP 1-minute bars (45,031 bars).  NaN warm-up positions must match
exactly; values to 1e-9 relative unless a test explains why not.
"""

from __future__ import annotations

import numpy as np
import pytest
import talib
from numpy.lib.stride_tricks import sliding_window_view

from cryptobot.hotpath import indicators as ind

RTOL = 1e-9
PERIODS = [1, 2, 3, 14, 20, 200, 2000]


def load_binance(folder):
    """Return (open_time_ns, high, low, close, volume) of every kline file."""
    files = sorted((folder / "binance_vision_klines").glob("BTCUSDT-1m-*.csv"))
    assert len(files) == 11
    parts = []
    for path in files:
        table = np.loadtxt(path, delimiter=",", usecols=(0, 2, 3, 4, 5), dtype=np.float64)
        times = np.loadtxt(path, delimiter=",", usecols=0, dtype=np.int64)
        # Open times are milliseconds (13 digits) up to 2024, microseconds (16) after.
        scale = 1_000 if times[0] >= 10**15 else 1_000_000
        parts.append((times * scale, table[:, 1], table[:, 2], table[:, 3], table[:, 4]))
    return tuple(np.concatenate(column) for column in zip(*parts))


def load_ftx(folder):
    """Return (open_time_ns, high, low, close, volume) of the FTX bars."""
    path = folder / "nautilus_trader" / "ftx" / "btc-perp-20211231-20220201_1m.csv"
    table = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(2, 3, 4, 5))
    stamps = np.loadtxt(path, delimiter=",", skiprows=1, usecols=0, dtype="datetime64[ns]")
    assert len(table) == 45_031
    return stamps.view(np.int64), table[:, 0], table[:, 1], table[:, 2], table[:, 3]


@pytest.fixture(scope="module", params=["binance", "ftx"])
def bars(request, sample_data):
    loader = load_binance if request.param == "binance" else load_ftx
    return loader(sample_data)


def assert_matches(actual, expected, rtol=RTOL):
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg="NaN positions differ")
    finite = ~np.isnan(expected)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol, atol=0)


def talib_or_identity(function, values, period):
    """TA-Lib rejects period 1 for some functions; the 1-value window is the value."""
    return values.copy() if period == 1 else function(values, period)


@pytest.mark.parametrize("period", PERIODS)
def test_sma_matches_talib(bars, period):
    close = bars[3]
    assert_matches(ind.sma(close, period), talib.SMA(close, period))


@pytest.mark.parametrize("period", PERIODS)
def test_ema_matches_talib(bars, period):
    close = bars[3]
    assert_matches(ind.ema(close, period), talib.EMA(close, period))


@pytest.mark.parametrize("period", PERIODS)
def test_wma_matches_talib(bars, period):
    close = bars[3]
    assert_matches(ind.wma(close, period), talib.WMA(close, period))


@pytest.mark.parametrize("period", [2, 3, 14, 20, 200, 2000])
def test_rsi_matches_talib(bars, period):
    close = bars[3]
    assert_matches(ind.rsi(close, period), talib.RSI(close, period))


def test_rsi_period_one_is_direction(bars):
    # TA-Lib rejects period 1; with it the averages are the last gain and
    # loss, so RSI is 100 after a rise and 0 after a fall or no change.
    close = bars[3]
    expected = np.where(np.diff(close) > 0, 100.0, 0.0)
    assert_matches(ind.rsi(close, 1), np.concatenate([[np.nan], expected]))


@pytest.mark.parametrize("periods", [(12, 26, 9), (2, 3, 1), (5, 35, 5), (50, 200, 30)])
def test_macd_matches_talib(bars, periods):
    close = bars[3]
    for actual, expected in zip(ind.macd(close, *periods), talib.MACD(close, *periods)):
        # Bit for bit: the histogram crosses zero, where any rounding
        # difference would be a large relative error.
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("period", [2, 3, 5, 20, 200, 2000])
def test_bollinger_matches_talib(bars, period):
    close = bars[3]
    middle, upper, lower = ind.bollinger_bands(close, period, 2.0)
    talib_upper, talib_middle, talib_lower = talib.BBANDS(close, period, 2.0, 2.0, 0)
    assert_matches(middle, talib_middle)
    assert_matches(upper, talib_upper)
    assert_matches(lower, talib_lower)


def two_pass_std(values, period, ddof=0):
    window = sliding_window_view(values, period)
    deviations = window - window.mean(axis=1, keepdims=True)
    std = np.sqrt((deviations**2).sum(axis=1) / (period - ddof))
    return np.concatenate([np.full(period - 1, np.nan), std])


@pytest.mark.parametrize("period", [20, 200, 2000])
def test_rolling_std_matches_talib(bars, period):
    close = bars[3]
    assert_matches(ind.rolling_std(close, period), talib.STDDEV(close, period, 1.0))


@pytest.mark.parametrize(
    "period, ddof",
    [(1, 0), (2, 0), (3, 0), (5, 0), (20, 0), (200, 0), (2000, 0), (2, 1), (3, 1), (20, 1), (2000, 1)],
)
def test_rolling_std_matches_two_pass(bars, period, ddof):
    # TA-Lib's STDDEV subtracts mean(x)**2 from mean(x**2), so on 2-5 value
    # windows of cent-quoted prices it is itself up to 7e-8 off the exact
    # value. The two-pass deviation is the reference here.
    close = bars[3]
    actual = ind.rolling_std(close, period, ddof)
    expected = two_pass_std(close, period, ddof)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    finite = ~np.isnan(expected)
    # A flat window is exactly 0 here; the two-pass value may be rounding noise.
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=RTOL, atol=1e-9)


@pytest.mark.parametrize("period", [5, 20, 200])
def test_zscore_matches_numpy(bars, period):
    close = bars[3]
    window = sliding_window_view(close, period)
    latest = close[period - 1 :]
    std = window.std(axis=1)
    flat = std == 0.0
    # A flat window's z-score is defined as 0.
    z = np.where(flat, 0.0, (latest - window.mean(axis=1)) / np.where(flat, 1.0, std))
    actual = ind.zscore(close, period)
    assert np.isnan(actual[: period - 1]).all()
    # The z-score divides a difference of prices by the deviation, so its
    # absolute error scales with eps * price / deviation, not with z.
    atol = np.where(flat, 0.0, 64 * np.finfo(float).eps * latest / np.where(flat, 1.0, std))
    error = np.abs(actual[period - 1 :] - z)
    assert np.all(error <= RTOL * np.abs(z) + atol)


@pytest.mark.parametrize("period", [1, 2, 3, 14, 200])
def test_atr_matches_talib(bars, period):
    _, high, low, close, _ = bars
    assert_matches(ind.atr(high, low, close, period), talib.ATR(high, low, close, period))


@pytest.mark.parametrize("period", PERIODS)
def test_rolling_min_max_match_talib(bars, period):
    close = bars[3]
    np.testing.assert_array_equal(ind.rolling_min(close, period), talib_or_identity(talib.MIN, close, period))
    np.testing.assert_array_equal(ind.rolling_max(close, period), talib_or_identity(talib.MAX, close, period))


def test_session_vwap_matches_daily_cumsum(bars):
    times, high, low, close, volume = bars
    typical = (high + low + close) / 3.0
    day = times // ind.NS_PER_DAY
    expected = np.empty_like(close)
    for session in np.unique(day):
        rows = day == session
        expected[rows] = np.cumsum(typical[rows] * volume[rows]) / np.cumsum(volume[rows])
    assert_matches(ind.session_vwap(typical, volume, times), expected)


@pytest.mark.parametrize("period", [1, 2, 30, 1440])
def test_rolling_vwap_matches_window_sums(bars, period):
    _, high, low, close, volume = bars
    typical = (high + low + close) / 3.0
    weighted = sliding_window_view(typical * volume, period).sum(axis=1)
    total = sliding_window_view(volume, period).sum(axis=1)
    expected = np.concatenate([np.full(period - 1, np.nan), weighted / total])
    assert_matches(ind.rolling_vwap(typical, volume, period), expected)


STREAMING = [
    (lambda: ind.SMA(20), lambda x: ind.sma(x, 20)),
    (lambda: ind.EMA(20), lambda x: ind.ema(x, 20)),
    (lambda: ind.WMA(20), lambda x: ind.wma(x, 20)),
    (lambda: ind.RSI(14), lambda x: ind.rsi(x, 14)),
    (lambda: ind.RollingStd(3), lambda x: ind.rolling_std(x, 3)),
    (lambda: ind.ZScore(20, 1), lambda x: ind.zscore(x, 20, 1)),
    (lambda: ind.RollingMin(30), lambda x: ind.rolling_min(x, 30)),
    (lambda: ind.RollingMax(30), lambda x: ind.rolling_max(x, 30)),
]


@pytest.mark.parametrize("make, batch", STREAMING)
def test_streaming_equals_batch_on_candles(bars, make, batch):
    close = bars[3][:5000]
    indicator = make()
    streamed = np.array([indicator.update(value) for value in close])
    np.testing.assert_array_equal(streamed, batch(close))


def test_multi_output_streaming_equals_batch_on_candles(bars):
    times, high, low, close, volume = (column[:5000] for column in bars)
    macd, bands, atr = ind.MACD(), ind.BollingerBands(20, 2.0), ind.ATR(14)
    session, rolling = ind.SessionVWAP(), ind.RollingVWAP(60)
    rows = []
    for i in range(len(close)):
        macd.update(close[i])
        bands.update(close[i])
        rows.append(
            (
                macd.macd, macd.signal, macd.histogram,
                bands.middle, bands.upper, bands.lower,
                atr.update(high[i], low[i], close[i]),
                session.update(close[i], volume[i], int(times[i])),
                rolling.update(close[i], volume[i]),
            )
        )
    streamed = np.array(rows).T
    expected = [
        *ind.macd(close),
        *ind.bollinger_bands(close, 20, 2.0),
        ind.atr(high, low, close, 14),
        ind.session_vwap(close, volume, times),
        ind.rolling_vwap(close, volume, 60),
    ]
    for column, batch in zip(streamed, expected):
        np.testing.assert_array_equal(column, batch)
