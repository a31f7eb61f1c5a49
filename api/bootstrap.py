"""Safe start-up of the API: refuse weak secrets, load the JWT signing secret, create the first admin.

The first admin either comes from ``auth_admin_username`` and
``auth_admin_password``, or, when the password is empty, gets a generated
one that is printed once on the console at first start and never logged.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import Any, Callable

from cryptobot.core.config import Settings
from cryptobot.core.errors import ConfigError, ValidationError

log = logging.getLogger("cryptobot.api.bootstrap")

JWT_SECRET_FILE = "jwt.key"
MIN_PASSWORD_LENGTH = 12
# RFC 7518 section 3.2: an HS256 key must be at least as long as the hash output (256 bits).
MIN_JWT_SECRET_LENGTH = 32
WELL_KNOWN = frozenset({
    "admin", "administrator", "password", "passw0rd", "password1", "password123", "changeme", "change_me", "changeit",
    "secret", "secret123", "default", "letmein", "qwerty", "qwertyuiop", "123456", "12345678", "123456789",
    "1234567890", "123456789012", "cryptobot", "root", "test", "guest", "welcome", "trustno1", "iloveyou",
    "admin123", "admin1234", "adminadmin", "passwordpassword", "changemechangeme", "secretsecret",
})


def weakness(value: str, min_length: int) -> str | None:
    """Return why ``value`` is too weak to protect anything, or None when it is acceptable."""
    if not value:
        return "it is empty"
    if value.lower() in WELL_KNOWN or value.lower().strip("0123456789!") in WELL_KNOWN:
        return "it is a well-known default"
    if len(value) < min_length:
        return f"it has {len(value)} characters, fewer than {min_length}"
    if len(set(value)) < 4:
        return "it repeats too few distinct characters"
    return None


def check_password_strength(password: str, field: str = "password") -> str:
    """Return ``password`` if it is strong enough for an account; raise ValidationError otherwise."""
    problem = weakness(password, MIN_PASSWORD_LENGTH)
    if problem:
        raise ValidationError(f"Cannot use this password: {problem}", {field: f"too weak: {problem}"})
    return password


def check_api_settings(settings: Settings) -> None:
    """Refuse to serve with a weak signing secret or admin password in the configuration.

    Empty values are fine here: the signing secret is then generated and
    kept in the data folder, and the admin password generated and shown once.
    """
    if settings.auth_jwt_secret:
        problem = weakness(settings.auth_jwt_secret, MIN_JWT_SECRET_LENGTH)
        if problem:
            raise ConfigError(f"invalid setting 'auth_jwt_secret': {problem}; use at least {MIN_JWT_SECRET_LENGTH} random "
                              "characters or leave it empty to have one generated", {"auth_jwt_secret": problem})
    if settings.auth_admin_password:
        problem = weakness(settings.auth_admin_password, MIN_PASSWORD_LENGTH)
        if problem:
            raise ConfigError(f"invalid setting 'auth_admin_password': {problem}; use at least {MIN_PASSWORD_LENGTH} "
                              "characters or leave it empty to have one generated", {"auth_admin_password": problem})


def load_jwt_secret(settings: Settings) -> bytes:
    """Return the signing secret: the setting, or the file in the data folder (created once, mode 0600)."""
    if settings.auth_jwt_secret:
        return settings.auth_jwt_secret.encode()
    return load_or_create_secret_file(settings.data_path / JWT_SECRET_FILE)


def load_or_create_secret_file(path: Path) -> bytes:
    """Read a base64 secret file, or create one with 64 random bytes readable by the owner only.

    Raises
    ------
    ConfigError
        If the file is unreadable, malformed, or readable by other users.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(64)).decode() + "\n")
        log.info("generated a new JWT signing secret in %s", path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"Cannot read the JWT signing secret file {path}: {exc}") from None
    if mode & 0o077:
        raise ConfigError(f"Cannot use the JWT signing secret file {path}: it is readable by other users "
                          f"(mode {mode:o}); run chmod 600 on it", {"auth_jwt_secret": "file permissions too open"})
    try:
        secret = base64.b64decode(text, validate=True)
    except ValueError:
        raise ConfigError(f"Cannot use the JWT signing secret file {path}: it is not base64") from None
    if len(secret) < MIN_JWT_SECRET_LENGTH:
        raise ConfigError(f"Cannot use the JWT signing secret file {path}: it contains {len(secret)} bytes, fewer than "
                          f"{MIN_JWT_SECRET_LENGTH}")
    return secret


async def ensure_first_admin(db: Any, settings: Settings, announce: Callable[[str], None] | None = None) -> Any:
    """Create the admin user when the database has no user yet; return it (None when users exist).

    With an empty ``auth_admin_password`` a strong password is generated and
    passed to ``announce`` (default: printed on standard error) exactly once.
    """
    if await db.users.count() > 0:
        return None
    password = settings.auth_admin_password
    generated = not password
    if generated:
        password = secrets.token_urlsafe(18)
    else:
        check_password_strength(password, "auth_admin_password")
    user = await db.users.create(settings.auth_admin_username, password, ("admin",))
    await db.audit.append("user.create", actor_type="system", target_type="user", target_id=user.id,
                          details={"username": user.username, "roles": ["admin"], "source": "first start"})
    log.info("created the first admin user %s", user.username, extra={"user_id": user.id})
    if generated:
        message = (
            f"\nCreated the first admin user '{user.username}' with this generated password (shown only this once):\n\n"
            f"    {password}\n\n"
            f"Log in with POST /api/v1/auth/token and the body "
            f'{{"username": "{user.username}", "password": "<the password above>"}}.\n'
            f"Store the password now: it is not kept anywhere in plain text.\n"
        )
        (announce or _print_to_console)(message)
    return user


def _print_to_console(message: str) -> None:
    # Straight to the terminal, never through logging: log files must not hold the password.
    print(message, file=sys.stderr, flush=True)
