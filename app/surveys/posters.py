"""Branch QR codes and printable posters: the questionnaire's URL for one branch as a QR code
(SVG or PNG, by segno) and an A4 PDF poster (by fpdf2) with the survey's title, an invitation
sentence, the code, the URL under it and the branch's name, in one language.

The poster's text is drawn with a TrueType font that covers Chinese and Japanese: the file named
by ``PVM_POSTER_FONT`` (a .ttf, .otf or .ttc), else the first of :data:`FONT_CANDIDATES` present
on the machine (Debian/Ubuntu packages ``fonts-wqy-microhei``, ``fonts-noto-cjk``,
``fonts-droid-fallback``). With none of them, a poster whose text is all Latin-1 is drawn in
Helvetica and any other poster is refused with a message that says which setting to give.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import segno
from fpdf import FPDF

from app.errors import Conflict, InvalidInput
from app.instruments.spec import InstrumentSpec
from app.surveys.models import Branch, Survey
from app.surveys.questionnaire import survey_title, ui_strings
from app.surveys.specs import survey_spec

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
QR_ERROR = "m"  # error correction level M: survives ~15% damage of a printed code


def questionnaire_url(base_url: str, slug: str, branch: str) -> str:
    """The URL a branch's code opens: ``{base}/s/{slug}?branch={code}``."""
    return f"{base_url.rstrip('/')}/s/{slug}?{urlencode({'branch': branch})}"


def _qr(url: str) -> segno.QRCode:
    return segno.make(url, error=QR_ERROR, micro=False)


def qr_svg(url: str, *, scale: int = 8) -> bytes:
    out = io.BytesIO()
    _qr(url).save(out, kind="svg", scale=scale, border=4, xmldecl=True)
    return out.getvalue()


def qr_png(url: str, *, scale: int = 8) -> bytes:
    out = io.BytesIO()
    _qr(url).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


@dataclass(frozen=True)
class PosterText:
    """What a poster says, already in its language."""

    title: str
    invitation: str
    branch_name: str
    url: str


def poster_font(setting: str | None) -> Path | None:
    """The font file the poster's text is drawn with (module docstring), or None."""
    if setting:
        path = Path(setting)
        if not path.is_file():
            raise Conflict(f"PVM_POSTER_FONT names no file: {setting}")
        return path
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def _latin1(text: PosterText) -> bool:
    try:
        "".join((text.title, text.invitation, text.branch_name, text.url)).encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def poster_pdf(text: PosterText, *, font: Path | None) -> bytes:
    """An A4 portrait poster: title, invitation, QR code (12 cm, drawn as vector squares so it
    prints sharp), the URL under it, the branch's name."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_title(text.title)
    pdf.set_creator("pvm")
    pdf.add_page()
    if font is not None:
        pdf.add_font("poster", fname=str(font))
        family = "poster"
    elif _latin1(text):
        family = "helvetica"
    else:
        raise Conflict(
            "the poster needs a font with Chinese/Japanese characters: install fonts-wqy-microhei "
            "or fonts-noto-cjk, or set PVM_POSTER_FONT to a .ttf/.ttc file"
        )
    width = pdf.w - 2 * pdf.l_margin

    pdf.set_y(25)
    pdf.set_font(family, size=28)
    pdf.multi_cell(width, 13, text.title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font(family, size=17)
    pdf.multi_cell(width, 9, text.invitation, align="C", new_x="LMARGIN", new_y="NEXT")

    matrix = _qr(text.url).matrix
    border = 4
    side = 120.0
    module = side / (len(matrix) + 2 * border)
    left = (pdf.w - side) / 2
    top = max(pdf.get_y() + 8, 90.0)
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                x = left + (c + border) * module
                y = top + (r + border) * module
                pdf.rect(x, y, module, module, style="F")

    pdf.set_y(top + side + 2)
    pdf.set_font(family, size=12)
    pdf.multi_cell(width, 6, text.url, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font(family, size=22)
    pdf.multi_cell(width, 11, text.branch_name, align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def poster_lang(spec: InstrumentSpec, lang: str | None) -> str:
    """``lang`` if the instrument declares it (else 422 naming ``lang``); None: its first."""
    if lang is None or lang == "":
        return spec.languages[0]
    if lang not in spec.languages:
        known = ", ".join(spec.languages)
        msg = f"the instrument has no language {lang!r} (it has {known})"
        raise InvalidInput([{"loc": ["query", "lang"], "msg": msg, "type": "value_error"}])
    return lang


def poster_text(survey: Survey, branch: Branch, lang: str, url: str) -> PosterText:
    spec = survey_spec(survey)
    return PosterText(
        title=survey_title(survey.title, spec, lang),
        invitation=ui_strings(lang, spec)["poster_invite"],
        branch_name=branch.name_in(lang),
        url=url,
    )
