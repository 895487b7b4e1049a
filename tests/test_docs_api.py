"""docs/api.md lists every route of the JSON API (method and path as the code defines them)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_every_api_route_is_in_docs_api_md(app: FastAPI) -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/v1"):
            continue
        path = route.path.replace("{fmt}", "csv")
        for method in sorted(route.methods - {"HEAD"}):
            if f"{method} {path}" not in text:
                missing.append(f"{method} {path}")
    assert missing == []
