import base64
import hashlib
import hmac
import stat
import threading

import pytest

from cryptobot.core.config import load_settings
from cryptobot.core.errors import ConfigError, StorageError
from cryptobot.storage.keyring import KEY_FILE_NAME, Keyring, generate_key, load_or_create_key_file

SECRET = bytes(range(32))


def _hkdf_sha256(secret: bytes, info: bytes) -> bytes:
    # RFC 5869 with an empty salt (HashLen zero bytes) and a 32-byte output: one expand block.
    prk = hmac.new(b"\x00" * 32, secret, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def test_hash_api_key_is_hmac_under_derived_pepper():
    pepper = _hkdf_sha256(SECRET, b"cryptobot storage api-key pepper v1")
    expected = hmac.new(pepper, b"cbk_example", hashlib.sha256).digest()
    assert Keyring(SECRET).hash_api_key("cbk_example") == expected


def test_hash_api_key_differs_between_keys():
    assert Keyring(SECRET).hash_api_key("cbk_a") != Keyring(bytes(32)).hash_api_key("cbk_a")


def test_seal_round_trip():
    keyring = Keyring(SECRET)
    sealed = keyring.seal("webhook secret ✓", "webhook_1")
    assert keyring.unseal(sealed, "webhook_1") == "webhook secret ✓"


def test_seal_hides_plaintext_and_varies():
    keyring = Keyring(SECRET)
    first, second = keyring.seal("plain words", "ctx"), keyring.seal("plain words", "ctx")
    assert b"plain words" not in first
    assert first != second


def test_unseal_rejects_tampering():
    keyring = Keyring(SECRET)
    sealed = bytearray(keyring.seal("secret", "ctx"))
    sealed[-1] ^= 1
    with pytest.raises(StorageError, match="altered or sealed with another storage secret key"):
        keyring.unseal(bytes(sealed), "ctx")


def test_unseal_rejects_other_row():
    keyring = Keyring(SECRET)
    sealed = keyring.seal("secret", "webhook_a")
    with pytest.raises(StorageError, match="Cannot decrypt the secret of webhook_b"):
        keyring.unseal(sealed, "webhook_b")


def test_unseal_rejects_other_key():
    sealed = Keyring(SECRET).seal("secret", "ctx")
    with pytest.raises(StorageError, match="Cannot decrypt"):
        Keyring(bytes(32)).unseal(sealed, "ctx")


def test_unseal_rejects_unknown_format():
    with pytest.raises(StorageError, match="unknown format"):
        Keyring(SECRET).unseal(b"\x02" + bytes(40), "ctx")


def test_check_value_identifies_key():
    assert Keyring(SECRET).check_value == Keyring(SECRET).check_value
    assert Keyring(SECRET).check_value != Keyring(bytes(32)).check_value
    assert SECRET.hex() not in Keyring(SECRET).check_value


def test_key_file_created_private_and_reused(tmp_path):
    path = tmp_path / "data" / KEY_FILE_NAME
    first = load_or_create_key_file(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key_file(path) == first
    assert base64.b64decode(path.read_text().strip()) == first


def test_key_file_concurrent_creation_agrees(tmp_path):
    path = tmp_path / KEY_FILE_NAME
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_or_create_key_file(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE_NAME]


def test_key_file_malformed_refused(tmp_path):
    path = tmp_path / KEY_FILE_NAME
    path.write_text("not base64!\n")
    with pytest.raises(ConfigError, match=f"invalid key file {path}"):
        load_or_create_key_file(path)


def test_keyring_from_setting_wins_over_file(tmp_path):
    key = generate_key()
    settings = load_settings(environ={}, data_dir=str(tmp_path), database_secret_key=key)
    keyring = Keyring.from_settings(settings)
    assert keyring.check_value == Keyring(base64.b64decode(key)).check_value
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_keyring_short_setting_refused(tmp_path):
    settings = load_settings(environ={}, data_dir=str(tmp_path), database_secret_key=base64.b64encode(b"short").decode())
    with pytest.raises(ConfigError, match="invalid setting 'database_secret_key': expected base64 of 32 random bytes"):
        Keyring.from_settings(settings)


def test_keyring_without_setting_uses_data_dir_file(tmp_path):
    settings = load_settings(environ={}, data_dir=str(tmp_path))
    first = Keyring.from_settings(settings)
    assert (tmp_path / KEY_FILE_NAME).is_file()
    assert Keyring.from_settings(settings).check_value == first.check_value
