"""lavaan's ``lavTestLRT()``: chi-square difference tests of nested models fitted to the same data.

Works on fit measures alone (``chisq``, ``df``, ``aic``, ``bic`` and, for MLR,
``chisq.scaling.factor``), so stored results can be compared without refitting. As lavaan 0.6.14:
models are ordered by their degrees of freedom; under ML the plain difference of the chi-squares
with its RMSEA (RMSEA.D); under MLR the Satorra-Bentler (2001) scaled difference
``(T1 - T0) / cd``, ``cd = (df1 c1 - df0 c0) / (df1 - df0)`` (method "satorra.bentler.2001",
lavaan's default; ``Chisq`` then holds the standard, unscaled statistics).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scipy import stats

from app.stats.sem.errors import ModelError


@dataclass(frozen=True)
class Difference:
    """One comparison of a restricted model with a freer one."""

    chisq: float  # the (scaled) difference
    df: int
    pvalue: float
    rmsea: float | None  # None when scaled (lavaan 0.6.14 reports no RMSEA then)
    scaling_factor: float | None  # cd of the scaled difference


def chisq_difference(
    restricted: Mapping[str, Any],
    free: Mapping[str, Any],
    *,
    scaled: bool,
    nobs: int | None = None,
    ngroups: int = 1,
) -> Difference:
    """The difference test of ``restricted`` against ``free`` (fit measures of each)."""
    t1, t0 = float(restricted["chisq"]), float(free["chisq"])
    d1, d0 = int(restricted["df"]), int(free["df"])
    ddf = d1 - d0
    diff = t1 - t0
    cd: float | None = None
    rmsea: float | None = None
    if scaled and ddf > 0:
        c1 = float(restricted["chisq.scaling.factor"])
        c0 = float(free["chisq.scaling.factor"])
        cd = (d1 * c1 - d0 * c0) / ddf
        diff = diff / cd if cd > 0 else math.nan
    elif nobs and ddf > 0:
        rmsea = math.sqrt(max(diff / (nobs * ddf) - 1.0 / nobs, 0.0)) * math.sqrt(ngroups)
    p = float(stats.chi2.sf(diff, ddf)) if ddf > 0 and math.isfinite(diff) else math.nan
    return Difference(float(diff), ddf, p, rmsea, cd)


def lrt_table(
    fits: Sequence[Mapping[str, Any]],
    *,
    scaled: bool,
    nobs: int,
    ngroups: int = 1,
    names: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """``lavTestLRT(fit1, fit2, ...)`` as rows ordered by ``Df``: ``model``, ``Df``, ``AIC``,
    ``BIC``, ``Chisq``, ``Chisq diff``, (``RMSEA`` unless scaled), ``Df diff``, ``Pr(>Chisq)``;
    the first row's differences are None.

    Raises
    ------
    ModelError
        Fewer than two fits, or a fit without the statistics the test needs.
    """
    if len(fits) < 2:
        raise ModelError("a likelihood-ratio test needs at least two fits")
    need = ("chisq", "df") + (("chisq.scaling.factor",) if scaled else ())
    labels = list(names) if names is not None else [str(k + 1) for k in range(len(fits))]
    for label, fit in zip(labels, fits, strict=True):
        absent = [k for k in need if fit.get(k) is None]
        if absent:
            raise ModelError(f"fit {label} has no {', '.join(absent)}")
    order = sorted(range(len(fits)), key=lambda k: int(fits[k]["df"]))
    rows: list[dict[str, Any]] = []
    for pos, k in enumerate(order):
        fit = fits[k]
        row: dict[str, Any] = {
            "model": labels[k],
            "Df": int(fit["df"]),
            "AIC": fit.get("aic"),
            "BIC": fit.get("bic"),
            "Chisq": float(fit["chisq"]),
            "Chisq diff": None,
        }
        if not scaled:
            row["RMSEA"] = None
        row.update({"Df diff": None, "Pr(>Chisq)": None})
        if pos > 0:
            d = chisq_difference(
                fit, fits[order[pos - 1]], scaled=scaled, nobs=nobs, ngroups=ngroups
            )
            row["Chisq diff"] = d.chisq if math.isfinite(d.chisq) else None
            if not scaled:
                row["RMSEA"] = d.rmsea
            row["Df diff"] = d.df
            row["Pr(>Chisq)"] = d.pvalue if math.isfinite(d.pvalue) else None
        rows.append(row)
    return rows
