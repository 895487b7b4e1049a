"""What the benchmark scripts share: paths, a server in a child process, timing, R, databases.

The scripts run as ``python benchmarks/<name>.py``, which puts this folder first on ``sys.path``,
so they import this module as ``_common``. Importing it also puts the repository root on
``sys.path``: ``app`` is then importable without installing the package.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

T = TypeVar("T")


# ---- servers ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    cmd: list[str], env: dict[str, str], port: int, *, timeout: float = 60.0
) -> subprocess.Popen[bytes]:
    """Run ``cmd``, a server on 127.0.0.1:``port``, in its own process group (it may fork
    workers); return once it answers ``/openapi.json``."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}: {' '.join(cmd)}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_server(proc)
    raise SystemExit(f"server did not start within {timeout:.0f} s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group; SIGKILL after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# ---- timing and R -----------------------------------------------------------------------------
def best_of(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """Shortest wall time of ``repeat`` calls of ``fn``, and what the last call returned."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def run_rscript(
    template: str, model: str, **fields: object
) -> subprocess.CompletedProcess[str] | None:
    """Run an R script; None when R is not installed (no ``Rscript`` on PATH).

    ``template`` is the script with ``str.format`` fields: ``{model}`` is the path of a file that
    holds ``model`` (lavaan syntax); the others come from ``fields``.
    """
    if not shutil.which("Rscript"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        mfile = Path(tmp) / "model.lav"
        mfile.write_text(model)
        script = Path(tmp) / "bench.R"
        script.write_text(template.format(model=mfile, **fields))
        return subprocess.run(["Rscript", str(script)], capture_output=True, text=True, check=False)


# ---- databases --------------------------------------------------------------------------------
@contextmanager
def postgres_schema(base_url: str, prefix: str) -> Iterator[str]:
    """A new schema on ``base_url`` for the run, dropped afterwards; yields a URL that uses it."""
    from sqlalchemy import make_url, text

    from app.db import make_engine

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def response_rows(
    frame: pd.DataFrame, codes: list[str], branch_ids: Mapping[str, Any], **columns: Any
) -> list[dict[str, Any]]:
    """Rows for ``app.surveys.service.insert_responses`` from a ``simulate_responses`` frame:
    answers in ``codes`` order with N/A as None, plus ``columns`` on every row."""
    answers = frame[codes].astype("float64").to_numpy()
    return [
        {
            "id": uuid.uuid4(),
            "branch_id": branch_ids[b],
            "submitted_at": ts.to_pydatetime(),
            "attributes": {"customer_type": ct, "tenure": te},
            "channel": "import",
            "answers": [None if v != v else int(v) for v in row],
            **columns,
        }
        for b, ts, ct, te, row in zip(
            frame["branch"],
            frame["submitted_at"],
            frame["customer_type"],
            frame["tenure"],
            answers,
            strict=True,
        )
    ]


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (``VmHWM``: unlike ``ru_maxrss``, which a
    child inherits across ``exec`` from the process that forked it, it starts afresh)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
