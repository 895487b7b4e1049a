"""Data checks before fitting: say in a researcher's words why a covariance matrix is singular.

numpy's "Matrix is not positive definite" names neither the matrix nor the variables; these
checks do, and :func:`group_data` turns every such failure into a :class:`ModelError`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from app.stats.sem.errors import ModelError
from app.stats.sem.likelihood import GroupData

# Eigenvalues of the correlation matrix below this (relative to the largest) count as zero:
# far below any real item set (1e-4 is already a correlation of 0.99995), far above rounding.
NULL_RTOL = 1e-10


def group_data(X: np.ndarray, names: Sequence[str], where: str = "") -> GroupData:
    """:meth:`GroupData.from_array`, with a clear :class:`ModelError` for degenerate data.

    A constant item is always an error. Complete data (and listwise rows) must have a positive
    definite sample covariance matrix. With missing values a singular EM estimate is an error
    when the complete rows show why (items that are exact linear combinations of others);
    otherwise, e.g. two items hardly ever answered together in a small group, the model is
    still fitted without the saturated model (README: "When the saturated model cannot be
    estimated").

    Parameters
    ----------
    X : ndarray, shape (n, p)
        NaN = missing; rows with every value missing already removed.
    names : sequence of str, length p
    where : str
        Appended to the subject of the message, e.g. " in group consumer".

    Raises
    ------
    ModelError
        "the sample covariance matrix of A, B, C is singular (4 rows; constant items: B)".
    """
    n, p = X.shape
    complete = not np.isnan(X).any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: var is NaN
        var = np.nanvar(X, axis=0)
    constant = [v for v, s in zip(names, var, strict=True) if not s > 0]
    if constant:
        reason = f"{n} rows; constant items: {', '.join(constant)}"
        raise singular_error(names, reason, where, em=not complete)
    if complete and n <= p:
        raise singular_error(names, f"{n} rows for {p} variables", where, em=False)
    try:
        gd = GroupData.from_array(X)
    except np.linalg.LinAlgError as exc:  # complete data only: a failed EM falls back
        dependent = _null_items(np.cov(X, rowvar=False), names)
        raise singular_error(names, _reason(n, dependent), where, em=False) from exc
    # Cholesky alone is no test: an exactly singular matrix often factors with a tiny pivot.
    if not math.isnan(gd.h1.loglik):
        cov = gd.h1.cov
    elif (Xc := X[~np.isnan(X).any(axis=1)]).shape[0] > p:
        cov = np.cov(Xc, rowvar=False)  # the EM failed: the complete rows may show why
    else:
        return gd  # fitted without the saturated model
    dependent = _null_items(cov, names)
    if dependent:
        raise singular_error(names, _reason(n, dependent), where, em=not complete)
    return gd


def _reason(n: int, dependent: list[str]) -> str:
    if not dependent:
        return f"{n} rows"
    return f"{n} rows; linearly dependent items: {', '.join(dependent)}"


def singular_error(names: Sequence[str], reason: str, where: str, *, em: bool) -> ModelError:
    """``ModelError`` naming the matrix, the variables and the reason."""
    what = "the EM estimate of the covariance matrix" if em else "the sample covariance matrix"
    return ModelError(f"{what} of {', '.join(names)} is singular{where} ({reason})")


def _null_items(cov: np.ndarray, names: Sequence[str]) -> list[str]:
    """Variables in the null space of the correlation matrix of ``cov`` (p, p)."""
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    if np.any(sd <= 0):
        return [v for v, s in zip(names, sd, strict=True) if s <= 0]
    w, V = np.linalg.eigh(cov / np.outer(sd, sd))
    null = V[:, w <= NULL_RTOL * max(float(w.max()), 1.0)]
    involved = np.linalg.norm(null, axis=1) > 1e-6
    return [v for v, k in zip(names, involved, strict=True) if k]


def pairwise_data(X: np.ndarray, names: Sequence[str], where: str = "") -> GroupData:
    """:meth:`GroupData.from_pairwise`, with a clear :class:`ModelError` for degenerate data."""
    n = X.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        var = np.nanvar(X, axis=0)
    constant = [v for v, s in zip(names, var, strict=True) if not s > 0]
    if constant:
        raise ModelError(
            f"the pairwise covariance matrix of {', '.join(names)} is singular{where} "
            f"({n} rows; constant items: {', '.join(constant)})"
        )
    try:
        return GroupData.from_pairwise(X)
    except np.linalg.LinAlgError as exc:
        raise ModelError(
            f"the pairwise covariance matrix of {', '.join(names)} cannot be used{where} "
            f"({n} rows; {exc})"
        ) from exc
