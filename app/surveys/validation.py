"""Checks of one response against its instrument, shared by the JSON API, the HTML form and the
CSV import. Every problem is reported, keyed by field (``answers.REL3``), never just the first.

Answer values, as the API takes them (the CSV import turns its cells into these first):

* scale / nps: an integer in the item's own scale (a string of digits too);
* single: one option code; multiple: a list of distinct option codes (``[]`` = none chosen);
* text: a string (stripped; at most ``max_length`` characters; no control characters but
  newline and tab; CR LF counts as one newline);
* ``"na"``: not applicable (items with ``allow_na`` only); ``null`` or no key: not answered
  (refused for required items).

Stored (``responses.answers``, in ``spec.answer_codes`` order): the integer for scale/nps, the
option's 1-based position for single, a bit mask (bit i = option i chosen) for multiple, the
string ``"na"`` for not applicable, ``null`` for not answered. Open text goes to
``responses.texts`` (``{code: text}``, answered items only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.errors import field_error
from app.instruments.spec import AttributeSpec, InstrumentSpec, ItemSpec

NA = "na"  # the API value and the stored value of "not applicable"
NA_STRINGS = frozenset({"na", "n/a"})  # accepted spellings, any case
_INT_RE = re.compile(r"[+-]?[0-9]{1,9}")  # longer: out of any scale (and int() is slow)
# Digits (F9): ASCII 0-9, and full-width ０-９ (U+FF10-FF19, typed by Chinese input methods in
# full-width mode), which are normalised to ASCII. Any other script's digits (Arabic-Indic,
# Devanagari, superscripts ...) are refused, although Python's int() would read them.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９＋－", "0123456789+-")
_CODE_VALUE_RE = re.compile(r"^[\w][\w .\-/]*$")
_NEWLINES = re.compile(r"\r\n?")
# Control characters (Cc) but tab and newline, and lone surrogates (Cs: not storable as UTF-8).
_BAD_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

Answer = int | str | None
Answers = list[Answer]
Texts = dict[str, str]


@dataclass(frozen=True)
class _Item:
    """What checking one item's answer needs."""

    code: str
    type: str
    allow_na: bool
    required: bool
    fast: dict[Any, int]  # exact valid inputs (ints, digit strings, option codes) -> stored value
    lo: int = 0
    hi: int = 0
    options: tuple[str, ...] = ()
    max_length: int = 0


@dataclass(frozen=True)
class _Plan:
    """What checking one response needs, derived once per instrument version."""

    items: tuple[_Item, ...]  # the answer items, in ``spec.answer_codes`` order
    texts: tuple[_Item, ...]  # the open-text items
    codes: frozenset[str]
    attributes: dict[str, AttributeSpec]
    languages: tuple[str, ...]


_PLANS: dict[str, _Plan] = {}


def _item_plan(spec: InstrumentSpec, item: ItemSpec) -> _Item:
    fast: dict[Any, int] = {}
    lo = hi = 0
    if item.is_numeric:
        scale = spec.item_scale(item)
        lo, hi = scale.min, scale.max
        fast = {v: v for v in scale.values}
        fast.update({str(v): v for v in scale.values})
    elif item.type == "single":
        fast = {c: k + 1 for k, c in enumerate(item.option_codes)}
    return _Item(
        code=item.code,
        type=item.type,
        allow_na=item.allow_na,
        required=item.is_required,
        fast=fast,
        lo=lo,
        hi=hi,
        options=tuple(item.option_codes),
        max_length=item.max_length,
    )


def _plan(spec: InstrumentSpec) -> _Plan:
    plan = _PLANS.get(spec.content_hash)
    if plan is None:
        items = [_item_plan(spec, i) for i in spec.items]
        plan = _Plan(
            items=tuple(i for i in items if i.type != "text"),
            texts=tuple(i for i in items if i.type == "text"),
            codes=frozenset(spec.item_codes),
            attributes={a.code: a for a in spec.attributes},
            languages=tuple(spec.languages),
        )
        _PLANS[spec.content_hash] = plan
    return plan


Checked = tuple[Answer, str | None]  # (stored value, problem)


def _unanswered(item: _Item) -> Checked:
    return None, ("an answer is required" if item.required else None)


def _not_applicable(item: _Item) -> Checked:
    if item.allow_na:
        return NA, None
    return None, "an answer is required (this item has no N/A option)"


def _check_number(item: _Item, raw: Any) -> Checked:
    value: int
    if raw is None:
        return _unanswered(item)
    if isinstance(raw, bool):
        return None, "must be an integer"
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str):
        text = raw.strip().translate(_FULL_WIDTH)
        if not text:
            return _unanswered(item)
        if text.lower() in NA_STRINGS:
            return _not_applicable(item)
        if not _INT_RE.fullmatch(text):
            if any(ch.isdigit() and not ch.isascii() for ch in text):
                return None, "must be an integer written with the digits 0-9"
            return None, "must be an integer"
        value = int(text)
    else:
        return None, "must be an integer"
    if not item.lo <= value <= item.hi:
        return None, f"must be between {item.lo} and {item.hi}"
    return value, None


def _check_single(item: _Item, raw: Any) -> Checked:
    if raw is None:
        return _unanswered(item)
    if isinstance(raw, str):
        text = raw.strip()
        if text in item.fast:
            return item.fast[text], None
        if not text:
            return _unanswered(item)
        if text.lower() in NA_STRINGS:
            return _not_applicable(item)
    return None, f"must be one of {', '.join(item.options)}"


def _shown(values: list[Any]) -> str:
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:5])
    return shown[:200] + (", ..." if len(values) > 5 else "")


def _check_multiple(item: _Item, raw: Any) -> Checked:
    if raw is None:
        return _unanswered(item)
    if isinstance(raw, str) and raw.strip().lower() in NA_STRINGS:
        return _not_applicable(item)
    if not isinstance(raw, list):
        return None, "must be a list of option codes"
    bits = {c: 1 << k for k, c in enumerate(item.options)}
    mask, unknown, repeated = 0, [], []
    for value in raw:
        bit = bits.get(value.strip()) if isinstance(value, str) else None
        if bit is None:
            unknown.append(value)
        elif mask & bit:
            repeated.append(value)
        else:
            mask |= bit
    problems = []
    if unknown:
        problems.append(f"unknown option(s) {_shown(unknown)}; options: {', '.join(item.options)}")
    if repeated:
        problems.append(f"option(s) chosen twice: {_shown(repeated)}")
    if problems:
        return None, "; ".join(problems)
    return mask, None


def _check_text(item: _Item, raw: Any) -> Checked:
    if raw is None:
        return _unanswered(item)
    if not isinstance(raw, str):
        return None, "must be a text"
    text = _NEWLINES.sub("\n", raw).strip()
    if not text:
        return _unanswered(item)
    if _BAD_TEXT.search(text):
        return None, "must not contain control characters (other than newline and tab)"
    if len(text) > item.max_length:
        return None, f"at most {item.max_length} characters (got {len(text)})"
    return text, None


_CHECKS = {
    "scale": _check_number,
    "nps": _check_number,
    "single": _check_single,
    "multiple": _check_multiple,
    "text": _check_text,
}


def check_answers(
    spec: InstrumentSpec, answers: Mapping[str, Any], *, prefix: str | None = "answers"
) -> tuple[Answers, Texts, list[dict[str, Any]]]:
    """Validate ``answers`` (code -> value, see the module docstring).

    Returns the stored ``answers`` array (``spec.answer_codes`` order), the open texts
    (``{code: text}``, answered ones only) and every problem, located at ``<prefix>.<CODE>``
    (just ``<CODE>`` without a prefix, as for CSV columns).
    """
    plan = _plan(spec)
    errors: list[dict[str, Any]] = []

    def at(code: str) -> tuple[str, ...]:
        return (prefix, code) if prefix else (code,)

    for code in answers:
        if code not in plan.codes:
            errors.append(field_error(*at(str(code)), msg=f"unknown item code {code!r}"))
    values: Answers = []
    for item in plan.items:
        raw = answers.get(item.code)
        if raw.__class__ in (int, str) and raw in item.fast:  # the common case: a valid answer
            values.append(item.fast[raw])
            continue
        value, problem = _CHECKS[item.type](item, raw)
        if problem is not None:
            errors.append(field_error(*at(item.code), msg=problem))
        values.append(value)
    texts: Texts = {}
    for item in plan.texts:
        text, problem = _check_text(item, answers.get(item.code))
        if problem is not None:
            errors.append(field_error(*at(item.code), msg=problem))
        elif isinstance(text, str):
            texts[item.code] = text
    return values, texts, errors


def check_answer(spec: InstrumentSpec, code: str, raw: Any) -> tuple[Answer, str | None]:
    """One item's answer (any item type, open text too): ``(stored value, problem or None)``,
    the same rule :func:`check_answers` applies to each item."""
    plan = _plan(spec)
    for item in plan.items + plan.texts:
        if item.code == code:
            return _CHECKS[item.type](item, raw)
    raise KeyError(code)


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
