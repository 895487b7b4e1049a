"""Settings: safe defaults, and no unsafe secret in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app import config
from app.config import Settings


def test_defaults_use_a_sqlite_file_under_var() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("/var/pvm.db")
    assert settings.max_body_bytes > 0 and settings.broker_url is None


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PVM_DATABASE_URL", "sqlite:////tmp/elsewhere.db")
    monkeypatch.setenv("PVM_MAX_BODY_BYTES", "1234")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "sqlite:////tmp/elsewhere.db"
    assert settings.max_body_bytes == 1234


@pytest.mark.parametrize("secret", [None, "changeme", "secret", "short-but-not-listed"])
def test_production_refuses_unsafe_secret(secret: str | None) -> None:
    with pytest.raises(ValidationError, match="PVM_SECRET_KEY"):
        Settings(environment="production", secret_key=secret, _env_file=None)  # type: ignore[call-arg]


def test_production_accepts_strong_secret() -> None:
    strong = "s" * 48
    assert Settings(environment="production", secret_key=strong).secret_key == strong


def test_dev_secret_is_generated_and_persisted(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "VAR_DIR", tmp_path / "var")
    first = Settings(environment="dev", secret_key=None, _env_file=None)  # type: ignore[call-arg]
    second = Settings(environment="dev", secret_key=None, _env_file=None)  # type: ignore[call-arg]
    assert first.secret_key == second.secret_key and len(first.secret_key or "") >= 32
    assert (tmp_path / "var" / "secret_key").read_text() == first.secret_key
