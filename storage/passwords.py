"""Password hashing with Argon2id.

Argon2id (RFC 9106) is memory-hard, so guessing passwords from a stolen
hash costs memory as well as time on GPUs and ASICs, and it is the first
choice of the OWASP password storage guidance.  argon2-cffi writes the
salt and parameters into the hash string (PHC format), which lets
:meth:`PasswordHasher.needs_rehash` upgrade old hashes at the next login.
The default parameters are RFC 9106's second recommended option
(t=3, m=64 MiB, p=4), about 0.2 s per hash on a 2-core machine.
"""

from __future__ import annotations

import logging

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

log = logging.getLogger("cryptobot.storage.passwords")


class PasswordHasher:
    """Hash and verify passwords; both calls block, so run them off the event loop.

    Parameters
    ----------
    time_cost
        Argon2 passes over memory (>= 1).
    memory_cost
        Memory per hash in KiB (>= 8 * parallelism).
    parallelism
        Lanes (threads) per hash (>= 1).
    """

    def __init__(self, time_cost: int = 3, memory_cost: int = 65_536, parallelism: int = 4):
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=argon2.Type.ID
        )
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        """Return the PHC string of a fresh salted Argon2id hash of ``password``."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Tell whether ``password`` matches ``password_hash`` (constant time in the hash)."""
        try:
            return self._hasher.verify(password_hash, password)
        except VerifyMismatchError:
            return False
        except (InvalidHashError, VerificationError) as exc:
            log.error("stored password hash cannot be verified: %s", exc)
            return False

    def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification, so rejecting an unknown user takes as long as a wrong password."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("placeholder for unknown users")
        self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Tell whether ``password_hash`` was made with other parameters than this hasher's."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
