"""End-to-end fit through the API on 100,000 stored responses, against semopy's bare fit.

What is timed (median of --repeat runs, each a new job: the ``seed`` field changes so that the
cache does not answer):

- api: ``POST /api/v1/surveys/{slug}/fits`` (complete data, default model, listwise) and
  ``GET /api/v1/fits/{id}?wait=30`` until done, over HTTP against a ``uvicorn`` child process
  on loopback: validation, data fingerprint, loading 100,000 rows, the fit, storing and
  returning the result. Goal: under 2 s.
- cached: the same request again (answered from the stored job).
- engine: ``app.stats.sem.fit_model`` alone on the same DataFrame, in this process.
- semopy: ``semopy.Model(...).fit`` on the same item matrix, in this process (the baseline).

The responses come from ``app.demo.simulate_responses`` (telecom-pv version 1) with every
network used (no N/A, complete data) and are inserted through the survey service into a fresh
database.

usage:
    .venv/bin/python benchmarks/bench_fit_api.py [--n 100000] [--repeat 3]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]  (default: SQLite)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from _common import free_port, response_rows, start_server, stop_server

from app.auth.service import create_api_key
from app.config import Settings
from app.db import make_sessionmaker
from app.demo import PopulationModel, simulate_responses
from app.main import prepare_database
from app.surveys import service as surveys
from app.surveys.models import Branch
from app.surveys.schemas import SurveyCreate

BRANCHES = [f"BR{i:02d}" for i in range(1, 13)]


def populate(settings: Settings, n: int) -> tuple[str, str]:
    """Fresh survey with ``n`` complete responses; returns (slug, researcher key)."""
    engine = prepare_database(settings)
    with make_sessionmaker(engine)() as db:
        db.add_all(Branch(code=c, name=c) for c in BRANCHES)
        db.commit()
        survey = surveys.create_survey(
            db,
            data=SurveyCreate(
                slug="bench", instrument="telecom-pv", instrument_version=1, title={"en": "bench"}
            ),
        )
        ids = surveys.branch_ids(db)
        spec = surveys.survey_spec(survey)
        codes = spec.item_codes
        frame = simulate_responses(
            spec,
            n,
            seed=7,
            branches=BRANCHES,
            start=datetime(2025, 1, 1, tzinfo=UTC),
            model=PopulationModel(use_p={}),  # every network used: no N/A
        )
        started = time.perf_counter()
        for lo in range(0, n, 10_000):
            rows = response_rows(frame.iloc[lo : lo + 10_000], codes, ids, lang="zh")
            surveys.insert_responses(db, survey=survey, rows=rows)
            db.commit()
        print(f"inserted {n} responses in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        _, key = create_api_key(db, role="researcher")
    engine.dispose()
    return "bench", key


def start_pvm(database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PVM_DATABASE_URL": database_url, "PVM_MIGRATE_ON_START": "false"}
    env.pop("PVM_BROKER_URL", None)
    cmd = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"]
    cmd += ["--port", str(port), "--log-level", "warning"]
    return start_server(cmd, env, port, timeout=30)


def api_fit(client: httpx.Client, slug: str, seed: int) -> tuple[float, dict]:
    started = time.perf_counter()
    r = client.post(f"/api/v1/surveys/{slug}/fits", json={"missing": "listwise", "seed": seed})
    r.raise_for_status()
    job = r.json()
    while job["status"] not in ("done", "failed"):
        job = client.get(f"/api/v1/fits/{job['id']}", params={"wait": 30}).json()
    elapsed = time.perf_counter() - started
    if job["status"] != "done":
        raise RuntimeError(f"fit failed: {job['error']}")
    return elapsed, job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    settings = Settings(database_url=url, environment="test", _env_file=None)  # type: ignore[call-arg]
    slug, key = populate(settings, args.n)

    port = free_port()
    server = start_pvm(url, port)
    try:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as c:
            api_fit(c, slug, seed=999)  # warm-up: imports, first-use caches
            api = [api_fit(c, slug, seed=s)[0] for s in range(1, args.repeat + 1)]
            t0 = time.perf_counter()
            r = c.post(f"/api/v1/surveys/{slug}/fits", json={"missing": "listwise", "seed": 1})
            cached = time.perf_counter() - t0
            assert r.status_code == 200 and r.json()["status"] == "done"
            nobs = r.json()["result"]["nobs"]
    finally:
        stop_server(server)

    import semopy

    from app.stats.sem import fit_model

    engine = prepare_database(settings)
    with make_sessionmaker(engine)() as db:
        survey = surveys.get_survey(db, slug=slug)
        model = surveys.survey_spec(survey).default_model
        frame = surveys.load_item_frame(db, survey=survey)
    engine.dispose()
    codes = [c for c in frame.columns if c[-1].isdigit()]
    items = frame[codes]
    pvm_times, semopy_times = [], []
    semopy_model = "\n".join(line for line in model.splitlines() if ":=" not in line)
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        fit_model(items, model, missing="listwise")
        pvm_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        semopy.Model(semopy_model).fit(items)
        semopy_times.append(time.perf_counter() - t0)

    api_t, eng_t = statistics.median(api), statistics.median(pvm_times)
    sem_t = statistics.median(semopy_times)
    print(f"complete-data fit of the default model, n = {nobs}, median of {args.repeat}")
    print(f"  database                 {url.split(':')[0]}")
    print(f"  pvm API end to end       {api_t:7.3f} s   (goal < 2 s)  {api_t / sem_t:5.2f}x semopy")
    print(f"  pvm API, cached repeat   {cached:7.3f} s")
    print(f"  pvm engine alone         {eng_t:7.3f} s                {eng_t / sem_t:5.2f}x semopy")
    print(f"  semopy bare fit          {sem_t:7.3f} s   (baseline)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
