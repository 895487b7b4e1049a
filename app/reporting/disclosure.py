"""The one door from maintained cells to published numbers: :func:`protected_cells`.

Scores, trends, drivers' performance, the dashboard and every download are computed from what
this returns and from nothing else; the rules are those of :mod:`app.stats.disclosure`, the
argument is in app/security/README.md ("Disclosure control").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.reporting.aggregates import read_cells, survey_key
from app.stats.disclosure import ALL, POOLED, ProtectedCells, protect
from app.stats.scores import NPS_SCALE, Gap
from app.surveys.models import Branch, Survey
from app.surveys.specs import survey_spec

UNSPECIFIED = "unspecified"  # the group of respondents without a value of the attribute
OTHER = POOLED


@dataclass(frozen=True)
class Scoring:
    """What every score table of a survey shares: its scored keys, their scales, the minimum
    group size."""

    constructs: tuple[str, ...]
    nps: tuple[str, ...]
    gaps: tuple[Gap, ...]
    scales: dict[str, tuple[float, float]]
    attributes: tuple[str, ...]
    min_group_size: int

    @classmethod
    def of(cls, survey: Survey) -> Scoring:
        spec = survey_spec(survey)
        scales: dict[str, tuple[float, float]] = {}
        for c in spec.construct_codes:
            s = spec.construct_scale(c)
            scales[c] = (float(s.min), float(s.max))
        nps = tuple(i.code for i in spec.items if i.type == "nps")
        scales.update({code: NPS_SCALE for code in nps})
        return cls(
            constructs=tuple(spec.construct_codes),
            nps=nps,
            gaps=tuple((g.code, g.perception, g.expectation) for g in spec.gaps),
            scales=scales,
            attributes=tuple(spec.attribute_codes),
            min_group_size=survey.min_group_size,
        )


def branch_names(session: Session) -> dict[int, str]:
    return {id_: code for id_, code in session.execute(select(Branch.id, Branch.code))}


def protected_cells(
    session: Session,
    *,
    survey: Survey,
    dim: str = ALL,
    branch_ids: Sequence[int] | None = None,
    months: tuple[str | None, str | None] = (None, None),
    scoring: Scoring | None = None,
    raw: pd.DataFrame | None = None,
    exclude_flagged: bool = False,
) -> ProtectedCells:
    """Protected atomic cells of one dimension (``all`` or an attribute code) of a survey.

    ``branch`` holds branch codes; a missing attribute value is the group ``unspecified`` and the
    pooled bucket ``other``. Restricting branches or months selects whole ``(branch, month)``
    cells, whose protection does not depend on the selection.

    ``raw``: atomic cells computed elsewhere (the PLS-weighted index's respondent scores, same
    columns as the maintained ones) instead of the maintained aggregates; they pass the same
    selection and protection.
    """
    scoring = scoring or Scoring.of(survey)
    dims = [ALL] if dim == ALL else [ALL, dim]
    if raw is None:
        raw = read_cells(
            session,
            survey=survey,
            dims=dims,
            branch_ids=branch_ids,
            months=months,
            exclude_flagged=exclude_flagged,
        )
    else:
        keep = raw["dim"].isin(dims).to_numpy()
        if branch_ids is not None:
            keep &= raw["branch"].isin(list(branch_ids)).to_numpy()
        if months[0] is not None:
            keep &= (raw["month"] >= months[0]).to_numpy()
        if months[1] is not None:
            keep &= (raw["month"] <= months[1]).to_numpy()
        raw = raw[keep]
    res = protect(
        raw,
        k=survey.min_group_size,
        scales=scoring.scales,
        key=survey_key(session, survey=survey),
    )
    names = branch_names(session)
    out = []
    for frame in (res.moments, res.counts):
        frame = frame[frame["dim"] == dim].copy()
        frame["branch"] = frame["branch"].map(lambda b: names.get(int(b), str(b)))
        if dim != ALL:
            frame["group"] = frame["group"].replace({"": UNSPECIFIED})
        out.append(frame.reset_index(drop=True))
    return ProtectedCells(out[0], out[1])
