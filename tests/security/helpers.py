"""Helpers of the security tests (the fixtures come from tests/conftest.py)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.instruments.registry import get_instrument

ITEMS = get_instrument("telecom-pv", version=1).item_codes


def set_limits(app: FastAPI, **limits: Any) -> Settings:
    """Replace limits in the app's settings (validated; every other value kept)."""
    current: Settings = app.state.settings
    values = Settings(**(current.model_dump() | limits), _env_file=None)  # type: ignore[call-arg]
    app.state.settings = values
    return values


def hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no hidden field {name}"
    return m.group(1)


def form_post(
    client: TestClient,
    slug: str,
    branch: str = "BR01",
    headers: dict[str, str] | None = None,
    **fields: str,
) -> Any:
    """Load the questionnaire and post a complete answer set back (CSRF from the page)."""
    page = client.get(f"/s/{slug}", params={"branch": branch}).text
    data = {c: "5" for c in ITEMS} | {
        "csrf_token": hidden(page, "csrf_token"),
        "submission_id": hidden(page, "submission_id"),
        "lang": "en",
        "branch": branch,
        "website": "",
    }
    return client.post(
        f"/s/{slug}", data=data | fields, headers=headers or {}, follow_redirects=False
    )
