"""Importance-performance map analysis (Ringle & Sarstedt 2016) of a fitted PLS model.

Items are rescaled to 0-100 on their scale, ``(x - min) / (max - min) * 100``; the
unstandardized weights (standardized weight / sd of the rescaled item) are normalized to sum
to one in each block, so a construct's performance, the weighted mean of its rescaled items, is
also on 0-100. Importance is the unstandardized total effect on the target: the standardized
total effect times sd(target) / sd(source) of the rescaled-weight construct scores; an item's
importance is its normalized weight times its construct's importance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.stats.pls.estimate import PlsResult
from app.stats.pls.evaluate import total_effects
from app.stats.sem import ModelError


@dataclass(frozen=True)
class Ipma:
    target: str
    performance: dict[str, float]  # every construct, 0-100
    importance: dict[str, float]  # constructs with a total effect on the target
    weights: dict[str, dict[str, float]]  # construct -> item -> normalized rescaled weight
    item_performance: dict[str, float]
    item_importance: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "constructs": [
                {
                    "construct": c,
                    "performance": self.performance[c],
                    "importance": self.importance.get(c),
                }
                for c in self.performance
            ],
            "items": [
                {
                    "construct": c,
                    "item": i,
                    "weight": w,
                    "performance": self.item_performance[i],
                    "importance": self.item_importance.get(i),
                }
                for c, row in self.weights.items()
                for i, w in row.items()
            ],
        }


def rescaled_weights(
    res: PlsResult, scale: Mapping[str, tuple[float, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """The items rescaled to 0-100 (n, p) and the normalized unstandardized weights (p, m)."""
    lo = np.array([scale[i][0] for i in res.items], dtype=float)
    hi = np.array([scale[i][1] for i in res.items], dtype=float)
    if np.any(hi <= lo):
        raise ModelError("each item's scale maximum must exceed its minimum")
    x = (res.data - lo) / (hi - lo) * 100.0
    w = res.weights / x.std(axis=0, ddof=1)[:, None]
    sums = w.sum(axis=0)
    if np.any(np.abs(sums) < 1e-12):
        raise ModelError("a construct's weights sum to zero; its performance is undefined")
    return x, w / sums


def observed_scale(res: PlsResult) -> dict[str, tuple[float, float]]:
    """Each item's lowest and highest observed value."""
    return {
        i: (float(res.data[:, k].min()), float(res.data[:, k].max()))
        for k, i in enumerate(res.items)
    }


def ipma(
    res: PlsResult, target: str, scale: Mapping[str, tuple[float, float]] | None = None
) -> Ipma:
    """IPMA of ``res`` for ``target``; ``scale`` gives each item's (min, max) (the observed
    range when omitted).

    Raises
    ------
    ModelError
        ``target`` is not a construct of the model, or a scale range is empty.
    """
    if target not in res.constructs:
        raise ModelError(f"target {target!r} is not a construct of the model")
    scale = scale or observed_scale(res)
    missing = [i for i in res.items if i not in scale]
    if missing:
        raise ModelError(f"no scale range for {', '.join(missing)}")
    x, w = rescaled_weights(res, scale)
    scores = x @ w
    sd = scores.std(axis=0, ddof=1)
    t = res.constructs.index(target)
    te = total_effects(res)
    means = x.mean(axis=0)
    performance = {c: float(means @ w[:, j]) for j, c in enumerate(res.constructs)}
    importance = {
        c: float(te[j, t] * sd[t] / sd[j])
        for j, c in enumerate(res.constructs)
        if j != t and te[j, t] != 0
    }
    weights = {
        c.name: {i: float(w[res.items.index(i), res.constructs.index(c.name)]) for i in c.items}
        for c in res.spec.constructs
    }
    item_importance = {
        i: importance[c] * wi
        for c, row in weights.items()
        if c in importance
        for i, wi in row.items()
    }
    return Ipma(
        target=target,
        performance=performance,
        importance=importance,
        weights=weights,
        item_performance={i: float(means[k]) for k, i in enumerate(res.items)},
        item_importance=item_importance,
    )


def index_weights(
    res: PlsResult, scale: Mapping[str, tuple[float, float]]
) -> dict[str, dict[str, float]]:
    """ACSI-style index weights: per construct, its items' unstandardized weights (on the
    0-100 rescaled items) normalized to sum to one, as :func:`ipma` uses them."""
    _, w = rescaled_weights(res, scale)
    return {
        c.name: {i: float(w[res.items.index(i), res.constructs.index(c.name)]) for i in c.items}
        for c in res.spec.constructs
    }


def respondent_index(
    items: pd.DataFrame,
    weights: Mapping[str, Mapping[str, float]],
    scale: Mapping[str, tuple[float, float]],
) -> pd.DataFrame:
    """Each respondent's weighted 0-100 score per construct: ``sum w_i (x_i - min_i) /
    (max_i - min_i) * 100 / sum w_i`` over the items they answered (the weights of the
    answered items renormalized, as the equal-weight index averages the answered items); NaN
    when no item (or no positive weight) is answered. A group's mean of these scores is its
    ACSI-style index, ``sum w_i (mean_i - min_i) / (max_i - min_i) * 100``, when every item
    is answered."""
    out = {}
    for construct, row in weights.items():
        codes = list(row)
        w = np.array([row[i] for i in codes], dtype=float)
        lo = np.array([scale[i][0] for i in codes], dtype=float)
        hi = np.array([scale[i][1] for i in codes], dtype=float)
        x = (items[codes].to_numpy(dtype=float) - lo) / (hi - lo) * 100.0
        answered = ~np.isnan(x)
        total = (answered * w).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(answered, x, 0.0) @ w / total
        out[construct] = np.where(total > 1e-12, score, np.nan)
    return pd.DataFrame(out, index=items.index)
