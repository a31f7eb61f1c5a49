"""Volatility: rolling standard deviation, Bollinger bands, rolling z-score
and the average true range (ATR).

Each indicator comes as a streaming class (O(1) per update, no allocation
after construction) and a batch function that runs the class's kernel over
arrays, so streaming and batch results are bit-identical.

The rolling deviation avoids the cancellation of the textbook
``mean(x**2) - mean(x)**2`` at BTC prices by joining Welford moments of at
most three groups of values (see ``RollingMoments`` in ``window.pxd``).
TA-Lib's ``STDDEV`` and ``BBANDS`` use the textbook form, so on 2-5 value
windows of prices quoted in cents they are up to about 1e-7 relative off
the exact value; these stay within about 1e-15 of it (measured on the
recorded BTCUSDT and BTC-PERP minute closes).

Inputs must be finite: ``update`` and the batch functions raise
``ValidationError`` on NaN or infinity and leave the state unchanged.
"""

from libc.math cimport NAN, isfinite

import numpy as np

from cryptobot.core.errors import ValidationError
from cryptobot.hotpath._checks import (
    as_series,
    check_int,
    check_period,
    check_positive_real,
    check_same_length,
    non_finite_element_error,
    non_finite_error,
)
from cryptobot.hotpath.window cimport rolling_moments_clear, rolling_moments_free, rolling_moments_init


cdef class RollingStd:
    """Standard deviation over the last `period` values.

    ``sqrt(sum((x_i - mean)**2) / (period - ddof))`` over the window;
    `ddof` 0 gives the population deviation (TA-Lib's ``STDDEV`` with
    ``nbdev=1``, and the one Bollinger bands use), 1 the sample deviation.
    NaN for the first ``period - 1`` updates.  A flat window gives exactly 0.

    Parameters
    ----------
    period : int
        Window length, in [1 + ddof, 100000].
    ddof : int, default 0
        Delta degrees of freedom, 0 or 1.

    Raises
    ------
    ValidationError
        If a parameter is not an integer in range.

    Notes
    -----
    Runtime complexity: O(1) per update (worst case, not amortized);
    O(period) memory, about 3 * period doubles, allocated once.
    """

    def __cinit__(self, period, ddof=0):
        self.ddof = check_int("ddof", ddof, 0, 1)
        self.period = check_period(period, low=1 + self.ddof)
        self._state.period = self.period
        self._state.ddof = self.ddof
        rolling_moments_init(&self._state.moments, self.period)
        self.reset_c()

    def __dealloc__(self):
        rolling_moments_free(&self._state.moments)

    cdef void reset_c(self) noexcept nogil:
        rolling_moments_clear(&self._state.moments)
        self._state.count = 0
        self._state.ready = False
        self._state.value = NAN
        self.count = 0
        self.ready = False
        self.value = NAN

    cdef double update_c(self, double value) noexcept nogil:
        self.value = std_step(&self._state, value)
        self.count = self._state.count
        self.ready = self._state.ready
        return self.value

    def update(self, double value):
        """Add one value and return the latest deviation (NaN during warm-up).

        Runtime complexity: O(1).

        Raises
        ------
        ValidationError
            If `value` is NaN or infinite; the state is left unchanged.
        """
        if not isfinite(value):
            raise non_finite_error("value", value)
        return self.update_c(value)

    def reset(self):
        """Forget every value, returning to the state after construction.

        Runtime complexity: O(1).
        """
        self.reset_c()

    def __repr__(self):
        return f"RollingStd(period={self.period}, ddof={self.ddof})"


cdef class BollingerBands:
    """Bollinger bands: the SMA and the SMA plus and minus a multiple of the
    population standard deviation over the last `period` values.

    ``middle = mean``, ``upper = middle + num_std * sd``,
    ``lower = middle - num_std * sd`` with ``sd`` the population deviation,
    as TA-Lib's ``BBANDS`` with a simple moving average.  NaN for the first
    ``period - 1`` updates.

    Parameters
    ----------
    period : int, default 20
        Window length, in [1, 100000].
    num_std : float, default 2.0
        Band half-width in deviations, in (0, 100].

    Raises
    ------
    ValidationError
        If a parameter is out of range.

    Notes
    -----
    ``update`` returns the middle band; read `upper` and `lower` after it.

    Runtime complexity: O(1) per update; O(period) memory, allocated once.
    """

    def __cinit__(self, period=20, num_std=2.0):
        self.period = check_period(period)
        self.num_std = check_positive_real("num_std", num_std, 100.0)
        self._state.period = self.period
        self._state.num_std = self.num_std
        rolling_moments_init(&self._state.moments, self.period)
        self.reset_c()

    def __dealloc__(self):
        rolling_moments_free(&self._state.moments)

    cdef void reset_c(self) noexcept nogil:
        rolling_moments_clear(&self._state.moments)
        self._state.count = 0
        self._state.ready = False
        self._state.middle = NAN
        self._state.upper = NAN
        self._state.lower = NAN
        self.count = 0
        self.ready = False
        self.value = NAN
        self.middle = NAN
        self.upper = NAN
        self.lower = NAN

    cdef double update_c(self, double value) noexcept nogil:
        self.value = bollinger_step(&self._state, value)
        self.middle = self.value
        self.upper = self._state.upper
        self.lower = self._state.lower
        self.count = self._state.count
        self.ready = self._state.ready
        return self.value

    def update(self, double value):
        """Add one value and return the middle band (NaN during warm-up).

        Runtime complexity: O(1).

        Raises
        ------
        ValidationError
            If `value` is NaN or infinite; the state is left unchanged.
        """
        if not isfinite(value):
            raise non_finite_error("value", value)
        return self.update_c(value)

    def reset(self):
        """Forget every value, returning to the state after construction.

        Runtime complexity: O(1).
        """
        self.reset_c()

    def __repr__(self):
        return f"BollingerBands(period={self.period}, num_std={self.num_std!r})"


cdef class ZScore:
    """Rolling z-score of the latest value against the last `period` values.

    ``z = (x_t - mean) / sd`` with the mean and deviation (see
    :class:`RollingStd` for `ddof`) of the window that ends at, and
    includes, ``x_t``.  A flat window (``sd`` of 0) gives 0.  NaN for the
    first ``period - 1`` updates.

    Parameters
    ----------
    period : int
        Window length, in [1 + ddof, 100000].
    ddof : int, default 0
        Delta degrees of freedom of the deviation, 0 or 1.

    Raises
    ------
    ValidationError
        If a parameter is not an integer in range.

    Notes
    -----
    Runtime complexity: O(1) per update; O(period) memory, allocated once.
    """

    def __cinit__(self, period, ddof=0):
        self.ddof = check_int("ddof", ddof, 0, 1)
        self.period = check_period(period, low=1 + self.ddof)
        self._state.period = self.period
        self._state.ddof = self.ddof
        rolling_moments_init(&self._state.moments, self.period)
        self.reset_c()

    def __dealloc__(self):
        rolling_moments_free(&self._state.moments)

    cdef void reset_c(self) noexcept nogil:
        rolling_moments_clear(&self._state.moments)
        self._state.count = 0
        self._state.ready = False
        self._state.value = NAN
        self.count = 0
        self.ready = False
        self.value = NAN

    cdef double update_c(self, double value) noexcept nogil:
        self.value = zscore_step(&self._state, value)
        self.count = self._state.count
        self.ready = self._state.ready
        return self.value

    def update(self, double value):
        """Add one value and return its z-score (NaN during warm-up).

        Runtime complexity: O(1).

        Raises
        ------
        ValidationError
            If `value` is NaN or infinite; the state is left unchanged.
        """
        if not isfinite(value):
            raise non_finite_error("value", value)
        return self.update_c(value)

    def reset(self):
        """Forget every value, returning to the state after construction.

        Runtime complexity: O(1).
        """
        self.reset_c()

    def __repr__(self):
        return f"ZScore(period={self.period}, ddof={self.ddof})"


cdef class ATR:
    """Average true range with Wilder smoothing, seeded as TA-Lib's ``ATR``.

    The true range of bar t is ``max(high_t - low_t, |close_{t-1} - high_t|,
    |close_{t-1} - low_t|)``; the first bar has none.  The first ATR, at bar
    ``period + 1``, is the mean of the first `period` true ranges; after it
    ``ATR_t = (ATR_{t-1} * (period - 1) + TR_t) / period``.  NaN before.

    Parameters
    ----------
    period : int, default 14
        Smoothing period, in [1, 100000].

    Raises
    ------
    ValidationError
        If `period` is not an integer in range.

    Notes
    -----
    Runtime complexity: O(1) per update and O(1) memory.
    """

    def __cinit__(self, period=14):
        self.period = check_period(period)
        self._state.period = self.period
        self.reset_c()

    cdef void reset_c(self) noexcept nogil:
        self._state.previous_close = 0.0
        self._state.range_sum = 0.0
        self._state.count = 0
        self._state.ready = False
        self._state.value = NAN
        self.count = 0
        self.ready = False
        self.value = NAN

    cdef double update_c(self, double high, double low, double close) noexcept nogil:
        self.value = atr_step(&self._state, high, low, close)
        self.count = self._state.count
        self.ready = self._state.ready
        return self.value

    def update(self, double high, double low, double close):
        """Add one bar and return the latest ATR (NaN during warm-up).

        Runtime complexity: O(1).

        Raises
        ------
        ValidationError
            If a price is NaN or infinite, or `high` is below `low`; the
            state is left unchanged.
        """
        if not (isfinite(high) and isfinite(low) and isfinite(close)):
            for name, price in (("high", high), ("low", low), ("close", close)):
                if not isfinite(price):
                    raise non_finite_error(name, price)
        if high < low:
            raise _inverted_bar_error(high, low, None)
        return self.update_c(high, low, close)

    def reset(self):
        """Forget every bar, returning to the state after construction.

        Runtime complexity: O(1).
        """
        self.reset_c()

    def __repr__(self):
        return f"ATR(period={self.period})"


def _inverted_bar_error(double high, double low, index):
    where = "" if index is None else f" at index {index}"
    return ValidationError(
        f"'high' must not be below 'low', was high {high!r} < low {low!r}{where}",
        {"high": "below low"},
    )


def rolling_std(values, period, ddof=0):
    """Compute the rolling standard deviation of a series.

    Parameters
    ----------
    values : array_like
        1-D real numbers, all finite; converted to contiguous float64.
    period : int
        Window length, in [1 + ddof, 100000].
    ddof : int, default 0
        Delta degrees of freedom, 0 (population) or 1 (sample).

    Returns
    -------
    numpy.ndarray
        New float64 array of the same length; NaN for the first
        ``period - 1`` elements.  Bit-identical to feeding :class:`RollingStd`.

    Raises
    ------
    ValidationError
        If a parameter is out of range, or `values` is not 1-D real or holds
        NaN or infinity.

    Notes
    -----
    Runtime complexity: O(len(values)).
    """
    cdef RollingStd indicator = RollingStd(period, ddof)
    cdef const double[::1] x = as_series("values", values)
    out = np.empty(x.shape[0], dtype=np.float64)
    cdef double[::1] y = out
    cdef Py_ssize_t bad = -1
    if x.shape[0]:
        with nogil:
            bad = _std_run(indicator._state, &x[0], &y[0], x.shape[0])
    if bad >= 0:
        raise non_finite_element_error("values", bad, x[bad])
    return out


def bollinger_bands(values, period=20, num_std=2.0):
    """Compute Bollinger bands of a series.

    Parameters
    ----------
    values : array_like
        1-D real numbers, all finite; converted to contiguous float64.
    period, num_std
        As for :class:`BollingerBands`.

    Returns
    -------
    tuple of numpy.ndarray
        ``(middle, upper, lower)``, new float64 arrays of the input's
        length, NaN for the first ``period - 1`` elements.  (TA-Lib's
        ``BBANDS`` returns upper, middle, lower.)  Bit-identical to feeding
        :class:`BollingerBands`.

    Raises
    ------
    ValidationError
        If a parameter is out of range, or `values` is not 1-D real or holds
        NaN or infinity.

    Notes
    -----
    Runtime complexity: O(len(values)).
    """
    cdef BollingerBands indicator = BollingerBands(period, num_std)
    cdef const double[::1] x = as_series("values", values)
    cdef Py_ssize_t n = x.shape[0]
    middle_out = np.empty(n, dtype=np.float64)
    upper_out = np.empty(n, dtype=np.float64)
    lower_out = np.empty(n, dtype=np.float64)
    cdef double[::1] middle = middle_out
    cdef double[::1] upper = upper_out
    cdef double[::1] lower = lower_out
    cdef Py_ssize_t bad = -1
    if n:
        with nogil:
            bad = _bollinger_run(indicator._state, &x[0], &middle[0], &upper[0], &lower[0], n)
    if bad >= 0:
        raise non_finite_element_error("values", bad, x[bad])
    return middle_out, upper_out, lower_out


def zscore(values, period, ddof=0):
    """Compute the rolling z-score of a series.

    Parameters
    ----------
    values : array_like
        1-D real numbers, all finite; converted to contiguous float64.
    period : int
        Window length, in [1 + ddof, 100000].
    ddof : int, default 0
        Delta degrees of freedom of the deviation, 0 or 1.

    Returns
    -------
    numpy.ndarray
        New float64 array of the same length; NaN for the first
        ``period - 1`` elements.  Bit-identical to feeding :class:`ZScore`.

    Raises
    ------
    ValidationError
        If a parameter is out of range, or `values` is not 1-D real or holds
        NaN or infinity.

    Notes
    -----
    Runtime complexity: O(len(values)).
    """
    cdef ZScore indicator = ZScore(period, ddof)
    cdef const double[::1] x = as_series("values", values)
    out = np.empty(x.shape[0], dtype=np.float64)
    cdef double[::1] y = out
    cdef Py_ssize_t bad = -1
    if x.shape[0]:
        with nogil:
            bad = _zscore_run(indicator._state, &x[0], &y[0], x.shape[0])
    if bad >= 0:
        raise non_finite_element_error("values", bad, x[bad])
    return out


def atr(high, low, close, period=14):
    """Compute the Wilder average true range of a bar series, seeded as TA-Lib.

    Parameters
    ----------
    high, low, close : array_like
        1-D real numbers of one length, all finite, with ``high >= low``.
    period : int, default 14
        Smoothing period, in [1, 100000].

    Returns
    -------
    numpy.ndarray
        New float64 array of the same length; NaN for the first `period`
        elements.  Bit-identical to feeding :class:`ATR`.

    Raises
    ------
    ValidationError
        If `period` is out of range, the arrays differ in length, are not
        1-D real, hold NaN or infinity, or a high is below its low.

    Notes
    -----
    Runtime complexity: O(len(close)).
    """
    cdef ATR indicator = ATR(period)
    cdef const double[::1] h = as_series("high", high)
    cdef const double[::1] l = as_series("low", low)
    cdef const double[::1] c = as_series("close", close)
    check_same_length(("high", "low", "close"), (h.base, l.base, c.base))
    cdef Py_ssize_t n = c.shape[0]
    out = np.empty(n, dtype=np.float64)
    cdef double[::1] y = out
    cdef Py_ssize_t bad = -1
    if n:
        with nogil:
            bad = _atr_run(indicator._state, &h[0], &l[0], &c[0], &y[0], n)
    if bad >= 0:
        for name, column in (("high", h), ("low", l), ("close", c)):
            if not isfinite(column[bad]):
                raise non_finite_element_error(name, bad, column[bad])
        raise _inverted_bar_error(h[bad], l[bad], bad)
    return out


# Batch loops: each takes the state by value, so the compiler can keep it in
# registers, and returns the index of the first invalid input, or -1.

cdef Py_ssize_t _std_run(StdState state, const double* x, double* y, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(x[i]):
            return i
        y[i] = std_step(&state, x[i])
    return -1


cdef Py_ssize_t _zscore_run(ZScoreState state, const double* x, double* y, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(x[i]):
            return i
        y[i] = zscore_step(&state, x[i])
    return -1


cdef Py_ssize_t _bollinger_run(
    BollingerState state, const double* x, double* middle, double* upper, double* lower, Py_ssize_t n
) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(x[i]):
            return i
        middle[i] = bollinger_step(&state, x[i])
        upper[i] = state.upper
        lower[i] = state.lower
    return -1


cdef Py_ssize_t _atr_run(
    ATRState state, const double* high, const double* low, const double* close, double* y, Py_ssize_t n
) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if not (isfinite(high[i]) and isfinite(low[i]) and isfinite(close[i])) or high[i] < low[i]:
            return i
        y[i] = atr_step(&state, high[i], low[i], close[i])
    return -1
