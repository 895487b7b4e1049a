"""``fit_model``: the public entry point of pvm's SEM engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from app.stats.sem._threads import single_thread_blas
from app.stats.sem.bootstrap import apply_bootstrap
from app.stats.sem.errors import ModelError
from app.stats.sem.problem import prepare
from app.stats.sem.results import SemResult
from app.stats.sem.summary import definitions, summarize


def fit_model(
    data: pd.DataFrame,
    model: str,
    *,
    estimator: str = "ML",
    missing: str = "fiml",
    group: str | None = None,
    group_equal: Sequence[str] = (),
    std_lv: bool = False,
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
    estimator : {"ML", "MLR", "MLM", "GLS", "ULS"}
        "MLM", "GLS" and "ULS" need ``missing="listwise"``; GLS and ULS have no bootstrap.
    missing : {"fiml", "listwise", "pairwise"}
        "fiml" is lavaan's ``missing="ml"`` (mean structure included); "pairwise" (ML only)
        fits the pairwise covariances as lavaan's ``missing="pairwise"``.
    group : str, optional
        Grouping column; groups in order of first appearance, as lavaan.
    group_equal : sequence of str
        lavaan ``group.equal`` keywords.
    std_lv : bool
        lavaan's ``std.lv``: latent variables scaled by variance 1 instead of a marker loading.
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
    if bootstrap > 0 and estimator.upper() in ("GLS", "ULS"):
        raise ModelError(f"bootstrap is not available with estimator {estimator.upper()}")
    if bootstrap > 0 and missing == "pairwise":
        raise ModelError("bootstrap is not available with missing 'pairwise'")
    with single_thread_blas():
        prob = prepare(
            data,
            model,
            estimator=estimator,
            missing=missing,
            group=group,
            group_equal=group_equal,
            std_lv=std_lv,
        )
        defs = definitions(prob.partable)
        opt = prob.refit(prob.data)
        if progress is not None and bootstrap <= 0:
            progress(0.9)
        result = summarize(prob, opt, defs)
    if bootstrap > 0:
        result = apply_bootstrap(prob, result, B=bootstrap, seed=seed, progress=progress)
    if progress is not None:
        progress(1.0)
    return result
