"""Operators' reporting: scores per group, trends and driver importance-performance.

Everything is served from the maintained aggregates (``app.reporting.aggregates``); only the
driver importances need a model fit (``app.reporting.importance``). ``scope`` is the branch list
of a branch-scoped key (None = every branch); such keys see their branches and the overall
benchmark of the whole survey.

Comparisons: with ``by="branch"`` every branch is tested against the rest of the whole survey,
so a branch's numbers do not depend on who asks. With ``by="customer_type"``/``"tenure"`` and a
branch scope or filter, the groups are formed (and tested) within the visible branches.

Suppression across tables: the branch table suppresses small branches and the branches that
protect them (:func:`app.stats.scores.suppression`). A table over a set of branches (a trend, a
customer-type breakdown) gives that set's total; if the set holds some but not all of the
suppressed branches, the total minus the shown branches would undo the branch table's
suppression, so every group of such a table is suppressed (counts kept).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Forbidden, InvalidInput, NotFound, field_error
from app.reporting.aggregates import read_cells
from app.reporting.importance import importance_fit
from app.stats.drivers import IPAResult, driver_importance, ipa
from app.stats.scores import (
    PROTECTS_SMALL_GROUP,
    GroupScores,
    group_scores,
    hide_all,
    trend_scores,
)
from app.surveys.models import Branch, Survey

# Score tables group by these (attributes of the telecom instrument until any attribute works).
GroupBy = Literal["branch", "customer_type", "tenure"]
GROUP_BY: tuple[str, ...] = get_args(GroupBy)
Outcome = Literal["PV", "SAT", "LOY"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
UNSPECIFIED = "unspecified"


def _spec(survey: Survey) -> Any:
    from app.surveys.service import survey_spec

    return survey_spec(survey)


@dataclass(frozen=True)
class _Scoring:
    """What every score table of a survey shares: its constructs, scale and minimum group size."""

    constructs: list[str]
    scale: tuple[float, float]
    min_group_size: int

    @classmethod
    def of(cls, survey: Survey) -> _Scoring:
        spec = _spec(survey)
        return cls(
            constructs=[c.code for c in spec.constructs],
            scale=(float(spec.scale.min), float(spec.scale.max)),
            min_group_size=survey.min_group_size,
        )

    def table(
        self,
        score: Callable[..., GroupScores],
        cells: pd.DataFrame,
        counts: dict[str, int],
        *,
        by: str,
    ) -> GroupScores:
        """``score`` (group_scores or trend_scores) over cells keyed by their ``group`` column."""
        return score(
            cells,
            by=by,
            key="group",
            constructs=self.constructs,
            group_counts=counts,
            min_group_size=self.min_group_size,
            scale=self.scale,
        )


def _branch_map(session: Session) -> dict[int, str]:
    return {id_: code for id_, code in session.execute(select(Branch.id, Branch.code))}


def visible_branches(
    session: Session, *, scope: Sequence[str] | None, requested: Sequence[str] | None
) -> list[str] | None:
    """Branch codes a request may see: the key's scope narrowed by a filter (None = all).

    Raises Forbidden for a requested branch outside the scope, NotFound for an unknown one.
    """
    known = set(_branch_map(session).values())
    if requested:
        unknown = sorted(set(requested) - known)
        if unknown:
            raise NotFound(f"unknown branch: {', '.join(unknown)}")
        if scope is not None and not set(requested) <= set(scope):
            raise Forbidden(
                "this key may not see branch " + ", ".join(sorted(set(requested) - set(scope)))
            )
        return sorted(set(requested))
    return None if scope is None else sorted(set(scope) & known)


def _ids(session: Session, codes: Sequence[str] | None) -> list[int] | None:
    if codes is None:
        return None
    by_code = {code: id_ for id_, code in _branch_map(session).items()}
    return [by_code[c] for c in codes if c in by_code]


def _relabel(
    cells: pd.DataFrame, counts: dict[str, int], names: dict[str, str]
) -> tuple[pd.DataFrame, dict[str, int]]:
    cells = cells.assign(group=cells["group"].map(lambda g: names.get(g, g)))
    return cells, {names.get(g, g): n for g, n in counts.items()}


def get_scores(
    session: Session,
    *,
    survey: Survey,
    by: str = "branch",
    scope: Sequence[str] | None = None,
    branches: Sequence[str] | None = None,
    months: tuple[str | None, str | None] = (None, None),
) -> GroupScores:
    """Index, CI and Holm-corrected Welch test vs the rest, per group; suppression applied."""
    if by not in GROUP_BY:
        raise InvalidInput([field_error("by", msg=f"must be one of {', '.join(GROUP_BY)}")])
    scoring = _Scoring.of(survey)
    visible = visible_branches(session, scope=scope, requested=branches)
    names = {str(k): v for k, v in _branch_map(session).items()}
    all_cells, all_counts = _relabel(
        *read_cells(session, survey=survey, by="branch", months=months), names
    )
    everything = scoring.table(group_scores, all_cells, all_counts, by="branch")
    if by == "branch":
        return everything if visible is None else everything.only(visible)
    undoes = _undoes_suppression(everything, visible)
    cells, counts = read_cells(
        session, survey=survey, by=by, branch_ids=_ids(session, visible), months=months
    )
    cells, counts = _relabel(cells, counts, {"": UNSPECIFIED})
    res = scoring.table(group_scores, cells, counts, by=by)
    if undoes:
        res = hide_all(res, PROTECTS_SMALL_GROUP)
    return replace(res, overall=everything.overall)


def _undoes_suppression(branches: GroupScores, visible: Sequence[str] | None) -> bool:
    """Whether a table over ``visible`` (None = all) reveals the total of a part of the
    suppressed branches (their pooled total, over all of them, is public anyway)."""
    if visible is None:
        return False
    hidden = {g.group for g in branches.groups if g.suppressed}
    seen = hidden & set(visible)
    return bool(seen) and seen != hidden


def _branch_scores(session: Session, *, survey: Survey) -> GroupScores:
    return get_scores(session, survey=survey, by="branch")


def get_trends(
    session: Session,
    *,
    survey: Survey,
    by: str = "month",
    scope: Sequence[str] | None = None,
    branches: Sequence[str] | None = None,
) -> GroupScores:
    """Index and CI per month of ``submitted_at`` (UTC), or per survey of the same instrument."""
    scoring = _Scoring.of(survey)
    visible = visible_branches(session, scope=scope, requested=branches)
    ids = _ids(session, visible)
    surveys = [survey]
    if by == "month":
        cells, counts = read_cells(session, survey=survey, by="month", branch_ids=ids)
    elif by == "survey":
        parts, counts = [], {}
        siblings = surveys = list(
            session.scalars(
                select(Survey)
                .where(Survey.instrument_id == survey.instrument_id)
                .order_by(Survey.created_at, Survey.id)
            )
        )
        for i, other in enumerate(siblings):
            c, n = read_cells(session, survey=other, by="branch", branch_ids=ids)
            label = f"{i:04d}:{other.slug}"  # keeps creation order through the sorted groups
            parts.append(c.assign(group=label))
            counts[label] = sum(n.values())
        cells = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    else:
        raise InvalidInput([field_error("by", msg="must be month or survey")])
    if cells.empty:
        cells = pd.DataFrame(columns=["group", "construct", "n", "sum", "sumsq"])
    res = scoring.table(trend_scores, cells, counts, by=by)
    if visible is not None and any(
        _undoes_suppression(_branch_scores(session, survey=s), visible) for s in surveys
    ):
        res = hide_all(res, PROTECTS_SMALL_GROUP)
    if by == "survey":
        res = replace(
            res, groups=tuple(replace(g, group=g.group.split(":", 1)[1]) for g in res.groups)
        )
    return res


@dataclass(frozen=True)
class DriversReport:
    outcome: str
    group: str | None
    n: int
    suppressed: bool
    ipa: IPAResult
    method: str
    by_branch: tuple[tuple[str, int, bool, tuple[str, ...]], ...]
    fit: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        d = self.ipa.to_dict()
        return {
            "outcome": self.outcome,
            "branch": self.group,
            "n": self.n,
            "suppressed": self.suppressed,
            "drivers": d["drivers"],
            "importance_split": d["importance_split"],
            "performance_split": d["performance_split"],
            "concentrate_on": d["concentrate_on"],
            "quadrant_rule": d["rule"],
            "method": self.method,
            "fit": self.fit,
            "branches": [
                {"branch": b, "n": n, "suppressed": s, "concentrate_on": list(c)}
                for b, n, s, c in self.by_branch
            ],
        }


def get_drivers(
    session: Session,
    *,
    survey: Survey,
    outcome: str = "PV",
    branch: str | None = None,
    scope: Sequence[str] | None = None,
) -> DriversReport:
    """Importance (pooled SEM) x performance (group index) and the IPA quadrants."""
    if outcome not in OUTCOMES:
        raise InvalidInput([field_error("outcome", msg=f"must be one of {', '.join(OUTCOMES)}")])
    spec = _spec(survey)
    scores = get_scores(
        session, survey=survey, by="branch", scope=scope, branches=[branch] if branch else None
    )
    totals = _totals(session, survey=survey)
    n_all = scores.overall.n
    fit = importance_fit(
        session,
        survey=survey,
        model=spec.default_model,
        content_hash=survey.instrument.content_hash,
        item_codes=spec.item_codes,
        totals=totals,
        n_responses=n_all,
    )
    importance = driver_importance(list(fit.estimates), outcome=outcome)

    def perf(group_constructs: Any) -> dict[str, float | None]:
        return {d: (c.index if (c := group_constructs.get(d)) else None) for d in importance}

    by_branch = []
    for g in scores.groups:
        res = ipa(importance, perf(g.constructs) if not g.suppressed else {}, outcome=outcome)
        by_branch.append((g.group, g.n, g.suppressed, tuple(res.concentrate)))
    target = scores.groups[0] if branch else scores.overall
    result = ipa(
        importance, perf(target.constructs) if not target.suppressed else {}, outcome=outcome
    )
    return DriversReport(
        outcome=outcome,
        group=branch,
        n=target.n,
        suppressed=target.suppressed,
        ipa=result,
        method=_method(outcome, fit, n_all, branch, target.n, survey.min_group_size, target.reason),
        by_branch=tuple(by_branch) if not branch else (),
        fit={"nobs": fit.nobs, "converged": fit.converged, "data_fingerprint": fit.fingerprint},
    )


def _totals(session: Session, *, survey: Survey) -> pd.DataFrame:
    cells, _ = read_cells(session, survey=survey, by="branch")
    return cells.groupby("construct", as_index=False)[["n", "sum", "sumsq"]].sum()


def _method(
    outcome: str,
    fit: Any,
    n_all: int,
    branch: str | None,
    n_branch: int,
    min_size: int,
    suppressed: str | None,
) -> str:
    how = (
        "its standardized path (std.all)"
        if outcome == "PV"
        else (
            "its standardized total effect (std.all) through PV: the sum over every path of the "
            "products of standardized paths"
        )
    )
    sample = (
        f"a seeded random sample of {fit.nobs} of the {fit.n_responses} responses"
        if fit.sampled
        else f"all {fit.nobs} responses"
    )
    text = (
        f"Importance of each driver for {outcome} is {how} in the instrument's default model, "
        f"fitted by maximum likelihood with FIML for missing answers on {sample} of the survey"
    )
    if fit.n_responses != n_all:
        text += f" (the survey now has {n_all}; the fit is renewed after 5% growth)"
    text += ". Performance is the 0-100 index of the driver construct"
    if branch:
        text += (
            f" in branch {branch} (n={n_branch}). The branch's importances are the pooled ones: "
            f"{n_branch} responses are too few for its own fit of a model with "
            f"{len(fit.estimates)} loadings and paths, and pooling keeps branches comparable"
        )
        if suppressed == PROTECTS_SMALL_GROUP:
            text += (
                "; its performance is suppressed to protect a branch with fewer than "
                f"{min_size} responses (the benchmark would otherwise give that one away)"
            )
        elif suppressed:
            text += f"; its performance is suppressed because n < {min_size}"
    else:
        text += " over all responses (the benchmark)"
    return text + "."


def scores_csv(result: GroupScores) -> str:
    """Long CSV: one row per group x construct; suppressed groups get one row with counts only."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "group",
            "n",
            "suppressed",
            "construct",
            "construct_n",
            "index",
            "ci_lower",
            "ci_upper",
            "diff_vs_rest",
            "p_holm",
            "p_unadjusted",
            "suppressed_reason",
        ]
    )
    for g in (result.overall, *result.groups):
        if g.suppressed:
            w.writerow([g.group, g.n, "true", "", "", "", "", "", "", "", "", g.reason or ""])
            continue
        for code in result.constructs:
            c = g.constructs.get(code)
            if c is None:
                continue
            w.writerow(
                [
                    g.group,
                    g.n,
                    "false",
                    code,
                    c.n,
                    _f(c.index),
                    _f(c.ci[0] if c.ci else None),
                    _f(c.ci[1] if c.ci else None),
                    _f(c.diff),
                    _f(c.p),
                    _f(c.p_unadjusted),
                    "",
                ]
            )
    return out.getvalue()


def _f(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def branch_codes(session: Session) -> list[str]:
    return sorted(_branch_map(session).values())
