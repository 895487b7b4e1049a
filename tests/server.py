"""The one way the tests run the real service: ``Server`` starts ``pvm serve`` as a subprocess on a
free loopback port (crash, burst, kill, README and serve tests), ``serve_in_thread`` serves an
app object already built by a fixture (the browser tests); ``burst`` sends concurrent requests
(tests/security/test_bursts.py and benchmarks/bench_bursts.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

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
    """``pvm serve --workers N`` in its own process group, so SIGKILL takes every worker.

    ``port`` defaults to a free one; keyword arguments are extra environment variables
    (``PVM_BROKER_URL`` and ``PVM_BOOTSTRAP_ADMIN_KEY`` are dropped unless given). Output goes to
    ``log`` (a file in ``log_dir`` when given), shown when the server fails to start."""

    def __init__(
        self,
        database_url: str,
        *,
        port: int | None = None,
        workers: int = 2,
        log_dir: Path | None = None,
        **env: str,
    ) -> None:
        self.database_url, self.workers = database_url, workers
        self.port = port or free_port()
        self.log = (log_dir / f"serve-{self.port}.log") if log_dir else None
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
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Server:
        cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)]
        out = open(self.log, "wb") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*cmd, "--workers", str(self.workers)],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT if self.log else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                output = self.log.read_text() if self.log else ""
                raise RuntimeError(f"server exited with {self.proc.returncode}\n{output}")
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

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serve_in_thread(app: object) -> Iterator[str]:
    """Serve an app object built in this process (so a test can share its database and
    settings) with uvicorn in a daemon thread; yields its base URL on 127.0.0.1."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
