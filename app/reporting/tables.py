"""Score tables from protected cells: ``by`` and attribute-filter rules, and the one function
that turns a dimension's protected cells into a :class:`~app.stats.scores.GroupScores`.

``by`` is ``branch``, ``month`` or an attribute code of the survey's instrument. A filter
(:func:`parse_filters`) keeps the respondents with some values of ONE attribute; it combines with
``by=branch``/``month`` (the table then stands on that attribute's cells) or with ``by`` that
same attribute, never with another attribute (that would need cross-classified cells).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from sqlalchemy.orm import Session

from app.errors import InvalidInput, field_error
from app.reporting.disclosure import OTHER, UNSPECIFIED, Scoring, protected_cells
from app.stats.disclosure import ALL
from app.stats.scores import GroupScores, group_scores, trend_scores
from app.surveys.models import Survey
from app.surveys.specs import survey_spec

FILTER_PREFIX = "attr."
Filters = Mapping[str, Sequence[str]]
Filter = tuple[str, list[str]]  # (attribute code, values)


def parse_filters(params: Mapping[str, str]) -> dict[str, list[str]]:
    """Attribute filters from query parameters ``attr.<code>=value[,value...]``."""
    out: dict[str, list[str]] = {}
    for name, raw in params.items():
        if name.startswith(FILTER_PREFIX):
            values = [v.strip() for v in raw.split(",") if v.strip()]
            if not values:
                raise InvalidInput([field_error(name, msg="give at least one value")])
            out[name[len(FILTER_PREFIX) :]] = values
    return out


def check_filters(survey: Survey, by: str, filters: Filters | None) -> Filter | None:
    """The one (attribute, values) filter of a request, validated against the instrument."""
    if not filters:
        return None
    spec = survey_spec(survey)
    errors = []
    for code, values in filters.items():
        loc = FILTER_PREFIX + code
        if code not in spec.attribute_codes:
            known = ", ".join(spec.attribute_codes) or "none"
            errors.append(field_error(loc, msg=f"{code!r} is not an attribute (known: {known})"))
            continue
        allowed = spec.attribute_values.get(code)
        if allowed is not None:
            bad = [v for v in values if v not in {*allowed, OTHER, UNSPECIFIED}]
            if bad:
                errors.append(
                    field_error(
                        loc,
                        msg=f"unknown value {', '.join(bad)} (known: "
                        f"{', '.join([*allowed, OTHER, UNSPECIFIED])})",
                    )
                )
    if errors:
        raise InvalidInput(errors)
    if len(filters) > 1:
        raise InvalidInput([field_error("filter", msg="filter on one attribute at a time")])
    [(code, values)] = filters.items()
    if by not in ("branch", "month", code):
        raise InvalidInput(
            [
                field_error(
                    FILTER_PREFIX + code,
                    msg=f"a filter on {code} combines with by=branch, by=month or by={code}",
                )
            ]
        )
    return code, list(values)


def check_by(scoring: Scoring, by: str, *, allowed: Sequence[str] = ("branch", "month")) -> None:
    if by not in (*allowed, *scoring.attributes):
        choices = ", ".join([*allowed, *scoring.attributes])
        raise InvalidInput([field_error("by", msg=f"must be one of {choices}")])


def score_table(
    session: Session,
    *,
    survey: Survey,
    scoring: Scoring,
    by: str,
    branch_ids: Sequence[int] | None,
    months: tuple[str | None, str | None],
    flt: Filter | None,
    trend: bool = False,
    raw: pd.DataFrame | None = None,
    exclude_flagged: bool = False,
) -> GroupScores:
    """One score table from the protected cells of one dimension (of the maintained
    aggregates, or of ``raw`` atomic cells: see :func:`protected_cells`)."""
    dim = by if by in scoring.attributes else (flt[0] if flt else ALL)
    cells = protected_cells(
        session,
        survey=survey,
        dim=dim,
        branch_ids=branch_ids,
        months=months,
        scoring=scoring,
        raw=raw,
        exclude_flagged=exclude_flagged,
    )
    moments, counts = cells.moments, cells.counts
    if flt is not None:
        moments = moments[moments["group"].isin(flt[1])]
        counts = counts[counts["group"].isin(flt[1])]
    column = {"branch": "branch", "month": "month"}.get(by, "group")
    exact = counts.groupby(column)["n"].sum()
    published = counts[counts["published"]].groupby(column)["n"].sum()
    frame = moments[[column, "construct", "n", "sum", "sumsq"]].rename(columns={column: "key"})
    if frame.empty:
        frame = pd.DataFrame(columns=["key", "construct", "n", "sum", "sumsq"])
    for g in exact.index:  # every group with respondents is listed, shown or not
        if g not in set(frame["key"]):
            frame = pd.concat(
                [
                    frame,
                    pd.DataFrame([{"key": g, "construct": "", "n": 0, "sum": 0.0, "sumsq": 0.0}]),
                ],
                ignore_index=True,
            )
    score = trend_scores if trend else group_scores
    return score(
        frame,
        by=by,
        key="key",
        constructs=list(scoring.constructs),
        group_counts={str(k): int(v) for k, v in exact.items()},
        published={str(k): int(v) for k, v in published.items()},
        min_group_size=scoring.min_group_size,
        scales=scoring.scales,
        nps=scoring.nps,
        gaps=scoring.gaps,
    )
