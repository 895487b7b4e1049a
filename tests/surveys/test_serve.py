"""`pvm serve` migrates an empty database and serves the API (a real uvicorn process)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.server import Server


def test_serve_migrates_and_answers(tmp_path: Path) -> None:
    admin = "serve-bootstrap-admin-key-123"
    server = Server(
        f"sqlite:///{tmp_path / 'serve.db'}",
        workers=1,
        log_dir=tmp_path,
        PVM_SECRET_KEY="serve-test-" + "z" * 40,
        PVM_BOOTSTRAP_ADMIN_KEY=admin,
    )
    with server:
        assert httpx.get(f"{server.base}/openapi.json", timeout=5).status_code == 200
        auth = {"Authorization": f"Bearer {admin}"}
        r = httpx.get(f"{server.base}/api/v1/instruments", headers=auth, timeout=5)
        assert r.status_code == 200 and "telecom-pv" in [i["id"] for i in r.json()]
        assert httpx.get(f"{server.base}/api/v1/surveys", timeout=5).status_code == 401
