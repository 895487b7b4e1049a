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
