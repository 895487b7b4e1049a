"""Schema of an instrument file (instruments/<id>.yaml).

Structural checks that need the whole document (translations, cross references, the model
syntax) live in `InstrumentSpec`'s validator so that a spec object is always consistent.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=40)]
Texts = dict[str, str]

_MODEL_OPS = ("=~", "~~", ":=", "~", "<", ">", "==")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScaleSpec(_Frozen):
    min: int = 1
    max: int = 7
    labels: dict[str, list[str]]
    na_label: Texts = Field(default_factory=dict)

    @property
    def values(self) -> list[int]:
        return list(range(self.min, self.max + 1))


class ConstructSpec(_Frozen):
    code: Code
    name: Texts
    # Filled from the items' `construct` fields when the file leaves it out.
    items: list[str] = Field(default_factory=list)


# `construct` is the agreed field name; it shadows pydantic's deprecated `BaseModel.construct`.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*shadows an attribute.*")

    class ItemSpec(_Frozen):
        code: Code
        construct: str  # type: ignore[assignment]
        text: Texts
        allow_na: bool = False


class AttributeOption(_Frozen):
    code: Code
    label: Texts


class AttributeSpec(_Frozen):
    code: Code
    label: Texts
    options: list[AttributeOption]

    @property
    def codes(self) -> list[str]:
        return [o.code for o in self.options]


class InstrumentSpec(_Frozen):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
    version: int = Field(ge=1)
    languages: list[str] = Field(default_factory=lambda: ["zh", "en"], min_length=1)
    title: Texts
    intro: Texts = Field(default_factory=dict)
    scale: ScaleSpec
    constructs: list[ConstructSpec] = Field(min_length=1)
    items: list[ItemSpec] = Field(min_length=1)
    attributes: list[AttributeSpec] = Field(default_factory=list)
    default_model: str

    @model_validator(mode="before")
    @classmethod
    def _fill_construct_items(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        constructs, items = data.get("constructs"), data.get("items")
        if not isinstance(constructs, list) or not isinstance(items, list):
            return data
        filled = []
        for c in constructs:
            if isinstance(c, dict) and not c.get("items"):
                members = [
                    i.get("code")
                    for i in items
                    if isinstance(i, dict) and i.get("construct") == c.get("code")
                ]
                c = {**c, "items": members}
            filled.append(c)
        return {**data, "constructs": filled}

    @model_validator(mode="after")
    def _check(self) -> InstrumentSpec:
        errors = [
            *_duplicate_errors(self),
            *_reference_errors(self),
            *_translation_errors(self),
            *_model_errors(self),
        ]
        if errors:
            raise ValueError("; ".join(errors))
        return self

    # ---- derived views -------------------------------------------------------------------
    @property
    def item_codes(self) -> list[str]:
        return [i.code for i in self.items]

    @property
    def construct_items(self) -> dict[str, list[str]]:
        return {c.code: list(c.items) for c in self.constructs}

    @property
    def items_by_code(self) -> dict[str, ItemSpec]:
        return {i.code: i for i in self.items}

    @property
    def na_items(self) -> list[str]:
        return [i.code for i in self.items if i.allow_na]

    @property
    def attribute_values(self) -> dict[str, list[str]]:
        """Allowed codes per respondent attribute, e.g. {"tenure": ["first_time", ...]}."""
        return {a.code: a.codes for a in self.attributes}

    def attribute(self, code: str) -> AttributeSpec:
        for a in self.attributes:
            if a.code == code:
                return a
        raise KeyError(code)

    def canonical_json(self) -> str:
        """The document as sorted, compact JSON: the input of `content_hash`."""
        return json.dumps(
            self.model_dump(mode="json"),
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


def _duplicate_errors(spec: InstrumentSpec) -> list[str]:
    errors = [f"duplicate item code {c!r}" for c in _dupes(spec.item_codes)]
    errors += [f"duplicate construct code {c!r}" for c in _dupes([c.code for c in spec.constructs])]
    errors += [f"duplicate attribute {c!r}" for c in _dupes([a.code for a in spec.attributes])]
    for a in spec.attributes:
        errors += [f"duplicate option {c!r} in attribute {a.code!r}" for c in _dupes(a.codes)]
    clash = set(spec.item_codes) & {c.code for c in spec.constructs}
    errors += [f"code {c!r} is both an item and a construct" for c in sorted(clash)]
    return errors


def _reference_errors(spec: InstrumentSpec) -> list[str]:
    constructs = {c.code for c in spec.constructs}
    items = {i.code: i for i in spec.items}
    errors = [
        f"item {i.code!r} refers to unknown construct {i.construct!r}"
        for i in spec.items
        if i.construct not in constructs
    ]
    for c in spec.constructs:
        if not c.items:
            errors.append(f"construct {c.code!r} has no items")
        for code in c.items:
            if code not in items:
                errors.append(f"construct {c.code!r} lists unknown item {code!r}")
            elif items[code].construct != c.code:
                errors.append(f"construct {c.code!r} lists item {code!r} of another construct")
    if spec.scale.max <= spec.scale.min:
        errors.append("scale max must be greater than min")
    return errors


def _translation_errors(spec: InstrumentSpec) -> list[str]:
    langs = spec.languages
    n_points = spec.scale.max - spec.scale.min + 1
    errors: list[str] = []

    def need(where: str, texts: Texts) -> None:
        for lang in langs:
            if not (texts.get(lang) or "").strip():
                errors.append(f"missing translation {lang!r} for {where}")
        for lang in texts:
            if lang not in langs:
                errors.append(f"{where} has a text in undeclared language {lang!r}")

    need("title", spec.title)
    if spec.intro:
        need("intro", spec.intro)
    for lang in langs:
        labels = spec.scale.labels.get(lang)
        if labels is None:
            errors.append(f"missing translation {lang!r} for scale labels")
        elif len(labels) != n_points:
            errors.append(f"scale labels {lang!r} need {n_points} entries, got {len(labels)}")
    if spec.na_items:
        need("scale na_label", spec.scale.na_label)
    for c in spec.constructs:
        need(f"construct {c.code}", c.name)
    for i in spec.items:
        need(f"item {i.code}", i.text)
    for a in spec.attributes:
        need(f"attribute {a.code}", a.label)
        for o in a.options:
            need(f"attribute {a.code} option {o.code}", o.label)
    return errors


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
        if op == "=~":
            latents.setdefault(lhs, []).extend(_model_terms(rhs))
        else:
            others.update(_model_terms(lhs))
            others.update(_model_terms(rhs))
    return latents, others


def _model_errors(spec: InstrumentSpec) -> list[str]:
    try:
        latents, others = model_variables(spec.default_model)
    except ValueError as exc:
        return [str(exc)]
    if not latents:
        return ["default_model defines no latent variable (=~)"]
    items = set(spec.item_codes)
    errors = [
        f"default_model: indicator {ind!r} of {lat!r} is not an item"
        for lat, inds in latents.items()
        for ind in inds
        if ind not in items
    ]
    errors += [
        f"default_model refers to unknown variable {name!r}"
        for name in sorted(others)
        if name not in items and name not in latents
    ]
    return errors
