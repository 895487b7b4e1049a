"""The example instrument of docs/instruments.md and ways to send it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "data" / "cafe-visit.yaml"
TELECOM = ROOT / "instruments" / "telecom-pv.yaml"
UPLOAD = "/api/v1/instruments"


def example() -> dict[str, Any]:
    """A fresh copy of the example document, as a dict."""
    return copy.deepcopy(_EXAMPLE)


def telecom() -> dict[str, Any]:
    return copy.deepcopy(_TELECOM)


def post_yaml(
    client: TestClient,
    doc: dict[str, Any] | str,
    headers: dict[str, str],
    media: str = "application/yaml",
) -> httpx.Response:
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, allow_unicode=True)
    return client.post(
        UPLOAD, content=text.encode("utf-8"), headers={**headers, "Content-Type": media}
    )


def post_json(client: TestClient, doc: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    return client.post(
        UPLOAD, content=body, headers={**headers, "Content-Type": "application/json"}
    )


_EXAMPLE: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
_TELECOM: dict[str, Any] = yaml.safe_load(TELECOM.read_text(encoding="utf-8"))
