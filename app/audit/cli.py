"""``pvm audit list``: the audit log, newest first."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_audit_list(args: argparse.Namespace) -> int:
    from app.audit.schemas import AuditEventRead
    from app.audit.service import list_events
    from app.main import open_session

    with open_session() as session:
        events = list_events(
            session, limit=args.limit, before=args.before, action=args.action, key_id=args.key
        )
    if args.json:
        print(
            json.dumps([AuditEventRead.model_validate(e).model_dump(mode="json") for e in events])
        )
        return 0
    for e in events:
        who = f"key {e.key_id}" if e.key_id is not None else e.via
        detail = json.dumps(e.detail, ensure_ascii=False, sort_keys=True) if e.detail else ""
        print(
            f"{e.id:>6}  {e.at:%Y-%m-%d %H:%M:%S}  {who:<10}  {e.action:<24}  {e.target}  {detail}"
        )
    return 0


def add_commands(sub: Any) -> None:
    from app.audit.service import ACTIONS

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit", required=True
    )
    listing = audit.add_parser("list", help="events, newest first")
    listing.add_argument("--limit", type=int, default=50, help="events to show (default 50)")
    listing.add_argument("--before", type=int, default=None, help="only events older than this id")
    listing.add_argument(
        "--action", choices=ACTIONS, default=None, help="only events of this action"
    )
    listing.add_argument("--key", type=int, default=None, help="only events of this key id")
    listing.add_argument("--json", action="store_true", help="JSON, as GET /api/v1/audit")
    listing.set_defaults(func=cmd_audit_list)
