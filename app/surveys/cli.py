"""``pvm surveys set``, ``pvm branches``, ``pvm responses delete|erase`` and ``pvm retention
run`` (audited as ``cli``)."""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any


def cmd_responses_delete(args: argparse.Namespace) -> int:
    from app.audit.service import CLI
    from app.errors import DomainError
    from app.main import open_session
    from app.surveys.lifecycle import delete_response
    from app.surveys.service import get_survey

    try:
        response_id = uuid.UUID(args.id)
    except ValueError:
        print(f"error: {args.id!r} is not a response id (a UUID)", file=sys.stderr)
        return 2
    with open_session() as session:
        try:
            survey = get_survey(session, slug=args.survey)
            delete_response(session, survey=survey, response_id=response_id, actor=CLI)
        except DomainError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
    print(f"deleted response {response_id} of {args.survey}")
    return 0


def cmd_responses_erase(args: argparse.Namespace) -> int:
    from app.audit.service import CLI
    from app.errors import DomainError
    from app.main import open_session
    from app.surveys.lifecycle import erase_by_token
    from app.surveys.service import get_survey

    token = args.token if args.token != "-" else sys.stdin.readline().strip()
    with open_session() as session:
        try:
            survey = get_survey(session, slug=args.survey)
            erased = erase_by_token(session, survey=survey, token=token, actor=CLI)
        except DomainError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
    print(f"deleted response {erased} of {args.survey} (submitted with that token)")
    return 0


def cmd_retention_run(args: argparse.Namespace) -> int:
    from app.audit.service import CLI
    from app.config import get_settings
    from app.main import open_session
    from app.surveys.lifecycle import purge_client_data

    days = args.days if args.days is not None else get_settings().client_data_retention_days
    if days < 0:
        print("error: --days must be 0 or more", file=sys.stderr)
        return 2
    with open_session() as session:
        cleared = purge_client_data(session, days=days, actor=CLI)
    print(f"cleared IP address and user agent of {cleared} responses older than {days} days")
    return 0


def cmd_branches_set_name(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.errors import DomainError
    from app.main import open_session
    from app.surveys.schemas import BranchUpdate
    from app.surveys.service import update_branch

    try:
        data = BranchUpdate(names={args.lang: args.name or None})
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"error: {args.lang!r}: {first['msg']}", file=sys.stderr)
        return 2
    with open_session() as session:
        try:
            branch = update_branch(session, code=args.code, data=data)
        except DomainError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
        shown = branch.name_in(args.lang)
    print(f"branch {args.code} in {args.lang}: {shown}")
    return 0


def cmd_branches_list(args: argparse.Namespace) -> int:
    from app.main import open_session
    from app.surveys.service import list_branches

    with open_session() as session:
        for b in list_branches(session):
            names = "  ".join(f"{k}={v}" for k, v in sorted((b.names or {}).items()))
            print(f"{b.code:<12} {b.name:<30} {names}")
    return 0


def parse_quota(text: str) -> dict[str, Any] | None:
    """``"stop:BR01=100,BR02=50,*=80"`` -> a quota object ("*": every other branch; the mode
    ``stop`` or ``keep`` may be left out: stop); ``""`` -> None (no quota)."""
    text = text.strip()
    if not text:
        return None
    mode, _, rest = text.partition(":") if ":" in text else ("stop", "", text)
    quota: dict[str, Any] = {"mode": mode.strip(), "branches": {}}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        code, sep, count = part.partition("=")
        if not sep or not count.strip().lstrip("-").isdigit():
            raise ValueError(f"{part!r} is not BRANCH=COUNT")
        if code.strip() == "*":
            quota["default"] = int(count)
        else:
            quota["branches"][code.strip()] = int(count)
    return quota


def format_quota(quota: dict[str, Any] | None) -> str:
    if not quota:
        return "no quota"
    parts = [f"{code}={n}" for code, n in sorted((quota.get("branches") or {}).items())]
    if quota.get("default") is not None:
        parts.append(f"*={quota['default']}")
    return f"quota {quota.get('mode', 'stop')}:{','.join(parts)}"


def cmd_surveys_set(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.audit.service import CLI
    from app.errors import DomainError
    from app.main import open_session
    from app.surveys.frames import as_utc
    from app.surveys.schemas import SurveyUpdate
    from app.surveys.service import get_survey, update_survey

    changes: dict[str, Any] = {}
    if args.status is not None:
        changes["status"] = args.status
    for name in ("opens_at", "closes_at"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value or None  # "" clears the date
    if args.quota is not None:
        try:
            changes["quota"] = parse_quota(args.quota)
        except ValueError as exc:
            print(f"error: --quota: {exc}", file=sys.stderr)
            return 2
    if not changes:
        print("error: give --status, --opens-at, --closes-at or --quota", file=sys.stderr)
        return 2
    try:
        data = SurveyUpdate.model_validate(changes)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]).replace("_", "-")
        where = ".".join(str(p) for p in first["loc"][1:])
        print(f"error: --{field}{' ' + where if where else ''}: {first['msg']}", file=sys.stderr)
        return 2
    with open_session() as session:
        try:
            survey = get_survey(session, slug=args.survey)
            survey = update_survey(session, survey=survey, data=data, actor=CLI)
        except DomainError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
        opens = as_utc(survey.opens_at).isoformat() if survey.opens_at else "-"
        closes = as_utc(survey.closes_at).isoformat() if survey.closes_at else "-"
        quota = format_quota(survey.quota)
        print(f"survey {survey.slug}: {survey.status}, opens {opens}, closes {closes}, {quota}")
    return 0


def add_commands(sub: Any) -> None:
    surveys = sub.add_parser("surveys", help="survey settings").add_subparsers(
        dest="surveys", required=True
    )
    set_ = surveys.add_parser(
        "set", help="status and opening/closing times (ISO 8601 with a time zone; '' clears)"
    )
    set_.add_argument("survey", help="the survey's slug")
    set_.add_argument(
        "--status",
        choices=("draft", "open", "closed", "archived"),
        help="only an open survey takes answers (between its opening and closing times)",
    )
    set_.add_argument("--opens-at", dest="opens_at", help="e.g. 2027-01-01T09:00+08:00")
    set_.add_argument("--closes-at", dest="closes_at", help="e.g. 2027-03-31T18:00+08:00")
    set_.add_argument(
        "--quota",
        help="responses per branch, e.g. stop:BR01=100,BR02=50,*=80 (stop refuses a full "
        "branch, keep goes on collecting; * = every other branch; '' removes the quota)",
    )
    set_.set_defaults(func=cmd_surveys_set)
    branches = sub.add_parser("branches", help="branches and their names").add_subparsers(
        dest="branches", required=True
    )
    set_name = branches.add_parser(
        "set-name", help="name a branch in one language (an empty NAME removes it)"
    )
    set_name.add_argument("code", help="the branch code, e.g. BR01")
    set_name.add_argument("lang", help="a language tag, e.g. zh or en")
    set_name.add_argument("name", help="the branch's name in that language")
    set_name.set_defaults(func=cmd_branches_set_name)
    branches.add_parser("list", help="every branch with its names").set_defaults(
        func=cmd_branches_list
    )
    responses = sub.add_parser("responses", help="delete stored responses").add_subparsers(
        dest="responses", required=True
    )
    delete = responses.add_parser("delete", help="delete one response by id")
    delete.add_argument("--survey", required=True, help="the survey's slug")
    delete.add_argument("id", help="the response id (UUID)")
    delete.set_defaults(func=cmd_responses_delete)
    erase = responses.add_parser(
        "erase", help="delete the response submitted with an invitation token"
    )
    erase.add_argument("--survey", required=True, help="the survey's slug")
    erase.add_argument("--token", required=True, help="the invitation token; - reads stdin")
    erase.set_defaults(func=cmd_responses_erase)

    retention = sub.add_parser("retention", help="client data retention").add_subparsers(
        dest="retention", required=True
    )
    run = retention.add_parser(
        "run", help="clear IP address and user agent of responses older than the retention"
    )
    run.add_argument(
        "--days", type=int, default=None, help="default: PVM_CLIENT_DATA_RETENTION_DAYS"
    )
    run.set_defaults(func=cmd_retention_run)
