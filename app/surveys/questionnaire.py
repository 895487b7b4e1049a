"""What the respondent pages show, computed from an instrument (no web framework here).

The language of a page, the interface texts in it, the questionnaire's pages (an instrument's
sections, one page each when it is ``paged``), each question as the template draws it, the
respondent-facing wording of a validation message, and the posted fields read back as answers
(the contract with the service: a number or option code as a string, None for "not applicable",
a list of option codes for multiple choice, the text as typed; unanswered items left out).
:mod:`app.surveys.views` renders these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from app.instruments.spec import InstrumentSpec, ItemSpec, na_label

STRINGS_PATH = Path(__file__).resolve().parents[1] / "templates" / "survey" / "strings.yaml"
UI_LANGS = ("zh", "en")  # the languages of pages without a survey; zh is the default
FALLBACK = "en"

# Each language by its own name, for the language switch. An instrument in a language missing
# here shows the code, unless its `ui` gives `language_name`.
LANGUAGE_NAMES = {
    "ar": "العربية", "bn": "বাংলা", "cs": "Čeština", "da": "Dansk", "de": "Deutsch",
    "el": "Ελληνικά", "en": "English", "es": "Español", "fa": "فارسی", "fi": "Suomi",
    "fr": "Français", "he": "עברית", "hi": "हिन्दी", "hu": "Magyar", "id": "Bahasa Indonesia",
    "it": "Italiano", "ja": "日本語", "ko": "한국어", "ms": "Bahasa Melayu", "nl": "Nederlands",
    "no": "Norsk", "pl": "Polski", "pt": "Português", "ro": "Română", "ru": "Русский",
    "sv": "Svenska", "th": "ไทย", "tr": "Türkçe", "uk": "Українська", "vi": "Tiếng Việt",
    "zh": "中文", "zh-CN": "简体中文", "zh-TW": "繁體中文", "zh-HK": "繁體中文（香港）",
}  # fmt: skip
_TAG_RE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$|^\*$")


# ---- languages -------------------------------------------------------------------------------
def accepted_languages(header: str | None) -> list[str]:
    """The tags of an Accept-Language header, most wanted first (q=0 and malformed left out)."""
    weighted: list[tuple[float, int, str]] = []
    for n, part in enumerate((header or "")[:1000].split(",")):
        tag, _, params = part.strip().partition(";")
        tag, q = tag.strip(), 1.0
        m = re.fullmatch(r"\s*q\s*=\s*([01](\.\d{0,3})?)\s*", params) if params else None
        if params and m is None:
            continue
        if m is not None:
            q = float(m.group(1))
        if q > 0 and _TAG_RE.match(tag):
            weighted.append((-q, n, tag))
    return [tag for _, _, tag in sorted(weighted)]


def _match(offered: list[str], requested: str) -> str | None:
    """The offered language that serves ``requested``: the same tag, else the same language."""
    want = requested.lower()
    for lang in offered:
        if lang.lower() == want:
            return lang
    primary = want.split("-")[0]
    for lang in offered:
        if lang.lower().split("-")[0] == primary:
            return lang
    return None


def choose_lang(offered: list[str], requested: str | None, accept_language: str | None) -> str:
    """``requested`` if offered, else the best offered match of Accept-Language, else the first
    offered language."""
    if requested and requested in offered:
        return requested
    for tag in accepted_languages(accept_language):
        if tag == "*":
            return offered[0]
        found = _match(offered, tag)
        if found is not None:
            return found
    return offered[0]


def html_lang(code: str) -> str:
    return "zh-CN" if code == "zh" else code


def language_name(code: str, spec: InstrumentSpec | None = None) -> str:
    """A language by its own name: the instrument's ``ui`` or pvm's texts, else the list above,
    else the code."""
    given = spec.ui.get(code, {}).get("language_name") if spec is not None else None
    own = _builtin(code).get("language_name") if code in _strings() else None
    return (
        given or own or LANGUAGE_NAMES.get(code) or LANGUAGE_NAMES.get(code.split("-")[0]) or code
    )


# ---- interface texts -------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _strings() -> dict[str, Any]:
    return dict(yaml.safe_load(STRINGS_PATH.read_text(encoding="utf-8")))


def _builtin(lang: str) -> dict[str, str]:
    """pvm's own texts in ``lang`` (strings.yaml), or in its primary language (``de`` for
    ``de-CH``; not across Chinese scripts); empty when pvm has none."""
    strings = _strings()
    primary = lang.split("-")[0]
    if lang in strings and lang != "errors":
        return dict(strings[lang])
    if primary in strings and primary not in ("zh", "errors"):
        return dict(strings[primary])
    return {}


def ui_strings(lang: str, spec: InstrumentSpec | None = None) -> dict[str, str]:
    """Interface texts in ``lang``: pvm's own (zh, en, de, fr, es, ja), then the instrument's
    ``ui``; English for any text neither gives."""
    strings = _strings()
    texts = dict(strings[FALLBACK])
    texts.update(_builtin(lang))
    if spec is not None:
        texts.update(spec.ui.get(lang, {}))
    return texts


def survey_title(titles: Mapping[str, str], spec: InstrumentSpec, lang: str) -> str:
    """A survey's title in ``lang``: the survey's own titles, else the instrument's."""
    titles = titles or spec.title
    return titles.get(lang) or spec.title.get(lang) or next(iter(titles.values()), "")


def fill(text: str, **values: object) -> str:
    """``text`` with ``{name}`` placeholders replaced (unknown braces are left as they are)."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def error_text(msg: str, t: Mapping[str, str], item: ItemSpec | None, spec: InstrumentSpec) -> str:
    """The respondent-facing wording of a service message (English, for the API) about
    ``item`` (None: another field)."""
    key = next(
        (e["key"] for e in _strings()["errors"] if msg.startswith(e["match"])), "err_invalid"
    )
    if key == "err_range" and (item is None or not item.is_numeric):
        key = "err_invalid"
    values: dict[str, object] = {}
    if item is not None and item.is_numeric:
        scale = spec.item_scale(item)
        values = {"min": scale.min, "max": scale.max}
    elif item is not None and item.type == "text":
        values = {"max": item.max_length}
    return fill(t[key], **values)


# ---- posted fields -------------------------------------------------------------------------
Fields = dict[str, str | list[str]]  # a posted form: one value, or several (checkboxes)


def field_text(fields: Fields, key: str) -> str:
    value = fields.get(key, "")
    return value if isinstance(value, str) else value[-1]


def page_number(values: Fields, count: int) -> int:
    raw = field_text(values, "page")
    number = int(raw) - 1 if raw.isdigit() and len(raw) < 4 else 0
    return min(max(number, 0), count - 1)


def hidden_fields(values: Fields, names: list[str]) -> list[tuple[str, str]]:
    """(name, value) pairs that carry ``names``' answers through a page that does not show them."""
    out = []
    for name in names:
        value = values.get(name)
        for v in [value] if isinstance(value, str) else value or []:
            out.append((name, v))
    return out


def answers_from_form(spec: InstrumentSpec, values: Fields) -> dict[str, Any]:
    """Item answers as the API takes them: "na" (not applicable) as posted, the checked options
    of a multiple choice as a list, a number or option code or text as posted; unanswered items
    left out."""
    out: dict[str, Any] = {}
    for item in spec.items:
        value = values.get(item.code)
        if value is None:
            continue
        if item.type == "multiple":
            out[item.code] = [value] if isinstance(value, str) else value
        else:
            out[item.code] = value
    return out


# ---- pages and questions ---------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    """One item as the template draws it."""

    code: str
    type: str
    number: int
    text: str
    required: bool
    points: list[tuple[int, str]] = field(default_factory=list)  # (value, label or "")
    ends: tuple[str, str] = ("", "")
    ends_only: bool = False  # the scale labels only its two ends
    na: str = ""  # the "not applicable" label, when the item allows it
    options: list[tuple[str, str]] = field(default_factory=list)  # (code, label)
    max_length: int = 0

    @property
    def field(self) -> str:
        return f"answers.{self.code}"


@dataclass(frozen=True)
class Block:
    """A section of the questionnaire (title and intro only when the instrument gives them)."""

    code: str
    title: str
    intro: str
    questions: list[Question]


def question(spec: InstrumentSpec, item: ItemSpec, lang: str, number: int) -> Question:
    def text(texts: Mapping[str, str]) -> str:
        return texts.get(lang) or texts.get(spec.languages[0]) or ""

    common: dict[str, Any] = {
        "code": item.code,
        "type": item.type,
        "number": number,
        "text": text(item.text),
        "required": item.is_required,
        "na": na_label(spec, item, lang) if item.allow_na and item.type != "multiple" else "",
    }
    if item.is_numeric:
        scale = spec.item_scale(item)
        labels = scale.point_labels(lang) or scale.point_labels(spec.languages[0])
        labels = labels or [""] * scale.points
        return Question(
            **common,
            points=list(zip(scale.values, labels, strict=True)),
            ends=(labels[0], labels[-1]),
            ends_only=scale.points > 2 and not any(labels[1:-1]),
        )
    if item.type in ("single", "multiple"):
        return Question(**common, options=[(o.code, text(o.label)) for o in item.options])
    return Question(**common, max_length=item.max_length)


def pages(spec: InstrumentSpec, lang: str) -> list[list[Block]]:
    """The questionnaire's pages: one per section when ``paged``, else one page of every
    section (or of every item when there are no sections)."""
    items = spec.items_by_code
    groups = [(s.code, s.title, s.intro, s.items) for s in spec.sections] or [
        ("all", {}, {}, spec.item_codes)
    ]
    blocks: list[Block] = []
    number = 0
    for code, title, intro, members in groups:
        questions = []
        for item_code in members:
            number += 1
            questions.append(question(spec, items[item_code], lang, number))
        blocks.append(
            Block(
                code=code, title=title.get(lang, ""), intro=intro.get(lang, ""), questions=questions
            )
        )
    return [[b] for b in blocks] if spec.paged else [blocks]


def page_of_field(pages_: list[list[Block]], name: str) -> int | None:
    """The page (0-based) that shows field ``name`` (``answers.X``, ``branch``, ``token``,
    ``attributes.Y``); None when no page shows it."""
    if name in ("branch", "token"):
        return 0
    if name.startswith("attributes."):
        return len(pages_) - 1
    for n, page in enumerate(pages_):
        if any(q.field == name for b in page for q in b.questions):
            return n
    return None
