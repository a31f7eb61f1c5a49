"""Users: credentials, roles and login lockout."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import asyncpg

from cryptobot.core.clock import ns_to_iso
from cryptobot.core.errors import AuthenticationError, Conflict, NotFound, ValidationError
from cryptobot.core.ids import check_id, new_id
from cryptobot.storage.repositories.base import Filters, Page, Repository, record_to
from cryptobot.storage.values import check_bool, check_subset, check_text

ROLES = ("user", "trader", "admin")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

_USERNAME = re.compile(r"[A-Za-z0-9._@-]{3,64}")

_COLUMNS = """id, username, roles, is_active, failed_logins, locked_until, last_login_at,
              password_changed_at, created_at, updated_at"""


@dataclass(frozen=True, slots=True)
class User:
    """A person who logs in; the password hash never leaves the repository."""

    id: str
    username: str
    roles: tuple[str, ...]
    is_active: bool
    failed_logins: int
    locked_until: int | None
    last_login_at: int | None
    password_changed_at: int
    created_at: int
    updated_at: int


def _user(record: asyncpg.Record) -> User:
    return record_to(User, record, roles=tuple(record["roles"]))


def check_username(value: object) -> str:
    return check_text(value, "username", max_length=64, min_length=3, pattern=_USERNAME,
                      hint="3 to 64 letters, digits or . _ @ -")


def check_password(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("'password' must be a string", {"password": "expected a string"})
    if not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
        # The message gives the length only: a password never appears in an error.
        raise ValidationError(
            f"'password' must have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters, had {len(value)}",
            {"password": f"length out of range [{MIN_PASSWORD_LENGTH}, {MAX_PASSWORD_LENGTH}]"},
        )
    return value


class UserRepository(Repository):
    """Create users, check their passwords, and lock them out after repeated failures.

    After ``max_login_failures`` wrong passwords in a row a user is locked
    for ``lockout`` time; the counter then starts again from zero.  Password
    hashing runs in a worker thread, never on the event loop.
    """

    async def create(self, username: str, password: str, roles: tuple[str, ...] | list[str] = ("user",)) -> User:
        """Create a user.

        Raises
        ------
        ValidationError
            For a malformed username, a password of the wrong length or an unknown role.
        Conflict
            If the username is taken, in any letter case.
        """
        username = check_username(username)
        password = check_password(password)
        roles = check_subset(roles, "roles", ROLES)
        password_hash = await asyncio.to_thread(self._ctx.passwords.hash, password)
        now = self._now()
        async with self._transaction() as conn:
            try:
                row = await conn.fetchrow(
                    f"""INSERT INTO users (id, username, password_hash, roles, password_changed_at, created_at, updated_at)
                        VALUES ($1, $2, $3, $4, $5, $5, $5) RETURNING {_COLUMNS}""",
                    new_id("user"), username, password_hash, list(roles), now,
                )
            except asyncpg.UniqueViolationError:
                raise Conflict(f"Cannot create user {username!r}: the username is taken", {"username": "already taken"}) from None
        return _user(row)

    async def get(self, user_id: str) -> User:
        """Return the user ``user_id``; raise NotFound if there is none."""
        check_id(user_id, "user", "user_id")
        async with self._connection() as conn:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)
        if row is None:
            raise NotFound(f"user {user_id} not found")
        return _user(row)

    async def get_by_username(self, username: str) -> User:
        """Return the user named ``username`` in any letter case; raise NotFound if there is none."""
        async with self._connection() as conn:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE lower(username) = lower($1)", username)
        if row is None:
            raise NotFound(f"user {username!r} not found")
        return _user(row)

    async def list(self, page: int = 1, limit: int = 50) -> Page[User]:
        """Return users ordered by creation time."""
        async with self._connection() as conn:
            return await self._fetch_page(conn, f"SELECT {_COLUMNS} FROM users", Filters(), "created_at, id", page, limit, _user)

    async def count(self) -> int:
        """Return the number of users (0 on a new installation)."""
        async with self._connection() as conn:
            return await conn.fetchval("SELECT count(*) FROM users")

    async def authenticate(self, username: str, password: str) -> User:
        """Check ``password`` for ``username`` and return the user on success.

        Every wrong password counts toward the lockout; a correct one resets
        the count.  A locked user is refused without checking the password.

        Raises
        ------
        AuthenticationError
            For an unknown user or a wrong password (one message for both),
            a locked user (naming the end of the lock) or a disabled user.
        """
        if not isinstance(username, str) or not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
            raise AuthenticationError("Invalid username or password")
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT id, password_hash, is_active, locked_until FROM users WHERE lower(username) = lower($1)", username
            )
        now = self._now()
        if row is None:
            # Hash anyway so that response time does not reveal which usernames exist.
            await asyncio.to_thread(self._ctx.passwords.verify_dummy, password)
            raise AuthenticationError("Invalid username or password")
        if row["locked_until"] is not None and row["locked_until"] > now:
            until = ns_to_iso(row["locked_until"])
            raise AuthenticationError(
                f"Cannot log in: too many failed attempts, the user is locked until {until}", {"locked_until": until}
            )

        if not await asyncio.to_thread(self._ctx.passwords.verify, row["password_hash"], password):
            await self._count_failure(row["id"], now)
            raise AuthenticationError("Invalid username or password")
        if not row["is_active"]:
            raise AuthenticationError("Cannot log in: the user is disabled")
        return await self._record_success(row["id"], row["password_hash"], password, now)

    async def _count_failure(self, user_id: str, now: int) -> None:
        # One statement, so concurrent failures each count: no read-modify-write in Python.
        async with self._connection() as conn:
            await conn.execute(
                """UPDATE users SET
                       failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
                       locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END,
                       updated_at = $4
                   WHERE id = $1""",
                user_id, self._ctx.max_login_failures, now + self._ctx.lockout_ns, now,
            )

    async def _record_success(self, user_id: str, old_hash: str, password: str, now: int) -> User:
        new_hash = None
        if self._ctx.passwords.needs_rehash(old_hash):
            new_hash = await asyncio.to_thread(self._ctx.passwords.hash, password)
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"""UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = $2, updated_at = $2,
                        password_hash = coalesce($3, password_hash)
                    WHERE id = $1 RETURNING {_COLUMNS}""",
                user_id, now, new_hash,
            )
        return _user(row)

    async def set_password(self, user_id: str, password: str) -> User:
        """Replace the password of ``user_id`` and clear any lockout."""
        check_id(user_id, "user", "user_id")
        password_hash = await asyncio.to_thread(self._ctx.passwords.hash, check_password(password))
        return await self._update(
            user_id, "password_hash = $2, password_changed_at = $3, failed_logins = 0, locked_until = NULL", password_hash
        )

    async def set_roles(self, user_id: str, roles: tuple[str, ...] | list[str]) -> User:
        """Replace the roles of ``user_id``."""
        check_id(user_id, "user", "user_id")
        return await self._update(user_id, "roles = $2", list(check_subset(roles, "roles", ROLES)))

    async def set_active(self, user_id: str, active: bool) -> User:
        """Enable or disable ``user_id``; a disabled user cannot log in."""
        check_id(user_id, "user", "user_id")
        return await self._update(user_id, "is_active = $2", check_bool(active, "active"))

    async def unlock(self, user_id: str) -> User:
        """Clear the failure count and lockout of ``user_id``."""
        check_id(user_id, "user", "user_id")
        return await self._update(user_id, "failed_logins = 0, locked_until = $2", None)

    async def _update(self, user_id: str, assignments: str, value: object) -> User:
        now = self._now()
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"UPDATE users SET {assignments}, updated_at = $3 WHERE id = $1 RETURNING {_COLUMNS}", user_id, value, now
            )
        if row is None:
            raise NotFound(f"user {user_id} not found")
        return _user(row)
