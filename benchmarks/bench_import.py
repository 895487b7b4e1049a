"""Benchmark: the CSV import (``app.surveys.csvio.import_csv``, what ``pvm import`` and
``POST /api/v1/surveys/{slug}/responses/import`` run) against a bare load of the same file.

Issue 18 item 2: >= 100,000 rows/s on PostgreSQL, >= 50,000 rows/s on SQLite, memory flat
(under 300 MB at 1,000,000 rows), all or nothing, other submissions not held more than ~1 s.

Run (SQLite; PostgreSQL too when PVM_TEST_POSTGRES_URL is set, in a throw-away schema)::

    .venv/bin/python benchmarks/bench_import.py                     # 200,000 rows
    .venv/bin/python benchmarks/bench_import.py --rows 1000000

Per backend, each step runs in a child process of its own so its peak RSS is its own:

* baseline: the same CSV loaded with no checks into a table of text columns with no
  constraints or indexes (PostgreSQL: ``COPY ... FROM STDIN (FORMAT csv)`` of the file's
  bytes; SQLite: ``csv.reader`` + ``executemany`` in one transaction);
* import: ``import_csv`` on the file object (every row checked, staged, published in one
  transaction, aggregates maintained);
* meanwhile a third process submits one response every 20 ms to the same survey through
  ``app.surveys.service.submit_response`` and reports the slowest submission.

Prints rows/s of both, the ratio, peak RSS of the import, and the submission latencies.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import ROOT, peak_rss_mb, postgres_schema

GEN_CHUNK = 50_000
BRANCHES = [f"B{i:03d}" for i in range(1, 201)]


def settings_for(url: str) -> Any:
    from app.config import Settings

    return Settings(
        database_url=url,
        environment="test",
        secret_key="bench-" + "b" * 40,
        bootstrap_admin_key=None,
        earliest_submitted_at=datetime(2000, 1, 1, tzinfo=UTC),
        _env_file=None,  # type: ignore[call-arg]
    )


def write_csv(path: Path, rows: int, seed: int) -> None:
    """``rows`` simulated telecom-pv responses in the import format (no ids: the import makes
    them), 200 branches over 12 months."""
    from app.demo import simulate_responses
    from app.instruments.registry import get_instrument

    spec = get_instrument("telecom-pv", version=1)
    with path.open("w", encoding="utf-8", newline="") as out:
        header = True
        for start in range(0, rows, GEN_CHUNK):
            frame = simulate_responses(
                spec,
                min(GEN_CHUNK, rows - start),
                seed=seed + start,
                branches=BRANCHES,
                start=datetime(2025, 1, 1, tzinfo=UTC),
                months=12,
            )
            frame["submitted_at"] = frame["submitted_at"].map(lambda t: t.isoformat())
            for code in spec.item_codes:
                frame[code] = frame[code].map(lambda v: "" if v != v else str(int(v)))
            frame.to_csv(out, index=False, header=header, lineterminator="\n")
            header = False


def prepare(url: str) -> None:
    """Migrate, add the branches and the survey ``bench``."""
    from app.main import create_app
    from app.surveys import service
    from app.surveys.models import Branch
    from app.surveys.schemas import SurveyCreate

    app = create_app(settings_for(url))
    with app.state.sessionmaker() as session:
        session.add_all(Branch(code=b, name=f"Branch {b}") for b in BRANCHES)
        session.commit()
        service.create_survey(
            session,
            data=SurveyCreate(
                slug="bench", instrument="telecom-pv", instrument_version=1, min_group_size=5
            ),
        )


# ---- the child processes ------------------------------------------------------------------------
def child_baseline(url: str, path: Path) -> dict[str, Any]:
    from app.db import make_engine

    engine = make_engine(url)
    with path.open("r", encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    columns = ", ".join(f'"c{k}" text' for k in range(len(header)))
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS bare_load")
        conn.exec_driver_sql(f"CREATE TABLE bare_load ({columns})")
        raw: Any = conn.connection.driver_connection
        if engine.dialect.name == "postgresql":
            with (
                raw.cursor() as cursor,
                cursor.copy("COPY bare_load FROM STDIN (FORMAT csv, HEADER true)") as copy,
                path.open("rb") as f,
            ):
                while block := f.read(1 << 20):
                    copy.write(block)
        else:
            with path.open("r", encoding="utf-8", newline="") as f:
                reader = csv.reader(f)
                next(reader)
                marks = ", ".join("?" * len(header))
                while True:
                    batch = [r for _, r in zip(range(GEN_CHUNK), reader, strict=False)]
                    if not batch:
                        break
                    raw.executemany(f"INSERT INTO bare_load VALUES ({marks})", batch)
        rows = conn.exec_driver_sql("SELECT COUNT(*) FROM bare_load").scalar()
    secs = time.perf_counter() - t0
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE bare_load")
    return {"rows": rows, "secs": secs}


def child_import(url: str, path: Path) -> dict[str, Any]:
    from app.db import make_engine, make_sessionmaker
    from app.surveys import csvio
    from app.surveys.service import get_survey

    engine = make_engine(url)
    with make_sessionmaker(engine)() as session, path.open("rb") as data:
        survey = get_survey(session, slug="bench")
        t0 = time.perf_counter()
        rows = csvio.import_csv(session, survey=survey, data=data, settings=settings_for(url))
        secs = time.perf_counter() - t0
    return {"rows": rows, "secs": secs}


def child_submit(url: str, stop: Path) -> dict[str, Any]:
    """Submit one response every 20 ms until ``stop`` exists; the latency of each."""
    from sqlalchemy.exc import OperationalError

    from app.db import make_engine, make_sessionmaker
    from app.surveys.schemas import ResponseCreate
    from app.surveys.service import get_survey, submit_response, survey_spec

    factory = make_sessionmaker(make_engine(url))
    with factory() as session:
        survey = get_survey(session, slug="bench")
        codes = survey_spec(survey).item_codes
    latencies, failed = [], 0
    while not stop.exists():
        body = ResponseCreate(branch="B001", answers=dict.fromkeys(codes, 4))
        t0 = time.perf_counter()
        try:
            with factory() as session:
                submit_response(
                    session, survey=survey, payload=body, idempotency_key=None, client=None
                )
        except OperationalError:  # SQLite: the busy timeout ran out (the API answers 429)
            failed += 1
        latencies.append(time.perf_counter() - t0)
        time.sleep(0.02)
    return {"latencies": latencies, "failed": failed}


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def start_child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--child", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )


def bench(label: str, url: str, path: Path, rows: int) -> None:
    prepare(url)
    base = run_child("baseline", url, str(path))
    stop = Path(tempfile.mkdtemp(prefix="pvm-bench-")) / "stop"
    submitter = start_child("submit", url, str(stop))
    time.sleep(1.0)  # the submitter is running before the import starts
    imp = run_child("import", url, str(path))
    stop.touch()
    out, _ = submitter.communicate(timeout=120)
    submitted = json.loads(out.strip().splitlines()[-1])
    latencies = submitted["latencies"]
    assert imp["rows"] == rows == base["rows"], (imp, base)
    base_rate, rate = rows / base["secs"], rows / imp["secs"]
    worst = max(latencies) if latencies else float("nan")
    median = statistics.median(latencies) if latencies else float("nan")
    print(
        f"{label}: {rows:,} rows | import {rate:,.0f} rows/s ({imp['secs']:.1f} s, peak RSS "
        f"{imp['rss_mb']:.0f} MB) | bare load baseline {base_rate:,.0f} rows/s "
        f"({base['secs']:.1f} s) | ratio {rate / base_rate:.2f}x | concurrent submissions: "
        f"{len(latencies)}, median {median * 1000:.0f} ms, max {worst * 1000:.0f} ms, "
        f"refused (busy timeout) {submitted['failed']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows in the CSV file")
    parser.add_argument("--seed", type=int, default=18, help="simulation seed")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url, target = args.child
        result = {
            "baseline": child_baseline,
            "import": child_import,
            "submit": child_submit,
        }[kind](url, Path(target))
        result["rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="pvm-bench-import-") as tmp:
        path = Path(tmp) / "responses.csv"
        t0 = time.perf_counter()
        write_csv(path, args.rows, args.seed)
        size = path.stat().st_size / 1e6
        print(
            f"  wrote {args.rows:,} rows ({size:.0f} MB) in {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
        )
        bench("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", path, args.rows)
        pg = os.environ.get("PVM_TEST_POSTGRES_URL")
        if pg:
            with postgres_schema(pg, "bench_import") as url:
                bench("PostgreSQL", url, path, args.rows)


if __name__ == "__main__":
    main()
