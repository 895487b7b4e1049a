"""``pvm instruments validate|add|list``: instrument documents from the command line.

``validate`` needs no database; ``add`` stores a document by the same rules as
``POST /api/v1/instruments`` (app.instruments.service).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.instruments.registry import (
    MAX_DOCUMENT_BYTES,
    InstrumentError,
    document_format,
    parse_document,
)
from app.instruments.spec import InstrumentSpec


def _read(path: str) -> InstrumentSpec | None:
    """The validated document, or None after printing every problem to stderr."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_DOCUMENT_BYTES:
            raise InstrumentError(path, [f"the document is over {MAX_DOCUMENT_BYTES} bytes"])
        return parse_document(p.read_bytes(), fmt=document_format(p), source=path)
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
    except InstrumentError as exc:
        print(f"{path}: {len(exc.details)} problem(s):", file=sys.stderr)
        for problem in exc.details:
            print(f"  {problem}", file=sys.stderr)
    return None


def cmd_validate(args: argparse.Namespace) -> int:
    spec = _read(args.file)
    if spec is None:
        return 1
    print(f"ok: {spec.id} version {spec.version}, {len(spec.items)} items")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from app.instruments.service import RESERVED_IDS, store_instrument
    from app.main import open_session

    spec = _read(args.file)
    if spec is None:
        return 1
    if spec.id in RESERVED_IDS:
        print(f"{args.file}: id: {spec.id!r} is reserved", file=sys.stderr)
        return 1
    with open_session() as session:
        row, created = store_instrument(session, spec=spec, source="cli")
    what = "stored" if created else "already stored"
    print(f"{what}: {row.id} version {row.version} ({row.content_hash[:12]})")
    return 0


def cmd_list(_: argparse.Namespace) -> int:
    from app.instruments.service import current_instruments
    from app.main import open_session
    from app.surveys.specs import instrument_spec

    with open_session() as session:
        rows = current_instruments(session)
        for row in rows:
            spec = instrument_spec(row)
            title = spec.title.get(spec.languages[0], "")
            langs = ",".join(spec.languages)
            print(f"{row.id}\tversion {row.version}\t{len(spec.items)} items\t{langs}\t{title}")
    if not rows:
        print("no instruments stored", file=sys.stderr)
    return 0


def add_commands(sub: Any) -> None:
    inst = sub.add_parser("instruments", help="instrument documents").add_subparsers(
        dest="instruments", required=True
    )
    validate = inst.add_parser("validate", help="check a YAML/JSON document, list every problem")
    validate.add_argument("file", help="instrument document, YAML or JSON (docs/instruments.md)")
    validate.set_defaults(func=cmd_validate)
    add = inst.add_parser("add", help="store a document in the database (a new version if new)")
    add.add_argument("file", help="instrument document, YAML or JSON (docs/instruments.md)")
    add.set_defaults(func=cmd_add)
    inst.add_parser("list", help="the current version of every stored instrument").set_defaults(
        func=cmd_list
    )
