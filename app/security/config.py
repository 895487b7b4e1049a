"""Limits of the public submission paths, read from the environment (prefix ``PVM_``).

Counters are shared by every process through Redis when ``PVM_REDIS_URL`` is set (or, failing
that, when ``PVM_BROKER_URL`` is a ``redis://`` URL); otherwise each process counts on its own,
so N uvicorn workers let through up to N times the limit.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SecurityLimits(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PVM_", env_file=".env", extra="ignore")

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

    def shared_store_url(self, broker_url: str | None) -> str | None:
        """The Redis URL counters are kept in, or None for per-process counters."""
        if self.redis_url:
            return self.redis_url
        if broker_url and broker_url.startswith(("redis://", "rediss://")):
            return broker_url
        return None
