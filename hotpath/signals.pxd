"""C API of the strategy signal kernels.

A kernel turns prices into action codes; the Python strategy around it
turns codes into orders and writes the position it actually holds back
into ``position`` and ``entry_price``.  While ``pending`` is set (an order
is in flight) a kernel updates its indicators but emits nothing.
"""

from libc.stdint cimport int64_t

from cryptobot.hotpath.averages cimport EMA, SMA
from cryptobot.hotpath.volatility cimport ZScore

cpdef enum Action:
    NONE = 0  # nothing to do
    ENTER_LONG = 1  # open a long position
    ENTER_SHORT = 2  # open a short position
    EXIT = 3  # close the position: the signal has gone
    STOP_LOSS = 4  # close the position: the loss reached stop_loss
    TAKE_PROFIT = 5  # close the position: the gain reached take_profit
    REQUOTE = 6  # replace the market maker's quotes


cdef class BarClock:
    cdef readonly int64_t bar_ns
    """Bar length in ns; 0 makes every trade a bar of its own."""
    cdef readonly int64_t bar_end
    """End (exclusive) of the bar being built; 0 before the first trade."""
    cdef readonly double close
    """Last price seen in the bar being built."""

    cdef bint roll_c(self, int64_t ts) noexcept nogil


cdef class PositionExits:
    cdef public int position
    """Direction held: 1 long, -1 short, 0 flat (set by the strategy)."""
    cdef public double entry_price
    """Average entry price of the position (set by the strategy)."""
    cdef public bint pending
    """An order is in flight: emit nothing until it ends."""
    cdef readonly double stop_loss
    """Stop distance as a fraction of the entry price; 0 disables it."""
    cdef readonly double take_profit
    """Profit target as a fraction of the entry price; 0 disables it."""

    cdef int check_c(self, double low, double high) noexcept nogil


cdef class MeanReversionKernel(PositionExits):
    cdef readonly ZScore zscore
    """Rolling z-score of bar closes over ``lookback_period`` bars."""
    cdef readonly BarClock bars
    """Bar aggregation of the strategy's timeframe."""
    cdef readonly double entry_threshold
    cdef readonly double exit_threshold
    cdef readonly bint allow_short
    cdef readonly double last_z
    """z-score of the last closed bar (NaN in warm-up)."""

    cdef int close_bar_c(self, double close) noexcept nogil
    cdef int on_trade_c(self, int64_t ts, double price) noexcept nogil
    cdef int on_bar_c(self, double high, double low, double close) noexcept nogil


cdef class MomentumKernel(PositionExits):
    cdef readonly object fast
    """Fast moving average (SMA or EMA) of bar closes."""
    cdef readonly object slow
    """Slow moving average of bar closes."""
    cdef SMA _fast_sma
    cdef SMA _slow_sma
    cdef EMA _fast_ema
    cdef EMA _slow_ema
    cdef bint _use_ema
    cdef readonly BarClock bars
    cdef readonly bint allow_short
    cdef readonly double last_fast
    cdef readonly double last_slow
    cdef int _last_side

    cdef int close_bar_c(self, double close) noexcept nogil
    cdef int on_trade_c(self, int64_t ts, double price) noexcept nogil
    cdef int on_bar_c(self, double high, double low, double close) noexcept nogil


cdef class MarketMakingKernel:
    cdef readonly double half_spread
    """Half the quoted spread, as a fraction of mid."""
    cdef readonly double requote_threshold
    """Mid move (fraction) that makes the quotes stale."""
    cdef readonly double skew
    """Inventory skew factor in [0, 1]."""
    cdef readonly double max_inventory
    """Inventory (base units) at which the skew is full and one side stops quoting."""
    cdef public double inventory
    """Base units held (set by the strategy)."""
    cdef readonly double quoted_mid
    """Mid at the last requote; 0 before the first."""
    cdef readonly double bid_price
    cdef readonly double ask_price
    cdef double _quoted_inventory

    cdef int on_book_c(self, double bid, double ask) noexcept nogil
