# cython: language_level=3
"""Signal kernels of the built-in strategies.

Every per-tick decision of ``mean_reversion``, ``momentum`` and
``market_making`` happens here in C: bar aggregation, the indicator
updates and the stop-loss / take-profit checks.  A kernel returns an
:class:`Action`; the strategy class in ``cryptobot.actors.strategies``
turns it into orders.  Backtests call ``on_trade_c`` from a C loop.
"""

from libc.math cimport isnan
from libc.stdint cimport int64_t

from cryptobot.core.errors import ValidationError
from cryptobot.hotpath.averages cimport EMA, SMA
from cryptobot.hotpath.volatility cimport ZScore


cdef class BarClock:
    """Splits a trade stream into bars of ``bar_ns`` nanoseconds, aligned to the epoch."""

    def __init__(self, int64_t bar_ns):
        if bar_ns < 0:
            raise ValidationError(f"'bar_ns' must be >= 0, was {bar_ns}", {"bar_ns": "expected >= 0"})
        self.bar_ns = bar_ns
        self.bar_end = 0
        self.close = 0.0

    cdef bint roll_c(self, int64_t ts) noexcept nogil:
        # True when ``ts`` starts a new bar, i.e. the bar in ``close`` is finished.
        cdef bint rolled = False
        if self.bar_end == 0:
            self.bar_end = (ts // self.bar_ns + 1) * self.bar_ns
        elif ts >= self.bar_end:
            rolled = True
            self.bar_end = (ts // self.bar_ns + 1) * self.bar_ns
        return rolled


cdef class PositionExits:
    """Stop-loss and take-profit on the position the strategy reports."""

    def __init__(self, double stop_loss_percent, double take_profit_percent):
        self.stop_loss = stop_loss_percent / 100.0
        self.take_profit = take_profit_percent / 100.0
        self.position = 0
        self.entry_price = 0.0
        self.pending = False

    cdef int check_c(self, double low, double high) noexcept nogil:
        if self.position == 0 or self.pending or self.entry_price <= 0.0:
            return NONE
        if self.position > 0:
            if self.stop_loss > 0.0 and low <= self.entry_price * (1.0 - self.stop_loss):
                return STOP_LOSS
            if self.take_profit > 0.0 and high >= self.entry_price * (1.0 + self.take_profit):
                return TAKE_PROFIT
        else:
            if self.stop_loss > 0.0 and high >= self.entry_price * (1.0 + self.stop_loss):
                return STOP_LOSS
            if self.take_profit > 0.0 and low <= self.entry_price * (1.0 - self.take_profit):
                return TAKE_PROFIT
        return NONE


cdef class MeanReversionKernel(PositionExits):
    """Trade the z-score of bar closes back to the mean.

    On each closed bar: flat and z <= -entry_threshold enters long (z >=
    entry_threshold enters short when shorts are allowed); long and z >=
    -exit_threshold, or short and z <= exit_threshold, exits.  On every
    trade: stop-loss and take-profit against the entry price.

    Runtime complexity: O(1) per trade.
    """

    def __init__(self, int lookback_period, double entry_threshold, double exit_threshold, double stop_loss_percent,
                 double take_profit_percent, int64_t bar_ns, bint allow_short=False):
        super().__init__(stop_loss_percent, take_profit_percent)
        self.zscore = ZScore(lookback_period)
        self.bars = BarClock(bar_ns)
        self.entry_threshold = entry_threshold
        self.exit_threshold = exit_threshold
        self.allow_short = allow_short
        self.last_z = float("nan")

    cdef int close_bar_c(self, double close) noexcept nogil:
        cdef double z = self.zscore.update_c(close)
        self.last_z = z
        if isnan(z) or self.pending:
            return NONE
        if self.position == 0:
            if z <= -self.entry_threshold:
                return ENTER_LONG
            if self.allow_short and z >= self.entry_threshold:
                return ENTER_SHORT
        elif self.position > 0 and z >= -self.exit_threshold:
            return EXIT
        elif self.position < 0 and z <= self.exit_threshold:
            return EXIT
        return NONE

    cdef int on_trade_c(self, int64_t ts, double price) noexcept nogil:
        cdef int action = NONE
        if self.bars.bar_ns == 0:
            action = self.close_bar_c(price)
        else:
            if self.bars.roll_c(ts):
                action = self.close_bar_c(self.bars.close)
            self.bars.close = price
        if action != NONE:
            return action
        return self.check_c(price, price)

    cdef int on_bar_c(self, double high, double low, double close) noexcept nogil:
        # The candle's range may reach a stop first, but its close still joins the averages.
        cdef int action = self.check_c(low, high)
        cdef int signal = self.close_bar_c(close)
        return action if action != NONE else signal

    def on_trade(self, int64_t ts, double price):
        """Feed one trade; return the Action it triggers."""
        return self.on_trade_c(ts, price)

    def on_bar(self, double high, double low, double close):
        """Feed one closed candle; return the Action it triggers."""
        return self.on_bar_c(high, low, close)


cdef class MomentumKernel(PositionExits):
    """Moving-average cross on bar closes.

    When the fast average crosses above the slow one: exit a short, or
    enter long when flat; below: exit a long, or enter short when flat and
    shorts are allowed.  Stop-loss and take-profit as for mean reversion.

    Runtime complexity: O(1) per trade.
    """

    def __init__(self, int fast_period, int slow_period, str average, double stop_loss_percent,
                 double take_profit_percent, int64_t bar_ns, bint allow_short=False):
        super().__init__(stop_loss_percent, take_profit_percent)
        self._use_ema = average == "ema"
        if self._use_ema:
            self._fast_ema = EMA(fast_period)
            self._slow_ema = EMA(slow_period)
            self.fast, self.slow = self._fast_ema, self._slow_ema
        else:
            self._fast_sma = SMA(fast_period)
            self._slow_sma = SMA(slow_period)
            self.fast, self.slow = self._fast_sma, self._slow_sma
        self.bars = BarClock(bar_ns)
        self.allow_short = allow_short
        self.last_fast = float("nan")
        self.last_slow = float("nan")
        self._last_side = 0

    cdef int close_bar_c(self, double close) noexcept nogil:
        cdef double fast, slow
        cdef int side, previous
        if self._use_ema:
            fast = self._fast_ema.update_c(close)
            slow = self._slow_ema.update_c(close)
        else:
            fast = self._fast_sma.update_c(close)
            slow = self._slow_sma.update_c(close)
        self.last_fast = fast
        self.last_slow = slow
        if isnan(fast) or isnan(slow):
            return NONE
        side = 1 if fast > slow else (-1 if fast < slow else 0)
        previous = self._last_side
        if side != 0:
            self._last_side = side
        if self.pending or side == 0 or previous == 0 or side == previous:
            return NONE
        if side > 0:
            if self.position < 0:
                return EXIT
            if self.position == 0:
                return ENTER_LONG
        else:
            if self.position > 0:
                return EXIT
            if self.position == 0 and self.allow_short:
                return ENTER_SHORT
        return NONE

    cdef int on_trade_c(self, int64_t ts, double price) noexcept nogil:
        cdef int action = NONE
        if self.bars.bar_ns == 0:
            action = self.close_bar_c(price)
        else:
            if self.bars.roll_c(ts):
                action = self.close_bar_c(self.bars.close)
            self.bars.close = price
        if action != NONE:
            return action
        return self.check_c(price, price)

    cdef int on_bar_c(self, double high, double low, double close) noexcept nogil:
        # The candle's range may reach a stop first, but its close still joins the averages.
        cdef int action = self.check_c(low, high)
        cdef int signal = self.close_bar_c(close)
        return action if action != NONE else signal

    def on_trade(self, int64_t ts, double price):
        """Feed one trade; return the Action it triggers."""
        return self.on_trade_c(ts, price)

    def on_bar(self, double high, double low, double close):
        """Feed one closed candle; return the Action it triggers."""
        return self.on_bar_c(high, low, close)


cdef class MarketMakingKernel:
    """Quote both sides around mid, skewed against the inventory.

    The quotes are ``mid * (1 -/+ half_spread)`` shifted down by
    ``skew * (inventory / max_inventory) * half_spread * mid``: a long
    inventory lowers both quotes so the ask fills sooner and the bid later.
    ``on_book_c`` returns REQUOTE when the mid has moved more than
    ``requote_threshold`` since the last quotes or the inventory changed.

    Runtime complexity: O(1) per book update.
    """

    def __init__(self, double spread_bps, double requote_bps, double skew, double max_inventory):
        self.half_spread = spread_bps / 20000.0
        self.requote_threshold = requote_bps / 10000.0
        self.skew = skew
        self.max_inventory = max_inventory
        self.inventory = 0.0
        self.quoted_mid = 0.0
        self.bid_price = 0.0
        self.ask_price = 0.0
        self._quoted_inventory = 0.0

    cdef int on_book_c(self, double bid, double ask) noexcept nogil:
        cdef double mid, ratio, shift
        if bid <= 0.0 or ask <= 0.0 or isnan(bid) or isnan(ask):
            return NONE
        mid = (bid + ask) * 0.5
        if (self.quoted_mid > 0.0 and abs(mid - self.quoted_mid) <= self.requote_threshold * self.quoted_mid
                and self.inventory == self._quoted_inventory):
            return NONE
        ratio = self.inventory / self.max_inventory if self.max_inventory > 0.0 else 0.0
        if ratio > 1.0:
            ratio = 1.0
        elif ratio < -1.0:
            ratio = -1.0
        shift = self.skew * ratio * self.half_spread * mid
        self.bid_price = mid * (1.0 - self.half_spread) - shift
        self.ask_price = mid * (1.0 + self.half_spread) - shift
        self.quoted_mid = mid
        self._quoted_inventory = self.inventory
        return REQUOTE

    def on_book(self, double bid, double ask):
        """Feed the best bid and ask; return REQUOTE when the quotes should change."""
        return self.on_book_c(bid, ask)
