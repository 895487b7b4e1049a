"""Response quality: completion time, the speeder / straight-liner / duplicate flags, and the
per-response listing and summary researchers read (``GET /surveys/{slug}/flags``).

The one rule for each flag lives here; :func:`app.surveys.service.submit_response` applies them
when a response is stored (the thresholds in force then), and analyses leave flagged responses
out with ``exclude_flagged: true`` through ``ResponseFilters`` (app.surveys.frames) and the score
aggregates (app.reporting.aggregates.read_cells).

- speeder: the completion time (first load of the questionnaire to submit, measured by the web
  questionnaire) is below ``speeder_seconds_per_item`` (default
  :data:`DEFAULT_SPEEDER_SECONDS_PER_ITEM`) times the number of items answered. Responses whose
  time was not measured (API, import) are never speeders.
- straightline: at least ``straightline_items`` (default :data:`DEFAULT_STRAIGHTLINE_ITEMS`)
  consecutive scale items, in questionnaire order, answered with the same value (a "long
  string"; not applicable, unanswered and non-scale items end a run).
- duplicate: an earlier response of the survey came from the same browser (device cookie) or
  with the same invitation token; the first response stays unflagged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.errors import field_error
from app.instruments.spec import InstrumentSpec
from app.surveys.models import Branch, Response, Survey

DEFAULT_SPEEDER_SECONDS_PER_ITEM = 2.0
DEFAULT_STRAIGHTLINE_ITEMS = 10
FLAGS = ("speeder", "straightline", "duplicate")
DEVICE_COOKIE = "pvm_device"
ANONYMOUS_TIME_STEP = 60  # anonymous surveys keep whole minutes (rounded down)


def thresholds(survey: Survey) -> tuple[float, int]:
    """(seconds per answered item below which a response is a speeder, run length that makes
    a straight-liner) of ``survey``: its own settings, else the defaults."""
    seconds = survey.speeder_seconds_per_item
    items = survey.straightline_items
    return (
        DEFAULT_SPEEDER_SECONDS_PER_ITEM if seconds is None else float(seconds),
        DEFAULT_STRAIGHTLINE_ITEMS if items is None else int(items),
    )


def answered_count(answers: Sequence[Any], texts: dict[str, str] | None) -> int:
    """Items answered: stored values that are neither null nor not applicable, and open texts."""
    return sum(1 for v in answers if v is not None and v != "na") + len(texts or {})


def longest_identical_run(spec: InstrumentSpec, answers: Sequence[Any]) -> int:
    """The longest run of consecutive scale items (``answer_codes`` order) with one value."""
    best = run = 0
    previous: Any = None
    for item_code, value in zip(spec.answer_codes, answers, strict=True):
        item = spec.items_by_code[item_code]
        if item.type != "scale" or value is None or value == "na":
            previous, run = None, 0
            continue
        run = run + 1 if value == previous else 1
        previous = value
        best = max(best, run)
    return best


def response_flags(
    spec: InstrumentSpec,
    *,
    answers: Sequence[Any],
    texts: dict[str, str] | None,
    duration_seconds: float | None,
    seconds_per_item: float,
    straightline_items: int,
    duplicate: bool,
) -> list[str]:
    """The flags (in :data:`FLAGS` order) one response raises."""
    flags = []
    answered = answered_count(answers, texts)
    if duration_seconds is not None and duration_seconds < seconds_per_item * answered:
        flags.append("speeder")
    if straightline_items > 0 and longest_identical_run(spec, answers) >= straightline_items:
        flags.append("straightline")
    if duplicate:
        flags.append("duplicate")
    return flags


def stored_duration(seconds: float | None, *, anonymous: bool) -> int | None:
    """The completion time as stored: whole seconds, whole minutes (down) when anonymous."""
    if seconds is None:
        return None
    whole = max(int(seconds), 0)
    return whole - whole % ANONYMOUS_TIME_STEP if anonymous else whole


def digest(raw: str) -> str:
    """The stored key of a device cookie or invitation token (both random: sha256 suffices)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def is_duplicate(
    session: Session, *, survey: Survey, device_key: str | None, token_key: str | None
) -> bool:
    """Whether a stored response of ``survey`` has the same device or token key."""
    keys = []
    if device_key:
        keys.append(Response.device_key == device_key)
    if token_key:
        keys.append(Response.token_key == token_key)
    if not keys:
        return False
    query = select(Response.id).where(Response.survey_id == survey.id, or_(*keys)).limit(1)
    return session.scalar(query) is not None


# ---- the start time the questionnaire carries -----------------------------------------------
START_FIELD = "started"


def _start_mac(secret: str, slug: str, started: int) -> str:
    message = f"survey-start|{slug}|{started}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()[:32]


def sign_start(secret: str, slug: str, started: float | None = None) -> str:
    """The hidden field that carries the questionnaire's first load time: ``<unix>.<mac>``."""
    moment = int(time.time() if started is None else started)
    return f"{moment}.{_start_mac(secret, slug, moment)}"


def started_at(secret: str, slug: str, field: str) -> int | None:
    """The unix time a signed start field names; None when missing, forged or in the future."""
    stamp, _, mac = field.partition(".")
    if not stamp.isdigit() or len(stamp) > 12:
        return None
    moment = int(stamp)
    if not hmac.compare_digest(_start_mac(secret, slug, moment), mac) or moment > time.time():
        return None
    return moment


def new_device_id() -> str:
    return secrets.token_hex(16)


# ---- what researchers read --------------------------------------------------------------------
@dataclass(frozen=True)
class FlagRow:
    id: str
    branch: str
    submitted_at: Any
    duration_seconds: int | None
    flags: list[str]


def flag_rows(
    session: Session, *, survey: Survey, branches: Sequence[str] | None = None
) -> list[FlagRow]:
    """Every stored response of ``survey`` (in ``branches``) with its time and flags."""
    query = (
        select(Response.id, Branch.code, Response.submitted_at, Response.duration_seconds)
        .add_columns(Response.flags)
        .join(Branch, Branch.id == Response.branch_id)
        .where(Response.survey_id == survey.id)
        .order_by(Response.submitted_at, Response.id)
    )
    if branches is not None:
        query = query.where(Branch.code.in_(list(branches)))
    return [
        FlagRow(str(rid), code, at, duration, list(flags or []))
        for rid, code, at, duration, flags in session.execute(query)
    ]


def flag_summary(rows: Sequence[FlagRow]) -> dict[str, Any]:
    """Counts: responses, flagged (any flag), and per flag."""
    return {
        "responses": len(rows),
        "flagged": sum(1 for r in rows if r.flags),
        "by_flag": {f: sum(1 for r in rows if f in r.flags) for f in FLAGS},
    }


# ---- the export's quality columns --------------------------------------------------------------
QUALITY_COLUMNS = ("duration_seconds", "flags")
QUALITY_LABELS = {
    "duration_seconds": {"en": "Time to complete (seconds)", "zh": "答题用时（秒）"},
    "flags": {"en": "Quality flags", "zh": "质量标记"},
}


def export_columns(session: Session, *, survey: Survey, ids: pd.Series) -> dict[str, pd.Series]:
    """The quality columns of the responses ``ids`` (dashed UUID text, as item frames hold
    them), aligned with ``ids``: ``duration_seconds`` (nullable integers) and ``flags`` (the
    flags joined by ``;``, empty: none). Read for those ids only, a batch at a time, so a
    streamed export reads each response once."""
    durations: dict[str, int | None] = {}
    flags: dict[str, str] = {}
    wanted = [uuid.UUID(str(i)) for i in ids]
    for start in range(0, len(wanted), _ID_BATCH):
        query = select(Response.id, Response.duration_seconds, Response.flags).where(
            Response.survey_id == survey.id, Response.id.in_(wanted[start : start + _ID_BATCH])
        )
        for rid, duration, raised in session.execute(query):
            durations[str(rid)] = duration
            flags[str(rid)] = ";".join(raised or [])
    return {
        "duration_seconds": pd.Series(
            [durations.get(str(i)) for i in ids], index=ids.index, dtype="Int64"
        ),
        "flags": pd.Series([flags.get(str(i), "") for i in ids], index=ids.index, dtype=object),
    }


_ID_BATCH = 500  # ids per IN (...) list: below every backend's limit on bound parameters


def parse_imported(cells: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The optional ``duration_seconds`` and ``flags`` cells of an imported row (as the export
    writes them) as Response column values, and the errors found."""
    errors: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    duration = cells.get("duration_seconds", "").strip()
    if duration:
        if duration.isdigit() and len(duration) <= 9:
            out["duration_seconds"] = int(duration)
        else:
            errors.append(field_error("duration_seconds", msg="a whole number of seconds >= 0"))
    raised = [f.strip() for f in cells.get("flags", "").split(";") if f.strip()]
    unknown = [f for f in raised if f not in FLAGS]
    if unknown:
        errors.append(
            field_error(
                "flags", msg=f"unknown flag {', '.join(unknown)} (known: {', '.join(FLAGS)})"
            )
        )
    elif raised:
        out["flags"] = [f for f in FLAGS if f in raised]
        out["flagged"] = True
    return out, errors
