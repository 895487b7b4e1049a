"""`pvm serve` migrates an empty database and serves the API (a real uvicorn process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_migrates_and_answers(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PVM_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "PVM_ENVIRONMENT": "test",
        "PVM_SECRET_KEY": "serve-test-" + "z" * 40,
        "PVM_BOOTSTRAP_ADMIN_KEY": "serve-bootstrap-admin-key-123",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        assert r.status_code == 200
        auth = {"Authorization": "Bearer serve-bootstrap-admin-key-123"}
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/instruments", headers=auth, timeout=5)
        assert r.status_code == 200 and "telecom-pv" in [i["id"] for i in r.json()]
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/surveys", timeout=5).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)
