"""Benchmark: branch scores served from maintained aggregates vs reading responses into pandas.

Scores for 200 branches x 10 constructs on 1,000,000 stored responses, requested through the
API (``GET /api/v1/surveys/{slug}/scores?by=branch`` with an operator key, in-process ASGI
client), against the baseline "load every response into pandas (``load_item_frame``) and group
there" in the same run on the same database. Goal: under 300 ms per request.

Run (SQLite, about 3-4 minutes, most of it generating and inserting the responses)::

    .venv/bin/python benchmarks/bench_scores.py
    .venv/bin/python benchmarks/bench_scores.py --responses 200000 --requests 10   # quicker

PostgreSQL as well (a throw-away schema is created and dropped)::

    PVM_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/bench_scores.py --postgres

Responses come from ``app.demo.simulate_responses`` (12 months, 200 branches) and are
bulk-inserted through ``app.surveys.service.insert_responses``, the production write path, so
the aggregates are maintained exactly as for real submissions. Prints one line per backend.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from _common import postgres_schema, response_rows
from fastapi.testclient import TestClient

from app.auth.service import create_api_key
from app.config import Settings
from app.demo import simulate_responses
from app.main import create_app
from app.stats.scores import respondent_scores
from app.surveys import service
from app.surveys.models import Branch
from app.surveys.schemas import SurveyCreate

CHUNK = 50_000


def settings_for(url: str) -> Settings:
    return Settings(
        database_url=url,
        environment="test",
        secret_key="bench-" + "b" * 40,
        bootstrap_admin_key=None,
        _env_file=None,  # type: ignore[call-arg]
    )


def load(app: Any, *, n: int, branches: list[str], seed: int) -> float:
    """Insert ``n`` simulated responses through the production write path; returns seconds."""
    t0 = time.perf_counter()
    with app.state.sessionmaker() as session:
        session.add_all(Branch(code=b, name=f"Branch {b}") for b in branches)
        session.commit()
        survey = service.create_survey(
            session,
            data=SurveyCreate(
                slug="bench", instrument="telecom-pv", instrument_version=1, min_group_size=5
            ),
        )
        ids = service.branch_ids(session)
        spec = service.survey_spec(survey)
        codes = spec.item_codes
        done = 0
        for start in range(0, n, CHUNK):
            m = min(CHUNK, n - start)
            frame = simulate_responses(
                spec,
                m,
                seed=seed + start,
                branches=branches,
                start=datetime(2025, 1, 1, tzinfo=UTC),
                months=12,
            )
            rows = response_rows(frame, codes, ids)
            service.insert_responses(session, survey=survey, rows=rows)
            session.commit()
            done += m
            print(f"\r  inserted {done:,}/{n:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return time.perf_counter() - t0


def time_api(client: TestClient, headers: dict[str, str], requests: int) -> list[float]:
    out = []
    for _ in range(requests):
        t0 = time.perf_counter()
        r = client.get("/api/v1/surveys/bench/scores?by=branch", headers=headers)
        out.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
    return out


def time_pandas(app: Any) -> tuple[float, Any]:
    """The baseline: every response into pandas, construct scores, group by branch."""
    t0 = time.perf_counter()
    with app.state.sessionmaker() as session:
        survey = service.get_survey(session, slug="bench")
        spec = service.survey_spec(survey)
        frame = service.load_item_frame(session, survey=survey)
    scores = respondent_scores(frame, spec.construct_items)
    scores["branch"] = frame["branch"]
    grouped = scores.groupby("branch").agg(["count", "mean", "std"])
    return time.perf_counter() - t0, grouped


def run(label: str, url: str, args: argparse.Namespace) -> None:
    app = create_app(settings_for(url))
    branches = [f"B{i:03d}" for i in range(1, args.branches + 1)]
    secs = load(app, n=args.responses, branches=branches, seed=args.seed)
    with app.state.sessionmaker() as session:
        _, raw = create_api_key(session, role="operator")
    headers = {"Authorization": f"Bearer {raw}"}
    with TestClient(app) as client:
        body = client.get("/api/v1/surveys/bench/scores?by=branch", headers=headers).json()
        assert len(body["groups"]) == args.branches
        assert sum(g["n"] for g in body["groups"]) == args.responses
        api = time_api(client, headers, args.requests)
    base, grouped = time_pandas(app)
    # the two paths agree (index of the first branch, REL)
    first = body["groups"][0]
    direct = (grouped.loc[first["group"], ("REL", "mean")] - 1) / 6 * 100
    assert abs(first["constructs"]["REL"]["index"] - direct) < 1e-6
    med = statistics.median(api)
    p95 = sorted(api)[max(0, int(0.95 * len(api)) - 1)]
    print(
        f"{label}: {args.responses:,} responses, {args.branches} branches x 10 constructs | "
        f"insert {secs:.0f}s | API scores median {med * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms "
        f"({args.requests} requests) | pandas baseline {base * 1000:.0f} ms | "
        f"baseline/API = {base / med:.0f}x | goal < 300 ms: {'met' if med < 0.3 else 'MISSED'}"
    )
    app.state.engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--branches", type=int, default=200)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="also PVM_TEST_POSTGRES_URL")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            run("sqlite", f"sqlite:///{tmp}/bench.db", args)
    pg = os.environ.get("PVM_TEST_POSTGRES_URL")
    if args.postgres or (pg and args.no_sqlite):
        if not pg:
            print("PVM_TEST_POSTGRES_URL is not set", file=sys.stderr)
            return 2
        with postgres_schema(pg, "bench") as url:
            run("postgresql", url, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
