"""Results as tables: the JSON of a result turned into named tables, written as CSV or XLSX.

One rule for every download (fits, reliability, EFA): a table's column names are the JSON's
keys, its cells the JSON's values (None: an empty cell). ``tables_from_json`` flattens a result
object: a list of objects is a table with one row per object; an object of numbers is a one-row
table; an object of objects is a table with one row per key (the key in the first column, named
by ``key_columns``); deeper objects give tables named ``parent.child``.

XLSX files are written by openpyxl, one sheet per table; text cells stay text (lavaan's ``=~``
is never taken for a formula). In CSV files a text cell that a spreadsheet would run as a
formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading
``'`` unless it is one of lavaan's operators, which R and pandas users read verbatim.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import Response

from app.errors import NotFound

Format = Literal["csv", "xlsx"]
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# lavaan's operators, written as they are (they start with "=" or "<" but are no formulas)
OPERATORS = frozenset({"=~", "~", "~~", "~1", ":=", "<=", "<~", "==", "<", ">", "|", "~*~"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class Table:
    name: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def records_table(name: str, records: Sequence[Mapping[str, Any]]) -> Table:
    """One row per record; the columns are the records' keys in order of first appearance."""
    columns: list[str] = []
    for rec in records:
        columns += [str(k) for k in rec if str(k) not in columns]
    rows = [[_cell(rec.get(c)) for c in columns] for rec in records]
    return Table(name, columns, rows)


def _cell(value: Any) -> Any:
    if _scalar(value):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def tables_from_json(
    name: str,
    value: Any,
    *,
    key_columns: Mapping[str, str] | None = None,
    skip: Iterable[str] = (),
) -> list[Table]:
    """The tables of one JSON value (see the module docstring); empty values give none.

    ``key_columns`` names the first column of object-of-objects tables by table name (default
    ``key``); ``skip`` leaves out tables by name.
    """
    tables = _JsonTables(dict(key_columns or {}), set(skip))
    tables.walk(name, value)
    return tables.out


class _JsonTables:
    """The tables of a JSON value, collected in ``out`` while :meth:`walk` descends into it."""

    def __init__(self, names: dict[str, str], skipped: set[str]) -> None:
        self.names, self.skipped = names, skipped
        self.out: list[Table] = []

    def key_of(self, path: str, default: str) -> str:
        """The key column of ``path``, or of the nearest table above it that names one."""
        parts = path.split(".")
        for k in range(len(parts), 0, -1):
            name = ".".join(parts[:k])
            if name in self.names:
                return self.names[name]
        return default

    def walk(self, path: str, v: Any) -> None:
        """Add the tables of value ``v`` at ``path`` (skipped and empty values give none)."""
        if path in self.skipped or v is None or v == [] or v == {}:
            return
        if isinstance(v, list):
            self._list(path, v)
        elif not isinstance(v, Mapping):
            self.out.append(Table(path, [path], [[_cell(v)]]))
        else:
            self._object(path, v)

    def _list(self, path: str, v: list[Any]) -> None:
        """A list of objects as one table (their nested lists of objects as tables keyed by the
        parent); any other list as a one-column table."""
        out = self.out
        if all(isinstance(x, Mapping) for x in v):
            flat = [{k: x for k, x in rec.items() if not _is_record_list(x)} for rec in v]
            out.append(records_table(path, flat))
            key = self.key_of(path, path.rsplit(".", 1)[-1])
            for rec in v:  # nested lists of objects: one table, the parent's key first
                for k, x in rec.items():
                    if _is_record_list(x):
                        _extend(out, f"{path}.{k}", key, rec, x)
        else:
            out.append(Table(path, [path], [[_cell(x)] for x in v]))

    def _object(self, path: str, v: Mapping[str, Any]) -> None:
        """An object: its scalars as one row; an object of flat objects as a table with a key
        column; everything else walked into."""
        out = self.out
        scalars = {k: x for k, x in v.items() if _scalar(x)}
        nested = {k: x for k, x in v.items() if not _scalar(x)}
        if scalars:
            out.append(Table(path, [str(k) for k in scalars], [list(scalars.values())]))
        rows_of = {k: x for k, x in nested.items() if isinstance(x, Mapping)}
        if rows_of and all(
            all(_scalar(y) or _is_record_list(y) for y in x.values()) for x in rows_of.values()
        ):
            key = self.key_of(path, "key")
            records = [
                {key: k, **{c: y for c, y in x.items() if _scalar(y)}} for k, x in rows_of.items()
            ]
            out.append(records_table(path, records))
            for k, x in rows_of.items():
                for c, y in x.items():
                    if _is_record_list(y):
                        _extend(out, f"{path}.{c}", key, {key: k}, y)
            nested = {k: x for k, x in nested.items() if k not in rows_of}
        for k, x in nested.items():
            self.walk(f"{path}.{k}" if path else str(k), x)


def _is_record_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _extend(
    out: list[Table],
    name: str,
    key: str,
    parent: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
) -> None:
    """Append ``records`` (each led by the parent's ``key``) to table ``name``."""
    rows = [{key: parent.get(key), **rec} for rec in records]
    for k, table in enumerate(out):
        if table.name == name:
            merged = records_table(
                name, [dict(zip(table.columns, r, strict=True)) for r in table.rows] + rows
            )
            out[k] = merged
            return
    out.append(records_table(name, rows))


def _csv_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    formula = isinstance(value, str) and value.startswith(_FORMULA_START)
    if formula and value not in OPERATORS and not _NUMBER.match(value):
        return "'" + value
    return value


def to_csv(table: Table) -> bytes:
    """UTF-8 CSV (no BOM), a header row of the column names, full float precision."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows([_csv_text(v) for v in row] for row in table.rows)
    return buf.getvalue().encode("utf-8")


def sheet_title(name: str, taken: set[str]) -> str:
    """An Excel sheet name (at most 31 characters, none of ``[]:*?/\\``), unique in ``taken``."""
    base = _SHEET_BAD.sub("_", name)[:31] or "sheet"
    title, k = base, 2
    while title.lower() in taken:
        suffix = f"~{k}"
        title, k = base[: 31 - len(suffix)] + suffix, k + 1
    taken.add(title.lower())
    return title


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """An XLSX workbook with one sheet per table (the sheet named after the table)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    taken: set[str] = set()
    for table in tables:
        sheet = book.create_sheet(sheet_title(table.name, taken))

        def cells(values: Iterable[Any], sheet: Any = sheet) -> list[Any]:
            row = []
            for v in values:
                cell = WriteOnlyCell(sheet, value=v)
                if isinstance(v, str):
                    cell.data_type = "s"  # text, even when it starts with "="
                row.append(cell)
            return row

        sheet.append(cells(table.columns))
        for row in table.rows:
            sheet.append(cells(row))
    if not tables:
        book.create_sheet("empty")
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def pick(tables: Sequence[Table], name: str) -> Table:
    """The table called ``name``; NotFound naming the tables there are."""
    for table in tables:
        if table.name == name:
            return table
    names = ", ".join(t.name for t in tables) or "none"
    raise NotFound(f"no table {name!r} in this result; its tables: {names}")


def download(tables: Sequence[Table], fmt: Format, *, filename: str) -> Response:
    """The tables as an attachment: XLSX with every table, or CSV of the first one."""
    body = to_xlsx(tables) if fmt == "xlsx" else to_csv(tables[0]) if tables else b""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{safe}.{fmt}"'},
    )


def write_tables(tables: Sequence[Table], path: str | Path) -> list[Path]:
    """Write ``tables`` to ``path``: ``.xlsx`` one workbook (a sheet per table); ``.csv`` the
    first table there and every other one beside it as ``<stem>.<table>.csv``. The files
    written, in order.

    Raises
    ------
    ValueError
        ``path`` ends in neither ``.csv`` nor ``.xlsx``.
    OSError
        The file cannot be written (missing directory, no permission).
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".xlsx":
        target.write_bytes(to_xlsx(tables))
        return [target]
    if suffix != ".csv":
        raise ValueError(f"{target.name}: the output file must end in .csv or .xlsx")
    written = []
    for k, table in enumerate(tables):
        out = target if k == 0 else target.with_name(f"{target.stem}.{table.name}.csv")
        out.write_bytes(to_csv(table))
        written.append(out)
    return written
