"""Refresh tokens of the JWT login: issue, exchange once, detect reuse, revoke a family.

Only the SHA-256 digest of a token is stored.  Refresh tokens are signed
JWTs with a random 128-bit id, so a fast digest is enough: nobody can guess
a token from its digest, and the server looks tokens up by it.

:meth:`RefreshTokenRepository.exchange` marks the presented token used and
stores its successor in one transaction, under a row lock.  Two concurrent
refreshes with one token therefore cannot both succeed: the second one sees
a used token, and the family is revoked as a reuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg

from cryptobot.core.errors import NotFound, ValidationError
from cryptobot.core.ids import check_id
from cryptobot.storage.repositories.base import Repository

_TOKEN_ID = re.compile(r"[0-9a-f]{32}")

ROTATED = "rotated"
REUSED = "reused"
REVOKED = "revoked"
EXPIRED = "expired"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """What :meth:`RefreshTokenRepository.exchange` did.

    ``status`` is ``rotated`` (the successor is stored), ``reused`` (the
    token had been used before; its family is now revoked), ``revoked``,
    ``expired`` or ``unknown``.  ``user_id`` and ``family_id`` are set for
    every status but ``unknown``.
    """

    status: str
    user_id: str | None = None
    family_id: str | None = None


def _check_token_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not _TOKEN_ID.fullmatch(value):
        raise ValidationError(f"'{field}' must be 32 lower-case hex digits, was {value!r}", {field: "expected 32 hex digits"})
    return value


def _check_digest(value: object, field: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise ValidationError(f"'{field}' must be a 32-byte SHA-256 digest", {field: "expected 32 bytes"})
    return value


class RefreshTokenRepository(Repository):
    """Store refresh-token digests and rotate them one use at a time."""

    async def issue(self, user_id: str, token_id: str, family_id: str, token_hash: bytes, expires_at: int) -> None:
        """Store a newly issued token (the first of a family at login, or a successor)."""
        check_id(user_id, "user", "user_id")
        _check_token_id(token_id, "token_id")
        _check_token_id(family_id, "family_id")
        _check_digest(token_hash, "token_hash")
        now = self._now()
        if expires_at <= now:
            raise ValidationError("'expires_at' must be in the future", {"expires_at": "must be after now"})
        async with self._connection() as conn:
            try:
                await conn.execute(
                    """INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, issued_at, expires_at)
                       VALUES ($1, $2, $3, $4, $5, $6)""",
                    token_id, family_id, user_id, token_hash, now, expires_at,
                )
            except asyncpg.ForeignKeyViolationError:
                raise NotFound(f"user {user_id} not found") from None

    async def exchange(self, token_hash: bytes, successor_id: str, successor_hash: bytes,
                       successor_expires_at: int) -> RefreshOutcome:
        """Use the token with digest ``token_hash`` once, storing its successor in the same family.

        A token that was used before revokes its whole family (every token
        descended from the same login) and returns ``reused``; nothing is
        issued then.
        """
        _check_digest(token_hash, "token_hash")
        _check_token_id(successor_id, "successor_id")
        _check_digest(successor_hash, "successor_hash")
        now = self._now()
        async with self._transaction() as conn:
            row = await conn.fetchrow(
                "SELECT id, family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1 "
                "FOR UPDATE", token_hash,
            )
            if row is None:
                return RefreshOutcome(UNKNOWN)
            user_id, family_id = row["user_id"], row["family_id"]
            if row["revoked_at"] is not None:
                return RefreshOutcome(REVOKED, user_id, family_id)
            if row["used_at"] is not None:
                await conn.execute(
                    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL", family_id, now
                )
                return RefreshOutcome(REUSED, user_id, family_id)
            if row["expires_at"] <= now:
                return RefreshOutcome(EXPIRED, user_id, family_id)
            await conn.execute("UPDATE refresh_tokens SET used_at = $2 WHERE id = $1", row["id"], now)
            await conn.execute(
                """INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, issued_at, expires_at)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                successor_id, family_id, user_id, successor_hash, now, max(successor_expires_at, now + 1000),
            )
        return RefreshOutcome(ROTATED, user_id, family_id)

    async def is_family_revoked(self, family_id: str) -> bool:
        """Tell whether any token of the family was revoked (reuse or logout)."""
        _check_token_id(family_id, "family_id")
        async with self._connection() as conn:
            return bool(await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL)", family_id
            ))

    async def revoke_family(self, family_id: str) -> int:
        """Revoke every token of a family; return how many were still unrevoked."""
        _check_token_id(family_id, "family_id")
        async with self._connection() as conn:
            status = await conn.execute(
                "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL", family_id, self._now()
            )
        return int(status.split()[-1])

    async def delete_expired(self) -> int:
        """Delete tokens past their expiry; return how many were deleted."""
        async with self._connection() as conn:
            status = await conn.execute("DELETE FROM refresh_tokens WHERE expires_at <= $1", self._now())
        return int(status.split()[-1])
