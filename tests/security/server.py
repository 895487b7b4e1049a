"""Run the real service as a subprocess (``pvm serve``) on a free loopback port, and send it
bursts of concurrent requests (``burst``: tests/security/test_bursts.py and
benchmarks/bench_bursts.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def burst(count: int, task: Callable[[int], int]) -> list[int]:
    """Run ``task(i)`` in ``count`` threads released together; their status codes (-1 for a
    connection error)."""
    barrier = threading.Barrier(count)
    codes: list[int] = [0] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            codes[i] = task(i)
        except httpx.HTTPError:
            codes[i] = -1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return codes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``pvm serve --workers N`` in its own process group, so SIGKILL takes every worker."""

    def __init__(self, database_url: str, *, port: int, workers: int = 2, **env: str) -> None:
        self.database_url, self.port, self.workers = database_url, port, workers
        self.env = {
            **os.environ,
            "PVM_DATABASE_URL": database_url,
            "PVM_ENVIRONMENT": "test",
            "PVM_SECRET_KEY": "crash-test-secret-" + "x" * 32,
            "PVM_LOG_LEVEL": "warning",
            **env,
        }
        for name in ("PVM_BROKER_URL", "PVM_BOOTSTRAP_ADMIN_KEY"):
            if name not in env:
                self.env.pop(name, None)
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Server:
        cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*cmd, "--workers", str(self.workers)],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.base}/openapi.json", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("server did not start in time")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handlers, like a power cut."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
