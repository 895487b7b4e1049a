"""``pvm aggregates rebuild [--survey SLUG]``: recompute maintained score aggregates."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy import select


def cmd_rebuild(args: argparse.Namespace) -> int:
    from app.main import open_session as _session
    from app.reporting.aggregates import rebuild
    from app.surveys.models import Survey

    with _session() as session:
        query = select(Survey).order_by(Survey.id)
        if args.survey:
            query = query.where(Survey.slug == args.survey)
        surveys = list(session.scalars(query))
        if args.survey and not surveys:
            print(f"survey {args.survey} not found", file=sys.stderr)
            return 1
        for survey in surveys:

            def progress(done: int, slug: str = survey.slug) -> None:
                print(f"\r{slug}: {done} responses", end="", file=sys.stderr, flush=True)

            total = rebuild(session, survey=survey, progress=progress)
            session.commit()
            print(f"\r{survey.slug}: aggregates rebuilt from {total} responses", file=sys.stderr)
    return 0


def add_commands(sub: Any) -> None:
    agg = sub.add_parser("aggregates", help="maintained score aggregates").add_subparsers(
        dest="aggregates", required=True
    )
    rebuild = agg.add_parser("rebuild", help="recompute them from the stored responses")
    rebuild.add_argument("--survey", default=None, help="one survey's slug (default: all)")
    rebuild.set_defaults(func=cmd_rebuild)
