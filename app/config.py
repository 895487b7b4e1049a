"""Settings: one class, read from the environment (prefix ``PVM_``) through :func:`get_settings`."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"

# Values that must never protect a production deployment (copied from examples and docs).
UNSAFE_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "pvm", "please-change"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PVM_", env_file=".env", extra="ignore")

    environment: Literal["dev", "test", "production"] = "dev"
    database_url: str = f"sqlite:///{VAR_DIR / 'pvm.db'}"
    broker_url: str | None = None
    bootstrap_admin_key: str | None = None
    secret_key: str | None = None
    max_body_bytes: int = 1_000_000
    max_import_bytes: int = 50_000_000
    migrate_on_start: bool = True
    fit_workers: int = 2  # in-process fit job threads when no broker is configured
    fit_queue: str = "pvm-fits"  # broker queue of fit jobs (API processes and workers agree)
    # Fit-job limits (queued + running jobs); beyond them POST /fits answers 429 + Retry-After.
    fit_max_queued_per_key: int = Field(default=5, ge=1)
    fit_max_queued: int = Field(default=50, ge=1)
    fit_max_bootstrap_queued: int = Field(default=50_000, ge=0)  # draws of all active jobs
    fit_max_bootstrap_queued_per_key: int = Field(default=20_000, ge=0)
    fit_retry_after_s: int = Field(default=30, ge=1)
    public_base_url: str = "http://127.0.0.1:8000"  # printed by `pvm demo`
    # The address respondents reach pvm at, encoded in branch QR codes and posters
    # (``{public_url}/s/{slug}?branch={code}``); unset: the base URL of the request.
    public_url: str | None = None
    # A .ttf/.ttc font with Chinese/Japanese glyphs for the posters (app/surveys/posters.py);
    # unset: the first of the common system CJK fonts found.
    poster_font: str | None = None
    # Invitations (app/invitations/README.md). Email: smtp://user:password@host:port (STARTTLS
    # when the server offers it) or smtps://... (TLS from the start); from-address smtp_from.
    smtp_url: str | None = None
    smtp_from: str | None = None
    smtp_timeout_s: float = Field(default=30, gt=0)
    # SMS through an HTTP webhook: POST sms_webhook_url with sms_webhook_body, a JSON template
    # whose string values may hold {to}, {text} and {lang}; the auth header (e.g.
    # "Authorization: Bearer xyz") is sent as is.
    sms_webhook_url: str | None = None
    sms_webhook_auth_header: str | None = None
    sms_webhook_body: str = '{"to": "{to}", "text": "{text}"}'
    sms_timeout_s: float = Field(default=15, gt=0)
    # Sending: at most invitation_rate_per_s messages a second per sending process; a failed
    # send is retried after invitation_backoff_s, doubled each time, up to
    # invitation_max_attempts attempts; then the message is "failed" with the reason.
    invitation_rate_per_s: float = Field(default=5, gt=0)
    invitation_max_attempts: int = Field(default=5, ge=1, le=50)
    invitation_backoff_s: float = Field(default=60, ge=0)
    # Contact details are deleted this many days after the survey closes (0: at once);
    # invitation_keep_contacts keeps them (reminders after closing make no sense anyway).
    invitation_contacts_days_after_close: int = Field(default=0, ge=0, le=36_500)
    invitation_keep_contacts: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # Limits of the public submission paths (app/security/README.md). Counters are shared by
    # every process through Redis when redis_url is set (or else a redis:// broker_url);
    # otherwise each process counts on its own, so N workers let through up to N times a limit.
    rate_limit_enabled: bool = True
    # Submissions per client IP per window. Generous: many customers share a carrier NAT address.
    submit_per_ip: int = Field(default=120, ge=1)
    submit_ip_window_s: int = Field(default=60, ge=1)
    # Submissions carrying one invitation token (a token is single use; retries are fine).
    submit_per_token: int = Field(default=10, ge=1)
    submit_token_window_s: int = Field(default=3600, ge=1)
    # Bad invitation tokens (403) from one client before it is locked out for the window.
    bad_token_max: int = Field(default=10, ge=1)
    bad_token_window_s: int = Field(default=900, ge=1)
    redis_url: str | None = None
    # Respondents' IP address and user agent are cleared this many days after submission
    # (at start-up, every maintenance_interval_s, and by `pvm retention run`).
    client_data_retention_days: int = Field(default=30, ge=1, le=36_500)
    maintenance_interval_s: int = Field(default=3600, ge=1)
    # Sane window of imported submission times (F9): not later than now + clock_skew_s, not
    # earlier than earliest_submitted_at (imports may carry waves older than the survey).
    clock_skew_s: int = Field(default=300, ge=0, le=86_400)
    earliest_submitted_at: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    # Served by uvicorn (`pvm serve`; app/security/README.md): trust X-Forwarded-For/-Proto
    # only with proxy_headers and only from forwarded_allow_ips; slow clients are cut off.
    proxy_headers: bool = False
    forwarded_allow_ips: str = "127.0.0.1,::1"
    header_timeout_s: float = Field(default=10, gt=0)
    body_timeout_s: float = Field(default=30, gt=0)

    def counter_store_url(self) -> str | None:
        """The Redis URL rate-limit counters are kept in, or None for per-process counters."""
        if self.redis_url:
            return self.redis_url
        if self.broker_url and self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value and not (value.startswith(("smtp://", "smtps://")) and len(value) > 8):
            raise ValueError("must look like smtp://user:password@host:port (or smtps://)")
        return value or None

    @field_validator("sms_webhook_body")
    @classmethod
    def _sms_body(cls, value: str) -> str:
        try:
            json.loads(value)
        except ValueError as exc:
            raise ValueError(f"must be a JSON template: {exc}") from None
        return value

    @field_validator("earliest_submitted_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    @model_validator(mode="after")
    def _secret(self) -> Settings:
        if self.environment == "production":
            if self.secret_key is None or self.secret_key.lower() in UNSAFE_SECRETS:
                raise ValueError("PVM_SECRET_KEY must be set to a strong value in production")
            if len(self.secret_key) < 32:
                raise ValueError("PVM_SECRET_KEY must be at least 32 characters in production")
        elif self.secret_key is None:
            self.secret_key = _dev_secret()
        return self


def _dev_secret() -> str:
    """A per-checkout secret persisted under var/ so CSRF tokens survive restarts in dev."""
    path = VAR_DIR / "secret_key"
    try:
        if path.exists():
            return path.read_text().strip()
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.write_text(value)
        path.chmod(0o600)
        return value
    except OSError:  # read-only checkout: fall back to an ephemeral secret
        logger.warning("could not persist a dev secret under %s; using an ephemeral one", VAR_DIR)
        return secrets.token_urlsafe(48)


@lru_cache
def get_settings() -> Settings:
    return Settings()
