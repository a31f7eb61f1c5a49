"""Position accounting: average entry, realized and unrealized PnL, fees, round trips.

One :class:`Position` per (strategy, exchange, symbol), netted: a buy adds
to a long or reduces a short.  Quantities are what the account really
holds, so a buy whose fee is taken in the base asset adds the received
amount, not the ordered one; the entry price stays the traded price and the
fee is booked separately at its quote value.  With that convention, for
every account

    cash + sum(quantity * mark) == start + realized + unrealized - fees

which the tests check to the cent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from cryptobot.core.ids import new_id
from cryptobot.core.orders import price_of

ZERO = Decimal(0)


@dataclass(slots=True)
class ClosedTrade:
    """A round trip from flat to flat (or to a flip), as the backtest trade list shows it."""

    trade_id: str
    strategy_id: str | None
    symbol: str
    side: str
    entry_price: Decimal
    exit_price: Decimal
    entry_time: int
    exit_time: int
    quantity: Decimal
    profit_loss: Decimal
    profit_loss_percent: Decimal
    fees: Decimal
    exit_reason: str


@dataclass(slots=True)
class Position:
    """A net position; ``quantity`` > 0 is long, < 0 short, 0 flat."""

    position_id: str
    strategy_id: str | None
    exchange: str
    symbol: str
    owner_id: str | None = None
    quantity: Decimal = ZERO
    entry_price: Decimal = ZERO
    entry_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    opened_at: int = 0
    closed_at: int | None = None
    mark_price: Decimal = ZERO
    # Round-trip bookkeeping for the trade list.
    trip_quantity: Decimal = ZERO
    trip_exit_value: Decimal = ZERO
    trip_exit_quantity: Decimal = ZERO
    trip_pnl: Decimal = ZERO
    trip_fees: Decimal = ZERO
    dust: Decimal = ZERO
    exit_reason: str = ""
    version: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def side(self) -> str:
        return "long" if self.quantity > 0 else "short" if self.quantity < 0 else "flat"

    @property
    def is_open(self) -> bool:
        return self.quantity != 0

    @property
    def unrealized_pnl(self) -> Decimal:
        return (self.mark_price - self.entry_price) * self.quantity if self.quantity and self.mark_price else ZERO

    @property
    def unrealized_pnl_percent(self) -> Decimal:
        if not self.quantity or not self.entry_price or not self.mark_price:
            return ZERO
        direction = 1 if self.quantity > 0 else -1
        return (self.mark_price / self.entry_price - 1) * 100 * direction


class Ledger:
    """All positions of one engine (or one backtest), updated by fills and marks.

    Parameters
    ----------
    keep_closed
        How many of the latest round trips ``closed_trades`` keeps; None
        keeps all.  A backtest's results need every one.  A running engine
        stores its positions in PostgreSQL, and an unbounded list would
        grow by one entry per round trip for as long as it runs.
    """

    def __init__(self, keep_closed: int | None = None) -> None:
        self.positions: dict[tuple[str | None, str | None, str, str], Position] = {}
        self.closed_trades: list[ClosedTrade] | deque[ClosedTrade] = [] if keep_closed is None else deque(maxlen=keep_closed)
        self.realized_total = ZERO
        self.fees_total = ZERO
        self.dust: dict[tuple[str, str], Decimal] = {}

    def position(self, strategy_id: str | None, exchange: str, symbol: str, owner_id: str | None = None) -> Position:
        """Return the position of (owner, strategy, exchange, symbol), creating a flat one if needed."""
        key = (owner_id, strategy_id, exchange, symbol)
        position = self.positions.get(key)
        if position is None:
            position = Position(new_id("position"), strategy_id, exchange, symbol, owner_id)
            self.positions[key] = position
        return position

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.is_open]

    def apply_fill(self, strategy_id: str | None, exchange: str, symbol: str, side: str, quantity: Decimal,
                   price: Decimal, fee: Decimal, fee_asset: str, base_asset: str, ts: int, reason: str = "",
                   owner_id: str | None = None) -> Position:
        """Book one fill and return the position it changed.

        ``quantity`` is the traded amount; a fee in ``base_asset`` is
        subtracted from what a buy adds (or added to what a sell removes)
        and valued at ``price`` in the fee total.
        """
        position = self.position(strategy_id, exchange, symbol, owner_id)
        fee_in_base = fee_asset == base_asset
        fee_value = fee * price if fee_in_base else fee
        delta = quantity if side == "buy" else -quantity
        if fee_in_base:
            delta -= fee
        self.fees_total += fee_value
        position.version += 1
        current = position.quantity
        if current == 0:
            self._open(position, delta, price, ts)
            self._book_fee(position, fee_value)
        elif (current > 0) == (delta > 0):
            total = current + delta
            position.entry_cost += price * abs(delta)
            position.entry_price = price_of(position.entry_cost, abs(total))
            position.quantity = total
            position.trip_quantity += abs(delta)
            self._book_fee(position, fee_value)
        else:
            # The fee of a closing fill belongs to the round trip it closes,
            # so it is booked before the trip is written out.
            self._book_fee(position, fee_value)
            self._reduce(position, delta, price, ts, reason)
        if not position.mark_price:
            position.mark_price = price
        return position

    @staticmethod
    def _book_fee(position: Position, fee_value: Decimal) -> None:
        position.fees += fee_value
        position.trip_fees += fee_value

    @staticmethod
    def _open(position: Position, delta: Decimal, price: Decimal, ts: int) -> None:
        if position.opened_at:
            # The previous position under this key was closed: start a new one.
            position.position_id = new_id("position")
            position.realized_pnl = position.fees = ZERO
            position.closed_at = None
        position.quantity = delta
        position.entry_price = price
        position.entry_cost = price * abs(delta)
        position.opened_at = ts
        position.trip_quantity = abs(delta)

    def _reduce(self, position: Position, delta: Decimal, price: Decimal, ts: int, reason: str) -> None:
        current = position.quantity
        was_long = current > 0
        closing = min(abs(delta), abs(current))
        position.exit_reason = reason
        pnl = (price - position.entry_price) * closing * (1 if was_long else -1)
        position.realized_pnl += pnl
        self.realized_total += pnl
        position.trip_pnl += pnl
        position.trip_exit_value += price * closing
        position.trip_exit_quantity += closing
        remainder = abs(delta) - closing
        position.quantity = current + delta if remainder == 0 else ZERO
        position.entry_cost = position.entry_price * abs(position.quantity)
        if position.quantity != 0:
            return
        self._close_trip(position, ts, reason, was_long)
        if remainder > 0:
            self._open(position, remainder if delta > 0 else -remainder, price, ts)

    def _close_trip(self, position: Position, ts: int, reason: str, was_long: bool) -> None:
        quantity = position.trip_exit_quantity
        exit_price = position.trip_exit_value / quantity
        cost = position.entry_price * quantity
        self.closed_trades.append(ClosedTrade(
            new_id("trade"), position.strategy_id, position.symbol, "buy" if was_long else "sell",
            position.entry_price, exit_price, position.opened_at, ts, quantity, position.trip_pnl,
            position.trip_pnl / cost * 100 if cost else ZERO, position.trip_fees, reason or "exit",
        ))
        position.closed_at = ts
        position.trip_quantity = position.trip_exit_value = position.trip_exit_quantity = ZERO
        position.trip_pnl = position.trip_fees = ZERO

    def mark(self, exchange: str, symbol: str, price: Decimal) -> None:
        """Set the mark price (the book's mid) of every position in ``symbol``."""
        for position in self.positions.values():
            if position.symbol == symbol and position.exchange == exchange:
                position.mark_price = price

    @property
    def unrealized_total(self) -> Decimal:
        return sum((p.unrealized_pnl for p in self.positions.values()), ZERO)

    def adopt(self, stored) -> Position:
        """Take the identity and figures of a stored position (the store is authoritative when there is one).

        ``stored`` is a ``cryptobot.storage.repositories.Position``.
        """
        position = self.position(stored.strategy_id, stored.exchange, stored.symbol, stored.owner_id)
        if stored.status != "open":
            if position.position_id == stored.id:
                position.closed_at = stored.closed_at
            return position
        sign = 1 if stored.side == "long" else -1
        position.position_id = stored.id
        position.quantity = stored.quantity * sign
        position.entry_price = stored.entry_price
        position.entry_cost = stored.entry_cost
        position.realized_pnl = stored.realized_pnl
        position.fees = stored.fees
        position.opened_at = stored.opened_at
        position.closed_at = None
        position.dust = ZERO
        return position

    def write_off(self, position: Position, ts: int, reason: str) -> Decimal:
        """Close a position whose remaining quantity is dust (too small to sell); return that quantity.

        The dust stays in the account but leaves the position, so its cost
        is booked as a realized loss; ``dust`` keeps the quantity per
        (exchange, symbol), and the account holds positions plus dust.
        """
        dust = position.quantity
        # Removing quantity q at entry e from the books drops q * mark from the
        # holdings and (mark - e) * q from unrealized PnL: realized must drop e * q.
        loss = position.entry_price * dust
        position.realized_pnl -= loss
        position.trip_pnl -= loss
        self.realized_total -= loss
        position.dust = abs(dust)
        key = (position.exchange, position.symbol)
        self.dust[key] = self.dust.get(key, ZERO) + dust
        if position.trip_exit_quantity:
            # The round trip ended with the sale that left this dust: keep that sale's reason.
            self._close_trip(position, ts, position.exit_reason or reason, dust > 0)
        position.quantity = ZERO
        position.entry_cost = ZERO
        position.closed_at = ts
        return dust
