"""PLSpredict (Shmueli et al. 2016, 2019): k-fold cross-validated predictions of the
endogenous constructs' items, against a linear-model benchmark, as seminr's ``predict_pls``.

Each repetition draws one permutation of the rows (numpy PCG64 seeded with ``seed``, one
permutation per repetition from the same generator) and cuts it into ``folds`` contiguous
blocks the way R's ``cut(seq_len(n), breaks = folds)`` does. For every fold the model is
re-estimated on the other folds (standardised with their own means and sds); the held-out
rows' construct scores come from those weights, each endogenous construct is predicted from
its direct antecedents (seminr's default ``predict_DA``), and its items from the predicted
score times the loadings, back on the items' scale. The benchmark regresses each endogenous
item on all items of the construct's direct antecedents (with an intercept) on the same
training rows. Per item: RMSE and MAE of both, and Q²predict = 1 - SSE(PLS) / SSE(the training
folds' item mean). With several repetitions every metric is the mean over the repetitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.stats.pls.estimate import PlsResult, fit_pls
from app.stats.sem import ModelError


@dataclass(frozen=True)
class PlsPredict:
    """Item-level out-of-sample metrics, each a dict item -> value (endogenous items)."""

    folds: int
    repetitions: int
    seed: int
    items: list[str]
    pls_rmse: dict[str, float]
    pls_mae: dict[str, float]
    lm_rmse: dict[str, float]
    lm_mae: dict[str, float]
    q2predict: dict[str, float]
    predictions: np.ndarray  # (n, items) PLS out-of-sample predictions of the first repetition


def cut_folds(n: int, k: int) -> np.ndarray:
    """Fold number (0-based) of each position 0..n-1, as R's ``cut(seq_len(n), breaks=k)``."""
    breaks = 1 + np.arange(k + 1) * (n - 1) / k
    breaks[0], breaks[k] = 1 - (n - 1) / 1000, n + (n - 1) / 1000
    return np.searchsorted(breaks[1:], np.arange(1, n + 1), side="left")


def fold_assignment(n: int, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of each row for one repetition: a permutation of the rows cut into folds."""
    order = rng.permutation(n)
    fold_of = np.empty(n, dtype=int)
    fold_of[order] = cut_folds(n, folds)
    return fold_of


def _predict_fold(
    res: PlsResult, train: np.ndarray, test: np.ndarray, endo_items: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    spec = res.spec
    frame = pd.DataFrame(res.data[train], columns=res.items)
    model = fit_pls(frame, spec, scheme=res.scheme, consistent=res.consistent, missing="listwise")  # type: ignore[arg-type]
    z = (res.data[test] - model.item_mean) / model.item_sd
    scores = z @ model.weights
    predicted = scores @ model.paths
    exogenous = [j for j, c in enumerate(res.constructs) if c not in spec.endogenous]
    predicted[:, exogenous] = scores[:, exogenous]
    items = predicted @ model.loadings.T * model.item_sd + model.item_mean
    pls = items[:, endo_items]

    lm = np.empty_like(pls)
    col = 0
    for dv in spec.endogenous:
        ante = [i for a in spec.antecedents(dv) for i in spec.construct(a).items]
        x_idx = [res.items.index(i) for i in ante]
        y_idx = [res.items.index(i) for i in spec.construct(dv).items]
        x_train = np.column_stack([np.ones(train.sum()), res.data[train][:, x_idx]])
        x_test = np.column_stack([np.ones(test.sum()), res.data[test][:, x_idx]])
        beta = np.linalg.solve(x_train.T @ x_train, x_train.T @ res.data[train][:, y_idx])
        lm[:, col : col + len(y_idx)] = x_test @ beta
        col += len(y_idx)
    return pls, lm


def predict_pls(
    res: PlsResult, *, folds: int = 10, repetitions: int = 10, seed: int = 1
) -> PlsPredict:
    """PLSpredict of ``res`` (a :func:`fit_pls` result).

    Raises
    ------
    ModelError
        ``folds`` not between 2 and the number of rows, ``repetitions`` below 1, or a fold's
        training rows cannot be estimated (a constant item).
    """
    n = res.nobs
    if not 2 <= folds <= n:
        raise ModelError(f"folds must be between 2 and {n}")
    if repetitions < 1:
        raise ModelError("repetitions must be at least 1")
    spec = res.spec
    endo = [i for dv in spec.endogenous for i in spec.construct(dv).items]
    endo_idx = [res.items.index(i) for i in endo]
    actual = res.data[:, endo_idx]
    rng = np.random.default_rng(seed)
    metrics: dict[str, list[np.ndarray]] = {k: [] for k in ("pr", "pm", "lr", "lm", "q2")}
    first = np.empty_like(actual)
    for r in range(repetitions):
        fold_of = fold_assignment(n, folds, rng)
        pls, lm, naive = (np.empty_like(actual) for _ in range(3))
        for f in range(folds):
            test = fold_of == f
            train = ~test
            pls[test], lm[test] = _predict_fold(res, train, test, endo_idx)
            naive[test] = actual[train].mean(axis=0)
        if r == 0:
            first = pls
        e_pls, e_lm = actual - pls, actual - lm
        metrics["pr"].append(np.sqrt((e_pls**2).mean(axis=0)))
        metrics["pm"].append(np.abs(e_pls).mean(axis=0))
        metrics["lr"].append(np.sqrt((e_lm**2).mean(axis=0)))
        metrics["lm"].append(np.abs(e_lm).mean(axis=0))
        metrics["q2"].append(1 - (e_pls**2).sum(axis=0) / ((actual - naive) ** 2).sum(axis=0))

    def table(key: str) -> dict[str, float]:
        mean = np.mean(metrics[key], axis=0)
        return {i: float(v) for i, v in zip(endo, mean, strict=True)}

    return PlsPredict(
        folds=folds,
        repetitions=repetitions,
        seed=seed,
        items=endo,
        pls_rmse=table("pr"),
        pls_mae=table("pm"),
        lm_rmse=table("lr"),
        lm_mae=table("lm"),
        q2predict=table("q2"),
        predictions=first,
    )


@dataclass(frozen=True)
class Blindfolding:
    """Stone-Geisser Q² by blindfolding (cross-validated redundancy) per endogenous construct."""

    distance: int
    sse: dict[str, float]
    sso: dict[str, float]

    @property
    def q2(self) -> dict[str, float]:
        return {c: 1.0 - self.sse[c] / self.sso[c] for c in self.sse}

    def to_dict(self) -> dict[str, object]:
        return {
            "distance": self.distance,
            "constructs": [
                {"construct": c, "sse": self.sse[c], "sso": self.sso[c], "q2": q}
                for c, q in self.q2.items()
            ],
        }


def blindfolding(res: PlsResult, *, distance: int = 7) -> Blindfolding:
    """Blindfolding with omission distance ``distance`` (SmartPLS's cross-validated redundancy).

    For each endogenous construct, its data points are numbered case by case (case 1's items,
    then case 2's, ...); round d omits the points numbered d, d + D, d + 2D, ..., replaces each
    by the mean of its item's remaining values and re-estimates the model. An omitted value is
    predicted as ``mean + sd * loading * (sum of path * antecedent score)`` from that round's
    estimates (its item means and sds, weights, loadings and paths), the antecedent scores
    from the case's own (unomitted) items. Q² = 1 - SSE / SSO, SSO the squared deviations of
    the omitted values from the round's item means, summed over the rounds and items.

    Raises
    ------
    ModelError
        ``distance`` below 2 or not below the number of rows, or a round cannot be estimated.
    """
    n = res.nobs
    if not 2 <= distance < n:
        raise ModelError(f"the omission distance must be between 2 and {n - 1}")
    spec = res.spec
    sse: dict[str, float] = {}
    sso: dict[str, float] = {}
    for dv in spec.endogenous:
        cols = [res.items.index(i) for i in spec.construct(dv).items]
        k = len(cols)
        number = np.arange(n * k).reshape(n, k)
        t = res.constructs.index(dv)
        ante = [res.constructs.index(a) for a in spec.antecedents(dv)]
        e = o = 0.0
        for d in range(distance):
            omit = number % distance == d
            if not omit.any():
                continue
            x = res.data.copy()
            block = x[:, cols]
            kept_mean = np.array([block[~omit[:, j], j].mean() for j in range(k)], dtype=float)
            block[omit] = np.broadcast_to(kept_mean, block.shape)[omit]
            x[:, cols] = block
            frame = pd.DataFrame(x, columns=res.items)
            model = fit_pls(
                frame,
                spec,
                scheme=res.scheme,  # type: ignore[arg-type]
                consistent=res.consistent,
                missing="listwise",
            )
            scores = (x - model.item_mean) / model.item_sd @ model.weights
            predicted = scores[:, ante] @ model.paths[ante, t]
            for j, c in enumerate(cols):
                rows = omit[:, j]
                if not rows.any():
                    continue
                hat = model.item_mean[c] + model.item_sd[c] * model.loadings[c, t] * predicted
                actual = res.data[rows, c]
                e += float(((actual - hat[rows]) ** 2).sum())
                o += float(((actual - model.item_mean[c]) ** 2).sum())
        sse[dv], sso[dv] = e, o
    return Blindfolding(distance, sse, sso)
