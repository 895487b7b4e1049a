"""Reliability and EFA reports as tables (``app.tables``): ``?format=csv|xlsx`` downloads.

Reliability: ``constructs`` (alpha, omega, cr, ave per construct), ``items`` (item statistics,
led by their construct), ``htmt``, ``htmt2``, ``fornell_larcker.matrix`` and
``fornell_larcker.passed``, ``missing``, ``model``, ``info`` (n). EFA: ``loadings`` (one row per
item), ``communalities``, ``kmo_items``, ``bartlett``, ``eigenvalues``, ``factor_correlations``,
``ss_loadings``, ... and ``info`` (n, method, rotation, factors, kmo, ...). A CSV holds one
table (``table=``, by default ``constructs`` or ``loadings``); an XLSX all of them.
"""

from __future__ import annotations

from typing import Any

from app.tables import Table, tables_from_json

RELIABILITY_KEYS = {
    "constructs": "construct",
    "htmt": "construct",
    "htmt2": "construct",
    "fornell_larcker": "construct",
}
EFA_KEYS = {"loadings": "item", "factor_correlations": "factor"}
DEFAULT_TABLE = {"reliability": "constructs", "efa": "loadings"}


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def report_tables(kind: str, report: dict[str, Any]) -> list[Table]:
    """The tables of a reliability (``kind="reliability"``) or EFA report's ``to_dict()``,
    the default table first and ``info`` (the report's single values) last."""
    keys = RELIABILITY_KEYS if kind == "reliability" else EFA_KEYS
    first = DEFAULT_TABLE[kind]
    order = [first] + [k for k in report if k != first]
    tables: list[Table] = []
    for key in order:
        if key in report and not _scalar(report[key]):
            tables += tables_from_json(key, report[key], key_columns=keys)
    tables = [
        Table("items", t.columns, t.rows) if t.name == "constructs.items" else t for t in tables
    ]
    info = {k: v for k, v in report.items() if _scalar(v)}
    if info:
        tables.append(Table("info", list(info), [list(info.values())]))
    return tables
