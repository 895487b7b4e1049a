"""Does one path differ across groups? The constrained-vs-free chi-square difference test.

As lavaan: fit the multi-group model with the path free in every group and with it equal
(``c(b, b, ...)*x``), compare with ``lavTestLRT`` (plain difference under ML, Satorra-Bentler
2001 under MLR), and report the per-group estimates of the free model.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from app.stats.sem._threads import single_thread_blas
from app.stats.sem.invariance import (
    ExcludedGroup,
    chisq_difference,
    estimate_map,
    fit_warm,
    usable_data,
)
from app.stats.sem.model import LisrelModel
from app.stats.sem.partable import ParRow
from app.stats.sem.problem import Problem, fixed_x_values, prepare
from app.stats.sem.results import finite_or_none
from app.stats.sem.validate import free_path_rows


@dataclass(frozen=True)
class GroupPath:
    """One group's estimate of the tested path in the unconstrained model."""

    group: str
    est: float
    se: float
    z: float
    pvalue: float
    std_all: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "est": finite_or_none(self.est),
            "se": finite_or_none(self.se),
            "z": finite_or_none(self.z),
            "pvalue": finite_or_none(self.pvalue),
            "std.all": finite_or_none(self.std_all),
        }


@dataclass(frozen=True)
class PathDifference:
    """Result of :func:`path_difference` (lavaan: free model vs ``c(b, b, ...)*x``)."""

    path: tuple[str, str, str]
    group: str
    groups: list[str]
    excluded: list[ExcludedGroup]
    per_group: list[GroupPath]
    constrained_est: float
    chisq_free: float
    df_free: int
    chisq_constrained: float
    df_constrained: int
    delta_chisq: float
    delta_df: int
    delta_pvalue: float
    alpha: float = 0.05

    @property
    def verdict(self) -> str:
        if not math.isfinite(self.delta_pvalue):
            return "not tested"
        if self.delta_pvalue < self.alpha:
            return "differs across groups"
        return "no evidence that it differs across groups"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": {"lhs": self.path[0], "op": self.path[1], "rhs": self.path[2]},
            "group": self.group,
            "groups": list(self.groups),
            "excluded": [e.to_dict() for e in self.excluded],
            "per_group": [g.to_dict() for g in self.per_group],
            "constrained.est": finite_or_none(self.constrained_est),
            "free": {"chisq": finite_or_none(self.chisq_free), "df": self.df_free},
            "constrained": {
                "chisq": finite_or_none(self.chisq_constrained),
                "df": self.df_constrained,
            },
            "delta.chisq": finite_or_none(self.delta_chisq),
            "delta.df": self.delta_df,
            "delta.pvalue": finite_or_none(self.delta_pvalue),
            "alpha": self.alpha,
            "verdict": self.verdict,
        }


def path_difference(
    data: pd.DataFrame,
    model: str,
    *,
    group: str,
    path: tuple[str, str, str],
    missing: str = "fiml",
    estimator: str = "ML",
    group_equal: Sequence[str] = (),
    min_group_size: int = 5,
    alpha: float = 0.05,
) -> PathDifference:
    """Does one path differ across groups? Chi-square difference, constrained vs free.

    The free model lets the path differ in every group (a label on it in the syntax, which
    lavaan would read as "equal across groups", is lifted for this model only); the
    constrained model makes it equal, as lavaan's ``c(b, b, ...)*x``. Everything else,
    including ``group_equal`` (e.g. ``("loadings",)`` to test on top of metric invariance),
    is the same in both.

    Parameters
    ----------
    data, model, group, missing, estimator, min_group_size
        As :func:`fit_invariance`.
    path : (lhs, op, rhs)
        A free parameter of the model, e.g. ``("CCI", "~", "PV")``.
    group_equal : sequence of str
        lavaan ``group.equal`` keywords of both models.
    alpha : float
        Level of the verdict.

    Returns
    -------
    PathDifference

    Raises
    ------
    ModelError
        The path is not a free parameter of the model, or as :func:`fit_invariance`.
    """
    sub, kept, excluded = usable_data(data, model, group, missing, min_group_size)
    with single_thread_blas():
        base = prepare(
            sub, model, estimator=estimator, missing=missing, group=group, group_equal=group_equal
        )
        rows = free_path_rows(base.partable, path)
        free_res = fit_warm(_retie(base, rows, tie=False), None)
        con_res = fit_warm(_retie(base, rows, tie=True), estimate_map(free_res))
    d_chisq, d_df, d_p = chisq_difference(con_res, free_res)
    per_group = [
        GroupPath(str(e.group), e.est, e.se, e.z, e.pvalue, e.std_all)
        for e in free_res.estimates
        if (e.lhs, e.op, e.rhs) == tuple(path)
    ]
    con_est = next(e.est for e in con_res.estimates if (e.lhs, e.op, e.rhs) == tuple(path))
    return PathDifference(
        (path[0], path[1], path[2]),
        group,
        kept,
        excluded,
        per_group,
        float(con_est),
        float(free_res.fit["chisq"]),
        int(free_res.fit["df"]),
        float(con_res.fit["chisq"]),
        int(con_res.fit["df"]),
        d_chisq,
        d_df,
        d_p,
        alpha,
    )


def _retie(prob: Problem, rows: list[ParRow], *, tie: bool) -> Problem:
    """A copy of ``prob`` whose ``rows`` share one parameter (tie) or have one each (untie)."""
    pt = copy.deepcopy(prob.partable)
    ids = {r.id for r in rows}
    target = [r for r in pt.rows if r.id in ids]
    top = pt.npar
    for k, r in enumerate(target):
        r.free = target[0].free if tie else top + 1 + k
    numbers: dict[int, int] = {}
    for r in pt.rows:  # consecutive numbers in order of first appearance, as build_partable
        if r.free:
            r.free = numbers.setdefault(r.free, len(numbers) + 1)
    model = LisrelModel(pt, fixed_x_values(pt, prob.data))
    return dataclasses.replace(prob, partable=pt, model=model)
