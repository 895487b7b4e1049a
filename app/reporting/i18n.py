"""The operators' pages in the reader's language: which language, its texts, its numbers, and
every name a reader sees (constructs, attributes and their options, branches, months).

The texts live in one catalogue, app/templates/reporting/strings.yaml (zh and en). A page's
language is ``?lang=`` when given (and then remembered in the ``pvm_lang`` cookie), else that
cookie, else the best match of the browser's Accept-Language, else the instrument's first language
that the catalogue covers (en when it covers none of them; zh without an instrument).
Construct and option names come from the instrument (:meth:`InstrumentSpec.construct_name`,
the attribute's option labels), branch names from :meth:`app.surveys.models.Branch.name_in`;
codes are kept for legends, tooltips and the machine columns of downloads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from app.instruments.spec import InstrumentSpec
from app.reporting.disclosure import OTHER, UNSPECIFIED
from app.surveys.questionnaire import choose_lang, fill

STRINGS_PATH = Path(__file__).resolve().parents[1] / "templates" / "reporting" / "strings.yaml"
LANGS = ("zh", "en")
COOKIE = "pvm_lang"


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, Any]]:
    """Every language's texts, as in strings.yaml."""
    return dict(yaml.safe_load(STRINGS_PATH.read_text(encoding="utf-8")))


def page_lang(
    *,
    requested: str | None,
    cookie: str | None,
    accept_language: str | None,
    preferred: Sequence[str] = (),
) -> str:
    """The language of an operators' page (see the module docstring). ``preferred``: the
    instrument's languages, whose first covered one is the default."""
    offered = [lang for lang in preferred if lang in LANGS]
    if preferred and not offered:  # an instrument in other languages only: English first
        offered = ["en"]
    offered += [lang for lang in LANGS if lang not in offered]
    if requested in LANGS:
        return str(requested)
    if cookie in LANGS:
        return str(cookie)
    return choose_lang(offered, None, accept_language)


def html_lang(lang: str) -> str:
    return "zh-CN" if lang == "zh" else lang


@dataclass(frozen=True)
class Texts:
    """The texts and number formats of one language: ``t("key", n=3)``."""

    lang: str
    strings: Mapping[str, Any] = field(repr=False)

    def __call__(self, key: str, **values: object) -> str:
        return fill(str(self.strings[key]), **values)

    def num(self, x: float | None, digits: int = 1, *, sign: bool = False) -> str:
        """A number in this language's format (thousands and decimal marks); '' for None."""
        if x is None or not math.isfinite(x):
            return ""
        text = f"{x:+,.{digits}f}" if sign else f"{x:,.{digits}f}"
        if sign:
            text = text.replace("-", "−")
        marks = {",": self.strings["thousands"], ".": self.strings["decimal"]}
        return "".join(marks.get(ch, ch) for ch in text)

    def count(self, n: int) -> str:
        return self.num(float(n), 0)

    def pct(self, share: float) -> str:
        return f"{self.num(share * 100, 0)}%"

    def join(self, parts: Iterable[str]) -> str:
        return str(self.strings["list_sep"]).join(parts)

    def month(self, period: str, *, short: bool = False) -> str:
        """``YYYY-MM`` as this language writes a month ('Mar 2026', '2026年3月'; 'Mar', '3月')."""
        try:
            year, month = (int(p) for p in period.split("-", 1))
            name = self.strings["months"][month - 1]
        except (ValueError, IndexError):
            return period
        return str(name) if short else self("month_long", year=year, month=name)

    def year(self, period: str) -> str:
        return self("year", year=period.split("-", 1)[0])


def texts(lang: str) -> Texts:
    strings = catalogue()
    return Texts(lang, strings[lang] if lang in strings else strings["en"])


@dataclass(frozen=True)
class Labels:
    """Names in the reader's language of everything a table or chart shows."""

    t: Texts
    spec: InstrumentSpec | None = None
    branches: Mapping[str, str] = field(default_factory=dict)  # code -> name in t.lang

    def construct(self, code: str) -> str:
        if self.spec is None or code not in self.spec.construct_codes:
            return code
        return self.spec.construct_name(code, self._spec_lang())

    def attribute(self, code: str) -> str:
        if self.spec is None or code not in self.spec.attribute_codes:
            return code
        label = self.spec.attribute(code).label
        return label.get(self._spec_lang()) or next(iter(label.values()), code)

    def rows(self, by: str) -> str:
        """What the rows of a table ``by`` are called: 'Branches', 'Months' or the attribute."""
        if by in ("branch", "month"):
            return self.t(f"rows_{by}")
        return self.attribute(by)

    def group(self, by: str, value: str) -> str:
        """One row of a table ``by``: a branch's name, a month, an option's label."""
        if by == "branch":
            return self.branches.get(value, value)
        if by == "month":
            return self.t.month(value)
        if value == OTHER:
            return self.t("other")
        if value == UNSPECIFIED:
            return self.t("unspecified")
        if self.spec is not None and by in self.spec.attribute_codes:
            for option in self.spec.attribute(by).options:
                if option.code == value:
                    return option.label.get(self._spec_lang()) or value
        return value

    def quadrant(self, code: str | None) -> str:
        return self.t(f"quadrant_{code}") if code else ""

    def _spec_lang(self) -> str:
        assert self.spec is not None
        langs = self.spec.languages
        if self.t.lang in langs:
            return self.t.lang
        primary = self.t.lang.split("-")[0]
        return next((code for code in langs if code.split("-")[0] == primary), langs[0])


def plain_labels(lang: str = "en") -> Labels:
    """Labels without an instrument or branch names (codes stand for themselves)."""
    return Labels(texts(lang))
