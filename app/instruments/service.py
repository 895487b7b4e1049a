"""Stored instrument versions: the one home of "which version is current" and of versioning.

Every instrument a survey can use is a row of ``instruments`` (id, version, frozen definition),
so every API process sees it without files. Rows come from the bundled files (stored at start
by :func:`sync_instruments`: each id's archived ``<id>.v<n>.yaml`` files, oldest first, then its
current ``<id>.yaml``), from ``POST /api/v1/instruments`` and from ``pvm instruments add`` (both
:func:`store_instrument`). The rules:

* The current version of an id is its highest stored version.
* The same content again (the document apart from its ``version`` field) is the stored version
  it matches; nothing new is stored.
* New content becomes a new version: the document's own ``version`` when it is higher than every
  stored one, else the highest stored + 1. A stored version is never changed.
* When a new version becomes current, surveys that have no responses yet and were on the
  previous current version move to it; a survey with responses never changes version.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import begin_write
from app.errors import InvalidInput, NotFound, field_error
from app.instruments.registry import (
    DocumentFormat,
    InstrumentError,
    InstrumentNotFound,
    bundled_versions,
    parse_document,
    parse_instrument,
)
from app.instruments.spec import InstrumentSpec
from app.surveys.models import Instrument, Response, Survey
from app.surveys.specs import instrument_spec

logger = logging.getLogger(__name__)

Source = Literal["file", "api", "cli"]
# Path segments of the instrument routes that an id would be shadowed by.
RESERVED_IDS = frozenset({"schema"})


@dataclass(frozen=True)
class VersionInfo:
    """A stored version with how surveys use it."""

    row: Instrument
    surveys: int
    fielded: bool  # some survey on this version has responses


# ---- reading -------------------------------------------------------------------------------
def current_version(session: Session, *, instrument_id: str) -> Instrument | None:
    """The current (highest) stored version of `instrument_id`, or None if none is stored."""
    return session.scalar(
        select(Instrument)
        .where(Instrument.id == instrument_id)
        .order_by(Instrument.version.desc())
        .limit(1)
    )


def get_version(session: Session, *, instrument_id: str, version: int | None = None) -> Instrument:
    """A stored version (the current one when `version` is None); NotFound otherwise."""
    if version is None:
        row = current_version(session, instrument_id=instrument_id)
        if row is None:
            raise NotFound(f"instrument {instrument_id} not found")
        return row
    found = session.get(Instrument, (instrument_id, version))
    if found is None:
        raise NotFound(f"instrument {instrument_id} version {version} not found")
    return found


def current_instruments(session: Session) -> list[Instrument]:
    """The current version of every stored instrument, sorted by id."""
    latest = (
        select(Instrument.id, func.max(Instrument.version).label("version"))
        .group_by(Instrument.id)
        .subquery()
    )
    query = (
        select(Instrument)
        .join(
            latest,
            (Instrument.id == latest.c.id) & (Instrument.version == latest.c.version),
        )
        .order_by(Instrument.id)
    )
    return list(session.scalars(query))


def list_versions(session: Session, *, instrument_id: str) -> list[VersionInfo]:
    """Every stored version of `instrument_id`, oldest first; NotFound if there is none."""
    rows = list(
        session.scalars(
            select(Instrument).where(Instrument.id == instrument_id).order_by(Instrument.version)
        )
    )
    if not rows:
        raise NotFound(f"instrument {instrument_id} not found")
    used: dict[int, int] = {
        version: count
        for version, count in session.execute(
            select(Survey.instrument_version, func.count())
            .where(Survey.instrument_id == instrument_id)
            .group_by(Survey.instrument_version)
        )
    }
    fielded = set(
        session.scalars(
            select(Survey.instrument_version)
            .where(Survey.instrument_id == instrument_id, _has_responses())
            .distinct()
        )
    )
    return [
        VersionInfo(row=r, surveys=int(used.get(r.version, 0)), fielded=r.version in fielded)
        for r in rows
    ]


def definition(row: Instrument) -> dict[str, Any]:
    """A stored version as the API shows it: the document, with its stored version and hash."""
    spec = instrument_spec(row)
    return {
        **spec.model_dump(mode="json"),
        "version": row.version,
        "content_hash": row.content_hash,
    }


def get_instrument_definition(
    session: Session, *, instrument_id: str, version: int | None = None
) -> dict[str, Any]:
    return definition(get_version(session, instrument_id=instrument_id, version=version))


def instrument_for_survey(
    session: Session, *, instrument_id: str, version: int | None = None
) -> Instrument:
    """The stored version a new survey is pinned to; InvalidInput naming the field if unknown.

    An id with no stored version but a bundled file (one added since the service started) is
    stored from the file first (flushed; the caller commits with its survey)."""
    if current_version(session, instrument_id=instrument_id) is None:
        ensure_instrument(session, instrument_id=instrument_id)  # InvalidInput if no file either
    try:
        return get_version(session, instrument_id=instrument_id, version=version)
    except NotFound:
        field = "instrument" if version is None else "instrument_version"
        unknown = InstrumentNotFound(instrument_id, version)  # "unknown instrument x [version n]"
        raise InvalidInput([field_error(field, msg=str(unknown))]) from None


# ---- storing -------------------------------------------------------------------------------
def _content_key(spec: InstrumentSpec) -> str:
    """Identity of a document's content apart from its ``version`` field."""
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data.pop("version", None)
    body = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _same_content(row: Instrument, spec: InstrumentSpec, key: str) -> bool:
    if row.content_hash == spec.content_hash:
        return True
    try:
        return _content_key(instrument_spec(row)) == key
    except InstrumentError:  # a stored definition this code can no longer read: not a match
        return False


def _has_responses() -> Any:
    return exists().where(Response.survey_id == Survey.id)


def _store(
    session: Session, *, spec: InstrumentSpec, source: Source, key_id: int | None
) -> tuple[Instrument, bool]:
    """The stored version matching `spec`, or a new one (flushed, not committed)."""
    rows = list(session.scalars(select(Instrument).where(Instrument.id == spec.id)))
    key = _content_key(spec)
    for row in rows:
        if _same_content(row, spec, key):
            return row, False
    top = max((r.version for r in rows), default=0)
    version = spec.version if spec.version > top else top + 1
    if rows and version != spec.version:
        logger.info("instrument %s: new content stored as version %d", spec.id, version)
    stored = parse_instrument({**spec.model_dump(mode="json"), "version": version})
    row = Instrument(
        id=spec.id,
        version=version,
        content_hash=stored.content_hash,
        definition=stored.model_dump(mode="json"),
        source=source,
        uploaded_by_key_id=key_id,
    )
    session.add(row)
    session.flush()
    if top:
        # Surveys still waiting for their first response follow the new current version.
        moved = set(
            session.scalars(
                update(Survey)
                .where(
                    Survey.instrument_id == spec.id,
                    Survey.instrument_version == top,
                    ~_has_responses(),
                )
                .values(instrument_version=version)
                .returning(Survey.id)
                .execution_options(synchronize_session=False)
            )
        )
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Survey) and obj.id in moved:
                session.expire(obj)  # its version and joined instrument are reloaded
    return row, True


def store_instrument(
    session: Session, *, spec: InstrumentSpec, source: Source, key_id: int | None = None
) -> tuple[Instrument, bool]:
    """Store a validated document by the rules above; returns ``(row, created)``.

    Two uploads racing for the same next version number: the loser retries once and finds the
    winner's row (same content) or takes the number after it.
    """
    for attempt in (1, 2):
        begin_write(session)
        try:
            row, created = _store(session, spec=spec, source=source, key_id=key_id)
            session.commit()
            return row, created
        except IntegrityError:
            session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def ensure_instrument(session: Session, *, instrument_id: str) -> Instrument:
    """The stored version matching the bundled file's current content, stored if new (flushed,
    not committed), after its archived versions (``<id>.v<n>.yaml``, oldest first). A file
    edited without bumping ``version`` still becomes a new version."""
    try:
        specs = bundled_versions(instrument_id)
    except (InstrumentNotFound, InstrumentError) as exc:
        raise InvalidInput([field_error("instrument", msg=str(exc))]) from None
    for spec in specs:
        row = _store(session, spec=spec, source="file", key_id=None)[0]
    return row


def sync_instruments(session: Session) -> None:
    """At start: store the bundled files' new content, every id's archived versions before its
    current file (several workers may start at once; the one that loses an insert race retries
    and finds the row the other stored)."""
    for attempt in (1, 2):
        begin_write(session)
        try:
            for spec in bundled_versions():
                _store(session, spec=spec, source="file", key_id=None)
            session.commit()
            return
        except IntegrityError:
            session.rollback()
            if attempt == 2:
                raise


# ---- documents -----------------------------------------------------------------------------
def problem_errors(exc: InstrumentError) -> list[dict[str, Any]]:
    """Every problem of a document as InvalidInput entries: ``loc`` (FastAPI style, under
    ``body``), ``path`` (``items[3].text.en``) and ``msg``."""
    return [{**field_error(*p.loc, msg=p.msg), "path": p.path} for p in exc.details]


def validate_document(content: bytes | str, *, fmt: DocumentFormat) -> InstrumentSpec:
    """A YAML or JSON instrument document, validated; InvalidInput lists every problem."""
    try:
        spec = parse_document(content, fmt=fmt, source="body")
    except InstrumentError as exc:
        raise InvalidInput(problem_errors(exc)) from None
    if spec.id in RESERVED_IDS:
        raise InvalidInput([{**field_error("id", msg=f"{spec.id!r} is reserved"), "path": "id"}])
    return spec


def upload_instrument(
    session: Session,
    *,
    content: bytes | str,
    fmt: DocumentFormat,
    source: Source,
    key_id: int | None = None,
) -> tuple[Instrument, bool]:
    """Validate a document and store it by the versioning rules; ``(row, created)``."""
    spec = validate_document(content, fmt=fmt)
    return store_instrument(session, spec=spec, source=source, key_id=key_id)
