"""A PLS result as the API's JSON: lavaan-style estimate rows (``<=`` weights, ``=~``
loadings, ``~`` paths), R², reliability, HTMT, effects, f², VIFs and the bootstrap's account."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from app.stats.pls.bootstrap import PlsBootstrap
from app.stats.pls.estimate import PlsResult
from app.stats.pls.evaluate import (
    f_squared,
    htmt,
    indirect_effects,
    inner_vif,
    item_vif,
    reliability,
    srmr,
    total_effects,
)
from app.stats.pls.spec import PlsSpec


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _row(lhs: str, op: str, rhs: str, est: float, boot: PlsBootstrap | None) -> dict[str, Any]:
    row: dict[str, Any] = {"lhs": lhs, "op": op, "rhs": rhs, "est": _num(est)}
    if boot is None:
        row |= {"se": None, "ci.lower": None, "ci.upper": None}
    else:
        k = boot.index(lhs, op, rhs)
        row |= {
            "se": _num(boot.se[k]),
            "ci.lower": _num(boot.lower[k]),
            "ci.upper": _num(boot.upper[k]),
        }
    return row


def pls_result_dict(res: PlsResult, boot: PlsBootstrap | None = None) -> dict[str, Any]:
    """JSON-ready result of a PLS fit (and its bootstrap, when given)."""
    spec, items = res.spec, res.items
    rows = _estimate_rows(res, boot)
    effects = _effect_rows(res, boot)
    rel = reliability(res)
    return {
        "method": "pls",
        "nobs": res.nobs,
        "missing": res.missing,
        "scheme": res.scheme,
        "consistent": res.consistent,
        "converged": res.converged,
        "iterations": res.iterations,
        "constructs": _construct_rows(spec),
        "estimates": rows,
        "r2": {k: _num(v) for k, v in res.r2.items()},
        "r2.adj": {k: _num(v) for k, v in res.r2_adj.items()},
        "reliability": {
            c: {"alpha": v["alpha"], "rhoA": v["rhoA"], "rhoC": v["rhoC"], "ave": v["AVE"]}
            for c, v in rel.items()
        },
        "srmr": _num(srmr(res)),
        "htmt": {a: {b: _num(v) for b, v in row.items()} for a, row in htmt(res).items()},
        "effects": effects,
        "f2": {s: {t: _num(v) for t, v in row.items()} for s, row in f_squared(res).items()},
        "vif": {
            "inner": {d: {a: _num(v) for a, v in r.items()} for d, r in inner_vif(res).items()},
            "items": {c: {i: _num(v) for i, v in r.items()} for c, r in item_vif(res).items()},
        },
        "bootstrap": None if boot is None else _bootstrap_info(boot),
        "item_means": {i: float(m) for i, m in zip(items, np.asarray(res.item_mean), strict=True)},
    }


def _estimate_rows(res: PlsResult, boot: PlsBootstrap | None) -> list[dict[str, Any]]:
    """The parameter rows: every construct's weights (``<=``), then its loadings (``=~``),
    then the paths (``~``), with bootstrap se and interval when given."""
    spec, items, names = res.spec, res.items, res.constructs
    rows = []
    for c in spec.constructs:
        j = names.index(c.name)
        for i in c.items:
            rows.append(_row(c.name, "<=", i, res.weights[items.index(i), j], boot))
    for c in spec.constructs:
        j = names.index(c.name)
        for i in c.items:
            rows.append(_row(c.name, "=~", i, res.loadings[items.index(i), j], boot))
    for source, target in spec.paths:
        rows.append(_row(target, "~", source, res.path(source, target), boot))
    return rows


def _effect_rows(res: PlsResult, boot: PlsBootstrap | None) -> list[dict[str, Any]]:
    """Total and indirect effects of every construct on every other it reaches, with the
    total effect's bootstrap se and interval when given."""
    names = res.constructs
    te, ie = total_effects(res), indirect_effects(res)
    effects = []
    for a, source in enumerate(names):
        for b, target in enumerate(names):
            if te[a, b] != 0:
                effect = {
                    "lhs": target,
                    "rhs": source,
                    "total": _num(te[a, b]),
                    "indirect": _num(ie[a, b]),
                }
                if boot is not None:
                    k = boot.index(target, "total", source)
                    effect |= {
                        "total.se": _num(boot.se[k]),
                        "total.ci.lower": _num(boot.lower[k]),
                        "total.ci.upper": _num(boot.upper[k]),
                    }
                effects.append(effect)
    return effects


def _construct_rows(spec: PlsSpec) -> list[dict[str, Any]]:
    """Each construct's items and measurement mode (B: a formative block of 2+ items)."""
    return [
        {
            "name": c.name,
            "items": list(c.items),
            "mode": "B" if (not c.reflective and len(c.items) > 1) else "A",
            "reflective": c.reflective,
        }
        for c in spec.constructs
    ]


def _bootstrap_info(boot: PlsBootstrap) -> dict[str, Any]:
    """How the bootstrap was run: draws asked and succeeded, seed, interval type and level."""
    return {
        "draws": boot.draws,
        "succeeded": boot.succeeded,
        "seed": boot.seed,
        "interval": boot.interval,
        "level": boot.level,
        "sign_change": "none",
    }
