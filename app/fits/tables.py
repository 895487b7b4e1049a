"""A fit's result as tables (``app.tables``): estimates, fit measures, R², invariance, ...

Table names are the result's keys (``estimates``, ``fit``, ``r2``, ``invariance``,
``modindices``, ``residuals.cor``, ``residuals.raw``, ``residuals.std``, ``fitted.cov``,
``invariance.modindices`` (per level), ``path_tests``, ``groups``, ``excluded_groups``; for PLS also
``r2.adj``, ``reliability``, ``htmt``, ``effects``, ``f2``, ``vif.inner``, ``vif.items``,
``bootstrap``) and ``info`` holds the result's single values (``nobs``, ``estimator``, ...).
"""

from __future__ import annotations

from typing import Any

from app.tables import Table, tables_from_json

# the first column of tables keyed by name (an object of objects)
KEY_COLUMNS = {
    "r2": "group",
    "r2.adj": "group",
    "reliability": "construct",
    "htmt": "construct",
    "f2": "construct",
    "vif.inner": "construct",
    "vif.items": "construct",
    "residuals.cor": "variable",
    "residuals.mean": "group",
    "residuals.raw": "variable",
    "residuals.raw.mean": "group",
    "residuals.std": "variable",
    "residuals.std.mean": "group",
    "residuals.cov": "variable",
    "fitted.cov": "variable",
    "fitted.mean": "group",
    "invariance": "level",  # invariance.modindices: each row led by its level
}
FIRST = ("estimates", "fit", "r2", "invariance", "modindices", "residuals", "fitted")


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def fit_tables(result: dict[str, Any]) -> list[Table]:
    """Every table of a finished fit's ``result``, the main ones first, ``info`` last."""
    keys = [k for k in FIRST if k in result] + [k for k in result if k not in FIRST]
    tables: list[Table] = []
    for key in keys:
        if not _scalar(result[key]):
            tables += tables_from_json(key, result[key], key_columns=KEY_COLUMNS)
    info = {k: v for k, v in result.items() if _scalar(v)}
    if info:
        tables.append(Table("info", list(info), [list(info.values())]))
    return tables
