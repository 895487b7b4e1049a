"""Responses in the forms researchers open: SPSS ``.sav`` and Excel ``.xlsx`` with labels, and a
codebook (issue 14 item 3).

The ``.sav`` file holds one variable per meta column, attribute and item:

* scale / 0-10 items: the integer, value labels = the scale's point labels;
* single choice: the option's position (1, 2, ...), labelled with the option's label;
* multiple choice: one 0/1 variable per option, ``<code>_<position>`` ("chosen" / "not chosen");
* open text: a string (empty: not answered);
* choice attributes: the option's position with the option's label; free-code attributes:
  strings.

"Not applicable" and "not answered" are two user-missing codes, :data:`NA_CODE` and
:data:`NOT_ANSWERED_CODE`, declared missing in the file (SPSS, R's ``haven`` and pyreadstat
keep them apart). The codebook lists every variable with its label in each of the
instrument's languages, and every value with its ``.sav`` code and its cell in the CSV export
(where "not applicable" is ``NA`` and "not answered" an empty cell). SPSS caps a variable
label at 256 bytes and a value label at 120 (85 and 40 Chinese characters): longer texts are
cut in the .sav and kept whole in the codebook.

Files are written to a temporary path, which the caller streams and deletes.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyreadstat
from openpyxl import Workbook
from sqlalchemy.orm import Session

from app.errors import InvalidInput, field_error
from app.instruments.spec import InstrumentSpec, ItemSpec, na_label
from app.surveys import quality
from app.surveys.frames import frame_columns, iter_stored_frames, load_stored_frame
from app.surveys.models import Survey
from app.surveys.schemas import ResponseFilters
from app.surveys.specs import survey_spec
from app.surveys.validation import NA

NA_CODE = -98
NOT_ANSWERED_CODE = -99
NOT_ANSWERED = {"en": "Not answered", "zh": "未回答"}
NOT_CHOSEN = {"en": "Not chosen", "zh": "未选"}
CHOSEN = {"en": "Chosen", "zh": "已选"}
META_LABELS = {
    "id": {"en": "Response id", "zh": "答卷编号"},
    "submitted_at": {"en": "Submitted at (UTC)", "zh": "提交时间（UTC）"},
    "branch": {"en": "Branch", "zh": "网点"},
    "lang": {"en": "Questionnaire language", "zh": "问卷语言"},
}
CODEBOOK_HEADER = ["variable", "item", "type", "construct", "value", "csv_value"]


@dataclass(frozen=True)
class Variable:
    """One column of the labelled export: its name, labels per language and value labels
    (``values``: (sav code, csv cell, label per language))."""

    name: str
    item: str
    type: str
    construct: str
    labels: dict[str, str]
    values: list[tuple[int, str, dict[str, str]]]
    missing: list[int]


def label_lang(spec: InstrumentSpec, lang: str | None) -> str:
    """``lang`` if the instrument has it (422 naming ``lang`` otherwise), else its first."""
    if lang is None:
        return spec.languages[0]
    if lang not in spec.languages:
        known = ", ".join(spec.languages)
        raise InvalidInput([field_error("lang", msg=f"not a language of the instrument ({known})")])
    return lang


def _in(texts: dict[str, str], lang: str, spec: InstrumentSpec) -> str:
    return texts.get(lang) or texts.get(spec.languages[0]) or ""


def _fixed(texts: dict[str, str], lang: str) -> str:
    """pvm's own words (not the instrument's): the language's, else English."""
    return texts.get(lang) or texts["en"]


def _missing_values(spec: InstrumentSpec, item: ItemSpec) -> list[tuple[int, str, dict[str, str]]]:
    """The two user-missing codes of an item ("not applicable" only where it is allowed)."""
    out: list[tuple[int, str, dict[str, str]]] = []
    if item.allow_na:
        out.append((NA_CODE, "NA", {g: na_label(spec, item, g) for g in spec.languages}))
    out.append((NOT_ANSWERED_CODE, "", {g: _fixed(NOT_ANSWERED, g) for g in spec.languages}))
    return out


def variables(spec: InstrumentSpec) -> list[Variable]:
    """Every variable of the labelled export, in file order."""
    langs = spec.languages
    out = [
        Variable(c, "", "meta", "", {g: _fixed(META_LABELS[c], g) for g in langs}, [], [])
        for c in ("id", "submitted_at", "branch")
    ]
    for attribute in spec.attributes:
        values = [(k, o.code, dict(o.label)) for k, o in enumerate(attribute.options, start=1)]
        kind = "attribute" if attribute.type == "choice" else "attribute_code"
        out.append(Variable(attribute.code, "", kind, "", dict(attribute.label), values, []))
    out.append(
        Variable("lang", "", "meta", "", {g: _fixed(META_LABELS["lang"], g) for g in langs}, [], [])
    )
    for item in spec.items:
        construct = item.construct or ""
        missing = _missing_values(spec, item)
        codes = [code for code, _, _ in missing]
        if item.type in ("scale", "nps"):
            scale = spec.item_scale(item)
            points = {g: scale.point_labels(g) for g in langs}
            values = [
                (v, str(v), {g: points[g][k] for g in langs if k < len(points[g]) and points[g][k]})
                for k, v in enumerate(scale.values)
            ]
            values = [(v, c, t) for v, c, t in values if t]
            out.append(
                Variable(
                    item.code,
                    item.code,
                    item.type,
                    construct,
                    dict(item.text),
                    values + missing,
                    codes,
                )
            )
        elif item.type == "single":
            values = [(k, o.code, dict(o.label)) for k, o in enumerate(item.options, start=1)]
            out.append(
                Variable(
                    item.code,
                    item.code,
                    "single",
                    construct,
                    dict(item.text),
                    values + missing,
                    codes,
                )
            )
        elif item.type == "multiple":
            for k, option in enumerate(item.options, start=1):
                labels = {
                    g: f"{_in(item.text, g, spec)} {_in(option.label, g, spec)}" for g in langs
                }
                chosen = [
                    (0, "", {g: _fixed(NOT_CHOSEN, g) for g in langs}),
                    (1, option.code, {g: _fixed(CHOSEN, g) for g in langs}),
                ]
                out.append(
                    Variable(
                        f"{item.code}_{k}",
                        item.code,
                        "multiple",
                        construct,
                        labels,
                        chosen + missing,
                        codes,
                    )
                )
        else:
            out.append(Variable(item.code, item.code, "text", construct, dict(item.text), [], []))
    for name in quality.QUALITY_COLUMNS:
        labels = {g: _fixed(quality.QUALITY_LABELS[name], g) for g in langs}
        out.append(Variable(name, "", "meta", "", labels, [], []))
    return out


def codebook_rows(spec: InstrumentSpec) -> Iterator[list[str]]:
    """The codebook: a header, then per variable one row with its label (``value`` empty) and
    one row per labelled value; a ``label_<lang>`` column per instrument language."""
    langs = spec.languages
    yield [*CODEBOOK_HEADER, *(f"label_{g}" for g in langs)]
    for var in variables(spec):
        head = [var.name, var.item, var.type, var.construct, "", ""]
        yield [*head, *(var.labels.get(g, "") for g in langs)]
        for code, cell, texts in var.values:
            row = [var.name, var.item, var.type, var.construct, str(code), cell]
            yield [*row, *(texts.get(g, "") for g in langs)]


def codebook_csv(spec: InstrumentSpec) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(codebook_rows(spec))
    return out.getvalue()


def _numeric(item: ItemSpec, column: pd.Series) -> pd.Series:
    """Stored tokens ("5", "na", "null") as sav codes (one conversion per distinct token)."""
    codes = {
        t: (NOT_ANSWERED_CODE if t == "null" else NA_CODE if t == NA else int(t))
        for t in pd.unique(column)
    }
    return column.map(codes).astype("float64")


def _sav_frame(spec: InstrumentSpec, frame: pd.DataFrame) -> pd.DataFrame:
    columns: dict[str, pd.Series] = {
        "id": frame["id"].astype(str),
        "submitted_at": frame["submitted_at"].dt.tz_convert("UTC").dt.tz_localize(None),
        "branch": frame["branch"].astype(str),
    }
    for attribute in spec.attributes:
        raw = frame[attribute.code]
        if attribute.type == "choice":
            position = {o.code: float(k) for k, o in enumerate(attribute.options, start=1)}
            columns[attribute.code] = raw.map(lambda v, p=position: p.get(v) if v else None).astype(
                "float64"
            )
        else:
            columns[attribute.code] = raw.where(raw.notna(), "").astype(str)
    columns["lang"] = frame["lang"].where(frame["lang"].notna(), "").astype(str)
    for item in spec.items:
        column = frame[item.code]
        if item.type in ("scale", "nps", "single"):
            columns[item.code] = _numeric(item, column)
        elif item.type == "multiple":
            codes = _numeric(item, column)
            masks = codes.clip(lower=0).to_numpy(dtype="int64")
            for k in range(len(item.options)):
                bit = codes.where(codes < 0, (masks >> k) & 1)
                columns[f"{item.code}_{k + 1}"] = bit.astype("float64")
        else:
            columns[item.code] = column.where(column.notna(), "").astype(str)
    return pd.DataFrame(columns, index=frame.index)


def _temp_path(suffix: str) -> str:
    handle, path = tempfile.mkstemp(prefix="pvm-export-", suffix=suffix)
    os.close(handle)
    return path


def write_sav(
    session: Session,
    *,
    survey: Survey,
    lang: str | None = None,
    filters: ResponseFilters | None = None,
    branches: list[str] | None = None,
) -> tuple[str, int]:
    """The responses as an SPSS file at a new temporary path (the caller deletes it); returns
    the path and the number of rows. Not streamed: pyreadstat writes a whole DataFrame (it has
    no append mode), so memory grows with the rows, unlike the CSV and XLSX exports. Labels
    are in ``lang`` (default: the instrument's first language)."""
    spec = survey_spec(survey)
    lang = label_lang(spec, lang)
    frame = load_stored_frame(session, survey=survey, filters=filters, branches=branches)
    data = _sav_frame(spec, frame)
    extra = quality.export_columns(session, survey=survey, ids=frame["id"])
    data["duration_seconds"] = extra["duration_seconds"].astype("float64")
    data["flags"] = extra["flags"].astype(str)
    del frame
    listed = variables(spec)
    path = _temp_path(".sav")
    try:
        pyreadstat.write_sav(
            data,
            path,
            file_label=_in(spec.title, lang, spec)[:64],
            column_labels={v.name: _in(v.labels, lang, spec) for v in listed},
            variable_value_labels={
                v.name: {float(code): _in(t, lang, spec) for code, _, t in v.values}
                for v in listed
                if v.values and v.type != "attribute_code"
            },
            missing_ranges={v.name: [float(c) for c in v.missing] for v in listed if v.missing},
            variable_measure={
                v.name: ("ordinal" if v.type in ("scale", "nps") else "nominal")
                for v in listed
                if v.type not in ("meta", "text", "attribute_code")
            },
        )
    except BaseException:
        os.unlink(path)
        raise
    return path, len(data)


def _csv_cells(spec: InstrumentSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The CSV export's cells (codes, ``NA``, empty) with numbers kept as numbers."""
    out = frame[frame_columns(spec)].copy()
    out["submitted_at"] = frame["submitted_at"].map(lambda t: t.isoformat())
    for item in spec.items:
        column = frame[item.code]
        if item.type == "text":
            out[item.code] = column.where(column.notna(), None)
            continue
        cells: dict[str, Any] = {}
        for token in pd.unique(column):
            if token == "null":
                cells[token] = None
            elif token == NA:
                cells[token] = "NA"
            elif item.type == "single":
                cells[token] = item.options[int(token) - 1].code
            elif item.type == "multiple":
                mask = int(token)
                cells[token] = ";".join(o.code for k, o in enumerate(item.options) if mask >> k & 1)
            else:
                cells[token] = int(token)
        out[item.code] = column.map(cells)
    return out


def write_xlsx(
    session: Session,
    *,
    survey: Survey,
    filters: ResponseFilters | None = None,
    branches: list[str] | None = None,
) -> tuple[str, int]:
    """The responses as an Excel workbook at a new temporary path: sheet ``responses`` (the
    CSV export's columns and cells, numbers as numbers) and sheet ``codebook``
    (:func:`codebook_rows`, labels in every language). Returns the path and row count."""
    spec = survey_spec(survey)
    book = Workbook(write_only=True)  # rows go to a temporary file as they are appended
    sheet = book.create_sheet("responses")
    rows = 0
    for frame in iter_stored_frames(session, survey=survey, filters=filters, branches=branches):
        table = _csv_cells(spec, frame)
        measures = quality.export_columns(session, survey=survey, ids=frame["id"])
        duration = measures["duration_seconds"]
        table["duration_seconds"] = duration.astype(object).where(duration.notna(), None)
        table["flags"] = measures["flags"]
        if rows == 0:
            sheet.append(list(table.columns))
        for row in table.itertuples(index=False, name=None):
            sheet.append([None if isinstance(v, float) and v != v else v for v in row])
        rows += len(table)
    codebook = book.create_sheet("codebook")
    for line in codebook_rows(spec):
        codebook.append(line)
    path = _temp_path(".xlsx")
    try:
        book.save(path)
    except BaseException:
        os.unlink(path)
        raise
    return path, rows
