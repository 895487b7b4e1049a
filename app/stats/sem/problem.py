"""The fitting problem: a model checked against its data and split by group (``prepare``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.stats.sem._threads import single_thread_blas
from app.stats.sem.checks import group_data, pairwise_data
from app.stats.sem.design import SurveyDesign, build_design, weighted_group_data
from app.stats.sem.errors import ModelError
from app.stats.sem.likelihood import GroupData
from app.stats.sem.model import LisrelModel
from app.stats.sem.optimize import Optimum, fit_ml
from app.stats.sem.partable import ParTable
from app.stats.sem.validate import check_model

log = logging.getLogger(__name__)


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
    # cluster / sampling weights (app.stats.sem.design); None: simple random sample
    design: SurveyDesign | None = None

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


def prepare(
    data: pd.DataFrame,
    model: str,
    *,
    estimator: str = "ML",
    missing: str = "fiml",
    group: str | None = None,
    group_equal: Sequence[str] = (),
    share_labels: bool = True,
    group_partial: Sequence[str] = (),
    std_lv: bool = False,
    cluster: str | None = None,
    sampling_weights: str | None = None,
) -> Problem:
    """Check the model against the data (:func:`check_model`), then split the data by group
    and compute each group's moments.

    ``share_labels``: see :func:`app.stats.sem.partable.build_partable` (False in an
    invariance sequence: a label written once is not shared by the groups) and
    ``group_partial`` (lavaan's ``group.partial``). ``cluster`` and ``sampling_weights``:
    see :mod:`app.stats.sem.design` (either makes the estimator MLR, as lavaan's robust
    standard errors and scaled test).

    Raises
    ------
    ModelError
        As :func:`check_model` (bad syntax, unknown variables or options, too few rows), non
        numeric variables, a singular covariance matrix (the message names the variables and
        why: constant or linearly dependent items).
    """
    checked = check_model(
        data,
        model,
        estimator=estimator,
        missing=missing,
        group=group,
        group_equal=group_equal,
        share_labels=share_labels,
        group_partial=group_partial,
        std_lv=std_lv,
        cluster=cluster,
        sampling_weights=sampling_weights,
    )
    pt = checked.partable
    design = build_design(
        data,
        checked.rows,
        cluster=cluster,
        sampling_weights=sampling_weights,
        estimator=checked.estimator,
    )
    try:
        values = data[pt.names.ov].apply(pd.to_numeric, errors="raise").to_numpy(float)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"model variables must be numeric: {exc}") from exc
    gdata: list[GroupData] = []
    for label, rows in zip(checked.groups, checked.rows, strict=True):
        where = "" if label is None else f" in group {label}"
        if checked.missing == "pairwise":
            gdata.append(pairwise_data(values[rows], pt.names.ov, where))
        else:
            gdata.append(group_data(values[rows], pt.names.ov, where))
        if design is not None and design.weights is not None:
            gdata[-1] = weighted_group_data(
                gdata[-1].X, design.weights[len(gdata) - 1], pt.names.ov
            )
    lm = LisrelModel(pt, fixed_x_values(pt, gdata))
    estimator = "MLR" if design is not None else checked.estimator
    return Problem(pt, lm, gdata, checked.meanstructure, estimator, checked.missing, design)


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
