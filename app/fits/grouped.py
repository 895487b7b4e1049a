"""Multi-group fit jobs: groups screened, then one fit, an invariance sequence, path tests.

The numbers come from the engine (``app.stats.sem``: ``fit_model``, ``fit_invariance``,
``path_difference``); this module only decides which groups enter, runs the pieces in order,
reports progress across them and assembles API.md's ``result``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from app.fits.schemas import PATH
from app.stats.sem import (
    ExcludedGroup,
    ModelError,
    SemResult,
    fit_invariance,
    fit_model,
    path_difference,
    usable_data,
)

Progress = Callable[[float], None]
DEFAULT_MIN_GROUP_SIZE = 5


def parse_path(text: str) -> tuple[str, str, str]:
    """``"CCI ~ PV"`` -> ``("CCI", "~", "PV")`` (the schema has already checked the form)."""
    m = PATH.match(text)
    if m is None:
        raise ModelError(f"not a path like 'CCI ~ PV': {text!r}")
    lhs, op, rhs = m.groups()
    return lhs, op, rhs


class _Stages:
    """Progress over stages of unequal weight: ``part(w)`` gives a callback for the next one."""

    def __init__(self, progress: Progress | None, total: float) -> None:
        self.progress, self.total, self.done = progress, max(total, 1.0), 0.0

    def part(self, weight: float) -> Progress:
        start = self.done
        self.done += weight

        def report(fraction: float) -> None:
            if self.progress is not None:
                f = min(max(float(fraction), 0.0), 1.0)
                self.progress((start + weight * f) / self.total)

        return report


def _invariance(
    data: pd.DataFrame, spec: dict[str, Any], levels: list[str], min_size: int, report: Progress
) -> Any:
    return fit_invariance(
        data,
        spec["model"],
        group=spec["group"],
        levels=tuple(levels),
        missing=spec["missing"],
        estimator=spec["estimator"],
        min_group_size=min_size,
        progress=report,
        group_partial=tuple(spec.get("group_partial") or ()),
        modindices=True,
    )


def _groups(res: SemResult) -> list[dict[str, Any]]:
    return [{"group": g, "nobs": int(n)} for g, n in zip(res.groups, res.nobs_group, strict=True)]


def run_grouped(
    frame: pd.DataFrame, spec: dict[str, Any], *, progress: Progress | None = None
) -> dict[str, Any]:
    """The ``result`` of a grouped spec (``spec["group"]`` set); ModelError when it cannot run.

    Adds to the fit's ``to_dict()``: ``groups`` (label, nobs), ``excluded_groups`` (group, n,
    reason), ``invariance`` (None, or one object per level) with ``invariance_rule`` and
    ``unshared_labels`` (labels each group has its own of in the sequence), and
    ``path_tests`` when ``compare_paths`` asks for them.
    """
    group, model = spec["group"], spec["model"]
    min_size = int(spec.get("min_group_size") or DEFAULT_MIN_GROUP_SIZE)
    data, _, excluded = usable_data(frame, model, group, spec["missing"], min_size)
    levels = list(spec.get("invariance_levels") or []) if spec.get("invariance") else []
    paths = [parse_path(p) for p in spec.get("compare_paths") or []]
    stages = _Stages(progress, (len(levels) or 1) + 2 * len(paths))
    result: dict[str, Any]
    if levels:
        inv = _invariance(data, spec, levels, min_size, stages.part(len(levels)))
        configural = inv.levels[0].result
        result = configural.to_dict()
        result["groups"] = _groups(configural)
        result["invariance"] = inv.to_list()
        result["invariance_rule"] = inv.rule
        result["unshared_labels"] = inv.unshared_labels
        excluded = _merge(excluded, inv.excluded)
    else:
        fitted = fit_model(
            data,
            model,
            estimator=spec["estimator"],
            missing=spec["missing"],
            group=group,
            group_equal=tuple(spec.get("group_equal") or ()),
            ordered=spec.get("ordered", False),
            group_partial=tuple(spec.get("group_partial") or ()),
            std_lv=bool(spec.get("std_lv", False)),
            cluster=spec.get("cluster"),
            sampling_weights=spec.get("sampling_weights"),
            bootstrap=int(spec.get("bootstrap") or 0),
            seed=int(spec.get("seed", 1)),
            bootstrap_ci=spec.get("bootstrap_ci", "perc"),
            progress=stages.part(1),
        )
        result = fitted.to_dict()
        result["groups"] = _groups(fitted)
        result["invariance"] = None
    if paths:
        tests = []
        for path in paths:
            report = stages.part(2)
            test = path_difference(
                data,
                model,
                group=group,
                path=path,
                missing=spec["missing"],
                estimator=spec["estimator"],
                group_equal=tuple(spec.get("group_equal") or ()),
                min_group_size=min_size,
            )
            report(1.0)
            tests.append(test.to_dict())
        result["path_tests"] = tests
    result["excluded_groups"] = [e.to_dict() for e in excluded]
    return result


def _merge(first: list[ExcludedGroup], more: list[ExcludedGroup]) -> list[ExcludedGroup]:
    seen = {e.group for e in first}
    return first + [e for e in more if e.group not in seen]
