"""Helpers for comparing pvm's SEM results with lavaan's golden JSON files in tests/data.

Tolerances (issue 4): est and std.all 1e-3 absolute, se 1% relative, chisq/logl (and MLR's
chisq.scaled) 1e-3 relative, cfi/tli/rmsea/srmr, the rmsea interval and the other indices
(robust ones, scaling factors) 1e-3 absolute, df and npar exact, r2 1e-3.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from app.stats.sem import SemResult, fit_model

DATA = Path(__file__).resolve().parents[1] / "data"

EST_ABS = 1e-3
SE_REL = 0.01
STAT_REL = 1e-3
INDEX_ABS = 1e-3
R2_ABS = 1e-3

RELATIVE = ("chisq", "chisq.scaled", "logl", "unrestricted.logl", "baseline.chisq", "aic", "bic")
EXACT = ("npar", "df", "baseline.df")
ABSOLUTE = ("cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.pvalue", "srmr")


def load_json(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def load_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name)


def fit_golden(name: str, csv: str, **options: Any) -> tuple[dict[str, Any], SemResult]:
    """lavaan's reference ``name`` and pvm's fit of its model to ``csv`` (fit_model options)."""
    ref = load_json(name)
    return ref, fit_model(load_csv(csv), ref["model"], **options)


def golden_rows(rows: Iterable[tuple], fields: Sequence[str]) -> list[dict[str, Any]]:
    """Reference rows written in a test as tuples ``(lhs, op, rhs, *fields)``, as dicts.

    The dicts have the keys of the golden JSON files, for :func:`estimate_mismatches`.
    """
    return [dict(zip(("lhs", "op", "rhs", *fields), row, strict=True)) for row in rows]


def fit_mismatches(mine: dict[str, Any], ref: dict[str, Any]) -> list[str]:
    """Fit measures outside tolerance, as readable strings (empty list = all agree)."""
    bad = []
    for k, v in ref.items():
        m = mine.get(k)
        if v is None:
            continue
        if m is None:
            bad.append(f"{k}: missing")
        elif k in EXACT:
            if m != v:
                bad.append(f"{k}: {m} != {v}")
        elif k in RELATIVE:
            if abs(m - v) > STAT_REL * abs(v):
                bad.append(f"{k}: {m} vs {v}")
        elif k == "pvalue":
            if abs(m - v) > INDEX_ABS:
                bad.append(f"{k}: {m} vs {v}")
        elif abs(m - v) > INDEX_ABS:
            bad.append(f"{k}: {m} vs {v}")
    return bad


def estimate_mismatches(
    mine: list[dict[str, Any]],
    ref: list[dict[str, Any]],
    group_labels: Sequence[str | None] | None = None,
    *,
    every_row: bool = True,
) -> list[str]:
    """Estimate rows outside tolerance, matched by (lhs, op, rhs[, group]).

    ``every_row``: ``ref`` lists all of lavaan's rows, so the row counts must agree too
    (False when the test lists only some rows).
    """

    def key(e: dict[str, Any], labels: Sequence[str | None] | None) -> tuple:
        g = e.get("group")
        if labels is not None and isinstance(g, int):
            g = labels[g - 1]
        return (e["lhs"], e["op"], e["rhs"], g if labels is not None else None)

    by_key = {key(e, group_labels): e for e in mine}
    bad = []
    for e in ref:
        k = key(e, group_labels)
        m = by_key.get(k)
        if m is None:
            bad.append(f"{k}: missing")
            continue
        for f in ("est", "std.all", "ci.lower", "ci.upper"):
            if e.get(f) is not None and abs(m[f] - e[f]) > EST_ABS:
                bad.append(f"{k} {f}: {m[f]} vs {e[f]}")
        if e.get("se"):
            if abs(m["se"] / e["se"] - 1) > SE_REL:
                bad.append(f"{k} se: {m['se']} vs {e['se']}")
        elif e.get("se") == 0 and m["se"] != 0:
            bad.append(f"{k} se: {m['se']} vs 0")
    if every_row and len(mine) != len(ref):
        bad.append(f"row count {len(mine)} vs {len(ref)}")
    return bad


def r2_mismatches(mine: dict[str, float], ref: dict[str, float]) -> list[str]:
    bad = [
        f"{k}: {mine.get(k)} vs {v}"
        for k, v in ref.items()
        if mine.get(k) is None or abs(mine[k] - v) > R2_ABS
    ]
    extra = set(mine) - set(ref)
    if extra:
        bad.append(f"extra r2 keys {sorted(extra)}")
    return bad
