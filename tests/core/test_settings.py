"""Settings from the environment; secrets never in reprs."""

from __future__ import annotations

from pathlib import Path

import pytest

from flashsale.core.settings import Secret, Settings, SettingsError


def test_defaults_are_loopback(tmp_path: Path) -> None:
    s = Settings.from_env({"FLASHSALE_DATA_DIR": str(tmp_path)})
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.database_url.startswith("postgresql://flashsale@127.0.0.1:5432/")
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.dev


def test_env_overrides(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "FLASHSALE_DATA_DIR": str(tmp_path),
            "FLASHSALE_REDIS_URL": "redis://127.0.0.2:7000/3",
            "FLASHSALE_KAFKA_BOOTSTRAP": "127.0.0.3:9999",
            "FLASHSALE_KAFKA_PARTITIONS": "12",
        }
    )
    assert (s.redis_url, s.kafka_bootstrap, s.kafka_partitions) == (
        "redis://127.0.0.2:7000/3",
        "127.0.0.3:9999",
        12,
    )


def test_bad_integer_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="FLASHSALE_KAFKA_PARTITIONS"):
        Settings.from_env(
            {"FLASHSALE_DATA_DIR": str(tmp_path), "FLASHSALE_KAFKA_PARTITIONS": "many"}
        )


def test_redis_fsync_is_durable_by_default_and_selectable(tmp_path: Path) -> None:
    assert Settings.from_env({"FLASHSALE_DATA_DIR": str(tmp_path)}).redis_appendfsync == "always"
    relaxed = Settings.from_env(
        {"FLASHSALE_DATA_DIR": str(tmp_path), "FLASHSALE_REDIS_APPENDFSYNC": "everysec"}
    )
    assert relaxed.redis_appendfsync == "everysec"
    with pytest.raises(SettingsError, match="FLASHSALE_REDIS_APPENDFSYNC"):
        Settings.from_env(
            {"FLASHSALE_DATA_DIR": str(tmp_path), "FLASHSALE_REDIS_APPENDFSYNC": "no"}
        )


def test_secrets_hidden_and_dev_secrets_stable(tmp_path: Path) -> None:
    s = Settings.from_env({"FLASHSALE_DATA_DIR": str(tmp_path)})
    again = Settings.from_env({"FLASHSALE_DATA_DIR": str(tmp_path)})
    assert s.token_secret == again.token_secret
    assert len(s.token_secret.reveal()) >= 32
    assert s.token_secret.reveal() not in repr(s)
    assert s.admin_token.reveal() not in f"{s} {s.admin_token} {s.admin_token!r}"
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600


def test_env_secret_wins(tmp_path: Path) -> None:
    s = Settings.from_env(
        {"FLASHSALE_DATA_DIR": str(tmp_path), "FLASHSALE_ADMIN_TOKEN": "from-env-123"}
    )
    assert s.admin_token == Secret("from-env-123")


def test_production_needs_every_secret_from_env(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="FLASHSALE_TOKEN_SECRET"):
        Settings.from_env({"FLASHSALE_DATA_DIR": str(tmp_path), "FLASHSALE_ENV": "production"})
    assert not (tmp_path / "secrets.json").exists()
