"""Principals, permissions and per-route access rules: who is calling and what they may do.

There are three permissions: ``read`` (look at anything the caller may
see), ``trade`` (change strategies, orders, positions and backtests) and
``admin`` (control the engine and see every user's resources).  A user's
roles grant them: ``user`` grants read, ``trader`` read and trade, ``admin``
all three.  A JWT carries its user's permissions.  An API key carries the
permissions it was created with, cut down to what its owner's roles still
grant, so demoting a user also demotes their keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptobot.core.errors import PermissionDenied

READ = "read"
TRADE = "trade"
ADMIN = "admin"

JWT = "jwt"
API_KEY = "api_key"

ROLE_PERMISSIONS = {
    "user": frozenset({READ}),
    "trader": frozenset({READ, TRADE}),
    "admin": frozenset({READ, TRADE, ADMIN}),
}


def role_permissions(roles: tuple[str, ...] | list[str]) -> frozenset[str]:
    """Return the union of the permissions the roles grant."""
    granted: frozenset[str] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return granted


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request.

    ``scheme`` is ``jwt`` or ``api_key``.  ``key_id``, ``exchange`` (the
    key's exchange scope, None for every exchange) and ``is_test`` describe
    the API key.  ``token_id`` and ``family_id`` describe the JWT.
    """

    user_id: str
    username: str
    roles: tuple[str, ...]
    scheme: str
    permissions: frozenset[str]
    key_id: str | None = None
    exchange: str | None = None
    is_test: bool = False
    token_id: str | None = None
    family_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.permissions

    @property
    def owner_filter(self) -> str | None:
        """The owner id to restrict lookups to: None (everything) for an admin, else the caller's id."""
        return None if ADMIN in self.permissions else self.user_id

    @property
    def audit_actor(self) -> tuple[str, str]:
        """(actor_type, actor_id) for the audit log."""
        if self.scheme == API_KEY and self.key_id:
            return "api_key", self.key_id
        return "user", self.user_id

    def require(self, permission: str) -> None:
        """Raise PermissionDenied unless the caller has ``permission``."""
        if permission not in self.permissions:
            via = f"API key {self.key_id}" if self.scheme == API_KEY else f"user {self.username}"
            raise PermissionDenied(f"Cannot do this: {via} lacks the '{permission}' permission",
                                   {"permission": f"'{permission}' required"})

    def require_exchange(self, exchange: str) -> None:
        """Raise PermissionDenied when an exchange-scoped API key acts on another exchange."""
        if self.exchange is not None and exchange != self.exchange:
            raise PermissionDenied(f"Cannot act on {exchange}: API key {self.key_id} is limited to {self.exchange}",
                                   {"exchange": f"key limited to {self.exchange}"})


@dataclass(frozen=True, slots=True)
class Access:
    """The access rule of one route: the permission it needs (None: public) and the schemes it accepts."""

    permission: str | None
    schemes: tuple[str, ...] = (JWT, API_KEY)

    @property
    def public(self) -> bool:
        return self.permission is None


PUBLIC = Access(None, ())
READ_ANY = Access(READ)
TRADE_ANY = Access(TRADE)
ADMIN_ANY = Access(ADMIN)
READ_JWT = Access(READ, (JWT,))
