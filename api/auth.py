"""Authentication: JWT login with rotating refresh tokens, and API keys, behind a short-lived cache.

Access and refresh tokens are HS256 JWTs (``typ`` claim ``access`` or
``refresh``).  Each login starts a token family (``fam`` claim).  A refresh
uses its token once and returns a successor.  Presenting a used refresh
token again revokes the family.  The access tokens of the family then stop
working in this process at once, and in another engine sharing the
database within :data:`CACHE_SECONDS`.

Looking a credential up in PostgreSQL on every request would cap the API
at the database's round-trip rate, so a verified principal is cached for
:data:`CACHE_SECONDS`.  Revoking, rotating or compromising a key through
this process evicts it from the cache at once, and every cache hit still
checks the expiry and grace period against the current time.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

import jwt

from cryptobot.api.access import API_KEY, JWT, Principal, role_permissions
from cryptobot.core.errors import AuthenticationError, NotFound
from cryptobot.storage.repositories.refresh_tokens import REUSED, ROTATED

log = logging.getLogger("cryptobot.api.auth")

ALGORITHM = "HS256"
ISSUER = "cryptobot"
CACHE_SECONDS = 5.0
CACHE_MAX_ENTRIES = 50_000
NS = 1_000_000_000


@dataclass(slots=True)
class _Cached:
    principal: Principal
    fresh_until: float  # monotonic seconds
    valid_until_ns: int | None  # wall-clock ns; None never expires


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class AuthService:
    """Issues and verifies credentials for the API.

    Parameters
    ----------
    db
        The PostgreSQL store (users, API keys, refresh tokens, audit log).
    secret
        The JWT signing secret.
    access_seconds, refresh_seconds
        Token lifetimes.
    on_security_alert
        Called with (owner_id, data) when a refresh token is reused.
    clock_ns
        Wall-clock time in ns (tests move it to expire tokens).
    """

    def __init__(self, db: Any, secret: bytes, access_seconds: int, refresh_seconds: int,
                 on_security_alert: Callable[[str, dict], None] | None = None,
                 clock_ns: Callable[[], int] = time.time_ns):
        self.db = db
        self._secret = secret
        self.access_seconds = access_seconds
        self.refresh_seconds = refresh_seconds
        self._alert = on_security_alert
        self._now_ns = clock_ns
        self._cache: dict[bytes | str, _Cached] = {}

    # -- login and refresh ------------------------------------------------------------

    async def login(self, username: str, password: str) -> tuple[Any, dict[str, Any]]:
        """Check the password and return (user, token response with access and refresh tokens)."""
        user = await self.db.users.authenticate(username, password)
        family_id = secrets.token_hex(16)
        refresh = await self._issue_refresh(user.id, user.username, family_id)
        return user, self._token_response(user.id, user.username, family_id, refresh)

    async def refresh(self, token: str) -> tuple[str, dict[str, Any]]:
        """Exchange a refresh token for an access token and its successor; return (user_id, response).

        Raises
        ------
        AuthenticationError
            For an invalid, expired, revoked or reused token.  Reuse also
            revokes every token of the login and raises a security alert.
        """
        claims = self._decode(token, "refresh")
        user_id, family_id = claims["sub"], claims.get("fam")
        if not isinstance(family_id, str):
            raise AuthenticationError("Invalid refresh token")
        successor, successor_id, expires_ns = self._encode_refresh(user_id, claims.get("name", ""), family_id)
        outcome = await self.db.refresh_tokens.exchange(_digest(token), successor_id, _digest(successor), expires_ns)
        if outcome.status == REUSED:
            self.forget_family(family_id)
            log.warning("refresh token reused; revoked its login session", extra={"user_id": user_id, "family_id": family_id})
            await self.db.audit.append("security.refresh_token_reused", actor_type="user", actor_id=user_id,
                                       target_type="token_family", target_id=family_id,
                                       details={"alert": "a used refresh token was presented again"})
            if self._alert is not None:
                self._alert(user_id, {"kind": "refresh_token_reused", "user_id": user_id,
                                      "detail": "A used refresh token was presented again; the login session was revoked"})
            raise AuthenticationError("Refresh token already used: every token of this login is revoked; log in again",
                                      {"refresh_token": "reused"})
        if outcome.status != ROTATED:
            raise AuthenticationError(f"Refresh token {outcome.status}; log in again", {"refresh_token": outcome.status})
        user = await self._active_user(user_id)
        response = self._token_response(user.id, user.username, family_id, successor)
        return user.id, response

    def _token_response(self, user_id: str, username: str, family_id: str, refresh: str) -> dict[str, Any]:
        now = self._now_ns() // NS
        claims = {"iss": ISSUER, "sub": user_id, "name": username, "typ": "access", "jti": secrets.token_hex(16),
                  "fam": family_id, "iat": now, "exp": now + self.access_seconds}
        return {"access_token": jwt.encode(claims, self._secret, algorithm=ALGORITHM), "token_type": "bearer",
                "expires_in": self.access_seconds, "refresh_token": refresh}

    def _encode_refresh(self, user_id: str, username: str, family_id: str) -> tuple[str, str, int]:
        now = self._now_ns() // NS
        token_id = secrets.token_hex(16)
        claims = {"iss": ISSUER, "sub": user_id, "name": username, "typ": "refresh", "jti": token_id, "fam": family_id,
                  "iat": now, "exp": now + self.refresh_seconds}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), token_id, (now + self.refresh_seconds) * NS

    async def _issue_refresh(self, user_id: str, username: str, family_id: str) -> str:
        token, token_id, expires_ns = self._encode_refresh(user_id, username, family_id)
        await self.db.refresh_tokens.issue(user_id, token_id, family_id, _digest(token), expires_ns)
        return token

    def _decode(self, token: str, kind: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise AuthenticationError(f"Invalid {kind} token")
        try:
            # Expiry is checked below against this service's clock, so tests can move time.
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], issuer=ISSUER,
                                options={"verify_exp": False, "require": ["exp", "iat", "sub", "jti", "typ"]})
        except jwt.InvalidTokenError:
            raise AuthenticationError(f"Invalid {kind} token") from None
        if claims.get("typ") != kind or not isinstance(claims.get("sub"), str):
            raise AuthenticationError(f"Invalid {kind} token: expected a {kind} token")
        if not isinstance(claims["exp"], int) or claims["exp"] * NS <= self._now_ns():
            raise AuthenticationError(f"The {kind} token has expired", {"token": "expired"})
        return claims

    # -- request authentication --------------------------------------------------------------

    async def principal_from_bearer(self, token: str) -> Principal:
        """Return the caller of an access token; raise AuthenticationError when it is not valid now."""
        cached = self._cached(token)
        if cached is not None:
            return cached
        claims = self._decode(token, "access")
        family_id = claims.get("fam")
        user = await self._active_user(claims["sub"])
        if isinstance(family_id, str) and await self.db.refresh_tokens.is_family_revoked(family_id):
            raise AuthenticationError("The access token belongs to a revoked login; log in again")
        principal = Principal(user.id, user.username, tuple(user.roles), JWT, role_permissions(user.roles),
                              token_id=claims["jti"], family_id=family_id if isinstance(family_id, str) else None)
        self._remember(token, principal, claims["exp"] * NS)
        return principal

    async def principal_from_key(self, presented: str) -> Principal:
        """Return the caller of an API key; raise AuthenticationError when it is not usable now."""
        cache_key = _digest(presented) if isinstance(presented, str) else b""
        cached = self._cached(cache_key)
        if cached is not None:
            return cached
        key = await self.db.api_keys.authenticate(presented)
        user = await self._active_user(key.owner_id)
        permissions = frozenset(key.permissions) & role_permissions(user.roles)
        principal = Principal(user.id, user.username, tuple(user.roles), API_KEY, permissions, key_id=key.id,
                              exchange=key.exchange, is_test=key.is_test)
        valid_until = [t for t in (key.expires_at, key.grace_ends_at if key.status == "rotating" else None) if t]
        self._remember(cache_key, principal, min(valid_until) if valid_until else None)
        return principal

    async def _active_user(self, user_id: str) -> Any:
        try:
            user = await self.db.users.get(user_id)
        except NotFound:
            raise AuthenticationError("The credentials belong to a user that no longer exists") from None
        if not user.is_active:
            raise AuthenticationError("Cannot authenticate: the user is disabled")
        return user

    # -- cache ---------------------------------------------------------------------------

    def _cached(self, cache_key: bytes | str) -> Principal | None:
        entry = self._cache.get(cache_key)
        if entry is None:
            return None
        if entry.fresh_until < time.monotonic():
            del self._cache[cache_key]
            return None
        if entry.valid_until_ns is not None and entry.valid_until_ns <= self._now_ns():
            del self._cache[cache_key]
            return None
        return entry.principal

    def _remember(self, cache_key: bytes | str, principal: Principal, valid_until_ns: int | None) -> None:
        if len(self._cache) >= CACHE_MAX_ENTRIES:
            now = time.monotonic()
            self._cache = {k: v for k, v in self._cache.items() if v.fresh_until >= now}
            if len(self._cache) >= CACHE_MAX_ENTRIES:
                self._cache.clear()
        self._cache[cache_key] = _Cached(principal, time.monotonic() + CACHE_SECONDS, valid_until_ns)

    def _forget(self, matches: Callable[[Principal], bool]) -> None:
        for cache_key in [k for k, v in self._cache.items() if matches(v.principal)]:
            del self._cache[cache_key]

    def forget_key(self, key_id: str) -> None:
        """Drop a key from the cache (after revoke, rotate or compromise)."""
        self._forget(lambda p: p.key_id == key_id)

    def forget_user(self, user_id: str) -> None:
        self._forget(lambda p: p.user_id == user_id)

    def forget_family(self, family_id: str) -> None:
        self._forget(lambda p: p.family_id == family_id)
