"""Operators' reporting: scores per group, trends and driver importance-performance.

Everything is served from the maintained aggregates through the disclosure control
(:func:`app.reporting.disclosure.protected_cells`: protected atomic cells of one dimension);
only the driver importances need a model fit (``app.reporting.importance``). ``scope`` is the
branch list of a branch-scoped key (None = every branch); such keys see their branches and the
overall benchmark of the whole survey.

Tables: ``by`` and attribute filters follow :mod:`app.reporting.tables`.

Comparisons: with ``by="branch"`` every branch is tested against the rest of the whole survey,
so a branch's numbers do not depend on who asks. With ``by`` an attribute or ``month`` and a
branch scope or filter, the groups are formed (and tested) within the visible branches.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Forbidden, InvalidInput, NotFound, field_error
from app.reporting.aggregates import read_cells
from app.reporting.disclosure import Scoring, branch_names, protected_cells
from app.reporting.importance import importance_fit
from app.reporting.plsboot import IndexCis, bootstrap_cis
from app.reporting.plsindex import PlsIndex, pls_index, pls_ipma
from app.reporting.tables import Filters, check_by, check_filters, score_table
from app.stats.disclosure import ALL
from app.stats.drivers import DriverError, IPAResult, driver_importance, ipa
from app.stats.scores import SMALL_GROUP, GroupScore, GroupScores, trend_scores
from app.surveys.models import Response, Survey
from app.surveys.specs import survey_spec


def visible_branches(
    session: Session, *, scope: Sequence[str] | None, requested: Sequence[str] | None
) -> list[str] | None:
    """Branch codes a request may see: the key's scope narrowed by a filter (None = all).

    Raises Forbidden for a requested branch outside the scope, NotFound for an unknown one.
    """
    known = set(branch_names(session).values())
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
    by_code = {code: id_ for id_, code in branch_names(session).items()}
    return [by_code[c] for c in codes if c in by_code]


def get_scores(
    session: Session,
    *,
    survey: Survey,
    by: str = "branch",
    scope: Sequence[str] | None = None,
    branches: Sequence[str] | None = None,
    months: tuple[str | None, str | None] = (None, None),
    filters: Filters | None = None,
    weighted: PlsIndex | None = None,
    exclude_flagged: bool = False,
) -> GroupScores:
    """Index, CI and Holm-corrected Welch test vs the rest, per group, on protected cells
    (of the maintained aggregates, or of the PLS-weighted respondent scores of ``weighted``:
    :func:`get_pls_scores`)."""
    scoring = Scoring.of(survey) if weighted is None else weighted.scoring
    check_by(scoring, by)
    flt = check_filters(survey, by, filters)
    visible = visible_branches(session, scope=scope, requested=branches)
    kw: dict[str, Any] = {"survey": survey, "scoring": scoring, "months": months, "flt": flt}
    if weighted is not None:
        kw["raw"] = weighted.raw
    elif exclude_flagged:
        kw["exclude_flagged"] = True
    everything = score_table(session, by=by, branch_ids=None, **kw)
    if by == "branch":
        return everything if visible is None else everything.only(visible)
    if visible is None:
        return everything
    mine = score_table(session, by=by, branch_ids=_ids(session, visible), **kw)
    return replace(mine, overall=everything.overall)


def get_pls_scores(
    session: Session,
    *,
    survey: Survey,
    by: str = "branch",
    scope: Sequence[str] | None = None,
    branches: Sequence[str] | None = None,
    months: tuple[str | None, str | None] = (None, None),
    filters: Filters | None = None,
    bootstrap: int | None = None,
    seed: int = 1,
) -> tuple[GroupScores, PlsIndex, IndexCis | None]:
    """:func:`get_scores` with ACSI-style PLS-weighted indices (app/reporting/plsindex.py) and,
    with ``bootstrap`` draws, their percentile intervals (app/reporting/plsboot.py)."""
    weighted = pls_index(session, survey=survey)
    kw: dict[str, Any] = {
        "survey": survey,
        "by": by,
        "scope": scope,
        "branches": branches,
        "months": months,
        "filters": filters,
    }
    table = get_scores(session, weighted=weighted, **kw)
    if not bootstrap:
        return table, weighted, None

    def table_of(raw: pd.DataFrame) -> GroupScores:
        return get_scores(session, weighted=replace(weighted, raw=raw), **kw)

    request_key = (
        weighted.scoring.min_group_size,
        by,
        tuple(scope) if scope is not None else None,
        tuple(branches or ()),
        months,
        tuple(sorted((k, tuple(v)) for k, v in (filters or {}).items())),
    )
    cis = bootstrap_cis(
        weighted, table, table_of=table_of, request_key=request_key, draws=bootstrap, seed=seed
    )
    return table, weighted, cis


def get_pls_ipma(session: Session, *, survey: Survey, outcome: str | None = None) -> dict[str, Any]:
    """IPMA (0-100 performance, unstandardized total effects) of the PLS-weighted model for
    ``outcome``, pooled over every response (app/reporting/plsindex.py)."""
    return pls_ipma(session, survey=survey, outcome=outcome)


def get_trends(
    session: Session,
    *,
    survey: Survey,
    by: str = "month",
    scope: Sequence[str] | None = None,
    branches: Sequence[str] | None = None,
    filters: Filters | None = None,
    index: str = "equal",
    exclude_flagged: bool = False,
) -> GroupScores:
    """Index and CI per month of ``submitted_at`` (UTC), or per survey of the same instrument;
    ``index="pls"``: of the PLS-weighted index (each survey with its own weights).
    ``exclude_flagged``: without the responses with a quality flag (as :func:`get_scores`)."""
    weighted = pls_index(session, survey=survey) if index == "pls" else None
    scoring = Scoring.of(survey) if weighted is None else weighted.scoring
    if by not in ("month", "survey"):
        raise InvalidInput([field_error("by", msg="must be month or survey")])
    flt = check_filters(survey, "month", filters)
    visible = visible_branches(session, scope=scope, requested=branches)
    ids = _ids(session, visible)
    if by == "month":
        return score_table(
            session,
            survey=survey,
            scoring=scoring,
            by="month",
            branch_ids=ids,
            months=(None, None),
            flt=flt,
            trend=True,
            raw=None if weighted is None else weighted.raw,
            exclude_flagged=exclude_flagged,
        )
    if flt is not None:
        raise InvalidInput([field_error("by", msg="attribute filters need by=month")])
    siblings = list(
        session.scalars(
            select(Survey)
            .where(Survey.instrument_id == survey.instrument_id)
            .order_by(Survey.created_at, Survey.id)
        )
    )
    parts, counts, published = [], {}, {}
    for i, other in enumerate(siblings):
        raw = None
        if weighted is not None:
            if other.id != survey.id and not session.scalar(
                select(Response.id).where(Response.survey_id == other.id).limit(1)
            ):
                continue  # a survey without responses has no weights (and no index)
            raw = weighted.raw if other.id == survey.id else pls_index(session, survey=other).raw
        cells = protected_cells(
            session,
            survey=other,
            branch_ids=ids,
            scoring=scoring,
            raw=raw,
            exclude_flagged=exclude_flagged,
        )
        label = f"{i:04d}:{other.slug}"  # keeps creation order through the sorted groups
        parts.append(cells.moments.assign(key=label))
        counts[label] = int(cells.counts["n"].sum())
        published[label] = int(cells.counts.loc[cells.counts["published"], "n"].sum())
    cells_frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if cells_frame.empty:
        cells_frame = pd.DataFrame(columns=["key", "construct", "n", "sum", "sumsq"])
    res = trend_scores(
        cells_frame,
        by="survey",
        key="key",
        constructs=list(scoring.constructs),
        group_counts=counts,
        published=published,
        min_group_size=scoring.min_group_size,
        scales=scoring.scales,
        nps=scoring.nps,
        gaps=scoring.gaps,
    )
    return replace(
        res, groups=tuple(replace(g, group=g.group.split(":", 1)[1]) for g in res.groups)
    )


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
    # what the importances stand on, for pages that explain it in their own words
    fit_sampled: bool = False
    fit_n_responses: int = 0  # the survey's responses when the model was fitted
    n_responses: int = 0  # the survey's responses now (in the viewer's tables)

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
    outcome: str | None = None,
    branch: str | None = None,
    scope: Sequence[str] | None = None,
    filters: Filters | None = None,
    exclude_flagged: bool = False,
) -> DriversReport:
    """Importance (pooled SEM) x performance (group index) and the IPA quadrants.

    ``outcome`` defaults to the instrument's (``spec.default_outcome``). ``exclude_flagged``:
    both without the responses with a quality flag.
    """
    spec = survey_spec(survey)
    outcome = outcome or spec.default_outcome
    if outcome not in spec.construct_codes:
        choices = ", ".join(spec.construct_codes)
        raise InvalidInput([field_error("outcome", msg=f"must be a construct: {choices}")])
    scores = get_scores(
        session,
        survey=survey,
        by="branch",
        scope=scope,
        branches=[branch] if branch else None,
        filters=filters,
        exclude_flagged=exclude_flagged,
    )
    n_all = scores.overall.n
    fit = importance_fit(
        session,
        survey=survey,
        model=spec.default_model,
        content_hash=survey.instrument.content_hash,
        item_codes=spec.numeric_codes,
        totals=_totals(session, survey=survey, exclude_flagged=exclude_flagged),
        n_responses=n_all,
        exclude_flagged=exclude_flagged,
    )
    try:
        importance = driver_importance(list(fit.estimates), outcome=outcome)
    except DriverError as exc:
        raise InvalidInput([field_error("outcome", msg=str(exc))]) from None

    def perf(group_constructs: Any) -> dict[str, float | None]:
        return {d: (c.index if (c := group_constructs.get(d)) else None) for d in importance}

    by_branch = []
    for g in scores.groups:
        res = ipa(importance, perf(g.constructs) if not g.suppressed else {}, outcome=outcome)
        by_branch.append((g.group, g.n, g.suppressed, tuple(res.concentrate)))
    target = scores.overall
    if branch:  # a branch without responses has no group: nothing to show
        target = scores.groups[0] if scores.groups else GroupScore(branch, 0, True, {}, SMALL_GROUP)
    result = ipa(
        importance, perf(target.constructs) if not target.suppressed else {}, outcome=outcome
    )
    return DriversReport(
        outcome=outcome,
        group=branch,
        n=target.n,
        suppressed=target.suppressed,
        ipa=result,
        method=_method(outcome, fit, n_all, branch, target.n, survey.min_group_size, target),
        by_branch=tuple(by_branch) if not branch else (),
        fit={"nobs": fit.nobs, "converged": fit.converged, "data_fingerprint": fit.fingerprint},
        fit_sampled=fit.sampled,
        fit_n_responses=fit.n_responses,
        n_responses=n_all,
    )


def _totals(session: Session, *, survey: Survey, exclude_flagged: bool = False) -> pd.DataFrame:
    """Raw totals per construct: only the fingerprint of the importance fit (never shown)."""
    cells = read_cells(session, survey=survey, dims=[ALL], exclude_flagged=exclude_flagged)
    return cells.groupby("construct", as_index=False)[["n", "sum", "sumsq"]].sum()


def _method(
    outcome: str,
    fit: Any,
    n_all: int,
    branch: str | None,
    n_branch: int,
    min_size: int,
    target: Any,
) -> str:
    sample = (
        f"a seeded random sample of {fit.nobs} of the {fit.n_responses} responses"
        if fit.sampled
        else f"all {fit.nobs} responses"
    )
    text = (
        f"Importance of each driver for {outcome} is its standardized total effect (std.all) "
        "in the instrument's default model: the sum over every path from the driver to "
        f"{outcome} of the products of standardized paths (the path itself when it is direct), "
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
        if target.suppressed:
            text += (
                f"; its performance is suppressed: fewer than {min_size} of its responses are "
                "in publishable cells (months with fewer responses are left out)"
            )
    else:
        text += " over all responses (the benchmark)"
    return text + "."


def scores_csv(result: GroupScores) -> str:
    """Long CSV: one row per group x construct (then x nps item, x gap score); suppressed groups
    get one row with counts only. ``measure`` says what ``index`` holds: the 0-100 index, the
    NPS (-100..100, CI on that scale) or a gap (perception minus expectation index)."""
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
            "measure",
        ]
    )
    for g in (result.overall, *result.groups):
        if g.suppressed:
            w.writerow([g.group, g.n, "true", *[""] * 8, g.reason or "", ""])
            continue
        for code in result.constructs:
            c = g.constructs.get(code)
            if c is None:
                continue
            ci = c.ci or (None, None)
            w.writerow(
                [g.group, g.n, "false", code, c.n, _f(c.index), _f(ci[0]), _f(ci[1])]
                + [_f(c.diff), _f(c.p), _f(c.p_unadjusted), "", "index"]
            )
        d = g.to_dict(nps=result.nps, gaps=result.gaps)
        for code, v in d.get("nps", {}).items():
            ci = v["ci"] or (None, None)
            w.writerow(
                [g.group, g.n, "false", code, v["n"], _f(v["nps"]), _f(ci[0]), _f(ci[1])]
                + ["", "", "", "", "nps"]
            )
        for code, v in d.get("gaps", {}).items():
            w.writerow([g.group, g.n, "false", code, "", _f(v["gap"]), *[""] * 6, "gap"])
    return out.getvalue()


def _f(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def branch_codes(session: Session) -> list[str]:
    return sorted(branch_names(session).values())
