"""``pvm invitations remind|send|purge`` and ``pvm rates``."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_remind(args: argparse.Namespace) -> int:
    from app.config import get_settings
    from app.errors import DomainError
    from app.invitations.jobs import make_dispatcher
    from app.invitations.service import queue_reminders
    from app.main import open_session
    from app.surveys.service import get_survey

    with open_session() as session:
        try:
            survey = get_survey(session, slug=args.survey) if args.survey else None
        except DomainError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
        queued = queue_reminders(session, survey=survey)
    settings = get_settings()
    if queued and settings.broker_url and not args.send:  # a `pvm worker` sends them
        make_dispatcher(_factory(), settings=settings).kick()
    print(f"queued {queued} reminders")
    if args.send and queued:
        return cmd_send(args)
    return 0


def _factory() -> Any:
    from app.config import get_settings
    from app.db import make_sessionmaker
    from app.main import prepare_database

    return make_sessionmaker(prepare_database(get_settings()))


def cmd_send(args: argparse.Namespace) -> int:
    from app.config import get_settings
    from app.invitations.jobs import deliver_once

    outcome = deliver_once(_factory(), settings=get_settings())
    print(f"sent {outcome['sent']} messages, {outcome['not_sent']} not sent (see their state)")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from app.audit.service import CLI
    from app.config import get_settings
    from app.invitations.service import purge_closed_contacts
    from app.main import open_session

    with open_session() as session:
        cleared = purge_closed_contacts(session, settings=get_settings(), actor=CLI)
    print(f"deleted the contact details of {cleared} invitations of closed surveys")
    return 0


def cmd_rates(args: argparse.Namespace) -> int:
    from app.errors import DomainError
    from app.invitations.rates import response_rates
    from app.main import open_session
    from app.surveys.service import get_survey

    with open_session() as session:
        try:
            survey = get_survey(session, slug=args.survey)
            k = survey.min_group_size
            rows = response_rates(session, survey=survey, by=args.by)
        except DomainError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
    print(f"{args.by:<16} {'sent':>6} {'opened':>7} {'completed':>9} {'rate':>6} {'median s':>9}")
    for r in rows:
        if r.suppressed:
            print(f"{r.group:<16} (fewer than {k} sent: not shown)")
            continue
        rate = f"{r.rate:.0%}" if r.rate is not None else "-"
        median = f"{r.median_seconds:.0f}" if r.median_seconds is not None else "-"
        print(f"{r.group:<16} {r.sent:>6} {r.opened:>7} {r.completed:>9} {rate:>6} {median:>9}")
    return 0


def add_commands(sub: Any) -> None:
    rates = sub.add_parser(
        "rates", help="invitations sent, opened, completed and the response rate of a survey"
    )
    rates.add_argument("survey", help="the survey's slug")
    rates.add_argument(
        "--by", default="branch", help="branch (default) or an attribute of the recipients"
    )
    rates.set_defaults(func=cmd_rates)
    inv = sub.add_parser("invitations", help="invitation messages").add_subparsers(
        dest="invitations", required=True
    )
    remind = inv.add_parser(
        "remind",
        help="queue reminders to recipients who have not completed (each batch's "
        "max_reminders and remind_after_days)",
    )
    remind.add_argument("--survey", help="only this survey's batches (default: every survey)")
    remind.add_argument("--send", action="store_true", help="also send them now, from this process")
    remind.set_defaults(func=cmd_remind)
    send = inv.add_parser("send", help="send every due message now, from this process")
    send.set_defaults(func=cmd_send)
    purge = inv.add_parser(
        "purge", help="delete the contact details of invitations of closed surveys"
    )
    purge.set_defaults(func=cmd_purge)
