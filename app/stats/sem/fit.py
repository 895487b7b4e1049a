"""``fit_model``: the public entry point of pvm's SEM engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from app.stats.sem._threads import single_thread_blas
from app.stats.sem.bootstrap import apply_bootstrap
from app.stats.sem.errors import ModelError
from app.stats.sem.ordinal import ORDINAL_ESTIMATORS, fit_ordinal
from app.stats.sem.problem import prepare
from app.stats.sem.results import SemResult
from app.stats.sem.summary import summarize
from app.stats.sem.validate import definitions


def fit_model(
    data: pd.DataFrame,
    model: str,
    *,
    estimator: str = "ML",
    missing: str = "fiml",
    group: str | None = None,
    group_equal: Sequence[str] = (),
    ordered: bool | Sequence[str] = False,
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
    estimator : {"ML", "MLR", "WLSMV", "DWLS"}
        WLSMV and DWLS need ``ordered`` (``app.stats.sem.ordinal``).
    missing : {"fiml", "listwise"}
        "fiml" is lavaan's ``missing="ml"`` (mean structure included). Ordered items:
        "listwise" or "pairwise".
    group : str, optional
        Grouping column; groups in order of first appearance, as lavaan.
    group_equal : sequence of str
        lavaan ``group.equal`` keywords (with ordered items also ``thresholds``).
    ordered : bool or sequence of str
        lavaan's ``ordered``: True = every observed variable of the model, or the names.
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
    if ordered or estimator.upper() in ORDINAL_ESTIMATORS:
        if not ordered:
            raise ModelError(f"estimator {estimator} needs ordered variables (ordered)")
        if bootstrap > 0:
            raise ModelError("bootstrap is not available with ordered items")
        est = estimator.upper() if estimator.upper() in ORDINAL_ESTIMATORS else "WLSMV"
        with single_thread_blas():
            res = fit_ordinal(
                data,
                model,
                ordered=True if ordered is True else list(ordered),  # type: ignore[arg-type]
                estimator=est,
                missing="listwise" if missing == "fiml" else missing,
                group=group,
                group_equal=group_equal,
            )
        if progress is not None:
            progress(1.0)
        return res
    with single_thread_blas():
        prob = prepare(
            data, model, estimator=estimator, missing=missing, group=group, group_equal=group_equal
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
