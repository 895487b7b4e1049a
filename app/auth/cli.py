"""``pvm keys create|list|revoke|rotate``: API keys from the command line (audited as ``cli``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def cmd_keys_create(args: argparse.Namespace) -> int:
    from app.auth.service import create_api_key
    from app.deps import split_codes
    from app.errors import InvalidInput
    from app.main import open_session

    branches = split_codes(args.branches)
    with open_session() as session:
        try:
            _, raw = create_api_key(session, role=args.role, branches=branches, label=args.label)
        except InvalidInput as exc:
            problems = "; ".join(f"{e.get('field', '')}: {e.get('msg', '')}" for e in exc.errors)
            print(f"error: {problems}", file=sys.stderr)
            return 2
    print(raw)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from app.auth.service import list_keys
    from app.main import open_session

    with open_session() as session:
        keys = [k for k in list_keys(session) if args.all or k.revoked_at is None]
    if args.json:
        from app.auth.schemas import KeyRead

        print(json.dumps([KeyRead.model_validate(k).model_dump(mode="json") for k in keys]))
        return 0
    head = f"{'id':>5}  {'prefix':<16}  {'role':<10}  {'branches':<20}  {'created':<19}"
    print(f"{head}  revoked  label")
    for k in keys:
        branches = ",".join(k.branches) if k.branches else "*"
        revoked = k.revoked_at.strftime("%Y-%m-%d") if k.revoked_at else "-"
        created = k.created_at.strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{k.id:>5}  {k.prefix:<16}  {k.role:<10}  {branches:<20}  {created:<19}  "
            f"{revoked:<7}  {k.label or ''}"
        )
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from app.auth.service import revoke_key
    from app.errors import DomainError
    from app.main import open_session

    with open_session() as session:
        try:
            key = revoke_key(session, key_id=args.id)
        except DomainError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
    print(f"key {key.id} ({key.prefix}) revoked at {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from app.auth.service import rotate_key
    from app.errors import DomainError
    from app.main import open_session

    with open_session() as session:
        try:
            new, raw = rotate_key(session, key_id=args.id)
        except DomainError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
    print(f"key {args.id} revoked; its replacement is key {new.id}:", file=sys.stderr)
    print(raw)
    return 0


def add_commands(sub: Any) -> None:
    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys", required=True)
    create = keys.add_parser("create", help="create a key and print it (shown once)")
    create.add_argument(
        "--role",
        required=True,
        choices=["admin", "researcher", "operator"],
        help="what the key may do (API.md, Auth)",
    )
    create.add_argument("--branches", default=None, help="comma-separated branch codes")
    create.add_argument("--label", default=None, help="a note on whose key this is")
    create.set_defaults(func=cmd_keys_create)

    listing = keys.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    listing.add_argument("--json", action="store_true", help="JSON, as GET /api/v1/keys")
    listing.set_defaults(func=cmd_keys_list)

    revoke = keys.add_parser("revoke", help="revoke a key at once (dashboard sessions too)")
    revoke.add_argument("id", type=int, help="the key's id (see pvm keys list)")
    revoke.set_defaults(func=cmd_keys_revoke)

    rotate = keys.add_parser(
        "rotate", help="new key with the same role, branches and label; revoke the old one"
    )
    rotate.add_argument("id", type=int, help="the key's id (see pvm keys list)")
    rotate.set_defaults(func=cmd_keys_rotate)
