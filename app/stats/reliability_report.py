"""The full reliability / validity report of an instrument, as one call on a DataFrame.

Pieces and their missing-data handling (stated in the result's ``missing``):

* alpha and item statistics: complete cases of each construct's items (psych::alpha on
  ``na.omit``);
* omega, CR, AVE and latent correlations: a congeneric CFA of all constructs, by FIML when
  data are missing (lavaan ``missing="ml"``) or on the complete cases (``"listwise"``);
  semTools' ``obs.var=TRUE`` denominators are then the EM saturated covariance, or the
  sample covariance (divisor n) of the rows the model used;
* HTMT / HTMT2: correlations from the same covariance matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from app.stats.reliability import (
    ConstructReliability,
    ReliabilityError,
    average_variance_extracted,
    check_constructs,
    composite_reliability,
    construct_reliability,
)
from app.stats.sem import fit_model, saturated_em
from app.stats.validity import (
    FornellLarcker,
    HTMTBootstrap,
    cov_to_corr,
    fornell_larcker,
    htmt,
    htmt_bootstrap,
    matrix_to_dict,
)

log = logging.getLogger(__name__)

__all__ = [
    "MeasurementEstimates",
    "ReliabilityReport",
    "fit_measurement_model",
    "measurement_syntax",
    "reliability_report",
]

Missing = Literal["fiml", "listwise"]


@dataclass(frozen=True)
class MeasurementEstimates:
    """What reliability needs from a fitted congeneric CFA.

    Attributes
    ----------
    loadings : DataFrame, shape (p, m)
        Lambda (unstandardized), items x factors, 0 where an item does not load.
    factor_cov : DataFrame, shape (m, m)
        lavaan's ``cov.lv``.
    observed_cov : DataFrame, shape (p, p)
        ML "sample" covariance (divisor n) or, under FIML, the EM saturated estimate.
    implied_cov : DataFrame, shape (p, p)
        Model-implied covariance ``Lambda Phi Lambda' + Theta``.
    nobs : int
        Rows the model used.
    missing : str
        ``"none"``, ``"listwise"`` or ``"fiml"``.
    engine : str
        Which SEM engine fitted the model.
    """

    loadings: pd.DataFrame
    factor_cov: pd.DataFrame
    observed_cov: pd.DataFrame
    implied_cov: pd.DataFrame
    nobs: int
    missing: str
    engine: str

    @property
    def latent_cor(self) -> pd.DataFrame:
        """Correlations between the factors, shape (m, m)."""
        sd = np.sqrt(np.diag(self.factor_cov.to_numpy()))
        cor = self.factor_cov.to_numpy() / np.outer(sd, sd)
        return pd.DataFrame(cor, index=self.factor_cov.index, columns=self.factor_cov.columns)


def measurement_syntax(constructs: Mapping[str, Sequence[str]]) -> str:
    """lavaan syntax of the congeneric CFA: one ``=~`` line per construct."""
    return "\n".join(f"{name} =~ {' + '.join(items)}" for name, items in constructs.items())


def _ml_cov(x: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=0)
    return (xc.T @ xc) / x.shape[0]


def _saturated(x: np.ndarray) -> np.ndarray:
    """EM saturated covariance of ``x`` (n, p) with NaN; divisor n."""
    return saturated_em(x).cov


def fit_measurement_model(
    data: pd.DataFrame,
    constructs: Mapping[str, Sequence[str]],
    *,
    missing: Missing = "fiml",
) -> MeasurementEstimates:
    """Fit the congeneric CFA of ``constructs`` and return its reliability ingredients.

    Parameters
    ----------
    data : DataFrame, shape (n, >= p)
        Item scores, NaN = missing.
    constructs : mapping of str to sequence of str
        Construct -> items; every construct becomes one factor.
    missing : {"fiml", "listwise"}
        How rows with missing items are used.

    Returns
    -------
    MeasurementEstimates
    """
    check_constructs(data, constructs)
    items = [i for its in constructs.values() for i in its]
    factors = list(constructs)
    x = data[items].to_numpy(dtype=float)
    incomplete = np.isnan(x).any(axis=1)
    how = "none"
    if incomplete.any():
        how = missing
        # FIML keeps partial rows; lavaan drops only rows with every item missing.
        keep = ~incomplete if missing == "listwise" else ~np.isnan(x).all(axis=1)
        x = x[keep]
    frame = pd.DataFrame(x, columns=items)
    syntax = measurement_syntax(constructs)
    lam, phi, theta, observed, engine = _fit(frame, syntax, factors, fiml=how == "fiml")
    implied = lam.to_numpy() @ phi.to_numpy() @ lam.to_numpy().T + theta
    return MeasurementEstimates(
        loadings=lam,
        factor_cov=phi,
        observed_cov=pd.DataFrame(observed, index=items, columns=items),
        implied_cov=pd.DataFrame(implied, index=items, columns=items),
        nobs=int(x.shape[0]),
        missing=how,
        engine=engine,
    )


def _fit(
    frame: pd.DataFrame, syntax: str, factors: list[str], *, fiml: bool
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray, str]:
    """Lambda (p, m), Phi (m, m), Theta (p, p), the observed covariance (p, p; the EM
    estimate under FIML) and the engine's name, from pvm's SEM engine."""
    items = list(frame.columns)
    res = fit_model(frame, syntax, missing="fiml" if fiml else "listwise")
    if not res.converged:
        raise ReliabilityError("the measurement model (CFA) did not converge")
    mats = res.matrices[0]
    lam = pd.DataFrame(mats.lambda_, index=mats.ov, columns=mats.lv)
    phi = pd.DataFrame(mats.lv_cov, index=mats.lv, columns=mats.lv)
    order = [mats.ov.index(i) for i in items]
    theta = np.asarray(mats.theta)[np.ix_(order, order)]
    observed = np.asarray(mats.sample_cov)[np.ix_(order, order)]
    return lam.loc[items, factors], phi.loc[factors, factors], theta, observed, "pvm"


@dataclass(frozen=True)
class ReliabilityReport:
    """Reliability and discriminant validity of all constructs of an instrument.

    ``htmt``/``htmt2`` are (m, m) DataFrames keyed by construct; ``fornell_larcker`` and
    the model-based coefficients are absent when the CFA could not be fitted
    (``model_error`` says why).
    """

    constructs: tuple[ConstructReliability, ...]
    htmt: pd.DataFrame
    htmt2: pd.DataFrame
    fornell_larcker: FornellLarcker | None
    n: int
    missing: dict[str, str]
    model_nobs: int | None
    model_error: str | None
    htmt_bootstrap: HTMTBootstrap | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "n": self.n,
            "constructs": {c.construct: c.to_dict() for c in self.constructs},
            "htmt": matrix_to_dict(self.htmt),
            "htmt2": matrix_to_dict(self.htmt2),
            "fornell_larcker": (
                self.fornell_larcker.to_dict() if self.fornell_larcker is not None else None
            ),
            "missing": dict(self.missing),
            "model": {"nobs": self.model_nobs, "error": self.model_error},
        }
        if self.htmt_bootstrap is not None:
            out["htmt_bootstrap"] = self.htmt_bootstrap.to_dict()
        return out


_MISSING_TEXT = {
    "alpha": "complete cases of each construct's items",
    "none": "no missing values",
    "listwise": "complete cases of all items",
    "fiml": "full-information ML (lavaan missing='ml')",
    "ml": "correlations from the EM estimate of the saturated covariance (lavCor missing='ml')",
}


def reliability_report(
    data: pd.DataFrame,
    constructs: Mapping[str, Sequence[str]],
    *,
    missing: Missing = "fiml",
    fit_model: bool = True,
    htmt_draws: int = 0,
    seed: int = 1,
) -> ReliabilityReport:
    """Compute alpha, omega, CR, AVE, item statistics, HTMT, HTMT2 and Fornell-Larcker.

    Parameters
    ----------
    data : DataFrame, shape (n, >= p)
        One float column per item, NaN = missing; other columns are ignored.
    constructs : mapping of str to sequence of str
        Construct -> its items, in report order (m constructs, p items in all).
    missing : {"fiml", "listwise"}
        Missing-data handling of the CFA and the HTMT correlations.
    fit_model : bool
        False skips the CFA (no omega, CR, AVE, Fornell-Larcker); HTMT still computed.
    htmt_draws, seed : int
        With ``htmt_draws`` > 0, percentile bootstrap intervals of HTMT and HTMT2
        (:func:`app.stats.validity.htmt_bootstrap`, the same missing-data rule as the point
        estimates) in ``htmt_bootstrap``.

    Returns
    -------
    ReliabilityReport

    Raises
    ------
    ReliabilityError
        Unknown items, an empty construct, or too few complete cases for alpha.
    """
    check_constructs(data, constructs)
    items = [i for its in constructs.values() for i in its]
    x = data[items].to_numpy(dtype=float)
    any_missing = bool(np.isnan(x).any())
    how_model = missing if any_missing else "none"
    estimates, model_error = _try_measurement_model(data, constructs, missing, fit_model)
    corr = _item_correlations(estimates, x, items, how_model)
    omega, cr, ave, fl = _model_based_validity(estimates)
    rows = tuple(
        construct_reliability(
            data,
            its,
            construct=name,
            omega=omega.get(name),
            cr=cr.get(name),
            ave=ave.get(name),
        )
        for name, its in constructs.items()
    )
    htmt_how = "ml" if how_model == "fiml" else how_model
    boot = _htmt_intervals(data, constructs, missing, htmt_draws, seed)
    return ReliabilityReport(
        constructs=rows,
        htmt=htmt(corr, constructs, htmt2=False),
        htmt2=htmt(corr, constructs, htmt2=True),
        fornell_larcker=fl,
        n=int(x.shape[0]),
        missing={
            "alpha": _MISSING_TEXT["alpha"],
            "model": _MISSING_TEXT[how_model],
            "htmt": _MISSING_TEXT[htmt_how],
        },
        model_nobs=estimates.nobs if estimates is not None else None,
        model_error=model_error,
        htmt_bootstrap=boot,
    )


def _try_measurement_model(
    data: pd.DataFrame, constructs: Mapping[str, Sequence[str]], missing: Missing, fit_model: bool
) -> tuple[MeasurementEstimates | None, str | None]:
    """``(estimates, None)`` of the CFA, ``(None, why)`` when it cannot be fitted (alpha and
    HTMT stay meaningful), ``(None, None)`` when not asked for or without constructs."""
    if fit_model and len(constructs) > 0:
        try:
            return fit_measurement_model(data, constructs, missing=missing), None
        except (ValueError, np.linalg.LinAlgError) as exc:
            # A CFA that cannot be fitted still leaves alpha and HTMT meaningful.
            log.warning("measurement model not fitted: %s", exc)
            return None, str(exc)
    return None, None


def _item_correlations(
    estimates: MeasurementEstimates | None, x: np.ndarray, items: list[str], how_model: str
) -> pd.DataFrame:
    """The item correlations HTMT is computed from: the CFA's observed covariances, else the
    saturated (EM) estimate over rows with any item, else the ML covariance of complete rows.

    Raises
    ------
    ReliabilityError
        Fewer than 3 complete rows (listwise), a singular saturated estimate, or a covariance
        that is not a correlation's.
    """
    if estimates is not None:
        cov = estimates.observed_cov.to_numpy()
    elif how_model == "fiml":
        answered = x[~np.isnan(x).all(axis=1)]
        try:
            cov = _saturated(answered)
        except np.linalg.LinAlgError:
            raise ReliabilityError(
                f"the covariance matrix of the items cannot be estimated from {answered.shape[0]}"
                " responses (singular: too few responses or items answered alike)"
            ) from None
    else:
        complete = x[~np.isnan(x).any(axis=1)]
        if complete.shape[0] < 3:
            raise ReliabilityError(f"only {complete.shape[0]} complete cases for HTMT")
        cov = _ml_cov(complete)
    try:
        return cov_to_corr(cov, items)
    except ValueError as exc:
        raise ReliabilityError(str(exc)) from None


def _model_based_validity(
    estimates: MeasurementEstimates | None,
) -> tuple[
    dict[str, float | None], dict[str, float | None], dict[str, float | None], FornellLarcker | None
]:
    """``(omega, CR, AVE, Fornell-Larcker)`` of the fitted CFA; empty (and None) without one."""
    omega: dict[str, float | None] = {}
    cr: dict[str, float | None] = {}
    ave: dict[str, float | None] = {}
    fl = None
    if estimates is not None:
        lam, phi = estimates.loadings, estimates.factor_cov
        omega = composite_reliability(lam, phi, estimates.observed_cov)
        cr = composite_reliability(lam, phi, estimates.implied_cov)
        ave = average_variance_extracted(lam, phi, estimates.observed_cov)
        fl = fornell_larcker(ave, estimates.latent_cor)
    return omega, cr, ave, fl


def _htmt_intervals(
    data: pd.DataFrame,
    constructs: Mapping[str, Sequence[str]],
    missing: Missing,
    draws: int,
    seed: int,
) -> HTMTBootstrap | None:
    """Percentile bootstrap intervals of HTMT and HTMT2 (None without draws or with one
    construct); ReliabilityError when they cannot be computed."""
    if draws > 0 and len(constructs) > 1:
        try:
            return htmt_bootstrap(
                data,
                constructs,
                draws=draws,
                seed=seed,
                missing="listwise" if missing == "listwise" else "ml",
            )
        except ValueError as exc:
            raise ReliabilityError(str(exc)) from None
    return None
