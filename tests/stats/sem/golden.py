"""Helpers for comparing pvm's SEM results with lavaan's golden JSON files in tests/data.

Tolerances, set at the agreement measured on every reference with a margin (issue 12):
est and std.all 2e-5 absolute (1.1e-5 measured, on the 185 complete rows of telecom_1500 where
the optimum is flat); se 1e-4 relative; ci bounds 5e-5 absolute (est +- 1.96 se: the
est tolerance plus 1.96 x se x 1e-4 for se up to 0.2; 1.1e-5 measured); chisq, logl and the other
statistics 1e-6 relative; cfi/tli/rmsea/srmr, the rmsea interval and p-values 1e-6 absolute;
MLR's chisq.scaled, scaling factor and robust cfi/tli/rmsea 5e-6 (relative / absolute; 3.3e-6
measured: the scaling factor's traces come from a numerically differentiated information
matrix); r2 1e-5 absolute (5.6e-6 measured, telecom listwise); df and npar exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from app.stats.sem import SemResult, fit_model

DATA = Path(__file__).resolve().parents[2] / "data"

EST_ABS = 2e-5
CI_ABS = 5e-5
SE_REL = 1e-4
STAT_REL = 1e-6
INDEX_ABS = 1e-6
ROBUST = 5e-6
R2_ABS = 1e-5

RELATIVE = ("chisq", "logl", "unrestricted.logl", "baseline.chisq", "aic", "bic")
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
        elif k == "chisq.scaled":
            if abs(m - v) > ROBUST * abs(v):
                bad.append(f"{k}: {m} vs {v}")
        elif k in ("chisq.scaling.factor", "cfi.robust", "tli.robust", "rmsea.robust"):
            if abs(m - v) > ROBUST:
                bad.append(f"{k}: {m} vs {v}")
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
    est_abs: float = EST_ABS,
) -> list[str]:
    """Estimate rows outside tolerance, matched by (lhs, op, rhs[, group]).

    ``every_row``: ``ref`` lists all of lavaan's rows, so the row counts must agree too
    (False when the test lists only some rows). ``est_abs``: a wider est tolerance where a test
    writes down why.
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
            tol = max(est_abs, CI_ABS) if f.startswith("ci.") else est_abs
            if e.get(f) is not None and abs(m[f] - e[f]) > tol:
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
