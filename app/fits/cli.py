"""``pvm fit SURVEY ...`` (progress bar on stderr, lavaan-like report) and ``pvm worker``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from app.config import get_settings

if TYPE_CHECKING:
    from app.fits.schemas import FitCreate


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
    model = Path(args.model).read_text(encoding="utf-8") if args.model else None
    try:
        spec_in = _fit_request(args, model)
    except ValueError as exc:  # pydantic's ValidationError: one line per problem, as main does
        from app.errors import describe_error

        print(f"error: {describe_error(exc)[0]}", file=sys.stderr)
        return 2
    result = _fit_with_progress(args.survey, spec_in)
    if result is None:
        return 1
    if args.out and not _write_out(result, args.out):
        return 2
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        from app.fits.report import format_result

        title = args.name or f"pvm fit of survey {args.survey}"
        print(format_result(result, title=title), end="")
    return 0


def _pls_options(args: argparse.Namespace) -> dict[str, Any]:
    """The PLS fields of the fit request from the command line (none for other methods)."""
    pls: dict[str, Any] = {}
    if args.method == "pls":
        pls = {"scheme": args.scheme, "consistent": not args.composite}
        if args.predict:
            folds, _, reps = args.predict.partition("x")
            pls["predict"] = {"folds": int(folds), "repetitions": int(reps or 10)}
        if args.ipma is not None:
            pls["ipma"] = {"target": args.ipma or None}
        if args.mga:
            groups = args.mga_groups.split(",") if args.mga_groups else None
            pls["mga"] = {"group": args.mga, "groups": groups}
    return pls


def _fit_request(args: argparse.Namespace, model: str | None) -> FitCreate:
    """The fit request of ``pvm fit``'s options; pydantic's ValidationError (a ValueError) on
    bad values."""
    from app.fits.schemas import FitCreate, FitFilters

    pls = _pls_options(args)
    ordered: bool | list[str] = False
    if args.ordered is not None:
        ordered = True if args.ordered == "all" else [v for v in args.ordered.split(",") if v]
    return FitCreate(
        model=model,
        name=args.name,
        method=args.method,
        **pls,
        bootstrap_ci=args.bootstrap_ci,
        ordered=ordered,
        group_partial=[v.strip() for v in args.group_partial.split(",")]
        if args.group_partial
        else [],
        estimator=args.estimator or ("WLSMV" if ordered else "ML"),
        **({"missing": args.missing} if args.missing else {}),
        std_lv=args.std_lv,
        cluster=args.cluster,
        sampling_weights=args.sampling_weights,
        group=args.group,
        group_equal=args.group_equal.split(",") if args.group_equal else [],
        invariance=args.invariance,
        compare_paths=args.compare_path or [],
        bootstrap=args.bootstrap,
        seed=args.seed,
        filters=FitFilters(branch=args.branches.split(",") if args.branches else None),
    )


def _fit_with_progress(slug: str, spec_in: FitCreate) -> dict[str, Any] | None:
    """Fit ``spec_in`` to survey ``slug``'s data in this process with a progress bar on stderr;
    the result with its data fingerprint, or None after printing why the model cannot be fitted."""
    from app.db import make_sessionmaker
    from app.errors import DomainError
    from app.fits import service
    from app.fits.worker import run_fit
    from app.main import prepare_database
    from app.stats.sem import ModelError
    from app.surveys.service import get_survey, load_item_frame, survey_spec

    engine = prepare_database(get_settings())
    bar = ProgressBar()
    try:
        with make_sessionmaker(engine)() as session, bar:
            bar.update(0.0, "loading data")
            survey = get_survey(session, slug=slug)
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
        return None
    finally:
        engine.dispose()
    return result


def _write_out(result: dict[str, Any], out: str) -> bool:
    """Write a result's tables to ``out`` (.xlsx or .csv); False (and a message) on failure."""
    from app.fits.tables import fit_tables
    from app.tables import write_tables

    try:
        written = write_tables(fit_tables(result), out)
    except (OSError, ValueError) as exc:
        print(f"error: cannot write {out}: {exc}", file=sys.stderr)
        return False
    print(f"wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    return True


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def cmd_fits_list(args: argparse.Namespace) -> int:
    """The survey's stored fits, newest first (all of them: the CLI is unscoped)."""
    from app.deps import split_codes
    from app.fits import service
    from app.fits.models import STATUSES
    from app.main import open_session
    from app.surveys.service import get_survey

    statuses = split_codes(args.status)
    bad = [s for s in statuses or [] if s not in STATUSES]
    if bad:
        print(f"error: --status: unknown {', '.join(bad)}; one of {', '.join(STATUSES)}",
              file=sys.stderr)  # fmt: skip
        return 2
    query = service.FitQuery(
        status=statuses,
        method=args.method,
        estimator=args.estimator,
        model=args.model,
        name=args.name,
        created_from=args.created_from,
        created_to=args.created_to,
        limit=args.limit,
        offset=args.offset,
    )
    with open_session() as session:
        survey = get_survey(session, slug=args.survey)
        jobs, total = service.list_fits(session, survey=survey, query=query)
        items = [service.to_summary(session, job) for job in jobs]
    if args.json:
        page = {"items": [i.model_dump(mode="json") for i in items], "total": total}
        print(json.dumps(page, indent=2, ensure_ascii=False))
        return 0
    header = f"{'id':<32}  {'status':<9}  {'created':<16}  {'method':<10}  {'nobs':>6}  "
    print(header + f"{'chisq':>10}  {'df':>5}  {'cfi':>6}  {'rmsea':>6}  name")
    for i in items:
        fit = i.fit or {}
        method = i.method if i.method != "sem" else f"sem {i.estimator or ''}".strip()
        cells = [
            f"{i.id:<32}",
            f"{i.status:<9}",
            f"{_when(i.created_at):<16}",
            f"{method:<10}",
            f"{i.nobs if i.nobs is not None else '':>6}",
            _cell(fit.get("chisq"), 10, 2),
            f"{fit.get('df') if fit.get('df') is not None else '':>5}",
            _cell(fit.get("cfi"), 6, 3),
            _cell(fit.get("rmsea"), 6, 3),
            i.name or "",
        ]
        print("  ".join(cells))
    shown = f"{args.offset + 1}-{args.offset + len(items)}" if items else "none"
    print(f"{total} fit(s) of survey {args.survey}; shown: {shown}")
    return 0


def _cell(value: Any, width: int, digits: int) -> str:
    if not isinstance(value, int | float):
        return " " * width
    return f"{float(value):{width}.{digits}f}"


def cmd_fits_show(args: argparse.Namespace) -> int:
    """One stored fit: its lavaan-like report (or JSON), optionally its tables to a file."""
    from app.fits import service
    from app.fits.report import format_result
    from app.main import open_session

    with open_session() as session:
        job = service.get_fit(session, fit_id=args.fit_id)
        read = service.to_read(session, job)
    if args.json:
        print(json.dumps(read.model_dump(mode="json"), indent=2, ensure_ascii=False))
        return 0
    if read.status != "done" or read.result is None:
        detail = f": {read.error}" if read.error else ""
        print(f"fit {read.id} of survey {read.survey} is {read.status}{detail}")
        return 0 if read.status in ("queued", "running") else 1
    if args.out and not _write_out(read.result, args.out):
        return 2
    title = (
        f"fit {read.id}" + (f" ({read.name})" if read.name else "") + f" of survey {read.survey}"
    )
    print(format_result(read.result, title=title), end="")
    return 0


def _iso(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or date-time: {text!r}") from None


def _positive(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text}")
    return value


def _non_negative(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


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
    _add_fit_data_options(fit)
    _add_fit_method_options(fit)
    _add_fit_sem_options(fit)
    _add_fit_bootstrap_options(fit)
    _add_fit_group_options(fit)
    _add_fit_output_options(fit)
    fit.set_defaults(func=cmd_fit)
    _add_fits_commands(subparsers)
    _add_worker_command(subparsers)


def _add_fit_data_options(fit: argparse.ArgumentParser) -> None:
    """``pvm fit``: the survey, the model and the handling of missing answers."""
    fit.add_argument("survey", help="survey slug")
    fit.add_argument("--model", help="file with lavaan model syntax (default: instrument's)")
    fit.add_argument(
        "--missing",
        choices=["fiml", "listwise", "pairwise", "mean"],
        default=None,
        help='missing data: fiml (default for sem, lavaan\'s missing="ml"), listwise, pairwise '
        "(sem, estimator ML only), or mean (default for pls)",
    )


def _add_fit_method_options(fit: argparse.ArgumentParser) -> None:
    """``pvm fit``: CB-SEM or PLS, the PLS settings and the bootstrap interval type."""
    fit.add_argument(
        "--method", choices=["sem", "pls"], default="sem", help="CB-SEM or PLS path modelling"
    )
    fit.add_argument(
        "--scheme",
        choices=["path", "factorial", "centroid"],
        default="path",
        help="pls: inner weighting scheme (default path)",
    )
    fit.add_argument(
        "--composite", action="store_true", help="pls: no PLSc (=~ blocks as mode-A composites)"
    )
    fit.add_argument(
        "--bootstrap-ci",
        choices=["perc", "bca"],
        default="perc",
        help="bootstrap intervals: percentile (default) or BCa",
    )
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


def _add_fit_sem_options(fit: argparse.ArgumentParser) -> None:
    """``pvm fit``: the CB-SEM estimator, ordinal items, scaling, clusters and weights."""
    fit.add_argument(
        "--estimator",
        choices=["ML", "MLR", "MLM", "GLS", "ULS", "WLSMV", "DWLS"],
        default=None,
        help="sem: ML (default; WLSMV with --ordered); MLR (robust se and scaled test, any "
        "missing); MLM, GLS, ULS (complete data: --missing listwise); WLSMV, DWLS (ordered "
        "items: needs --ordered)",
    )
    fit.add_argument(
        "--ordered",
        nargs="?",
        const="all",
        default=None,
        metavar="ITEMS",
        help="sem: treat items as ordinal (lavaan's ordered; WLSMV by default): alone every "
        "observed variable of the model, or the comma-separated items, e.g. TAN1,TAN2",
    )
    fit.add_argument(
        "--std-lv", action="store_true", help="sem: scale latent variables by variance 1 (std.lv)"
    )
    fit.add_argument(
        "--cluster",
        default=None,
        metavar="ATTRIBUTE",
        help="sem: respondents nested in clusters (branch or a respondent attribute): "
        "cluster-robust se and scaled test, as lavaan's cluster=",
    )
    fit.add_argument(
        "--sampling-weights",
        default=None,
        metavar="ATTRIBUTE",
        help="sem: a respondent attribute holding sampling weights (numbers >= 0; one "
        "group), as lavaan's sampling.weights=",
    )


def _add_fit_bootstrap_options(fit: argparse.ArgumentParser) -> None:
    """``pvm fit``: bootstrap draws and seed."""
    fit.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="B",
        help="bootstrap draws: 0 (default) or 100..10000",
    )
    fit.add_argument("--seed", type=int, default=1, help="bootstrap seed (default 1)")


def _add_fit_group_options(fit: argparse.ArgumentParser) -> None:
    """``pvm fit``: multi-group fits, equality constraints, invariance and path comparisons."""
    fit.add_argument(
        "--group", default=None, help="branch, or a respondent attribute of the instrument"
    )
    fit.add_argument("--group-equal", default=None, help="e.g. loadings,intercepts")
    fit.add_argument(
        "--group-partial",
        default=None,
        metavar="PARAMS",
        help="parameters left free across groups despite --group-equal (lavaan's "
        'group.partial), comma-separated, e.g. "REL1~1,TAN =~ TAN2"',
    )
    fit.add_argument(
        "--invariance", action="store_true", help="configural -> metric -> scalar (needs --group)"
    )
    fit.add_argument(
        "--compare-path", action="append", metavar="PATH", help='e.g. "CCI ~ PV" (repeatable)'
    )


def _add_fit_output_options(fit: argparse.ArgumentParser) -> None:
    """``pvm fit``: which branches, the fit's name and the output (JSON, table files)."""
    fit.add_argument("--branches", default=None, help="only these branches (comma-separated)")
    fit.add_argument("--name", default=None, help="a name for this fit (the report's title)")
    fit.add_argument("--json", action="store_true", help="print the result object as JSON")
    fit.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="also write every table of the result to FILE.xlsx (one sheet per table) or "
        "FILE.csv (estimates; the other tables beside it as FILE.<table>.csv)",
    )


def _add_fits_commands(subparsers: Any) -> None:
    """``pvm fits list`` and ``pvm fits show``: the fits stored by the API."""
    fits = subparsers.add_parser("fits", help="list and show the fits stored by the API")
    fits_sub = fits.add_subparsers(dest="fits_command", required=True, metavar="{list,show}")
    ls = fits_sub.add_parser("list", help="a survey's stored fits, newest first")
    ls.add_argument("survey", help="survey slug")
    ls.add_argument(
        "--status", default=None, help="comma-separated: queued,running,done,failed,cancelled"
    )
    ls.add_argument("--method", choices=["sem", "pls"], default=None, help="sem or pls fits only")
    ls.add_argument("--estimator", choices=["ML", "MLR"], default=None, help="CB-SEM estimator")
    ls.add_argument("--model", default=None, help="part of the model syntax (spaces ignored)")
    ls.add_argument("--name", default=None, help="part of the fit's name (case ignored)")
    ls.add_argument(
        "--created-from", type=_iso, default=None, metavar="WHEN", help="ISO 8601, inclusive"
    )
    ls.add_argument(
        "--created-to", type=_iso, default=None, metavar="WHEN", help="ISO 8601, inclusive"
    )
    ls.add_argument("--limit", type=_positive, default=50, help="fits per page (default 50)")
    ls.add_argument("--offset", type=_non_negative, default=0, help="fits to skip (paging)")
    ls.add_argument("--json", action="store_true", help="print the API's JSON")
    ls.set_defaults(func=cmd_fits_list)
    show = fits_sub.add_parser("show", help="one stored fit: report, JSON or tables")
    show.add_argument("fit_id", metavar="ID", help="the fit's id (see pvm fits list)")
    show.add_argument("--json", action="store_true", help="print the API's JSON of the fit")
    show.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="also write the result's tables to FILE.xlsx or FILE.csv (as pvm fit --out)",
    )
    show.set_defaults(func=cmd_fits_show)


def _add_worker_command(subparsers: Any) -> None:
    """``pvm worker``: a Celery worker for fit jobs."""
    worker = subparsers.add_parser("worker", help="run a Celery worker for fit jobs")
    worker.add_argument(
        "--concurrency", type=int, default=None, help="worker processes (default: CPUs)"
    )
    worker.add_argument("--loglevel", default="INFO", help="Celery log level (default INFO)")
    worker.set_defaults(func=cmd_worker)
