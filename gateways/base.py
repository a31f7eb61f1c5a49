"""The interface every execution gateway offers: simulated exchange or ccxt.

A gateway turns orders into exchange actions and reports what happened as
:class:`ExecutionReport` values through the listener the execution actor
installs.  Reports are the only way results come back, whether the
exchange answers at once (the simulator) or later (a live venue).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Protocol

from cryptobot.core.instruments import Instrument
from cryptobot.core.orders import Order

ACCEPTED = "accepted"
REJECTED = "rejected"
FILL = "fill"
CANCELED = "canceled"
EXPIRED = "expired"


@dataclass(slots=True)
class ExecutionReport:
    """One thing that happened to an order at the exchange.

    ``kind`` is one of accepted, rejected, fill, canceled, expired.  Fill
    reports carry the executed ``quantity`` and ``price``, the ``fee``
    (in ``fee_asset``) and whether the order was ``maker`` or taker.
    """

    kind: str
    order_id: str
    ts_event: int
    exchange_order_id: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    fee: Decimal | None = None
    fee_asset: str | None = None
    maker: bool = False
    trade_id: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class Balance:
    asset: str
    free: Decimal
    used: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.used


Listener = Callable[[ExecutionReport], None]


class ExecutionGateway(Protocol):
    """What the execution actor needs from a venue."""

    exchange: str

    def set_listener(self, listener: Listener) -> None: ...

    async def load_instruments(self) -> dict[str, Instrument]: ...

    async def submit(self, order: Order) -> None: ...

    async def cancel(self, order: Order) -> None: ...

    async def fetch_order(self, order: Order) -> ExecutionReport | None: ...

    async def fetch_balances(self) -> dict[str, Balance]: ...

    async def close(self) -> None: ...
