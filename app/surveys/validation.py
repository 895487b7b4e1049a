"""Checks of one response against its instrument, shared by the JSON API, the HTML form and the
CSV import. Every problem is reported, keyed by field (``answers.REL3``), never just the first."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.errors import field_error
from app.instruments.spec import AttributeSpec, InstrumentSpec

_INT_RE = re.compile(r"^[+-]?\d+$")
_CODE_VALUE_RE = re.compile(r"^[\w][\w .\-/]*$")
NA_STRINGS = frozenset({"", "na", "n/a", "null"})

Answers = list[int | None]


def _parse_value(raw: Any) -> tuple[int | None, str | None]:
    """(value, error). ``None`` is N/A; strings come from forms and CSV files."""
    if raw is None:
        return None, None
    if isinstance(raw, bool):
        return None, "must be an integer"
    if isinstance(raw, int):
        return raw, None
    if isinstance(raw, float):
        if raw.is_integer():
            return int(raw), None
        return None, "must be an integer"
    if isinstance(raw, str):
        text = raw.strip()
        if text.lower() in NA_STRINGS:
            return None, None
        if _INT_RE.match(text):
            return int(text), None
        return None, "must be an integer"
    return None, "must be an integer"


@dataclass(frozen=True)
class _Plan:
    """What checking one response needs, derived once per instrument version."""

    items: tuple[tuple[str, bool], ...]  # (code, allow_na) in instrument order
    codes: frozenset[str]
    lo: int
    hi: int
    fast: dict[Any, int | None]  # exact valid inputs (ints and their strings) -> value
    attributes: dict[str, AttributeSpec]
    languages: tuple[str, ...]


_PLANS: dict[str, _Plan] = {}


def _plan(spec: InstrumentSpec) -> _Plan:
    plan = _PLANS.get(spec.content_hash)
    if plan is None:
        scale = spec.item_scale(spec.numeric_codes[0])  # one shared scale until item types land
        lo, hi = scale.min, scale.max
        fast: dict[Any, int | None] = {v: v for v in range(lo, hi + 1)}
        fast.update({str(v): v for v in range(lo, hi + 1)})
        plan = _Plan(
            items=tuple((i.code, i.allow_na) for i in spec.items),
            codes=frozenset(i.code for i in spec.items),
            lo=lo,
            hi=hi,
            fast=fast,
            attributes={a.code: a for a in spec.attributes},
            languages=tuple(spec.languages),
        )
        _PLANS[spec.content_hash] = plan
    return plan


def check_answers(
    spec: InstrumentSpec, answers: Mapping[str, Any], *, prefix: str | None = "answers"
) -> tuple[Answers, list[dict[str, Any]]]:
    """Validate ``answers`` (code -> value | None) and return them in item order plus errors.

    Items that allow N/A may be left out (stored as N/A); every other item is required. Errors
    are located at ``<prefix>.<CODE>`` (just ``<CODE>`` without a prefix, as for CSV columns).
    """
    plan = _plan(spec)
    errors: list[dict[str, Any]] = []

    def at(code: str) -> tuple[str, ...]:
        return (prefix, code) if prefix else (code,)

    for code in answers:
        if code not in plan.codes:
            errors.append(field_error(*at(str(code)), msg=f"unknown item code {code!r}"))
    fast = plan.fast
    values: Answers = []
    for code, allow_na in plan.items:
        if code not in answers:
            if not allow_na:
                errors.append(field_error(*at(code), msg="an answer is required"))
            values.append(None)
            continue
        raw = answers[code]
        if raw.__class__ in (int, str) and raw in fast:  # the common case: a valid answer
            values.append(fast[raw])
            continue
        value, problem = _parse_value(raw)
        if problem is None and value is None and not allow_na:
            problem = "an answer is required (this item has no N/A option)"
        if problem is None and value is not None and not plan.lo <= value <= plan.hi:
            problem = f"must be between {plan.lo} and {plan.hi}"
        if problem is not None:
            errors.append(field_error(*at(code), msg=problem))
            value = None
        values.append(value)
    return values, errors


def check_attributes(
    spec: InstrumentSpec,
    attributes: Mapping[str, Any],
    *,
    at: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Normalise respondent attributes (blank -> absent) and check them against the instrument.

    Returns only the given attributes, as ``{code: value}``. Choice attributes take one of their
    option codes, code attributes a short free code (e.g. a CRM segment); required attributes
    must be given. ``at`` maps an attribute to the error location it was given under (default
    ``attributes.<code>``).
    """
    declared = _plan(spec).attributes
    out: dict[str, str] = {}
    errors: list[dict[str, Any]] = []

    def where(code: str) -> tuple[str, ...]:
        return (at or {}).get(code) or ("attributes", code)

    for code, raw in attributes.items():
        value = raw.strip() if isinstance(raw, str) else raw
        if value is None or value == "":
            continue
        attr = declared.get(str(code))
        if attr is None:
            errors.append(field_error(*where(str(code)), msg=f"unknown attribute {code!r}"))
        elif not isinstance(value, str):
            errors.append(field_error(*where(attr.code), msg="must be a text code"))
        elif attr.type == "choice" and value not in attr.codes:
            errors.append(
                field_error(*where(attr.code), msg=f"must be one of {', '.join(attr.codes)}")
            )
        elif attr.type == "code" and not _CODE_VALUE_RE.match(value):
            errors.append(
                field_error(
                    *where(attr.code),
                    msg=f"must be 1-{attr.max_length} letters, digits, spaces or _ - . /",
                )
            )
        elif len(value) > attr.max_length:
            errors.append(
                field_error(*where(attr.code), msg=f"at most {attr.max_length} characters")
            )
        else:
            out[attr.code] = value
    wrong = {e["loc"][-1] for e in errors}
    for attr in declared.values():
        if attr.required and attr.code not in out and attr.code not in wrong:
            errors.append(field_error(*where(attr.code), msg="this attribute is required"))
    return out, errors


def check_lang(spec: InstrumentSpec, lang: str | None) -> tuple[str | None, list[dict[str, Any]]]:
    """A respondent's language: one the instrument declares, or none."""
    value = lang.strip() if isinstance(lang, str) else lang
    if not value:
        return None, []
    languages = _plan(spec).languages
    if value not in languages:
        return None, [field_error("lang", msg=f"must be one of {', '.join(languages)}")]
    return value, []
