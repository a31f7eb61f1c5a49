"""Messages between actors that are not plain market data.

Market data types live in ``cryptobot.core.types``; orders and fills in
``cryptobot.core.orders``.  Everything here is created by one actor and read
by others, and is never mutated after it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from cryptobot.core.orders import Fill, Order


@dataclass(slots=True)
class BookTop:
    """The top of one book after an update, published by the book actor.

    ``bids``/``asks`` hold the best ``n`` levels as float64 (n, 2) arrays,
    best first; they are copies the receiver may keep.
    """

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    sequence: int
    bid: float
    bid_size: float
    ask: float
    ask_size: float
    bids: np.ndarray
    asks: np.ndarray

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) * 0.5


@dataclass(slots=True)
class BookStatus:
    """A book became ready (synced) or not ready (resyncing); strategies must not trade on a book that is not ready."""

    exchange: str
    symbol: str
    ready: bool
    reason: str
    ts_event: int


@dataclass(slots=True)
class OrderIntent:
    """A strategy's (or a user's) wish to place an order, before risk checks.

    Quantities and prices are Decimal; the risk manager rounds them to the
    instrument's filters.  ``reason`` says why the order exists (``entry``,
    ``exit``, ``stop_loss``, ``take_profit``, ``close``, ``manual``) and
    ends up as a trade's exit reason.
    """

    client_order_id: str
    strategy_id: str | None
    exchange: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str = "GTC"
    post_only: bool = False
    reduce_only: bool = False
    reason: str = "entry"
    owner_id: str | None = None
    ts_created: int = 0
    reply_to: Any = None


@dataclass(slots=True)
class OrderUpdate:
    """The state of an order after a change (accepted, filled, canceled, rejected...).

    ``order`` is a copy taken at the time of the change; ``fill`` is set
    when the change was an execution, and ``positions`` then holds the
    stored positions the fill changed (None when nothing is stored).
    """

    order: Order
    event: str
    fill: Fill | None = None
    reason: str | None = None
    positions: list | None = None


@dataclass(slots=True)
class RiskRejection:
    """The risk manager refused an intent; ``reason`` is a short code, ``message`` a sentence."""

    intent: OrderIntent
    reason: str
    message: str
    ts_event: int
    details: dict = field(default_factory=dict)


@dataclass(slots=True)
class CancelRequest:
    order_id: str
    reason: str = "user"
    reply_to: Any = None


@dataclass(slots=True)
class KillSwitch:
    """Halt (``engaged=True``) or resume all new orders; engaging also cancels every open order."""

    engaged: bool
    reason: str
    ts_event: int = 0


@dataclass(slots=True)
class SetRiskLimits:
    """Install (or with ``limits=None`` remove) the limits of one strategy; ``strategy_id=None`` sets the defaults."""

    strategy_id: str | None
    limits: Any


@dataclass(slots=True)
class InstrumentsUpdate:
    """The instruments (with their filters) of one exchange, keyed by unified symbol."""

    exchange: str
    instruments: dict


@dataclass(slots=True)
class StrategyPnl:
    """Profit and loss of one strategy since the start of the UTC day (realized + unrealized - fees)."""

    strategy_id: str
    day_pnl: Decimal
    ts_event: int


@dataclass(slots=True)
class DustReport:
    """A holding too small to sell (below the step size, minimum quantity or notional) was left behind."""

    strategy_id: str | None
    exchange: str
    symbol: str
    quantity: Decimal
    reason: str
    ts_event: int


@dataclass(slots=True)
class PositionUpdate:
    """A position after a fill or a mark, as the portfolio publishes it."""

    position_id: str
    strategy_id: str | None
    exchange: str
    symbol: str
    side: str
    quantity: Decimal
    entry_price: Decimal
    mark_price: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    opened_at: int
    closed_at: int | None
    ts_event: int


@dataclass(slots=True)
class ClosePosition:
    """Close one position (by id) or every position of a strategy with an opposite reduce-only market order."""

    position_id: str | None = None
    strategy_id: str | None = None
    reason: str = "close"
    reply_to: Any = None


@dataclass(slots=True)
class BalancesUpdate:
    """Balances of one account (asset -> Balance) after a change."""

    exchange: str
    balances: dict
    ts_event: int


@dataclass(slots=True)
class Query:
    """A request for an actor's current state; the actor sets ``reply`` to the answer (see ``ask``)."""

    kind: str
    args: dict
    reply: Any
