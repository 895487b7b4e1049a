"""app/tables.py: JSON -> tables -> CSV/XLSX (the rules every download follows)."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from app.tables import Table, sheet_title, tables_from_json, to_csv, to_xlsx


def test_json_shapes_become_tables() -> None:
    tables = tables_from_json(
        "r",
        {
            "rows": [{"a": 1, "b": [1, 2]}, {"a": 2, "c": None}],
            "one": {"x": 1.5, "y": "t"},
            "matrix": {"u": {"u": 1.0, "v": 0.5}, "v": {"u": 0.5, "v": 1.0}},
            "nested": {"k": {"n": 3, "items": [{"code": "A"}, {"code": "B"}]}},
            "empty": [],
        },
        key_columns={"r.matrix": "variable"},
    )
    by = {t.name: t for t in tables}
    assert by["r.rows"].columns == ["a", "b", "c"]
    assert by["r.rows"].rows == [[1, "[1,2]", None], [2, None, None]]
    assert by["r.one"] == Table("r.one", ["x", "y"], [[1.5, "t"]])
    assert by["r.matrix"].columns == ["variable", "u", "v"]
    assert by["r.matrix"].rows[1] == ["v", 0.5, 1.0]
    assert by["r.nested"].columns == ["key", "n"]
    assert by["r.nested.items"].rows == [["k", "A"], ["k", "B"]]
    assert "r.empty" not in by


def test_csv_keeps_operators_and_numbers_and_defuses_formulas() -> None:
    table = Table(
        "t",
        ["op", "value", "text"],
        [["=~", -0.25, "=HYPERLINK(1)"], ["~~", 1e-300, "@SUM"], [":=", None, "-x"]],
    )
    rows = list(csv.reader(io.StringIO(to_csv(table).decode())))
    assert rows[0] == ["op", "value", "text"]
    assert rows[1] == ["=~", "-0.25", "'=HYPERLINK(1)"]
    assert rows[2] == ["~~", "1e-300", "'@SUM"]
    assert rows[3] == [":=", "", "'-x"]


def test_xlsx_one_sheet_per_table_with_text_never_a_formula() -> None:
    tables = [
        Table("estimates", ["op", "est"], [["=~", 0.5], ["=1+1", None]]),
        Table("a/b:c" + "x" * 40, ["v"], [[True]]),
    ]
    book = load_workbook(io.BytesIO(to_xlsx(tables)))
    assert book.sheetnames[0] == "estimates" and len(book.sheetnames[1]) == 31
    sheet = book["estimates"]
    assert [c.value for c in sheet[2]] == ["=~", 0.5]
    assert sheet["A3"].value == "=1+1" and sheet["A3"].data_type == "s"


def test_sheet_titles_are_unique_and_valid() -> None:
    taken: set[str] = set()
    names = [sheet_title("x" * 40, taken) for _ in range(3)]
    assert len(set(names)) == 3 and all(len(n) <= 31 for n in names)
    assert sheet_title("a[b]*c?", set()) == "a_b__c_"
