"""Schema of an instrument document (instruments/<id>.yaml, or the body of POST /instruments).

Structural checks that need the whole document (translations, cross references, the model
syntax) live in `InstrumentSpec`'s validator so that a spec object is always consistent. Every
problem is reported with its path in the document (``items[3].text.en: missing``).

Item types (``type``):

* ``scale`` (default): a k-point rating or agreement scale (k = 2..11), the instrument's
  ``scale`` or a named one from ``scales``; labels for every point or for the two ends only.
* ``nps``: the 0-10 likelihood-to-recommend question (a scale with min 0 and max 10).
* ``single`` / ``multiple``: choice among ``options`` (one, or any number).
* ``text``: open text, at most ``max_length`` characters; stored and exported, never analysed.

Only ``scale`` and ``nps`` items can measure a construct. ``allow_na`` offers "not applicable",
which is stored apart from "not answered".

Interface texts of the questionnaire (buttons, progress, error messages, the privacy notice) are
pvm's own, in Chinese, English, German, French, Spanish and Japanese. An instrument may override
them, or give them for other languages, in ``ui``, keyed by language and then by a name in
`UI_KEYS`, e.g. ``ui: {it: {next: Avanti, back: Indietro}}``; a text neither gives is shown in
English (``language_name``, the language's own
name in the language switch, defaults to pvm's list of names, else the code). ``{page}``,
``{pages}``, ``{min}``, ``{max}`` in a text are filled in by the page (see
app/templates/survey/strings.yaml for every key and its English text).
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=40)]
Lang = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=20)]
Texts = dict[str, str]
ItemType = Literal["scale", "nps", "single", "multiple", "text"]
NUMERIC_TYPES = ("scale", "nps")
CHOICE_TYPES = ("single", "multiple")
MAX_POINTS = 11
MAX_OPTIONS = 30  # multiple-choice answers are stored as a bit mask

# Interface texts of the questionnaire an instrument may give per language (`InstrumentSpec.ui`);
# the defaults for zh and en are app/templates/survey/strings.yaml.
UI_KEYS = frozenset(
    {
        "language_name", "default_title", "language", "branch", "choose", "token", "about_you",
        "optional", "choose_any", "text_hint", "submit", "next", "back", "progress", "fix_errors",
        "honeypot", "expired", "thanks_heading", "thanks_body", "notfound_heading",
        "notfound_body", "branch_notfound_heading", "branch_notfound_body", "closed_heading",
        "poster_invite", "notyet_heading", "notyet_body", "full_heading", "full_body",
        "invite_subject", "invite_body", "remind_subject", "remind_body",
        "closed_body", "privacy_heading", "privacy_stored", "privacy_anonymous", "privacy_none",
        "err_required", "err_required_no_na", "err_range", "err_option", "err_too_long",
        "err_fill_in", "err_invalid", "err_branch", "err_token_missing", "err_token_unknown",
        "err_token_branch", "err_token_used", "err_already_submitted",
    }
)  # fmt: skip

_MODEL_OPS = ("=~", "<~", "~~", ":=", "~", "<", ">", "==")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScaleSpec(_Frozen):
    """A rating scale: integers ``min..max``; ``labels`` per language, one per point or the two
    ends only."""

    min: int = 1
    max: int = 7
    labels: dict[str, list[str]]
    na_label: Texts = Field(default_factory=dict)

    @property
    def values(self) -> list[int]:
        return list(range(self.min, self.max + 1))

    @property
    def points(self) -> int:
        return self.max - self.min + 1

    def point_labels(self, lang: str) -> list[str]:
        """One label per point: the ends-only form leaves the inner points unlabelled ("")."""
        labels = self.labels.get(lang, [])
        if len(labels) == 2 and self.points > 2:
            return [labels[0], *[""] * (self.points - 2), labels[1]]
        return list(labels)


class ConstructSpec(_Frozen):
    code: Code
    name: Texts
    # Filled from the items' `construct` fields when the document leaves it out.
    items: list[str] = Field(default_factory=list)


class Option(_Frozen):
    code: Code
    label: Texts


# `construct` is the agreed field name; it shadows pydantic's deprecated `BaseModel.construct`.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*shadows an attribute.*")

    class ItemSpec(_Frozen):
        code: Code
        type: ItemType = "scale"
        construct: str | None = None  # type: ignore[assignment]
        text: Texts
        # Name of a scale in `scales` (scale/nps items); the instrument's `scale` when omitted.
        scale: str | None = None
        allow_na: bool = False
        # None: required unless the item allows N/A (scale, nps, single); never for text and
        # multiple choice (choosing nothing is an answer).
        required: bool | None = None
        options: list[Option] = Field(default_factory=list)
        max_length: int = Field(default=1000, ge=1, le=10000)
        section: str | None = None

        @property
        def is_numeric(self) -> bool:
            return self.type in NUMERIC_TYPES

        @property
        def is_required(self) -> bool:
            if self.required is not None:
                return self.required
            return self.type in ("scale", "nps", "single") and not self.allow_na

        @property
        def option_codes(self) -> list[str]:
            return [o.code for o in self.options]


class SectionSpec(_Frozen):
    """A block of items; with ``paged: true`` each section is one page of the questionnaire.
    ``title`` (optional) is shown to respondents as the section heading."""

    code: Code
    title: Texts = Field(default_factory=dict)
    intro: Texts = Field(default_factory=dict)
    # Filled from the items' `section` fields when the document leaves it out.
    items: list[str] = Field(default_factory=list)


class AttributeSpec(_Frozen):
    """A respondent attribute: ``choice`` (labelled options, asked on the form when ``ask``) or
    ``code`` (a free code, e.g. a CRM segment, set by imports and the API only)."""

    code: Code
    label: Texts
    type: Literal["choice", "code"] = "choice"
    options: list[Option] = Field(default_factory=list)
    required: bool = False
    ask: bool = True
    max_length: int = Field(default=64, ge=1, le=200)

    @property
    def codes(self) -> list[str]:
        return [o.code for o in self.options]


class GapSpec(_Frozen):
    """A gap score: ``perception`` minus ``expectation`` (two constructs on one scale)."""

    code: Code
    name: Texts
    perception: str
    expectation: str


class InstrumentSpec(_Frozen):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
    version: int = Field(ge=1)
    languages: list[Lang] = Field(default_factory=lambda: ["zh", "en"], min_length=1)
    title: Texts
    intro: Texts = Field(default_factory=dict)
    source: Texts = Field(default_factory=dict)
    scale: ScaleSpec | None = None
    scales: dict[str, ScaleSpec] = Field(default_factory=dict)
    sections: list[SectionSpec] = Field(default_factory=list)
    paged: bool = False
    constructs: list[ConstructSpec] = Field(min_length=1)
    items: list[ItemSpec] = Field(min_length=1)
    attributes: list[AttributeSpec] = Field(default_factory=list)
    gaps: list[GapSpec] = Field(default_factory=list)
    # Default outcome construct of the driver analysis (e.g. PV).
    outcome: str | None = None
    default_model: str
    # Interface texts per language ({lang: {key in UI_KEYS: text}}), for languages pvm lacks.
    ui: dict[str, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _fill_members(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        items = data.get("items")
        if not isinstance(items, list):
            return data
        out = dict(data)
        for field, key in (("constructs", "construct"), ("sections", "section")):
            groups = data.get(field)
            if not isinstance(groups, list):
                continue
            filled = []
            for g in groups:
                if isinstance(g, dict) and not g.get("items"):
                    members = [
                        i.get("code")
                        for i in items
                        if isinstance(i, dict) and i.get(key) == g.get("code")
                    ]
                    g = {**g, "items": members}
                filled.append(g)
            out[field] = filled
        return out

    @model_validator(mode="after")
    def _check(self) -> InstrumentSpec:
        errors = [
            *_duplicate_errors(self),
            *_reference_errors(self),
            *_scale_errors(self),
            *_translation_errors(self),
            *_ui_errors(self),
            *_model_errors(self),
        ]
        if errors:
            raise ValueError("; ".join(errors))
        return self

    # ---- derived views -------------------------------------------------------------------
    @property
    def item_codes(self) -> list[str]:
        """Every item, in questionnaire order."""
        return [i.code for i in self.items]

    @property
    def answer_codes(self) -> list[str]:
        """Items stored in a response's ``answers`` array (all but open text), in order."""
        return [i.code for i in self.items if i.type != "text"]

    @property
    def numeric_codes(self) -> list[str]:
        """Items whose answers are numbers on a scale (scale and nps): the statistics' input."""
        return [i.code for i in self.items if i.is_numeric]

    @property
    def text_codes(self) -> list[str]:
        return [i.code for i in self.items if i.type == "text"]

    @property
    def construct_items(self) -> dict[str, list[str]]:
        return {c.code: list(c.items) for c in self.constructs}

    @property
    def construct_codes(self) -> list[str]:
        return [c.code for c in self.constructs]

    @property
    def items_by_code(self) -> dict[str, ItemSpec]:
        return {i.code: i for i in self.items}

    @property
    def na_items(self) -> list[str]:
        return [i.code for i in self.items if i.allow_na]

    @property
    def attribute_codes(self) -> list[str]:
        return [a.code for a in self.attributes]

    @property
    def attribute_values(self) -> dict[str, list[str]]:
        """Allowed codes per choice attribute, e.g. {"tenure": ["first_time", ...]}."""
        return {a.code: a.codes for a in self.attributes if a.type == "choice"}

    def attribute(self, code: str) -> AttributeSpec:
        for a in self.attributes:
            if a.code == code:
                return a
        raise KeyError(code)

    def item_scale(self, item: ItemSpec | str) -> ScaleSpec:
        """The scale of a scale/nps item."""
        spec = self.items_by_code[item] if isinstance(item, str) else item
        if spec.scale is not None:
            return self.scales[spec.scale]
        if spec.type == "nps" and "nps" in self.scales:
            return self.scales["nps"]
        if self.scale is None:
            raise KeyError(f"item {spec.code} has no scale")
        return self.scale

    def construct_scale(self, construct: str) -> ScaleSpec:
        """The scale shared by a construct's items (the validator checks they share one)."""
        return self.item_scale(self.construct_items[construct][0])

    def construct_name(self, construct: str, lang: str) -> str:
        for c in self.constructs:
            if c.code == construct:
                return c.name.get(lang) or c.name.get(self.languages[0]) or c.code
        return construct

    @property
    def default_outcome(self) -> str:
        """The declared outcome, else the construct the most paths lead to in the model."""
        if self.outcome:
            return self.outcome
        return _model_outcome(self)

    def canonical_json(self) -> str:
        """The document as sorted, compact JSON: the input of `content_hash`."""
        return json.dumps(
            self.model_dump(mode="json", exclude_defaults=True),
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @cached_property
    def content_hash(self) -> str:
        """sha256 of `canonical_json()`: the identity of this instrument version's content."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def _dupes(codes: list[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for c in codes:
        if c in seen and c not in out:
            out.append(c)
        seen.add(c)
    return out


def _dupe_positions(codes: list[str]) -> list[tuple[int, str]]:
    seen: set[str] = set()
    out = []
    for i, c in enumerate(codes):
        if c in seen:
            out.append((i, c))
        seen.add(c)
    return out


def _duplicate_errors(spec: InstrumentSpec) -> list[str]:
    errors = [
        f"items[{i}].code: duplicate item code {c!r}" for i, c in _dupe_positions(spec.item_codes)
    ]
    errors += [
        f"constructs[{i}].code: duplicate construct code {c!r}"
        for i, c in _dupe_positions(spec.construct_codes)
    ]
    errors += [
        f"sections[{i}].code: duplicate section {c!r}"
        for i, c in _dupe_positions([s.code for s in spec.sections])
    ]
    errors += [
        f"attributes[{i}].code: duplicate attribute {c!r}"
        for i, c in _dupe_positions(spec.attribute_codes)
    ]
    for k, a in enumerate(spec.attributes):
        errors += [
            f"attributes[{k}].options[{i}].code: duplicate option {c!r} in attribute {a.code!r}"
            for i, c in _dupe_positions(a.codes)
        ]
    for k, item in enumerate(spec.items):
        errors += [
            f"items[{k}].options[{i}].code: duplicate option {c!r} in item {item.code!r}"
            for i, c in _dupe_positions(item.option_codes)
        ]
    reserved = {"id", "submitted_at", "branch", "lang", "channel"}
    categories = [
        set(spec.item_codes),
        set(spec.construct_codes),
        set(spec.attribute_codes),
        {g.code for g in spec.gaps},
    ]
    clash = {c for k, a in enumerate(categories) for b in categories[k + 1 :] for c in a & b}
    errors += [
        f"code {c!r} names two things (item, construct, attribute or gap)" for c in sorted(clash)
    ]
    used = set().union(*categories)
    errors += [f"code {c!r} is reserved for a data column" for c in sorted(used & reserved)]
    return errors


def _reference_errors(spec: InstrumentSpec) -> list[str]:
    constructs = {c.code for c in spec.constructs}
    items = {i.code: i for i in spec.items}
    errors = _item_errors(spec)
    errors += _construct_item_errors(spec, items)
    errors += _section_errors(spec, items)
    for k, a in enumerate(spec.attributes):
        if a.type == "choice" and len(a.options) < 1:
            errors.append(f"attributes[{k}].options: a choice attribute needs options")
        if a.type == "code" and a.options:
            errors.append(f"attributes[{k}].options: a code attribute has no options")
    for k, g in enumerate(spec.gaps):
        for side in ("perception", "expectation"):
            if getattr(g, side) not in constructs:
                errors.append(f"gaps[{k}].{side}: {getattr(g, side)!r} is not a construct")
    if spec.outcome is not None and spec.outcome not in constructs:
        errors.append(f"outcome: {spec.outcome} is not a construct")
    return errors


def _item_errors(spec: InstrumentSpec) -> list[str]:
    """Each item's construct and section exist, and its options, N/A and scale suit its type."""
    constructs = {c.code for c in spec.constructs}
    sections = {s.code for s in spec.sections}
    errors: list[str] = []
    for k, i in enumerate(spec.items):
        at = f"items[{k}]"
        if i.construct is not None and i.construct not in constructs:
            errors.append(
                f"{at}.construct: item {i.code!r} refers to unknown construct {i.construct!r}"
            )
        if i.construct is not None and not i.is_numeric:
            errors.append(f"{at}.construct: a {i.type} item cannot measure a construct")
        if i.section is not None and i.section not in sections:
            errors.append(f"{at}.section: unknown section {i.section!r}")
        if i.type in CHOICE_TYPES:
            if len(i.options) < 2:
                errors.append(f"{at}.options: a {i.type} item needs at least 2 options")
            if len(i.options) > MAX_OPTIONS:
                errors.append(f"{at}.options: at most {MAX_OPTIONS} options")
        elif i.options:
            errors.append(f"{at}.options: only single and multiple items have options")
        if i.type == "text" and i.allow_na:
            errors.append(f"{at}.allow_na: a text item has no N/A option")
        if i.scale is not None and not i.is_numeric:
            errors.append(f"{at}.scale: only scale and nps items have a scale")
    return errors


def _construct_item_errors(spec: InstrumentSpec, items: Mapping[str, ItemSpec]) -> list[str]:
    """Each construct lists items, known ones, that name it as their construct."""
    errors: list[str] = []
    for k, c in enumerate(spec.constructs):
        if not c.items:
            errors.append(f"constructs[{k}].items: construct {c.code!r} has no items")
        for code in c.items:
            if code not in items:
                errors.append(
                    f"constructs[{k}].items: construct {c.code!r} lists unknown item {code!r}"
                )
            elif items[code].construct != c.code:
                errors.append(
                    f"constructs[{k}].items: construct {c.code!r} lists item {code!r} "
                    "of another construct"
                )
    return errors


def _section_errors(spec: InstrumentSpec, items: Mapping[str, ItemSpec]) -> list[str]:
    """Sections list known items of their own; with sections every item is in exactly one;
    a paged questionnaire has sections."""
    errors: list[str] = []
    for k, s in enumerate(spec.sections):
        for code in s.items:
            if code not in items:
                errors.append(f"sections[{k}].items: unknown item {code!r}")
            elif items[code].section not in (None, s.code):
                errors.append(f"sections[{k}].items: item {code!r} belongs to another section")
    if spec.sections:
        placed = [code for s in spec.sections for code in s.items]
        errors += [f"sections: item {c!r} is in two sections" for c in _dupes(placed)]
        errors += [
            f"sections: item {c!r} is in no section" for c in spec.item_codes if c not in placed
        ]
    elif spec.paged:
        errors.append("paged: a paged questionnaire needs sections")
    return errors


def _scale_errors(spec: InstrumentSpec) -> list[str]:
    errors: list[str] = []
    named = [("scale", spec.scale)] if spec.scale is not None else []
    named += [(f"scales.{name}", s) for name, s in spec.scales.items()]
    for at, s in named:
        if s.max <= s.min:
            errors.append(f"{at}.max: must be greater than min")
        elif s.points > MAX_POINTS:
            errors.append(f"{at}: at most {MAX_POINTS} points, got {s.points}")
    for k, i in enumerate(spec.items):
        if not i.is_numeric:
            continue
        if i.scale is not None and i.scale not in spec.scales:
            errors.append(f"items[{k}].scale: unknown scale {i.scale!r}")
            continue
        try:
            s = spec.item_scale(i)
        except KeyError:
            errors.append(f"items[{k}].scale: item {i.code!r} needs a scale (no default `scale`)")
            continue
        if i.type == "nps" and (s.min, s.max) != (0, 10):
            errors.append(f"items[{k}].scale: an nps item needs a 0-10 scale")
    for k, c in enumerate(spec.constructs):
        try:
            scales = {spec.item_scale(code).model_dump_json() for code in c.items}
        except KeyError:
            continue
        if len(scales) > 1:
            errors.append(f"constructs[{k}]: the items of {c.code!r} must share one scale")
    for k, g in enumerate(spec.gaps):
        try:
            p, e = spec.construct_scale(g.perception), spec.construct_scale(g.expectation)
        except (KeyError, IndexError):
            continue
        if (p.min, p.max) != (e.min, e.max):
            errors.append(f"gaps[{k}]: perception and expectation need the same scale")
    return errors


def _translation_errors(spec: InstrumentSpec) -> list[str]:
    langs = spec.languages
    errors: list[str] = []
    errors += [f"languages: duplicate language {lang!r}" for lang in _dupes(list(langs))]
    errors += _text_errors(langs, "title", spec.title, "title")
    if spec.intro:
        errors += _text_errors(langs, "intro", spec.intro, "intro")
    if spec.source:
        errors += _text_errors(langs, "source", spec.source, "source")
    errors += _scale_label_errors(spec)
    na_paths: set[str] = set()
    for i in spec.items:
        if i.allow_na and (i.is_numeric or i.type == "single"):
            path, texts = _na_texts(spec, i)
            if path not in na_paths:
                na_paths.add(path)
                errors += _text_errors(langs, path, texts, path.replace(".na_label", " na_label"))
    for k, c in enumerate(spec.constructs):
        errors += _text_errors(langs, f"constructs[{k}].name", c.name, f"construct {c.code}")
    for k, sec in enumerate(spec.sections):
        if sec.title:
            errors += _text_errors(langs, f"sections[{k}].title", sec.title, f"section {sec.code}")
        if sec.intro:
            errors += _text_errors(
                langs, f"sections[{k}].intro", sec.intro, f"section {sec.code} intro"
            )
    for k, i in enumerate(spec.items):
        errors += _text_errors(langs, f"items[{k}].text", i.text, f"item {i.code}")
        for j, o in enumerate(i.options):
            errors += _text_errors(
                langs, f"items[{k}].options[{j}].label", o.label, f"item {i.code} option {o.code}"
            )
    for k, a in enumerate(spec.attributes):
        errors += _text_errors(langs, f"attributes[{k}].label", a.label, f"attribute {a.code}")
        for j, o in enumerate(a.options):
            errors += _text_errors(
                langs,
                f"attributes[{k}].options[{j}].label",
                o.label,
                f"attribute {a.code} option {o.code}",
            )
    for k, g in enumerate(spec.gaps):
        errors += _text_errors(langs, f"gaps[{k}].name", g.name, f"gap {g.code}")
    return errors


def _text_errors(langs: Sequence[str], where: str, texts: Texts, what: str) -> list[str]:
    """A text in every declared language (not blank), and in no other."""
    errors: list[str] = []
    for lang in langs:
        if not (texts.get(lang) or "").strip():
            errors.append(f"{where}.{lang}: missing translation {lang!r} for {what}")
    for lang in texts:
        if lang not in langs:
            errors.append(f"{where}.{lang}: {what} has a text in undeclared language {lang!r}")
    return errors


def _scale_label_errors(spec: InstrumentSpec) -> list[str]:
    """The labels of the default and the named scales: in every declared language (no other),
    one per point or just the two ends, none blank."""
    langs = spec.languages
    errors: list[str] = []
    named = [("scale", spec.scale)] if spec.scale is not None else []
    named += [(f"scales.{name}", s) for name, s in spec.scales.items()]
    for at, s in named:
        label = "scale labels" if at == "scale" else f"{at} labels"
        for lang in langs:
            labels = s.labels.get(lang)
            if labels is None:
                errors.append(f"{at}.labels.{lang}: missing translation {lang!r} for {label}")
            elif len(labels) not in (s.points, 2) or any(not str(x).strip() for x in labels):
                errors.append(
                    f"{at}.labels.{lang}: {label} {lang!r} need {s.points} entries "
                    f"(or 2 for the ends), got {len(labels)}"
                )
        for lang in s.labels:
            if lang not in langs:
                errors.append(f"{at}.labels.{lang}: undeclared language {lang!r}")
    return errors


def _ui_errors(spec: InstrumentSpec) -> list[str]:
    errors = []
    for lang, texts in spec.ui.items():
        if lang not in spec.languages:
            errors.append(f"ui.{lang}: undeclared language {lang!r}")
        for key, text in texts.items():
            if key not in UI_KEYS:
                errors.append(f"ui.{lang}.{key}: unknown interface text {key!r}")
            elif not text.strip() or len(text) > 1000:
                errors.append(f"ui.{lang}.{key}: must be 1 to 1000 characters")
    return errors


def _scale_path(spec: InstrumentSpec, scale: ScaleSpec) -> str:
    if scale is spec.scale:
        return "scale"
    return next(f"scales.{n}" for n, s in spec.scales.items() if s is scale)


def _na_texts(spec: InstrumentSpec, item: ItemSpec) -> tuple[str, Texts]:
    """Where an item's "not applicable" label comes from: its own scale's ``na_label``, else
    the default scale's, else the first scale that has one."""
    own: ScaleSpec | None = None
    if item.is_numeric:
        try:
            own = spec.item_scale(item)
        except KeyError:
            own = None
    candidates = [s for s in (own, spec.scale, *spec.scales.values()) if s is not None]
    for s in candidates:
        if s.na_label:
            return f"{_scale_path(spec, s)}.na_label", s.na_label
    first = candidates[0] if candidates else None
    return (f"{_scale_path(spec, first)}.na_label" if first else "scale.na_label"), {}


def na_label(spec: InstrumentSpec, item: ItemSpec, lang: str) -> str:
    """The "not applicable" label shown beside an item, in ``lang``."""
    texts = _na_texts(spec, item)[1]
    return texts.get(lang) or texts.get(spec.languages[0]) or "N/A"


def _model_terms(side: str) -> list[str]:
    """Variable names on one side of a lavaan formula, modifiers (`a*`, `0.5*`) removed."""
    names = []
    for term in side.split("+"):
        term = term.strip()
        if "*" in term:
            term = term.rsplit("*", 1)[1].strip()
        if term and term not in {"1", "0"}:
            names.append(term)
    return names


def model_variables(syntax: str) -> tuple[dict[str, list[str]], set[str]]:
    """Measurement blocks ``{latent: indicators}`` and every other variable named in `syntax`."""
    latents: dict[str, list[str]] = {}
    others: set[str] = set()
    for raw in re.split(r"[\n;]", syntax):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        op = next((o for o in _MODEL_OPS if o in line), None)
        if op is None:
            raise ValueError(f"default_model: cannot read line {line!r}")
        if op in (":=", "<", ">", "=="):
            continue
        lhs, rhs = (s.strip() for s in line.split(op, 1))
        if op in ("=~", "<~"):
            latents.setdefault(lhs, []).extend(_model_terms(rhs))
        else:
            others.update(_model_terms(lhs))
            others.update(_model_terms(rhs))
    return latents, others


def model_paths(syntax: str) -> list[tuple[str, str]]:
    """``(outcome, predictor)`` for every regression (``~``) in `syntax`."""
    paths = []
    for raw in re.split(r"[\n;]", syntax):
        line = raw.split("#", 1)[0].strip()
        op = next((o for o in _MODEL_OPS if o in line), None)
        if op != "~":
            continue
        lhs, rhs = (s.strip() for s in line.split("~", 1))
        paths += [(y, x) for y in _model_terms(lhs) for x in _model_terms(rhs)]
    return paths


def _model_outcome(spec: InstrumentSpec) -> str:
    counts: dict[str, int] = {}
    for y, _ in model_paths(spec.default_model):
        if y in spec.construct_items:
            counts[y] = counts.get(y, 0) + 1
    if counts:
        return max(counts, key=lambda c: (counts[c], -spec.construct_codes.index(c)))
    return spec.construct_codes[-1]


def _model_errors(spec: InstrumentSpec) -> list[str]:
    try:
        latents, others = model_variables(spec.default_model)
    except ValueError as exc:
        return [str(exc)]
    if not latents:
        return ["default_model: defines no latent variable (=~)"]
    items = {i.code: i for i in spec.items}
    errors = []
    for lat, inds in latents.items():
        for ind in inds:
            if ind not in items:
                errors.append(f"default_model: indicator {ind!r} of {lat!r} is not an item")
            elif not items[ind].is_numeric:
                errors.append(f"default_model: indicator {ind!r} of {lat!r} is not a numeric item")
    errors += [
        f"default_model: refers to unknown variable {name!r}"
        for name in sorted(others)
        if name not in items and name not in latents
    ]
    return errors
