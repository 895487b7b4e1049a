"""The fitting problem: a model checked against its data and split by group (``prepare``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.stats.sem._threads import single_thread_blas
from app.stats.sem.checks import group_data, pairwise_data
from app.stats.sem.errors import ModelError
from app.stats.sem.likelihood import GroupData
from app.stats.sem.model import LisrelModel
from app.stats.sem.optimize import Optimum, fit_ml
from app.stats.sem.partable import ParTable, build_partable

log = logging.getLogger(__name__)

ESTIMATORS = ("ML", "MLR", "MLM", "GLS", "ULS")
MISSING = ("fiml", "listwise", "pairwise")


@dataclass(frozen=True)
class Problem:
    """Everything needed to (re-)fit one model to one data set.

    ``data`` holds one :class:`GroupData` per group (rows already filtered); bootstrap
    replicates build new GroupData from resampled ``data[g].X`` and call :meth:`refit`.
    """

    partable: ParTable
    model: LisrelModel
    data: list[GroupData]
    meanstructure: bool
    estimator: str
    missing: str

    def refit(
        self,
        data: list[GroupData],
        start: np.ndarray | None = None,
        *,
        info_kind: str | None = None,
    ) -> Optimum:
        """Fit the same model to other data (e.g. a bootstrap sample), from ``start``.

        ``info_kind`` chooses the information of the final Newton steps (default: the one the
        standard errors use). A bootstrap replicate needs no standard errors; "expected" is
        then the cheaper choice under FIML.
        """
        kind = info_kind or self.info_kind
        with single_thread_blas():
            if self.estimator in ("GLS", "ULS"):
                from app.stats.sem.gls import fit_gls

                return fit_gls(self.model, data, self.meanstructure, start, kind=self.estimator)
            return fit_ml(self.model, data, self.meanstructure, start, info_kind=kind)

    @property
    def info_kind(self) -> str:
        """lavaan's default information: observed under FIML, expected for complete data."""
        return "observed" if self.missing == "fiml" else "expected"


def _group_labels(df: pd.DataFrame, group: str | None) -> list[str | None]:
    if group is None:
        return [None]
    if group not in df.columns:
        raise ModelError(f"unknown group variable: {group}")
    vals = df[group].dropna()
    return [str(v) for v in pd.unique(vals.astype(str))]


def prepare(
    data: pd.DataFrame,
    model: str,
    *,
    estimator: str = "ML",
    missing: str = "fiml",
    group: str | None = None,
    group_equal: Sequence[str] = (),
    std_lv: bool = False,
) -> Problem:
    """Parse the model, check it against the data and split the data by group.

    Raises
    ------
    ModelError
        Bad syntax, unknown variables or options, too few rows, a singular covariance matrix
        (the message names the variables and why: constant or linearly dependent items).
    """
    if estimator.upper() not in ESTIMATORS:
        raise ModelError(f"estimator must be one of {ESTIMATORS}")
    missing = {"ml": "fiml", "fiml": "fiml", "listwise": "listwise"}.get(missing, missing)
    if missing not in MISSING:
        raise ModelError(f"missing must be one of {MISSING}")
    if missing == "pairwise" and estimator.upper() != "ML":
        raise ModelError("missing 'pairwise' is available with estimator ML only")
    if estimator.upper() in ("MLM", "GLS", "ULS") and missing != "listwise":
        raise ModelError(
            f"estimator {estimator.upper()} needs complete data: use missing 'listwise' (or "
            "estimator MLR with missing 'fiml')"
        )
    if not isinstance(model, str) or not model.strip():
        raise ModelError("empty model")
    groups = _group_labels(data, group)
    meanstructure = missing == "fiml" or len(groups) > 1
    pt = build_partable(
        model, groups=groups, meanstructure=meanstructure, group_equal=group_equal, std_lv=std_lv
    )
    unknown = [v for v in pt.names.ov if v not in data.columns]
    if unknown:
        raise ModelError(f"unknown variable(s) in the model: {', '.join(unknown)}")
    try:
        values = data[pt.names.ov].apply(pd.to_numeric, errors="raise").to_numpy(float)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"model variables must be numeric: {exc}") from exc
    gcol = data[group].astype(str).to_numpy() if group is not None else None
    if group is not None:
        values = values[data[group].notna().to_numpy()]
        gcol = gcol[data[group].notna().to_numpy()]  # type: ignore[index]
    gdata: list[GroupData] = []
    p = len(pt.names.ov)
    for label in groups:
        X = values if gcol is None else values[gcol == label]
        # listwise: complete rows only; FIML: every row with at least one value (as lavaan)
        drop = np.isnan(X).any(axis=1) if missing == "listwise" else np.isnan(X).all(axis=1)
        X = X[~drop]
        where = "" if label is None else f" in group {label}"
        if X.shape[0] < 2 or (missing == "listwise" and X.shape[0] <= p):
            raise ModelError(f"too few rows{where}: {X.shape[0]} for {p} variables")
        if missing == "pairwise":
            gdata.append(pairwise_data(X, pt.names.ov, where))
        else:
            gdata.append(group_data(X, pt.names.ov, where))
    lm = LisrelModel(pt, fixed_x_values(pt, gdata))
    return Problem(pt, lm, gdata, meanstructure, estimator.upper(), missing)


def fixed_x_values(pt: ParTable, data: list[GroupData]) -> dict[tuple, float]:
    """Sample statistics of the ``exo`` (fixed.x) rows, as ``LisrelModel`` takes them.

    Returns
    -------
    dict
        ``{(group, lhs, op, rhs): value}``: means and covariances of the observed exogenous
        covariates in each group (EM estimates under FIML). Bootstrap replicates and the
        path-difference refits recompute them on their own data, as lavaan does.
    """
    ov = pt.names.ov
    fixed = {}
    for r in pt.rows:
        if r.exo:
            gd = data[r.group - 1]
            i = ov.index(r.lhs)
            key = (r.group, r.lhs, r.op, r.rhs)
            fixed[key] = gd.h1.mean[i] if r.op == "~1" else gd.h1.cov[i, ov.index(r.rhs)]
    return fixed
