"""The ``pvm`` command: serve, demo, import, migrate.

Feature packages add subcommands by defining ``add_commands(subparsers)`` in their ``cli``
module (``PLUGIN_MODULES``: keys, audit, responses/retention, fits, ...); each subcommand sets
``func`` (``parser.set_defaults(func=handler)``), a callable taking the parsed ``argparse``
namespace and returning an exit code (or None for 0).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from app.config import get_settings

logger = logging.getLogger("pvm")

PLUGIN_MODULES = (
    "app.auth.cli",
    "app.audit.cli",
    "app.surveys.cli",
    "app.psychometrics.cli",
    "app.fits.cli",
    "app.reporting.cli",
    "app.instruments.cli",
    "app.invitations.cli",
)


def _session() -> Any:
    from app.main import open_session

    return open_session()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import prepare_database
    from app.security.timeouts import TimedHttpTools

    # Flags win over PVM_ settings; through the environment they reach every worker process.
    for flag, name in (("header_timeout", "HEADER_TIMEOUT_S"), ("body_timeout", "BODY_TIMEOUT_S")):
        if getattr(args, flag) is not None:
            os.environ[f"PVM_{name}"] = str(getattr(args, flag))
    get_settings.cache_clear()
    settings = get_settings()
    prepare_database(settings).dispose()  # migrate once, before any worker starts
    os.environ["PVM_MIGRATE_ON_START"] = "false"
    proxy_headers = settings.proxy_headers if args.proxy_headers is None else args.proxy_headers
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        reload=args.reload,
        log_level=settings.log_level.lower(),
        # The access log would keep every respondent's IP and time, which anonymous surveys
        # promise not to; application logging stays on.
        access_log=False,
        http=TimedHttpTools,  # header and body timeouts (app/security/timeouts.py)
        # Client IPs (rate limits, lockouts) come from X-Forwarded-For only when asked for,
        # and only from the proxies named; otherwise any client could claim any address.
        proxy_headers=proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips or settings.forwarded_allow_ips,
        server_header=False,
    )
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from app.main import prepare_database

    prepare_database(get_settings()).dispose()
    print("database at head")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from app.errors import DomainError, InvalidInput
    from app.surveys.csvio import import_csv
    from app.surveys.service import get_survey

    with _session() as session, Path(args.file).open("rb") as data:  # read in chunks
        try:
            count = import_csv(session, survey=get_survey(session, slug=args.survey), data=data)
        except InvalidInput as exc:
            print(f"nothing imported; {len(exc.errors)} problem(s):", file=sys.stderr)
            print(json.dumps(exc.errors[:20], indent=2, ensure_ascii=False), file=sys.stderr)
            return 2
        except DomainError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 2
    print(f"imported {count} responses into {args.survey}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from app.auth.service import create_api_key
    from app.demo import DEMO_BRANCH_NAMES_ZH, DEMO_BRANCHES
    from app.errors import DomainError, InvalidInput, NotFound
    from app.surveys.csvio import import_csv
    from app.surveys.models import Branch
    from app.surveys.schemas import SurveyCreate
    from app.surveys.service import count_responses, create_survey, get_survey, survey_spec

    settings = get_settings()
    # telecom-pv keeps the slug of its first demo; other instruments get a survey each
    slug = "demo" if args.instrument == "telecom-pv" else f"demo-{args.instrument}"
    with _session() as session:
        existing = {b.code: b for b in session.scalars(select(Branch))}
        for c, n, r in DEMO_BRANCHES:
            names = {"zh": DEMO_BRANCH_NAMES_ZH[c], "en": n}
            if c not in existing:
                session.add(Branch(code=c, name=n, region=r, names=names))
            elif not existing[c].names:  # a demo loaded before branches had names per language
                existing[c].names = names
        session.commit()
        try:
            try:
                survey = get_survey(session, slug=slug)
            except NotFound:
                survey = create_survey(
                    session,
                    data=SurveyCreate(slug=slug, instrument=args.instrument, min_group_size=5),
                )
            if count_responses(session, survey=survey) == 0:
                from app.demo import demo_frame

                start = (datetime.now(UTC) - timedelta(days=365)).replace(microsecond=0)
                frame = demo_frame(survey_spec(survey), args.responses, seed=args.seed, start=start)
                data = frame.to_csv(index=False).encode("utf-8")
                count = import_csv(session, survey=survey, data=data)
                print(f"demo: {count} synthetic responses loaded into survey '{slug}'")
            else:
                print(f"demo: survey '{slug}' already has data; kept it")
        except InvalidInput as exc:
            print(f"demo: nothing loaded; {len(exc.errors)} problem(s):", file=sys.stderr)
            print(json.dumps(exc.errors[:20], indent=2, ensure_ascii=False), file=sys.stderr)
            return 2
        except DomainError as exc:
            print(f"demo: {exc.detail}", file=sys.stderr)
            return 2
        _, researcher = create_api_key(session, role="researcher", label="demo")
        _, operator = create_api_key(session, role="operator", label="demo")
    base = settings.public_base_url.rstrip("/")
    print(f"  questionnaire:  {base}/s/{slug}?branch=BR01&lang=zh")
    print(f"  API docs:       {base}/docs")
    print(f"  dashboard:      {base}/dashboard/{slug}")
    print(f"  researcher key: {researcher}")
    print(f"  operator key:   {operator}")
    return 0


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``pvm fit: error: ... (pvm fit --help)``; every
    subcommand's parser is one of these (``add_subparsers`` keeps the class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see: {self.prog} --help)\n")


def one_line(text: object) -> str:
    """A message on one line (newlines and runs of spaces folded)."""
    return " ".join(str(text).split())


def version() -> str:
    """pvm's version, from the installed package's metadata."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("pvm")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="pvm", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and, on "
                        "an unexpected error, its traceback")  # fmt: skip
    parser.add_argument(
        "--version", action="version", version=f"pvm {version()}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="migrate the database, then run the web service")
    serve.add_argument(
        "--host", default=None, help="address to listen on (default: PVM_HOST, 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=None, help="port to listen on (default: PVM_PORT, 8000)"
    )
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument(
        "--reload", action="store_true", help="restart when the code changes (development)"
    )
    serve.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="behind a reverse proxy: take the client IP and scheme from X-Forwarded-For/-Proto "
        "(default: PVM_PROXY_HEADERS, false)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="IPS",
        help="comma-separated proxy addresses (or networks) whose forwarded headers are "
        "trusted, '*' for any (default: PVM_FORWARDED_ALLOW_IPS, 127.0.0.1,::1)",
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds a client has to send its request headers (default: PVM_HEADER_TIMEOUT_S, 10)",
    )
    serve.add_argument(
        "--body-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds a client has to send its request body (default: PVM_BODY_TIMEOUT_S, 30)",
    )
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="upgrade the database to head").set_defaults(func=cmd_migrate)

    demo = sub.add_parser(
        "demo", help="load 12 branches and a demo survey (any instrument) with responses"
    )
    demo.add_argument(
        "--responses", type=int, default=3000, help="synthetic responses to load (default 3000)"
    )
    demo.add_argument(
        "--seed", type=int, default=20261122, help="random seed of the synthetic responses"
    )
    demo.add_argument(
        "--instrument", default="telecom-pv", help="id of an instrument in instruments/"
    )
    demo.set_defaults(func=cmd_demo)

    imp = sub.add_parser("import", help="import a CSV of responses (all or nothing)")
    imp.add_argument("--survey", required=True, help="slug of the survey to import into")
    imp.add_argument("file", help="CSV file in the export format (docs/api.md)")
    imp.set_defaults(func=cmd_import)

    for name in PLUGIN_MODULES:  # imported here so `pvm keys` does not load the stats stack
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from app.errors import describe_error

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # migration chatter hides the lines a user needs (keys, URLs)
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.verbose:
            raise
        message, code = describe_error(exc)  # app.errors
        print(f"error: {one_line(message)}", file=sys.stderr)
        return code
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
