"""How responsive the server stays during the bursts of issue 11's F7 and F8.

Starts ``pvm serve`` (one worker, the default) on a free loopback port against a fresh SQLite
file (or, with ``--postgres``, a throw-away PostgreSQL schema). A probe loads an unrelated page
(``GET /api/v1/surveys/bench`` with an operator key, a database read) in a loop; its latency is
measured idle (the baseline) and during each burst:

* F7: ``--submits`` (50) concurrent API submissions with one Idempotency-Key;
* F8: ``--forms`` (20) concurrent valid questionnaire posts.

Prints the probe's median and worst latency per phase as ratios against the idle median, and the
status codes of each burst (before the fix: ~40 x 500 and a 30-150 s stall). Bounded: two bursts,
loopback only, the server stopped at the end.

usage:
    .venv/bin/python benchmarks/bench_bursts.py [--submits 50] [--forms 20] [--postgres [URL]]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from _common import free_port, postgres_schema, start_server, stop_server

from app.auth.service import create_api_key
from app.config import Settings
from app.db import make_sessionmaker
from app.instruments.registry import get_instrument
from app.main import prepare_database
from app.surveys.models import Branch
from app.surveys.schemas import SurveyCreate
from app.surveys.service import create_survey
from tests.server import burst

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ITEMS = get_instrument("telecom-pv", version=1).item_codes  # the survey is on version 1


def prepare(database_url: str) -> str:
    """Branch BR01, survey "bench"; returns an operator key."""
    engine = prepare_database(Settings(database_url=database_url, environment="test"))
    with make_sessionmaker(engine)() as db:
        db.add(Branch(code="BR01", name="BR01"))
        db.commit()
        create_survey(db, data=SurveyCreate(slug="bench", instrument_version=1))
        _, key = create_api_key(db, role="operator")
    engine.dispose()
    return key


def probe_while(url: str, key: str, work: Callable[[], list[int]]) -> tuple[list[float], list[int]]:
    """Probe latencies (s) while ``work`` runs, and what ``work`` returned."""
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {key}"}) as http:
            while not stop.is_set():
                t0 = time.perf_counter()
                http.get(url)
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.02)

    thread = threading.Thread(target=probe)
    thread.start()
    time.sleep(0.2)
    try:
        codes = work()
    finally:
        time.sleep(0.2)
        stop.set()
        thread.join()
    return latencies, codes


def f7(base: str, count: int) -> list[int]:
    key = str(uuid.uuid4())
    body = {"branch": "BR01", "answers": dict.fromkeys(ITEMS, 4)}

    def submit(_: int) -> int:
        with httpx.Client(timeout=120) as http:
            url = f"{base}/api/v1/surveys/bench/responses"
            return http.post(url, json=body, headers={"Idempotency-Key": key}).status_code

    return burst(count, submit)


def f8(base: str, count: int) -> list[int]:
    page = f"{base}/s/bench"
    clients = [httpx.Client(timeout=120) for _ in range(count)]
    fields = [
        dict(re.findall(r'name="(csrf_token|submission_id)" value="([^"]*)"', c.get(page).text))
        for c in clients
    ]

    def post(i: int) -> int:
        data = dict.fromkeys(ITEMS, "5") | fields[i] | {"branch": "BR01", "lang": "en"}
        return clients[i].post(page, data=data).status_code

    try:
        return burst(count, post)
    finally:
        for c in clients:
            c.close()


@contextmanager
def database(postgres: str | None) -> Iterator[str]:
    if postgres is not None:
        with postgres_schema(postgres, "bursts") as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="pvm-bursts-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'bursts.db'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submits", type=int, default=50)
    parser.add_argument("--forms", type=int, default=20)
    parser.add_argument(
        "--postgres", nargs="?", const=os.environ.get("PVM_TEST_POSTGRES_URL") or DEFAULT_PG
    )
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PVM_")}
    env |= {"PVM_ENVIRONMENT": "test", "PVM_SECRET_KEY": "bursts-" + "x" * 40}
    env |= {"PVM_LOG_LEVEL": "warning"}
    with database(args.postgres) as database_url:
        key = prepare(database_url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        proc = start_server(cmd, env | {"PVM_DATABASE_URL": database_url}, port)
        try:
            url = f"{base}/api/v1/surveys/bench"
            idle, _ = probe_while(url, key, lambda: time.sleep(2) or [])
            phases = {
                f"F7: {args.submits} submits, one key": probe_while(
                    url, key, lambda: f7(base, args.submits)
                ),
                f"F8: {args.forms} form posts": probe_while(url, key, lambda: f8(base, args.forms)),
            }
        finally:
            stop_server(proc)
    baseline = statistics.median(idle)
    backend = "postgresql" if args.postgres else "sqlite (WAL)"
    print(f"bench_bursts: pvm serve, 1 worker, {backend}")
    print(f"  idle probe (baseline): median {baseline * 1000:.1f} ms over {len(idle)} requests")
    for name, (latencies, codes) in phases.items():
        median, worst = statistics.median(latencies), max(latencies)
        print(
            f"  {name}: probe median {median * 1000:.1f} ms ({median / baseline:.1f}x idle), "
            f"worst {worst * 1000:.0f} ms ({worst / baseline:.1f}x); "
            f"status codes {dict(Counter(codes))}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
