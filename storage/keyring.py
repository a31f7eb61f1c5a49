"""The storage secret key: API-key hashing, and encryption of secrets the engine must read back.

One 32-byte secret key (``database_secret_key``, or a file generated in the
data folder) derives two subkeys with HKDF-SHA256:

- a pepper for HMAC-SHA256 of API keys.  API keys are 256 random bits, so
  guessing one from its hash is hopeless whatever the hash speed.  A slow
  password KDF would only add latency to every request.  The pepper means a
  stolen table alone does not even let an attacker test candidate keys.
- an AES-256-GCM key that encrypts secrets the engine needs in plain text
  later: webhook signing secrets and automatically rotated API keys that
  wait for their owner.  The row id is bound in as associated data, so a
  ciphertext copied into another row does not decrypt.

Every engine that shares one database must use the same secret key.  The
database keeps a check value of the key, and :meth:`Keyring.check_value`
lets the store refuse to start with a different one instead of failing to
verify keys later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cryptobot.core.config import Settings
from cryptobot.core.errors import ConfigError, StorageError

log = logging.getLogger("cryptobot.storage.keyring")

KEY_FILE_NAME = "database.key"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_SEALED_VERSION = b"\x01"


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"cryptobot storage " + purpose).derive(secret)


class Keyring:
    """Keys derived from the storage secret key.

    Parameters
    ----------
    secret
        The 32-byte secret key.
    """

    def __init__(self, secret: bytes):
        if len(secret) != _KEY_BYTES:
            raise ValueError(f"the storage secret key must be {_KEY_BYTES} bytes, was {len(secret)}")
        self._pepper = _derive(secret, b"api-key pepper v1")
        self._aead = AESGCM(_derive(secret, b"sealing v1"))
        self._check = _derive(secret, b"key check v1").hex()

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """Build the keyring from ``database_secret_key``, or the key file in ``data_dir``.

        Raises
        ------
        ConfigError
            If ``database_secret_key`` is not base64 of 32 bytes, or the key
            file is unreadable or malformed.
        """
        if settings.database_secret_key:
            return cls(_decode_key(settings.database_secret_key, "setting 'database_secret_key'"))
        return cls(load_or_create_key_file(settings.data_path / KEY_FILE_NAME))

    @property
    def check_value(self) -> str:
        """A value derived from the key that identifies it without revealing it."""
        return self._check

    def hash_api_key(self, key: str) -> bytes:
        """Return HMAC-SHA256 of ``key`` under the pepper (32 bytes)."""
        return hmac.new(self._pepper, key.encode(), hashlib.sha256).digest()

    def seal(self, plaintext: str, context: str) -> bytes:
        """Encrypt ``plaintext`` bound to ``context`` (the row id) with AES-256-GCM."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _SEALED_VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def unseal(self, sealed: bytes, context: str) -> str:
        """Decrypt what :meth:`seal` produced for the same ``context``.

        Raises
        ------
        StorageError
            If the data was altered, belongs to another row, or was sealed
            with another key.
        """
        if len(sealed) <= 1 + _NONCE_BYTES or sealed[:1] != _SEALED_VERSION:
            raise StorageError(f"Cannot decrypt the secret of {context}: unknown format")
        nonce, body = sealed[1:1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, context.encode()).decode()
        except InvalidTag:
            raise StorageError(
                f"Cannot decrypt the secret of {context}: it was altered or sealed with another storage secret key"
            ) from None


def generate_key() -> str:
    """Return a new secret key as base64 text, the form ``database_secret_key`` takes."""
    return base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode()


def _decode_key(text: str, source: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _KEY_BYTES:
        raise ConfigError(
            f"invalid {source}: expected base64 of {_KEY_BYTES} random bytes "
            "(for example the output of `openssl rand -base64 32`)",
            {"database_secret_key": f"expected base64 of {_KEY_BYTES} bytes"},
        )
    return raw


def load_or_create_key_file(path: Path) -> bytes:
    """Read the key file at ``path``, creating it (mode 0600) with a new key if absent.

    Two processes starting at once end up with the same key: the new key is
    written to a private temporary file and linked into place, which fails
    for the loser, who then reads the winner's file.
    """
    try:
        return _decode_key(path.read_text(), f"key file {path}")
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"Cannot read the storage key file {path}: {exc.strerror}") from None

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
            log.info("generated a new storage secret key in %s", path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)
    return _decode_key(path.read_text(), f"key file {path}")
