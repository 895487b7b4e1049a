"""``pvm fit SURVEY ...`` (progress bar on stderr, lavaan-like report) and ``pvm worker``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from app.config import get_settings


class ProgressBar:
    """``[#####.....]  45%  fitting  3.2s`` on stderr, redrawn while the fit runs."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream, self.width = stream or sys.stderr, width
        self.fraction, self.phase = 0.0, "starting"
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ProgressBar:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._draw()
        self.stream.write("\n")
        self.stream.flush()

    def update(self, fraction: float, phase: str | None = None) -> None:
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        if phase is not None:
            self.phase = phase

    def _draw(self) -> None:
        done = int(round(self.fraction * self.width))
        bar = "#" * done + "." * (self.width - done)
        elapsed = time.monotonic() - self.started
        line = f"\r[{bar}] {self.fraction:4.0%}  {self.phase:<12} {elapsed:6.1f}s"
        self.stream.write(line)
        self.stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self._draw()


def cmd_fit(args: argparse.Namespace) -> int:
    from app.db import make_sessionmaker
    from app.errors import DomainError
    from app.fits import service
    from app.fits.report import format_result
    from app.fits.schemas import FitCreate, FitFilters
    from app.fits.worker import run_fit
    from app.main import prepare_database
    from app.stats.sem import ModelError
    from app.surveys.service import get_survey, load_item_frame, survey_spec

    model = Path(args.model).read_text(encoding="utf-8") if args.model else None
    try:
        pls: dict[str, Any] = {}
        if args.method == "pls":
            pls = {"scheme": args.scheme, "consistent": not args.composite}
            pls["bootstrap_ci"] = args.bootstrap_ci
            if args.predict:
                folds, _, reps = args.predict.partition("x")
                pls["predict"] = {"folds": int(folds), "repetitions": int(reps or 10)}
            if args.ipma is not None:
                pls["ipma"] = {"target": args.ipma or None}
            if args.mga:
                groups = args.mga_groups.split(",") if args.mga_groups else None
                pls["mga"] = {"group": args.mga, "groups": groups}
        spec_in = FitCreate(
            model=model,
            method=args.method,
            **pls,
            estimator=args.estimator,
            **({"missing": args.missing} if args.missing else {}),
            group=args.group,
            group_equal=args.group_equal.split(",") if args.group_equal else [],
            invariance=args.invariance,
            compare_paths=args.compare_path or [],
            bootstrap=args.bootstrap,
            seed=args.seed,
            filters=FitFilters(branch=args.branches.split(",") if args.branches else None),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = prepare_database(get_settings())
    bar = ProgressBar()
    try:
        with make_sessionmaker(engine)() as session, bar:
            bar.update(0.0, "loading data")
            survey = get_survey(session, slug=args.survey)
            spec = service.resolve_spec(spec_in, survey=survey)
            frame = load_item_frame(session, survey=survey, filters=service.filters_of(spec))
            service.check_model(frame, spec, items=survey_spec(survey).numeric_codes)
            bar.update(0.05, "fitting")
            result = run_fit(frame, spec, progress=lambda f: bar.update(0.05 + 0.95 * f))
            bar.update(1.0, "done")
            result["data_fingerprint"] = service.fingerprint(frame["id"], survey=survey)
    except (ModelError, DomainError) as exc:
        detail = exc.detail if isinstance(exc, DomainError) else str(exc)
        if isinstance(detail, list):  # InvalidInput: one line per problem
            detail = "; ".join(f"{e.get('field', '')}: {e.get('msg', '')}" for e in detail)
        print(f"error: {detail}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(format_result(result, title=f"pvm fit of survey {args.survey}"), end="")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a Celery worker for fit jobs (needs PVM_BROKER_URL)."""
    settings = get_settings()
    if not settings.broker_url:
        print("error: set PVM_BROKER_URL (e.g. redis://127.0.0.1:6379/0)", file=sys.stderr)
        return 2
    from app.fits.celery_app import make_celery

    app = make_celery(settings.broker_url, settings.fit_queue)
    argv: list[str] = ["worker", "-Q", settings.fit_queue, "--loglevel", args.loglevel]
    if args.concurrency:
        argv += ["--concurrency", str(args.concurrency)]
    app.worker_main(argv)
    return 0


def add_commands(subparsers: Any) -> None:
    fit = subparsers.add_parser("fit", help="fit a structural equation model to a survey's data")
    fit.add_argument("survey", help="survey slug")
    fit.add_argument("--model", help="file with lavaan model syntax (default: instrument's)")
    fit.add_argument(
        "--missing",
        choices=["fiml", "listwise", "mean"],
        default=None,
        help="fiml (default for sem), listwise, or mean (default for pls)",
    )
    fit.add_argument(
        "--method", choices=["sem", "pls"], default="sem", help="CB-SEM or PLS path modelling"
    )
    fit.add_argument("--scheme", choices=["path", "factorial", "centroid"], default="path")
    fit.add_argument(
        "--composite", action="store_true", help="pls: no PLSc (=~ blocks as mode-A composites)"
    )
    fit.add_argument("--bootstrap-ci", choices=["perc", "bca"], default="perc")
    fit.add_argument("--predict", metavar="KxR", help="pls: PLSpredict, e.g. 10x10")
    fit.add_argument(
        "--ipma",
        nargs="?",
        const="",
        metavar="TARGET",
        help="pls: importance-performance map (default target: the instrument's outcome)",
    )
    fit.add_argument("--mga", metavar="GROUP", help="pls: compare two groups of GROUP")
    fit.add_argument("--mga-groups", metavar="A,B", help="pls: the two values of --mga")
    fit.add_argument("--estimator", choices=["ML", "MLR"], default="ML")
    fit.add_argument("--bootstrap", type=int, default=0, metavar="B")
    fit.add_argument("--seed", type=int, default=1)
    fit.add_argument(
        "--group", default=None, help="branch, or a respondent attribute of the instrument"
    )
    fit.add_argument("--group-equal", default=None, help="e.g. loadings,intercepts")
    fit.add_argument(
        "--invariance", action="store_true", help="configural -> metric -> scalar (needs --group)"
    )
    fit.add_argument(
        "--compare-path", action="append", metavar="PATH", help='e.g. "CCI ~ PV" (repeatable)'
    )
    fit.add_argument("--branches", default=None, help="only these branches (comma-separated)")
    fit.add_argument("--json", action="store_true", help="print the result object as JSON")
    fit.set_defaults(func=cmd_fit)

    worker = subparsers.add_parser("worker", help="run a Celery worker for fit jobs")
    worker.add_argument("--concurrency", type=int, default=None)
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(func=cmd_worker)
