"""Market-data value types that flow between actors.

Market data keeps prices and sizes as ``float``: that is what the order book
and the indicators compute with, and a float holds every 8-decimal exchange
price exactly enough to round-trip through ``repr``.  Money that reaches an
exchange or the ledger (orders, fills, balances) is ``Decimal`` instead; see
``cryptobot.core.orders``.

Times are int64 nanoseconds since the Unix epoch, UTC: ``ts_event`` is the
exchange's time of the event, ``ts_recv`` the time this process received it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BUY = "buy"
SELL = "sell"
SIDES = (BUY, SELL)

BID = "bid"
ASK = "ask"

TIMEFRAMES_NS = {
    "1m": 60 * 1_000_000_000,
    "5m": 5 * 60 * 1_000_000_000,
    "15m": 15 * 60 * 1_000_000_000,
    "30m": 30 * 60 * 1_000_000_000,
    "1h": 3_600 * 1_000_000_000,
    "4h": 4 * 3_600 * 1_000_000_000,
    "1d": 86_400 * 1_000_000_000,
    "1w": 7 * 86_400 * 1_000_000_000,
}


@dataclass(slots=True)
class TradeTick:
    """One public trade.  ``side`` is the aggressor's side (``buy`` or ``sell``)."""

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    price: float
    quantity: float
    side: str
    trade_id: int


@dataclass(slots=True)
class Quote:
    """Best bid and ask with their sizes (Binance bookTicker, Kraken ticker)."""

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    bid: float
    bid_size: float
    ask: float
    ask_size: float


@dataclass(slots=True)
class BookDelta:
    """One price-level change; ``size == 0`` removes the level.

    ``sequence`` is the exchange's update id of the event the change came
    from (Binance ``u``), or 0 where the exchange has none.
    """

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    side: str
    price: float
    size: float
    sequence: int


@dataclass(slots=True)
class BookDeltas:
    """All level changes of one exchange event, applied to a book as a unit.

    Binance diff-depth events carry ``first_id`` (``U``), ``last_id`` (``u``)
    and, on futures, ``prev_id`` (``pu``); other exchanges leave them 0 and
    ``prev_id`` -1.  ``bids`` and ``asks`` are float64 arrays of shape (n, 2)
    holding (price, size) rows.
    """

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    first_id: int
    last_id: int
    prev_id: int
    bids: np.ndarray
    asks: np.ndarray
    checksum: int = -1


@dataclass(slots=True)
class BookSnapshot:
    """A full book: ``bids`` best first (descending), ``asks`` best first (ascending).

    Both are float64 arrays of shape (n, 2) holding (price, size) rows;
    ``sequence`` is the exchange's update id of the snapshot (Binance
    ``lastUpdateId``).
    """

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    sequence: int
    bids: np.ndarray
    asks: np.ndarray


@dataclass(slots=True)
class Bar:
    """An OHLCV candle; ``ts_open`` is the start of its interval."""

    exchange: str
    symbol: str
    timeframe: str
    ts_open: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int = 0


@dataclass(slots=True)
class Ticker:
    """A ticker as the API reports it: top of book, last trade and 24-hour change."""

    exchange: str
    symbol: str
    ts_event: int
    bid: float
    ask: float
    last: float
    volume: float
    change: float
    change_percent: float
    extra: dict = field(default_factory=dict)
