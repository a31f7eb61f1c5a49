"""API keys: creation, lookup by hash, rotation with a grace period, revocation.

A key is ``cbk_`` followed by 43 base64url characters (256 random bits).
Only its HMAC-SHA256 under the server pepper is stored (see
:mod:`cryptobot.storage.keyring` for why a fast keyed hash is right here).

Automatic rotation happens with no user present to receive the new key, so
:meth:`ApiKeyRepository.rotate` with ``keep_for_owner=True`` stores the new
key AES-GCM encrypted under the storage key, bound to the new key's id.
The owner collects it once with :meth:`ApiKeyRepository.claim_rotated_key`,
which erases the ciphertext in the same statement.  This way the plain key
stays out of logs and e-mail, and only this server can decrypt it.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass

import asyncpg

from cryptobot.core.clock import NANOS_PER_SECOND
from cryptobot.core.errors import AuthenticationError, Conflict, NotFound
from cryptobot.core.ids import check_id, new_id
from cryptobot.core.symbols import check_exchange
from cryptobot.storage.repositories.base import Repository, record_to
from cryptobot.storage.values import check_bool, check_int, check_subset, check_text

PERMISSIONS = ("read", "trade", "admin")
STATUSES = ("active", "rotating", "revoked", "compromised", "expired")
KEY_PREFIX = "cbk_"
HOUR_NS = 3600 * NANOS_PER_SECOND
DAY_NS = 24 * HOUR_NS

# Writing last_used_at on every request would turn each read into a write;
# once a minute is enough to see which keys are in use.
LAST_USED_RESOLUTION_NS = 60 * NANOS_PER_SECOND

_KEY_SHAPE = re.compile(r"cbk_[A-Za-z0-9_-]{43}")
_COLUMNS = """id, owner_id, description, exchange, is_test, permissions, status, version, previous_key_id,
              created_at, updated_at, expires_at, revoked_at, revoke_reason, grace_ends_at, last_used_at,
              sealed_key IS NOT NULL AS rotated_key_waiting"""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key's record; ``rotated_key_waiting`` is True while its plain key awaits :meth:`claim_rotated_key`."""

    id: str
    owner_id: str
    description: str
    exchange: str | None
    is_test: bool
    permissions: tuple[str, ...]
    status: str
    version: int
    previous_key_id: str | None
    created_at: int
    updated_at: int
    expires_at: int | None
    revoked_at: int | None
    revoke_reason: str | None
    grace_ends_at: int | None
    last_used_at: int | None
    rotated_key_waiting: bool


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A newly created or rotated key; ``key`` is the only copy of the plain key."""

    record: ApiKey
    key: str


@dataclass(frozen=True, slots=True)
class KeyList:
    """An owner's keys and the counts the API's key list reports."""

    keys: list[ApiKey]
    total: int
    active: int
    rotating: int
    expiring_soon: int


def _api_key(record: asyncpg.Record) -> ApiKey:
    return record_to(ApiKey, record, permissions=tuple(record["permissions"]))


def _new_plain_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKeyRepository(Repository):
    """Issue, authenticate, rotate and revoke API keys."""

    async def create(self, owner_id: str, *, description: str = "", exchange: str | None = None, is_test: bool = False,
                     permissions: tuple[str, ...] | list[str] = ("read", "trade"), expiry_days: int | None = 90) -> IssuedKey:
        """Create a key for ``owner_id`` and return it with its plain text.

        ``expiry_days`` None makes a key that never expires; ``exchange`` None
        makes it valid on every exchange.
        """
        check_id(owner_id, "user", "owner_id")
        description = check_text(description, "description", max_length=200, min_length=0)
        exchange = None if exchange is None else check_exchange(exchange)
        permissions = check_subset(permissions, "permissions", PERMISSIONS)
        expiry_days = check_int(expiry_days, "expiry_days", minimum=1, maximum=3650, optional=True)
        is_test = check_bool(is_test, "is_test")
        now = self._now()
        expires_at = None if expiry_days is None else now + expiry_days * DAY_NS
        key = _new_plain_key()
        key_id = new_id("key")
        async with self._transaction() as conn:
            try:
                row = await conn.fetchrow(
                    f"""INSERT INTO api_keys (id, owner_id, key_hash, description, exchange, is_test, permissions, status,
                                              created_at, updated_at, expires_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $8, $9) RETURNING {_COLUMNS}""",
                    key_id, owner_id, self._ctx.keyring.hash_api_key(key), description, exchange, is_test,
                    list(permissions), now, expires_at,
                )
            except asyncpg.ForeignKeyViolationError:
                raise NotFound(f"user {owner_id} not found") from None
        return IssuedKey(_api_key(row), key)

    async def authenticate(self, presented: str) -> ApiKey:
        """Return the key record for a presented plain key if it may be used now.

        Valid are active keys before their expiry, and rotating keys before
        the end of their grace period.

        Raises
        ------
        AuthenticationError
            For an unknown key, or one that is revoked, compromised, expired
            or past its grace period.
        """
        if not isinstance(presented, str) or not _KEY_SHAPE.fullmatch(presented):
            raise AuthenticationError("Invalid API key")
        digest = self._ctx.keyring.hash_api_key(presented)
        now = self._now()
        async with self._connection() as conn:
            row = await conn.fetchrow(f"SELECT key_hash, {_COLUMNS} FROM api_keys WHERE key_hash = $1", digest)
            # The index lookup already matched the hash; the constant-time
            # compare is the final check that does not rely on it.
            if row is None or not hmac.compare_digest(bytes(row["key_hash"]), digest):
                raise AuthenticationError("Invalid API key")
            key = _api_key(row)
            _check_usable(key, now)
            if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION_NS:
                await conn.execute("UPDATE api_keys SET last_used_at = $2 WHERE id = $1", key.id, now)
        return key

    async def get(self, key_id: str, owner_id: str | None = None) -> ApiKey:
        """Return key ``key_id``; with ``owner_id``, only if that user owns it (else NotFound)."""
        check_id(key_id, "key", "key_id")
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)", key_id, owner_id
            )
        if row is None:
            raise NotFound(f"API key {key_id} not found")
        return _api_key(row)

    async def list(self, owner_id: str, expiring_within_days: int = 7) -> KeyList:
        """Return all keys of ``owner_id``, oldest first, with counts by status.

        ``expiring_soon`` counts active keys that expire within ``expiring_within_days``.
        """
        check_id(owner_id, "user", "owner_id")
        horizon = self._now() + check_int(expiring_within_days, "expiring_within_days", minimum=0, maximum=3650) * DAY_NS
        async with self._connection() as conn:
            rows = await conn.fetch(f"SELECT {_COLUMNS} FROM api_keys WHERE owner_id = $1 ORDER BY created_at, id", owner_id)
        keys = [_api_key(row) for row in rows]
        return KeyList(
            keys=keys,
            total=len(keys),
            active=sum(k.status == "active" for k in keys),
            rotating=sum(k.status == "rotating" for k in keys),
            expiring_soon=sum(k.status == "active" and k.expires_at is not None and k.expires_at <= horizon for k in keys),
        )

    async def rotate(self, key_id: str, owner_id: str | None = None, *, grace_period_hours: int = 24,
                     keep_for_owner: bool = False) -> IssuedKey:
        """Replace key ``key_id`` with a new key; the old one keeps working for the grace period.

        The new key copies description, exchange, permissions and lifetime,
        and has the next version.  A grace period of 0 revokes the old key at
        once.  With ``keep_for_owner`` the new plain key is also stored
        encrypted until :meth:`claim_rotated_key` (for automatic rotation).

        Raises
        ------
        NotFound
            If the key does not exist (or is not ``owner_id``'s).
        Conflict
            If the key is not active (already rotated, revoked, expired).
        """
        check_id(key_id, "key", "key_id")
        grace_ns = check_int(grace_period_hours, "grace_period_hours", minimum=0, maximum=720) * HOUR_NS
        now = self._now()
        async with self._transaction() as conn:
            old = await conn.fetchrow(
                "SELECT * FROM api_keys WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2) FOR UPDATE", key_id, owner_id
            )
            if old is None:
                raise NotFound(f"API key {key_id} not found")
            if old["status"] != "active" or (old["expires_at"] is not None and old["expires_at"] <= now):
                status = old["status"] if old["status"] != "active" else "expired"
                raise Conflict(f"Cannot rotate API key {key_id}: it is {status}", {"status": status})

            if grace_ns:
                await conn.execute(
                    "UPDATE api_keys SET status = 'rotating', grace_ends_at = $2, updated_at = $3 WHERE id = $1",
                    key_id, now + grace_ns, now,
                )
            else:
                await conn.execute(
                    """UPDATE api_keys SET status = 'revoked', revoked_at = $2, revoke_reason = 'rotated', updated_at = $2
                       WHERE id = $1""",
                    key_id, now,
                )
            lifetime = None if old["expires_at"] is None else old["expires_at"] - old["created_at"]
            key = _new_plain_key()
            new_key_id = new_id("key")
            sealed = self._ctx.keyring.seal(key, new_key_id) if keep_for_owner else None
            row = await conn.fetchrow(
                f"""INSERT INTO api_keys (id, owner_id, key_hash, description, exchange, is_test, permissions, status,
                                          version, previous_key_id, created_at, updated_at, expires_at, sealed_key)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, $10, $10, $11, $12) RETURNING {_COLUMNS}""",
                new_key_id, old["owner_id"], self._ctx.keyring.hash_api_key(key), old["description"], old["exchange"],
                old["is_test"], old["permissions"], old["version"] + 1, key_id, now,
                None if lifetime is None else now + lifetime, sealed,
            )
        return IssuedKey(_api_key(row), key)

    async def claim_rotated_key(self, key_id: str, owner_id: str) -> str:
        """Return the plain text of automatically rotated key ``key_id`` once, and erase the stored copy.

        Raises
        ------
        NotFound
            If ``owner_id`` has no such key, or its plain text was already
            claimed or never kept.
        """
        check_id(key_id, "key", "key_id")
        check_id(owner_id, "user", "owner_id")
        async with self._connection() as conn:
            # The CTE reads the ciphertext under a row lock and the UPDATE
            # erases it in the same statement, so of two racing claims only
            # one gets the key.
            sealed = await conn.fetchval(
                """WITH waiting AS (
                       SELECT id, sealed_key FROM api_keys
                       WHERE id = $1 AND owner_id = $2 AND sealed_key IS NOT NULL AND status IN ('active', 'rotating')
                       FOR UPDATE)
                   UPDATE api_keys SET sealed_key = NULL FROM waiting WHERE api_keys.id = waiting.id
                   RETURNING waiting.sealed_key""",
                key_id, owner_id,
            )
        if sealed is None:
            raise NotFound(f"no rotated key waiting for API key {key_id}: it was claimed already or never kept")
        return self._ctx.keyring.unseal(bytes(sealed), key_id)

    async def revoke(self, key_id: str, owner_id: str | None = None, reason: str = "") -> ApiKey:
        """Revoke key ``key_id`` now, recording ``reason``.

        Raises
        ------
        Conflict
            If the key is already revoked or compromised.
        """
        reason = check_text(reason, "reason", max_length=500, min_length=0)
        return await self._end(key_id, owner_id, "revoked", reason, ("active", "rotating", "expired"))

    async def mark_compromised(self, key_id: str, owner_id: str | None = None, details: str = "") -> ApiKey:
        """Emergency revocation: mark key ``key_id`` compromised, from any status, at once.

        A revoked key that later leaks can still be marked, so the record
        shows it.  Any rotated key waiting to be claimed is erased.
        """
        details = check_text(details, "details", max_length=2000, min_length=0)
        return await self._end(key_id, owner_id, "compromised", details, STATUSES)

    async def _end(self, key_id: str, owner_id: str | None, status: str, reason: str, allowed: tuple[str, ...]) -> ApiKey:
        check_id(key_id, "key", "key_id")
        now = self._now()
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"""UPDATE api_keys SET status = $3, revoked_at = coalesce(revoked_at, $4), revoke_reason = $5,
                        grace_ends_at = NULL, sealed_key = NULL, updated_at = $4
                    WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2) AND status = ANY($6::text[])
                    RETURNING {_COLUMNS}""",
                key_id, owner_id, status, now, reason, list(allowed),
            )
        if row is None:
            current = await self.get(key_id, owner_id)  # raises NotFound for a missing key
            raise Conflict(f"Cannot mark API key {key_id} {status}: it is {current.status}", {"status": current.status})
        return _api_key(row)

    async def expire_due(self) -> int:
        """Move keys past their expiry to ``expired`` and rotating keys past their grace to ``revoked``.

        Authentication already refuses such keys on time; this keeps the
        statuses shown to owners truthful.  Returns the number of keys changed.
        """
        now = self._now()
        async with self._transaction() as conn:
            rotated = await conn.execute(
                """UPDATE api_keys SET status = 'revoked', revoked_at = grace_ends_at, revoke_reason = 'rotated',
                       grace_ends_at = NULL, updated_at = $1
                   WHERE status = 'rotating' AND grace_ends_at <= $1""",
                now,
            )
            expired = await conn.execute(
                """UPDATE api_keys SET status = 'expired', sealed_key = NULL, updated_at = $1
                   WHERE status = 'active' AND expires_at <= $1""",
                now,
            )
        return int(rotated.split()[-1]) + int(expired.split()[-1])

    async def due_for_rotation(self, max_age_days: int = 90, limit: int = 100) -> list[ApiKey]:
        """Return active keys created ``max_age_days`` or more ago, oldest first (for automatic rotation)."""
        cutoff = self._now() - check_int(max_age_days, "max_age_days", minimum=1, maximum=3650) * DAY_NS
        limit = check_int(limit, "limit", minimum=1, maximum=10_000)
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"""SELECT {_COLUMNS} FROM api_keys WHERE status = 'active' AND created_at <= $1
                    ORDER BY created_at, id LIMIT $2""",
                cutoff, limit,
            )
        return [_api_key(row) for row in rows]


def _check_usable(key: ApiKey, now: int) -> None:
    if key.status == "active":
        if key.expires_at is not None and key.expires_at <= now:
            raise AuthenticationError(f"API key {key.id} has expired")
        return
    if key.status == "rotating":
        if key.grace_ends_at is not None and key.grace_ends_at > now and (key.expires_at is None or key.expires_at > now):
            return
        raise AuthenticationError(f"API key {key.id} was rotated and its grace period has ended")
    raise AuthenticationError(f"API key {key.id} is {key.status}")
