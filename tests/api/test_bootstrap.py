"""Safe start-up: weak secrets refused, the signing secret file, the first admin, the users command."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys

import pytest

from cryptobot.api.bootstrap import (check_api_settings, ensure_first_admin, load_jwt_secret, load_or_create_secret_file,
                                     weakness)
from cryptobot.core.config import load_settings
from cryptobot.core.errors import ConfigError, ValidationError


@pytest.mark.parametrize("value", ["", "admin", "password", "changeme", "secret", "Password1", "short-pass1",
                                   "aaaaaaaaaaaaaaaa"])
def test_weak_values(value):
    assert weakness(value, 12) is not None


def test_strong_value_accepted():
    assert weakness("correct horse battery staple", 12) is None


@pytest.mark.parametrize("setting,value", [("auth_jwt_secret", "secret"), ("auth_jwt_secret", "x" * 12 + "abcdefgh"),
                                           ("auth_admin_password", "changeme"), ("auth_admin_password", "admin123")])
def test_weak_settings_refused(setting, value):
    settings = load_settings(environ={}, **{setting: value})
    with pytest.raises(ConfigError, match=f"invalid setting '{setting}'"):
        check_api_settings(settings)


def test_default_host_is_loopback():
    assert load_settings(environ={}).api_host == "127.0.0.1"


def test_secret_file_created_private_and_stable(tmp_path):
    settings = load_settings(environ={}, data_dir=str(tmp_path))
    first = load_jwt_secret(settings)
    mode = stat.S_IMODE((tmp_path / "jwt.key").stat().st_mode)
    assert mode == 0o600
    assert len(first) == 64
    assert load_jwt_secret(settings) == first


def test_secret_file_readable_by_others_refused(tmp_path):
    path = tmp_path / "jwt.key"
    load_or_create_secret_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        load_or_create_secret_file(path)


async def test_first_admin_generated_password_announced_once(db, store_settings):
    announced = []
    user = await ensure_first_admin(db, store_settings, announced.append)
    assert user.roles == ("admin",)
    assert len(announced) == 1
    password = announced[0].split("\n\n    ", 1)[1].split("\n", 1)[0]
    assert weakness(password, 12) is None
    assert (await db.users.authenticate("admin", password)).id == user.id
    assert await ensure_first_admin(db, store_settings, announced.append) is None
    assert len(announced) == 1


async def test_first_admin_from_configuration(db, store_settings):
    import dataclasses

    settings = dataclasses.replace(store_settings, auth_admin_username="root-admin",
                                   auth_admin_password="a long configured password")
    announced = []
    user = await ensure_first_admin(db, settings, announced.append)
    assert announced == []
    assert (await db.users.authenticate("root-admin", "a long configured password")).id == user.id


async def test_generated_password_never_logged(db, store_settings, caplog):
    announced = []
    with caplog.at_level("DEBUG"):
        await ensure_first_admin(db, store_settings, announced.append)
    password = announced[0].split("\n\n    ", 1)[1].split("\n", 1)[0]
    assert "created the first admin user admin" in caplog.text
    assert password not in caplog.text


def test_users_create_command(store_settings, tmp_path):
    env = {**os.environ, "CRYPTOBOT_DATABASE_URL": store_settings.database_url,
           "CRYPTOBOT_DATABASE_SECRET_KEY": store_settings.database_secret_key, "CRYPTOBOT_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "cryptobot", "users", "create", "alice", "--role", "admin",
                             "--password-stdin"], input="a strong enough password\n", capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created user alice (user_")
    assert "roles admin" in result.stdout
    assert "a strong enough password" not in result.stdout + result.stderr


def test_users_create_refuses_weak_password(store_settings, tmp_path):
    env = {**os.environ, "CRYPTOBOT_DATABASE_URL": store_settings.database_url,
           "CRYPTOBOT_DATABASE_SECRET_KEY": store_settings.database_secret_key, "CRYPTOBOT_DATA_DIR": str(tmp_path),
           "NEW_PASSWORD": "changeme"}
    result = subprocess.run([sys.executable, "-m", "cryptobot", "users", "create", "bob", "--password-env", "NEW_PASSWORD"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert "Cannot use this password: it is a well-known default" in result.stderr


def test_read_password_from_env(monkeypatch):
    import argparse

    from cryptobot.api.users_cli import _read_password

    monkeypatch.setenv("PW", "from the environment")
    args = argparse.Namespace(password_env="PW", password_stdin=False)
    assert _read_password(args) == "from the environment"
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(ValidationError, match="no terminal"):
        _read_password(argparse.Namespace(password_env=None, password_stdin=False))
