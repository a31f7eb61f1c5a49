"""Balances of a simulated account: free and reserved (used) per asset."""

from __future__ import annotations

from decimal import Decimal

from cryptobot.core.errors import InsufficientFunds
from cryptobot.core.instruments import plain
from cryptobot.gateways.base import Balance

ZERO = Decimal(0)


class SimulatedAccount:
    """Per-asset balances with reservations for open orders.

    Reserving moves an amount from free to used; settling a fill spends
    from used and credits what was received.  No balance ever goes
    negative: a reservation beyond the free amount raises InsufficientFunds.
    """

    def __init__(self, balances: dict[str, Decimal] | None = None):
        self._free: dict[str, Decimal] = {asset: Decimal(v) for asset, v in (balances or {}).items()}
        self._used: dict[str, Decimal] = {}

    def free(self, asset: str) -> Decimal:
        return self._free.get(asset, ZERO)

    def used(self, asset: str) -> Decimal:
        return self._used.get(asset, ZERO)

    def deposit(self, asset: str, amount: Decimal) -> None:
        if amount < 0:
            raise ValueError(f"deposit amount must be >= 0, was {amount}")
        self._free[asset] = self.free(asset) + amount

    def reserve(self, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from free to used; raise InsufficientFunds if free is short."""
        if amount > self.free(asset):
            raise InsufficientFunds(
                f"insufficient {asset}: {plain(amount)} needed, {plain(self.free(asset))} free",
                retryable=False, details={"asset": asset, "needed": plain(amount), "free": plain(self.free(asset))},
            )
        self._free[asset] = self.free(asset) - amount
        self._used[asset] = self.used(asset) + amount

    def release(self, asset: str, amount: Decimal) -> None:
        """Return ``amount`` of a reservation to free (clamped to what is reserved)."""
        amount = min(amount, self.used(asset))
        self._used[asset] = self.used(asset) - amount
        self._free[asset] = self.free(asset) + amount

    def spend_reserved(self, asset: str, amount: Decimal) -> None:
        """Pay ``amount`` out of the reservation."""
        if amount > self.used(asset):
            raise ValueError(f"cannot spend {amount} {asset} from a reservation of {self.used(asset)}")
        self._used[asset] = self.used(asset) - amount

    def credit(self, asset: str, amount: Decimal) -> None:
        self._free[asset] = self.free(asset) + amount

    def balances(self) -> dict[str, Balance]:
        assets = set(self._free) | set(self._used)
        return {a: Balance(a, self.free(a), self.used(a)) for a in sorted(assets)}
