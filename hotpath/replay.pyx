# cython: language_level=3
"""The C loop of a backtest, over trades or candles.

:class:`Replay` walks numpy columns of trades (:meth:`Replay.run_trades`)
or candles (:meth:`Replay.run_bars`) and feeds each one to a strategy's
signal kernel (``on_trade_c`` or ``on_bar_c``) without a Python call.  It
calls up into Python, through the ``host`` object, only when something
outside the kernel must see the event:

``host.on_market(i)``
    the simulated exchange has work event ``i`` could do: an order or a
    cancel becomes due (``wake_ns``), or the price reaches a resting
    limit or stop (``buy_below``, ``sell_above``, ``buy_stop``,
    ``sell_stop``).  A trade is tested at its price, a candle over its
    whole range from low to high, at its open time;
``host.on_action(i, action)``
    the kernel returned an Action.

The exchange sees an event before the kernel does, as live, where the
execution actor subscribes to trades before any strategy, and a candle
reaches the exchange at its open and the strategy at its close.  An order
the kernel triggers on event ``i`` therefore reaches the exchange at the
earliest with event ``i + 1``.

After each call the host writes back the wake-up conditions and the
account totals (``cash``, ``base``).  Equity samples are taken in C at
every multiple of ``sample_ns``: ``cash + base * last price`` before the
first event at or after the sample time, the last price being the last
trade's or the last candle's close.
"""

from libc.stdint cimport int64_t

from cryptobot.hotpath.signals cimport MeanReversionKernel, MomentumKernel

cdef double INF = float("inf")
cdef int64_t NEVER = 0x7FFFFFFFFFFFFFFF


cdef class Replay:
    """Drive one kernel over trade or candle columns; see the module docstring.

    Parameters
    ----------
    kernel
        A ``MeanReversionKernel`` or ``MomentumKernel``.
    host
        The object with ``on_market(i)`` and ``on_action(i, action)``.
    sample_ts, sample_equity
        Preallocated int64 and float64 arrays for the equity samples.
    first_sample_ns, sample_ns
        Time of the first equity sample and the interval between samples.

    Runtime complexity: O(1) per event outside the host calls.
    """

    cdef public int64_t wake_ns
    """Earliest time a queued order or cancel becomes due; INT64_MAX when none."""
    cdef public double buy_below
    """Highest resting buy limit: only a trade at or below it can fill one; -inf when none."""
    cdef public double sell_above
    """Lowest resting sell limit: only a trade at or above it can fill one; +inf when none."""
    cdef public double buy_stop
    """A trade at or above this price triggers a buy stop; +inf when none."""
    cdef public double sell_stop
    """A trade at or below this price triggers a sell stop; -inf when none."""
    cdef public double cash
    """Quote-asset total of the account (free and reserved)."""
    cdef public double base
    """Base-asset total of the account."""
    cdef readonly double last_price
    """Price of the last trade (or candle close) fed to the kernel; NaN before the first."""
    cdef readonly int64_t next_sample_ns
    cdef readonly int64_t sample_ns
    cdef readonly Py_ssize_t samples
    """Equity samples written so far."""
    cdef readonly int64_t market_calls
    cdef readonly int64_t action_calls
    cdef int kind
    cdef MeanReversionKernel mean_reversion
    cdef MomentumKernel momentum
    cdef object host
    cdef int64_t[:] sample_ts
    cdef double[:] sample_equity

    def __init__(self, kernel, host, int64_t[:] sample_ts, double[:] sample_equity, int64_t first_sample_ns,
                 int64_t sample_ns):
        if isinstance(kernel, MeanReversionKernel):
            self.kind = 0
            self.mean_reversion = kernel
        elif isinstance(kernel, MomentumKernel):
            self.kind = 1
            self.momentum = kernel
        else:
            raise TypeError(f"'kernel' must be a MeanReversionKernel or MomentumKernel, was {type(kernel).__name__}")
        if sample_ns <= 0:
            raise ValueError(f"'sample_ns' must be > 0, was {sample_ns}")
        if sample_ts.shape[0] != sample_equity.shape[0]:
            raise ValueError("'sample_ts' and 'sample_equity' must have the same length")
        self.host = host
        self.sample_ts = sample_ts
        self.sample_equity = sample_equity
        self.next_sample_ns = first_sample_ns
        self.sample_ns = sample_ns
        self.samples = 0
        self.wake_ns = NEVER
        self.buy_below = -INF
        self.sell_above = INF
        self.buy_stop = INF
        self.sell_stop = -INF
        self.cash = 0.0
        self.base = 0.0
        self.last_price = float("nan")
        self.market_calls = 0
        self.action_calls = 0

    cdef inline void _sample_until(self, int64_t ts) noexcept:
        cdef Py_ssize_t capacity = self.sample_ts.shape[0]
        cdef double equity
        while ts >= self.next_sample_ns and self.samples < capacity:
            equity = self.cash + self.base * self.last_price if self.base != 0.0 else self.cash
            self.sample_ts[self.samples] = self.next_sample_ns
            self.sample_equity[self.samples] = equity
            self.samples += 1
            self.next_sample_ns += self.sample_ns

    cdef inline bint _exchange_due(self, int64_t t, double low, double high) noexcept:
        # Whether an event at time t spanning [low, high] may change an order at the exchange.
        # Limits are tested inclusively: the exchange compares exact decimals, and a float at
        # the limit may still be through it.
        return (t >= self.wake_ns or low <= self.buy_below or high >= self.sell_above or high >= self.buy_stop
                or low <= self.sell_stop)

    def sample_until(self, int64_t ts):
        """Write the equity samples due before ``ts`` (used at the end of the data)."""
        self._sample_until(ts)

    def run_trades(self, const int64_t[:] ts, const double[:] price, Py_ssize_t start, Py_ssize_t stop):
        """Feed trades ``start`` to ``stop - 1``; host errors propagate."""
        cdef Py_ssize_t i
        cdef int64_t t
        cdef double p
        cdef int action
        if start < 0 or stop > ts.shape[0] or stop > price.shape[0] or start > stop:
            raise IndexError(f"trade range [{start}, {stop}) outside the columns of {ts.shape[0]} rows")
        for i in range(start, stop):
            t = ts[i]
            p = price[i]
            if t >= self.next_sample_ns:
                self._sample_until(t)
            if self._exchange_due(t, p, p):
                self.market_calls += 1
                self.host.on_market(i)
            self.last_price = p
            if self.kind == 0:
                action = self.mean_reversion.on_trade_c(t, p)
            else:
                action = self.momentum.on_trade_c(t, p)
            if action != 0:
                self.action_calls += 1
                self.host.on_action(i, action)

    def run_bars(self, const int64_t[:] ts_open, const double[:] high, const double[:] low, const double[:] close,
                 Py_ssize_t start, Py_ssize_t stop):
        """Feed candles ``start`` to ``stop - 1``; host errors propagate."""
        cdef Py_ssize_t i
        cdef int64_t t
        cdef double h, l, c
        cdef int action
        if (start < 0 or start > stop or stop > ts_open.shape[0] or stop > high.shape[0] or stop > low.shape[0]
                or stop > close.shape[0]):
            raise IndexError(f"candle range [{start}, {stop}) outside the columns of {ts_open.shape[0]} rows")
        for i in range(start, stop):
            t = ts_open[i]
            h = high[i]
            l = low[i]
            c = close[i]
            if t >= self.next_sample_ns:
                self._sample_until(t)
            if self._exchange_due(t, l, h):
                self.market_calls += 1
                self.host.on_market(i)
            self.last_price = c
            if self.kind == 0:
                action = self.mean_reversion.on_bar_c(h, l, c)
            else:
                action = self.momentum.on_bar_c(h, l, c)
            if action != 0:
                self.action_calls += 1
                self.host.on_action(i, action)
