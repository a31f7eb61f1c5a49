import argon2

from cryptobot.storage.passwords import PasswordHasher

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_password_hash_verifies():
    stored = CHEAP.hash("correct horse")
    assert CHEAP.verify(stored, "correct horse")


def test_password_hash_rejects_wrong_password():
    stored = CHEAP.hash("correct horse")
    assert not CHEAP.verify(stored, "correct horsf")


def test_password_hash_is_salted_argon2id():
    first, second = CHEAP.hash("same"), CHEAP.hash("same")
    assert first.startswith("$argon2id$")
    assert "same" not in first
    assert first != second


def test_password_hash_readable_by_reference_library():
    stored = CHEAP.hash("correct horse")
    assert argon2.PasswordHasher().verify(stored, "correct horse")


def test_password_default_parameters_follow_rfc_9106():
    # RFC 9106 section 4, second recommended option: t=3, m=2^16 KiB, p=4.
    stored = PasswordHasher().hash("x")
    assert "$m=65536,t=3,p=4$" in stored


def test_password_needs_rehash_after_parameter_change():
    stored = CHEAP.hash("x")
    assert not CHEAP.needs_rehash(stored)
    assert PasswordHasher(time_cost=2, memory_cost=8, parallelism=1).needs_rehash(stored)


def test_password_malformed_hash_does_not_verify():
    assert not CHEAP.verify("not-a-hash", "x")
    assert CHEAP.needs_rehash("not-a-hash")
