"""Benchmark: the streamed CSV export (``GET /api/v1/surveys/{slug}/responses.csv``, i.e.
``app.surveys.csvio.iter_export_csv``) against a bare streamed SELECT written by ``csv.writer``.

Issue 18 item 3: 1,000,000 rows at >= 200,000 rows/s, memory flat.

Run (SQLite; PostgreSQL too when PVM_TEST_POSTGRES_URL is set, in a throw-away schema)::

    .venv/bin/python benchmarks/bench_export.py                     # 200,000 rows
    .venv/bin/python benchmarks/bench_export.py --rows 1000000
    .venv/bin/python benchmarks/bench_export.py --xlsx              # the XLSX export as well

The responses are loaded once per backend with the bulk import (benchmarks/bench_import.py's
file). Each measurement runs in a child process of its own, so its peak RSS is its own:

* baseline: ``SELECT id, submitted_at, branch code, lang, attributes, answers`` through a
  streaming cursor, each row written by ``csv.writer`` as the driver returns it (no
  conversion of cells);
* export: every piece of ``iter_export_csv`` (the API's response body), encoded to UTF-8;
* with ``--xlsx``: ``app.surveys.labelled.write_xlsx`` (openpyxl write-only, from chunks).

Bytes go to a counting sink. Prints rows/s of each, the ratio to the baseline, and peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, peak_rss_mb, postgres_schema
from bench_import import prepare, settings_for, write_csv

CHUNK = 50_000


class Sink:
    """A file-like object that only counts what is written to it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: str | bytes) -> int:
        self.size += len(data)
        return len(data)


def child_baseline(url: str) -> dict[str, Any]:
    from sqlalchemy import select

    from app.db import make_engine
    from app.surveys.models import Branch, Response

    engine = make_engine(url)
    sink = Sink()
    writer = csv.writer(sink, lineterminator="\n")
    rows = 0
    t0 = time.perf_counter()
    with engine.connect() as conn:
        query = (
            select(
                Response.id,
                Response.submitted_at,
                Branch.code,
                Response.lang,
                Response.attributes,
                Response.answers,
            )
            .join(Branch, Branch.id == Response.branch_id)
            .order_by(Response.submitted_at, Response.id)
        )
        result = conn.execute(query, execution_options={"stream_results": True, "yield_per": CHUNK})
        for part in result.partitions(CHUNK):
            writer.writerows(part)
            rows += len(part)
    return {"rows": rows, "secs": time.perf_counter() - t0, "bytes": sink.size}


def child_export(url: str) -> dict[str, Any]:
    from app.db import make_engine, make_sessionmaker
    from app.surveys import csvio, frames
    from app.surveys.service import get_survey

    sink = Sink()
    with make_sessionmaker(make_engine(url))() as session:
        survey = get_survey(session, slug="bench")
        t0 = time.perf_counter()
        frames.snapshot(session)
        rows = frames.count_stored(session, survey=survey)
        for piece in csvio.iter_export_csv(session, survey=survey):
            sink.write(piece.encode("utf-8"))
        secs = time.perf_counter() - t0
    return {"rows": rows, "secs": secs, "bytes": sink.size}


def child_xlsx(url: str) -> dict[str, Any]:
    from app.db import make_engine, make_sessionmaker
    from app.surveys import labelled
    from app.surveys.service import get_survey

    with make_sessionmaker(make_engine(url))() as session:
        survey = get_survey(session, slug="bench")
        t0 = time.perf_counter()
        path, rows = labelled.write_xlsx(session, survey=survey)
        secs = time.perf_counter() - t0
    size = os.path.getsize(path)
    os.unlink(path)
    return {"rows": rows, "secs": secs, "bytes": size}


def run_child(kind: str, url: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, url],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def load(url: str, path: Path) -> int:
    from app.db import make_engine, make_sessionmaker
    from app.surveys import csvio
    from app.surveys.service import get_survey

    prepare(url)
    with make_sessionmaker(make_engine(url))() as session, path.open("rb") as data:
        survey = get_survey(session, slug="bench")
        return csvio.import_csv(session, survey=survey, data=data, settings=settings_for(url))


def bench(label: str, url: str, path: Path, rows: int, xlsx: bool) -> None:
    t0 = time.perf_counter()
    assert load(url, path) == rows
    print(f"  {label}: loaded {rows:,} rows in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    base = run_child("baseline", url)
    exp = run_child("export", url)
    assert base["rows"] == exp["rows"] == rows, (base, exp)
    base_rate, rate = rows / base["secs"], rows / exp["secs"]
    line = (
        f"{label}: {rows:,} rows | CSV export {rate:,.0f} rows/s ({exp['secs']:.1f} s, "
        f"{exp['bytes'] / 1e6:.0f} MB, peak RSS {exp['rss_mb']:.0f} MB) | bare SELECT + "
        f"csv.writer baseline {base_rate:,.0f} rows/s ({base['secs']:.1f} s, peak RSS "
        f"{base['rss_mb']:.0f} MB) | ratio {rate / base_rate:.2f}x"
    )
    if xlsx:
        x = run_child("xlsx", url)
        line += (
            f" | XLSX {rows / x['secs']:,.0f} rows/s ({x['secs']:.1f} s, peak RSS "
            f"{x['rss_mb']:.0f} MB)"
        )
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="responses to export")
    parser.add_argument("--seed", type=int, default=18, help="simulation seed")
    parser.add_argument("--xlsx", action="store_true", help="time the XLSX export too")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url = args.child
        result = {"baseline": child_baseline, "export": child_export, "xlsx": child_xlsx}[kind](url)
        result["rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="pvm-bench-export-") as tmp:
        path = Path(tmp) / "responses.csv"
        write_csv(path, args.rows, args.seed)
        bench("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", path, args.rows, args.xlsx)
        pg = os.environ.get("PVM_TEST_POSTGRES_URL")
        if pg:
            with postgres_schema(pg, "bench_export") as url:
                bench("PostgreSQL", url, path, args.rows, args.xlsx)


if __name__ == "__main__":
    main()
