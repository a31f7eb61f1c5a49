import pytest

from cryptobot.core.config import load_settings
from cryptobot.core.errors import ConfigError


def test_defaults_bind_to_loopback_port_8000():
    settings = load_settings(environ={})
    assert settings.api_host == "127.0.0.1"
    assert settings.api_port == 8000


def test_toml_table_and_flat_names(tmp_path):
    path = tmp_path / "cryptobot.toml"
    path.write_text('data_dir = "/srv/cb"\n[api]\nport = 9001\n')
    settings = load_settings(path, environ={})
    assert settings.data_dir == "/srv/cb"
    assert settings.api_port == 9001


def test_environment_wins_over_file(tmp_path):
    path = tmp_path / "cryptobot.toml"
    path.write_text("[api]\nport = 9001\n")
    settings = load_settings(path, environ={"CRYPTOBOT_API_PORT": "9002"})
    assert settings.api_port == 9002


def test_bad_integer_names_setting_and_source():
    with pytest.raises(ConfigError, match=r"'api_port' from environment variable CRYPTOBOT_API_PORT: expected int, was 'eighty'"):
        load_settings(environ={"CRYPTOBOT_API_PORT": "eighty"})


def test_out_of_range_value_is_rejected():
    with pytest.raises(ConfigError, match=r"out of range \[0, 65535\], was 70000"):
        load_settings(environ={"CRYPTOBOT_API_PORT": "70000"})


def test_choice_is_enforced():
    with pytest.raises(ConfigError, match="expected one of paper, live, was 'yolo'"):
        load_settings(environ={"CRYPTOBOT_ENGINE_MODE": "yolo"})


def test_unknown_setting_in_file_is_rejected(tmp_path):
    path = tmp_path / "cryptobot.toml"
    path.write_text("[api]\nprot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'api_prot'"):
        load_settings(path, environ={})


def test_malformed_toml_is_reported(tmp_path):
    path = tmp_path / "cryptobot.toml"
    path.write_text("api_port = = 1\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(path, environ={})


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_repr_masks_secrets():
    settings = load_settings(environ={"CRYPTOBOT_AUTH_JWT_SECRET": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(settings)
    assert settings.auth_jwt_secret == "s3cr3t-value"


def test_boolean_spellings():
    assert load_settings(environ={"CRYPTOBOT_API_WEBHOOK_ALLOW_PRIVATE": "yes"}).api_webhook_allow_private is True
    with pytest.raises(ConfigError, match="expected bool"):
        load_settings(environ={"CRYPTOBOT_API_WEBHOOK_ALLOW_PRIVATE": "maybe"})
