"""Submission load against the real service: nothing lost, nothing counted twice; responses/s.

Starts ``pvm serve --workers N`` on a free loopback port against a fresh SQLite file (WAL) or a
throw-away PostgreSQL schema, then sends ``--responses`` JSON submissions from ``--clients``
concurrent httpx async clients. Each response has its own Idempotency-Key and is retried with
that key on timeouts, connection errors and 5xx until acknowledged (201, or 200 = a replay).
It ends by querying the database: acknowledged == stored and duplicates == 0 (exit status 1
otherwise). The baseline is a bare FastAPI app (``bare_app`` below) that parses the same body
with the same pydantic model and stores nothing, started the same way in the same run.

Bounded: at most ``--responses`` submissions and ``--max-seconds`` per phase; loopback only; the
servers are stopped at the end. Rate limits are lifted for the run (one client IP sends all).

usage:
    .venv/bin/python benchmarks/load_submit.py [--responses 2000] [--clients 16] [--workers 2]
        [--postgres [URL]] [--max-seconds 30]
    (--postgres without URL: $PVM_TEST_POSTGRES_URL or postgresql+psycopg://postgres@127.0.0.1/test)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, free_port, postgres_schema, start_server, stop_server
from fastapi import FastAPI
from sqlalchemy import func, select

from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.instruments.registry import get_instrument
from app.main import prepare_database
from app.surveys import service as surveys
from app.surveys.models import Branch, Response
from app.surveys.schemas import ResponseCreate, ResponseCreated, SurveyCreate

BRANCHES = [f"BR{i:02d}" for i in range(1, 13)]
SLUG = "load"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def bare_app() -> FastAPI:
    """The baseline: same route and body model, no database."""
    app = FastAPI()

    @app.post("/api/v1/surveys/{slug}/responses", status_code=201)
    def submit(slug: str, payload: ResponseCreate) -> ResponseCreated:
        return ResponseCreated(id=uuid.uuid4())

    return app


# ---- load -------------------------------------------------------------------------------------
@dataclass
class Result:
    acked: dict[str, str] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)  # why: exception name or "http 5xx"
    replays: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.acked) / self.seconds if self.seconds else 0.0


async def run_load(url: str, *, responses: int, clients: int, max_seconds: float) -> Result:
    spec = get_instrument("telecom-pv", version=1)  # the survey's version
    answers: dict[str, Any] = {code: 4 for code in spec.item_codes}
    result = Result()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(responses):
        queue.put_nowait(i)
    started = time.perf_counter()
    deadline = started + max_seconds  # no new response after this
    hard_deadline = deadline + 30  # but one already sent is retried until acknowledged
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            key = str(uuid.uuid4())
            body = {"branch": BRANCHES[i % len(BRANCHES)], "answers": answers, "lang": "zh"}
            delay = 0.05
            while time.perf_counter() < hard_deadline:
                t0 = time.perf_counter()
                try:
                    r = await http.post(url, json=body, headers={"Idempotency-Key": key})
                except httpx.HTTPError as exc:
                    r, why = None, type(exc).__name__
                if r is not None and r.status_code in (200, 201):
                    result.latencies.append(time.perf_counter() - t0)
                    result.acked[key] = r.json()["id"]
                    result.replays += r.status_code == 200
                    break
                if r is not None:
                    if r.status_code < 500:
                        raise SystemExit(f"unexpected {r.status_code}: {r.text[:300]}")
                    why = f"http {r.status_code}"
                result.retries[why] += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async with httpx.AsyncClient(timeout=10, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    result.seconds = time.perf_counter() - started
    return result


# ---- database ---------------------------------------------------------------------------------
def prepare(database_url: str) -> None:
    engine = prepare_database(Settings(database_url=database_url, environment="test"))
    with make_sessionmaker(engine)() as db:
        db.add_all(Branch(code=c, name=c) for c in BRANCHES)
        db.commit()
        data = SurveyCreate(slug=SLUG, instrument_version=1, title={"en": "load"})
        surveys.create_survey(db, data=data)
    engine.dispose()


def count(database_url: str, acked: dict[str, str]) -> dict[str, int]:
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as db:
        rows = db.execute(select(Response.idempotency_key, Response.id)).all()
        stored: dict[str | None, str] = {key: str(id_) for key, id_ in rows}
        duplicates = db.execute(
            select(func.count()).select_from(
                select(Response.idempotency_key)
                .group_by(Response.idempotency_key)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
    engine.dispose()
    return {
        "acknowledged": len(acked),
        "stored": len(stored),
        "acknowledged_missing": sum(1 for k in acked if k not in stored),
        "wrong_id": sum(1 for k, v in acked.items() if k in stored and stored[k] != v),
        "duplicates": int(duplicates),
    }


@contextmanager
def database(postgres: str | None) -> Iterator[str]:
    """A fresh SQLite file or PostgreSQL schema for the run, removed afterwards."""
    if postgres is not None:
        with postgres_schema(postgres, "load") as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="pvm-load-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'load.db'}"


# ---- main -------------------------------------------------------------------------------------
def phase(name: str, cmd: list[str], env: dict[str, str], port: int, args: Any) -> Result:
    proc = start_server(cmd, env, port)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/surveys/{SLUG}/responses"
        return asyncio.run(
            run_load(
                url, responses=args.responses, clients=args.clients, max_seconds=args.max_seconds
            )
        )
    finally:
        stop_server(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=30.0)
    parser.add_argument(
        "--postgres", nargs="?", const=os.environ.get("PVM_TEST_POSTGRES_URL") or DEFAULT_PG
    )
    args = parser.parse_args()
    args.responses = min(args.responses, 20_000)
    args.max_seconds = min(args.max_seconds, 120.0)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PVM_")}
    base_env |= {"PVM_ENVIRONMENT": "test", "PVM_SECRET_KEY": "load-" + "x" * 40}
    base_env |= {"PVM_LOG_LEVEL": "warning", "PVM_SUBMIT_PER_IP": "100000000"}

    with database(args.postgres) as database_url:
        prepare(database_url)
        env = base_env | {"PVM_DATABASE_URL": database_url}
        port = free_port()
        serve = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        pvm = phase("pvm", [*serve, "--workers", str(args.workers)], env, port, args)
        port = free_port()
        uvicorn = [sys.executable, "-m", "uvicorn", "load_submit:bare_app", "--factory"]
        uvicorn += ["--app-dir", str(ROOT / "benchmarks"), "--port", str(port)]
        uvicorn += ["--workers", str(args.workers), "--log-level", "warning"]
        bare = phase("bare", uvicorn, base_env, port, args)
        counts = count(database_url, pvm.acked)

    backend = "postgresql" if args.postgres else "sqlite (WAL)"
    print(f"load_submit: {args.responses} responses, {args.clients} clients, "
          f"{args.workers} uvicorn workers, {backend}")  # fmt: skip
    for name, r in (("pvm", pvm), ("bare FastAPI", bare)):
        lat = sorted(r.latencies) or [0.0]
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        print(
            f"  {name:<13} {len(r.acked):>6} acknowledged in {r.seconds:6.2f} s = "
            f"{r.rate:8.1f} responses/s  p50 {statistics.median(lat) * 1000:6.1f} ms  "
            f"p95 {p95 * 1000:6.1f} ms  replays {r.replays}  "
            f"retries {sum(r.retries.values())} {dict(r.retries) or ''}"
        )
    ratio = pvm.rate / bare.rate if bare.rate else float("nan")
    print(f"  pvm / bare = {ratio:.2f}")
    print("  " + "  ".join(f"{k}={v}" for k, v in counts.items()))
    if counts["acknowledged"] < args.responses:
        print(f"  (time bound: {counts['acknowledged']} of {args.responses} sent)")
    ok = (
        counts["acknowledged"] == counts["stored"]
        and counts["duplicates"] == counts["acknowledged_missing"] == counts["wrong_id"] == 0
    )
    print("  OK: acknowledged == stored, no duplicates" if ok else "  FAILED: see the counts")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
