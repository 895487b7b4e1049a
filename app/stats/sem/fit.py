"""``fit_model``: the public entry point of pvm's SEM engine."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.stats.sem._threads import single_thread_blas
from app.stats.sem.checks import group_data
from app.stats.sem.errors import ModelError
from app.stats.sem.inference import safe_inverse
from app.stats.sem.likelihood import GroupData, expected_information
from app.stats.sem.model import LisrelModel
from app.stats.sem.optimize import Optimum, fit_ml
from app.stats.sem.partable import ParTable, build_partable
from app.stats.sem.results import SemResult
from app.stats.sem.summary import _definitions as _definitions  # re-exported
from app.stats.sem.summary import _summarize
from app.stats.sem.summary import defined_values as defined_values  # re-exported
from app.stats.sem.summary import row_values as row_values  # re-exported

log = logging.getLogger(__name__)

ESTIMATORS = ("ML", "MLR")
MISSING = ("fiml", "listwise")


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
        hess_inv0: np.ndarray | None = None,
    ) -> Optimum:
        """Fit the same model to other data (e.g. a bootstrap sample), from ``start``.

        ``info_kind`` chooses the information of the final Newton steps (default: the one the
        standard errors use). A bootstrap replicate needs no standard errors; "expected" is
        then the cheaper choice under FIML. ``hess_inv0`` (see :meth:`bootstrap_hess_inv`)
        with ``start`` selects the fast BFGS path for replicates.
        """
        kind = info_kind or self.info_kind
        with single_thread_blas():
            return fit_ml(
                self.model, data, self.meanstructure, start, info_kind=kind, hess_inv0=hess_inv0
            )

    def bootstrap_hess_inv(self, theta: np.ndarray) -> np.ndarray:
        """Inverse expected information per observation at ``theta``, shape (npar, npar).

        Compute once at the full-sample estimate and pass to every replicate's
        :meth:`refit` as ``hess_inv0``: BFGS then needs 10-30 iterations (25 ms for the
        default model on complete data, about 0.1 s under FIML).
        """
        with single_thread_blas():
            mats = self.model.matrices(theta)
            info = expected_information(self.model, mats, self.data, self.meanstructure)
            H = safe_inverse(info) * sum(gd.n for gd in self.data)
        return (H + H.T) / 2.0

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
    if not isinstance(model, str) or not model.strip():
        raise ModelError("empty model")
    groups = _group_labels(data, group)
    meanstructure = missing == "fiml" or len(groups) > 1
    pt = build_partable(model, groups=groups, meanstructure=meanstructure, group_equal=group_equal)
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
        gdata.append(group_data(X, pt.names.ov, where))
    fixed = {}
    for r in pt.rows:
        if r.exo:
            gd = gdata[r.group - 1]
            i = pt.names.ov.index(r.lhs)
            if r.op == "~1":
                fixed[(r.group, r.lhs, r.op, r.rhs)] = gd.h1.mean[i]
            else:
                fixed[(r.group, r.lhs, r.op, r.rhs)] = gd.h1.cov[i, pt.names.ov.index(r.rhs)]
    lm = LisrelModel(pt, fixed)
    return Problem(pt, lm, gdata, meanstructure, estimator.upper(), missing)


def fit_model(
    data: pd.DataFrame,
    model: str,
    *,
    estimator: str = "ML",
    missing: str = "fiml",
    group: str | None = None,
    group_equal: Sequence[str] = (),
    bootstrap: int = 0,
    seed: int = 1,
    progress: Callable[[float], None] | None = None,
) -> SemResult:
    """Fit a model in lavaan syntax as lavaan's ``sem()`` would.

    Parameters
    ----------
    data : DataFrame
        One column per observed variable (NaN = missing) and, optionally, the group column.
    model : str
        lavaan model syntax.
    estimator : {"ML", "MLR"}
    missing : {"fiml", "listwise"}
        "fiml" is lavaan's ``missing="ml"`` (mean structure included).
    group : str, optional
        Grouping column; groups in order of first appearance, as lavaan.
    group_equal : sequence of str
        lavaan ``group.equal`` keywords.
    bootstrap : int
        Number of bootstrap replicates for percentile intervals (0 = none).
    seed : int
    progress : callable, optional
        Called with the fraction done, 0..1.

    Returns
    -------
    SemResult

    Raises
    ------
    ModelError
        Bad syntax, unknown variables, too few rows, a singular covariance matrix.
    """
    with single_thread_blas():
        prob = prepare(
            data, model, estimator=estimator, missing=missing, group=group, group_equal=group_equal
        )
        defs = _definitions(prob.partable)
        opt = prob.refit(prob.data)
        if progress is not None and bootstrap <= 0:
            progress(0.9)
        result = summarize(prob, opt, defs)
    if bootstrap > 0:
        # bootstrap.py is written on top of this engine (imported lazily: optional module)
        boot = importlib.import_module("app.stats.sem.bootstrap")
        result = boot.apply_bootstrap(prob, result, B=bootstrap, seed=seed, progress=progress)
    if progress is not None:
        progress(1.0)
    return result


def summarize(prob: Problem, opt: Optimum, defs: list | None = None) -> SemResult:
    """Standard errors, fit measures, standardized estimates and R² at an optimum."""
    with single_thread_blas():
        return _summarize(prob, opt, defs)
