"""The audit log: who did what to which object, from where.  Append-only.

Triggers in the schema reject UPDATE, DELETE and TRUNCATE on the table.
Details must not carry secrets; :meth:`AuditLog.append` rejects details
with a key named like one (password, secret, token, api_key, key).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import asyncpg

from cryptobot.core.errors import ValidationError
from cryptobot.storage.repositories.base import Filters, Page, Repository, record_to
from cryptobot.storage.values import check_choice, check_json_object, check_text

ACTOR_TYPES = ("user", "api_key", "system")
SECRET_FIELD_NAMES = frozenset({"password", "secret", "token", "api_key", "key", "access_token", "refresh_token"})

_ACTION = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)*")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit record; ``id`` increases with every append."""

    id: int
    at: int
    actor_type: str
    actor_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    details: dict
    ip: str | None


def _entry(record: asyncpg.Record) -> AuditEntry:
    # asyncpg reads inet as an address, or as an interface when it has a prefix.
    ip = record["ip"]
    if ip is not None:
        ip = str(getattr(ip, "ip", ip))
    return record_to(AuditEntry, record, ip=ip)


def _check_no_secrets(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in SECRET_FIELD_NAMES:
                raise ValidationError(
                    f"'details' must not contain secrets, had the field {path}{key}", {"details": f"field {path}{key} is not allowed"}
                )
            _check_no_secrets(item, f"{path}{key}.")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_no_secrets(item, path)


def check_ip(value: object) -> str | None:
    """Return ``value`` as a normalized IPv4 or IPv6 address, or None."""
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValidationError(f"'ip' must be an IPv4 or IPv6 address, was {value!r}", {"ip": "expected an IP address"}) from None


class AuditLog(Repository):
    """Append to and read the audit log."""

    async def append(self, action: str, *, actor_type: str = "system", actor_id: str | None = None,
                     target_type: str | None = None, target_id: str | None = None, details: dict | None = None,
                     ip: str | None = None) -> AuditEntry:
        """Append one entry stamped with the clock's time, e.g. ``append("api_key.revoke", actor_type="user", ...)``."""
        action = check_text(action, "action", max_length=100, pattern=_ACTION, hint="dotted lower-case words such as api_key.revoke")
        check_choice(actor_type, "actor_type", ACTOR_TYPES)
        check_text(actor_id, "actor_id", max_length=100, optional=True)
        check_text(target_type, "target_type", max_length=100, optional=True)
        check_text(target_id, "target_id", max_length=200, optional=True)
        details = check_json_object({} if details is None else details, "details")
        _check_no_secrets(details, "")
        async with self._connection() as conn:
            row = await conn.fetchrow(
                """INSERT INTO audit_log (at, actor_type, actor_id, action, target_type, target_id, details, ip)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8::inet) RETURNING *""",
                self._now(), actor_type, actor_id, action, target_type, target_id, details, check_ip(ip),
            )
        return _entry(row)

    async def list(self, *, actor_id: str | None = None, action: str | None = None, target_id: str | None = None,
                   start: int | None = None, end: int | None = None, page: int = 1, limit: int = 50) -> Page[AuditEntry]:
        """Return entries with ``at`` in [start, end), newest first."""
        filters = Filters()
        filters.add_if("actor_id = {}", actor_id)
        filters.add_if("action = {}", action)
        filters.add_if("target_id = {}", target_id)
        filters.add_if("at >= {}", start)
        filters.add_if("at < {}", end)
        async with self._connection() as conn:
            return await self._fetch_page(conn, "SELECT * FROM audit_log", filters, "id DESC", page, limit, _entry)
