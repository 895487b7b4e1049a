"""Driver importance from standardized SEM paths and importance-performance analysis (IPA).

Importance of a driver for an outcome is its standardized total effect: with ``B`` the matrix of
standardized (``std.all``) regressions among latent variables (``B[y, x]`` for ``y ~ x``), the
total effects are ``(I - B)^-1 - I``, which sums the products of standardized paths over every
directed path. For the default model and outcome PV this is the direct path ``PV ~ driver``;
for SAT it is ``PV~d * SAT~PV``; for LOY it adds the routes through SAT and CCI.

Quadrants follow Martilla & James (1977), with data-centred cross-hairs: a driver is "high" on
an axis when its value is at or above the mean over the plotted drivers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

QUADRANTS = ("concentrate", "keep_up", "low_priority", "possible_overkill")
SPLIT_RULE = (
    "Martilla & James (1977) quadrants split at the mean importance and the mean performance of "
    "the plotted drivers (values equal to a mean count as high): high importance & low "
    "performance = concentrate, high & high = keep_up, low & low = low_priority, "
    "low importance & high performance = possible_overkill"
)


class DriverError(ValueError):
    """The estimates do not define the requested outcome or drivers."""


def _latents(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        if r["op"] == "=~":
            seen.setdefault(str(r["lhs"]), None)
    return list(seen)


def _first_group(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    rows = list(rows)
    groups = [r.get("group") for r in rows if r.get("group") not in (None, "")]
    if not groups:
        return rows
    first = groups[0]
    return [r for r in rows if r.get("group") in (None, "", first)]


def total_effects(
    estimates: Iterable[Mapping[str, Any]], *, column: str = "std.all"
) -> tuple[list[str], np.ndarray]:
    """Standardized total effects among latent variables.

    Returns ``(names, T)`` where ``T[i, j]`` is the total effect of ``names[j]`` on ``names[i]``,
    shape (n_latent, n_latent).
    """
    rows = _first_group(estimates)
    names = _latents(rows)
    pos = {n: i for i, n in enumerate(names)}
    b = np.zeros((len(names), len(names)))
    for r in rows:
        if r["op"] == "~" and r["lhs"] in pos and r["rhs"] in pos:
            value = r.get(column)
            if value is None:
                raise DriverError(f"estimate {r['lhs']} ~ {r['rhs']} has no {column!r}")
            b[pos[r["lhs"]], pos[r["rhs"]]] = float(value)
    eye = np.eye(len(names))
    try:
        t = np.linalg.inv(eye - b) - eye
    except np.linalg.LinAlgError as exc:  # a non-recursive model with a unit loop
        raise DriverError("structural paths are not invertible") from exc
    return names, t


def exogenous(estimates: Iterable[Mapping[str, Any]]) -> list[str]:
    """Latent variables that are never regressed on anything (the drivers of the default model)."""
    rows = _first_group(estimates)
    dependent = {str(r["lhs"]) for r in rows if r["op"] == "~"}
    return [n for n in _latents(rows) if n not in dependent]


def driver_importance(
    estimates: Sequence[Mapping[str, Any]],
    *,
    outcome: str,
    drivers: Sequence[str] | None = None,
    column: str = "std.all",
) -> dict[str, float]:
    """Standardized total effect of each driver on ``outcome`` (default drivers: exogenous LVs)."""
    names, t = total_effects(estimates, column=column)
    if outcome not in names:
        raise DriverError(f"{outcome!r} is not a latent variable of the model")
    chosen = list(drivers) if drivers is not None else exogenous(estimates)
    missing = [d for d in chosen if d not in names]
    if missing:
        raise DriverError(f"unknown drivers: {', '.join(missing)}")
    i = names.index(outcome)
    return {d: float(t[i, names.index(d)]) for d in chosen if d != outcome}


def quadrant(importance: float, performance: float, imp_split: float, perf_split: float) -> str:
    high_imp = importance >= imp_split
    high_perf = performance >= perf_split
    if high_imp:
        return "keep_up" if high_perf else "concentrate"
    return "possible_overkill" if high_perf else "low_priority"


@dataclass(frozen=True)
class DriverPoint:
    construct: str
    importance: float
    performance: float | None
    quadrant: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "construct": self.construct,
            "importance": self.importance,
            "performance": self.performance,
            "quadrant": self.quadrant,
        }


@dataclass(frozen=True)
class IPAResult:
    """Importance-performance of the drivers of one outcome for one group (or overall)."""

    outcome: str
    drivers: tuple[DriverPoint, ...]
    importance_split: float | None
    performance_split: float | None
    rule: str = SPLIT_RULE

    @property
    def concentrate(self) -> list[str]:
        """Drivers to concentrate on, most important first."""
        pts = [d for d in self.drivers if d.quadrant == "concentrate"]
        return [d.construct for d in sorted(pts, key=lambda d: -d.importance)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "drivers": [d.to_dict() for d in self.drivers],
            "importance_split": self.importance_split,
            "performance_split": self.performance_split,
            "concentrate_on": self.concentrate,
            "rule": self.rule,
        }


def ipa(
    importance: Mapping[str, float], performance: Mapping[str, float | None], *, outcome: str
) -> IPAResult:
    """Classify drivers into quadrants; drivers without performance (suppressed) get none.

    Drivers are listed by decreasing importance.
    """
    known = {k: v for k, v in performance.items() if v is not None and np.isfinite(v)}
    shown = [k for k in importance if k in known]
    imp_split = float(np.mean([importance[k] for k in shown])) if shown else None
    perf_split = float(np.mean([known[k] for k in shown])) if shown else None
    points = []
    for k in sorted(importance, key=lambda k: -importance[k]):
        perf = known.get(k)
        q = None
        if perf is not None and imp_split is not None and perf_split is not None:
            q = quadrant(importance[k], perf, imp_split, perf_split)
        points.append(DriverPoint(k, float(importance[k]), perf, q))
    return IPAResult(outcome, tuple(points), imp_split, perf_split)
