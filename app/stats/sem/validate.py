"""Can this model be fitted to these data? The engine's one entry point for that question.

:func:`check_model` runs every check that needs no moments: the options, the syntax and the
parameter table, the variables, the ``:=`` definitions, paths to compare across groups, and the
rows each group keeps under the missing-data rule. :func:`app.stats.sem.problem.prepare` starts
with it, and so do callers that want to refuse a request before queueing a fit (the fit
service): one rule, one message. Every failure is a :class:`ModelError` whose ``field`` names
the argument that is wrong. Problems only the moments show (a singular covariance matrix) are
found by ``prepare``.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.stats.sem.defined import compile_expr, names_in
from app.stats.sem.design import check_design
from app.stats.sem.errors import ModelError
from app.stats.sem.partable import ParRow, ParTable, build_partable

ESTIMATORS = ("ML", "MLR", "MLM", "GLS", "ULS")
MISSING = ("fiml", "listwise", "pairwise")
_MISSING_ALIASES = {"ml": "fiml"}


@dataclass(frozen=True)
class CheckedModel:
    """A model that passed :func:`check_model`, with what the checks found.

    ``rows[g]`` holds the positions (in ``data``) of the rows group ``g`` keeps: complete rows
    for listwise, rows with at least one value for FIML (as lavaan); empty when the rows were
    not counted.
    """

    partable: ParTable
    groups: list[str | None]
    estimator: str  # "ML" | "MLR"
    missing: str  # "fiml" | "listwise"
    meanstructure: bool
    rows: list[np.ndarray]
    cluster: str | None = None
    sampling_weights: str | None = None


def group_labels(data: pd.DataFrame, group: str | None) -> list[str | None]:
    """The labels of `group` in order of first appearance (``[None]`` without a group)."""
    if group is None:
        return [None]
    if group not in data.columns:
        raise ModelError(f"unknown group variable: {group}", field="group")
    return [str(v) for v in pd.unique(data[group].dropna().astype(str))]


def require_variables(variables: Sequence[str], known: Collection[str]) -> None:
    """ModelError naming the `variables` that are not in `known`."""
    unknown = [v for v in variables if v not in known]
    if unknown:
        raise ModelError(
            f"unknown variable(s) in the model: {', '.join(unknown)}", variables=unknown
        )


def definitions(pt: ParTable) -> list[tuple[str, str, ast.Expression, list[str]]]:
    """The ``:=`` parameters of `pt`, compiled: ``(name, expression, tree, names used)``;
    ModelError when one uses a label that is neither a parameter nor an earlier definition."""
    out: list[tuple[str, str, ast.Expression, list[str]]] = []
    known = {r.label for r in pt.rows if r.label} | {r.plabel for r in pt.rows}
    for d in pt.definitions:
        tree = compile_expr(d.expr)
        used = names_in(tree)
        missing = [u for u in used if u not in known]
        if missing:
            raise ModelError(f"unknown label(s) in {d.name} := {d.expr}: {missing}")
        out.append((d.name, d.expr, tree, used))
        known.add(d.name)
    return out


def free_path_rows(pt: ParTable, path: Sequence[str]) -> list[ParRow]:
    """The rows of `path` (lhs, op, rhs) in every group; ModelError (field ``compare_paths``)
    unless it is a free parameter in each."""
    rows = [r for r in pt.rows if (r.lhs, r.op, r.rhs) == tuple(path)]
    if not rows or any(not r.free for r in rows):
        raise ModelError(
            f"{' '.join(path)} is not a free parameter in every group", field="compare_paths"
        )
    return rows


def usable_rows(
    data: pd.DataFrame, pt: ParTable, *, group: str | None, missing: str
) -> list[np.ndarray]:
    """Positions of the rows each group of `pt` keeps; ModelError when a group keeps fewer
    than 2 (listwise: no more than there are variables)."""
    ov = pt.names.ov
    observed = data[ov].notna().to_numpy()
    keep = observed.all(axis=1) if missing == "listwise" else observed.any(axis=1)
    labels = data[group].astype(str).where(data[group].notna()) if group is not None else None
    out: list[np.ndarray] = []
    for label in pt.groups:
        mask = keep if labels is None else keep & (labels == label).to_numpy()
        n, p = int(mask.sum()), len(ov)
        if n < 2 or (missing == "listwise" and n <= p):
            where = "" if label is None else f" in group {label}"
            raise ModelError(f"too few rows{where}: {n} for {p} variables")
        out.append(np.flatnonzero(mask))
    return out


def check_model(
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
    compare_paths: Sequence[Sequence[str]] = (),
    variables: Collection[str] | None = None,
    count_rows: bool = True,
    cluster: str | None = None,
    sampling_weights: str | None = None,
) -> CheckedModel:
    """Check a model against its data without computing moments.

    Parameters
    ----------
    data : DataFrame
        One column per observed variable (and the group column).
    model : str
        lavaan syntax.
    estimator, missing, group, group_equal, group_partial, std_lv
        As :func:`app.stats.sem.fit_model`.
    share_labels : bool
        As :func:`app.stats.sem.partable.build_partable` (False in an invariance sequence).
    compare_paths : sequence of (lhs, op, rhs)
        Paths that must be free parameters in every group (``path_difference``).
    variables : collection of str, optional
        The columns a model may name (default: every column of `data`).
    count_rows : bool
        False when the caller screens groups itself (``usable_data``), so small groups are
        left out rather than refused.
    cluster, sampling_weights : str, optional
        Columns of the survey design (:mod:`app.stats.sem.design`): lavaan's ``cluster=`` and
        ``sampling.weights=``. A cluster turns the mean structure on, as lavaan.

    Raises
    ------
    ModelError
        ``field`` is the argument at fault: ``estimator``, ``missing``, ``group``,
        ``compare_paths``, ``cluster``, ``sampling_weights`` or ``model`` (syntax, unknown
        variables, ``:=`` labels, too few rows); ``variables`` lists unknown variables.
    """
    if estimator.upper() not in ESTIMATORS:
        raise ModelError(f"estimator must be one of {ESTIMATORS}", field="estimator")
    missing = _MISSING_ALIASES.get(missing, missing)
    if missing not in MISSING:
        raise ModelError(f"missing must be one of {MISSING}", field="missing")
    if missing == "pairwise" and estimator.upper() != "ML":
        raise ModelError("missing 'pairwise' is available with estimator ML only", field="missing")
    if estimator.upper() in ("MLM", "GLS", "ULS") and missing != "listwise":
        raise ModelError(
            f"estimator {estimator.upper()} needs complete data: use missing 'listwise' (or "
            "estimator MLR with missing 'fiml')",
            field="missing",
        )
    if not isinstance(model, str) or not model.strip():
        raise ModelError("empty model")
    groups = group_labels(data, group)
    meanstructure = missing == "fiml" or len(groups) > 1 or cluster is not None
    pt = build_partable(
        model,
        groups=groups,
        meanstructure=meanstructure,
        group_equal=group_equal,
        share_labels=share_labels,
        group_partial=group_partial,
        std_lv=std_lv,
    )
    known = set(data.columns) if variables is None else set(variables) & set(data.columns)
    require_variables(pt.names.ov, known)
    definitions(pt)
    for path in compare_paths:
        free_path_rows(pt, path)
    rows = usable_rows(data, pt, group=group, missing=missing) if count_rows else []
    if not count_rows and (cluster is not None or sampling_weights is not None):
        rows_used = [np.flatnonzero(data[pt.names.ov].notna().any(axis=1).to_numpy())]
    else:
        rows_used = rows
    check_design(
        data,
        cluster=cluster,
        sampling_weights=sampling_weights,
        estimator=estimator,
        missing=missing,
        groups=len(groups),
        rows=rows_used,
    )
    return CheckedModel(
        pt, groups, estimator.upper(), missing, meanstructure, rows, cluster, sampling_weights
    )
