"""Factor scores of a finished fit, one row per response (``GET /fits/{id}/scores.csv``).

The scores are recomputed from the fit's own rows (its stored filters confined to the creating
key's scope, as the worker loaded them) by ``app.stats.sem.factor_scores``: the same model,
estimator, missing-data rule and groups, so the same estimates. When the selected responses are
no longer those the fit was run on (new responses since), the scores are refused (409) rather
than computed from other data. Scores of ordered-item and PLS fits are not offered.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput
from app.fits import service
from app.fits.grouped import DEFAULT_MIN_GROUP_SIZE
from app.fits.models import FitJob
from app.stats.sem import LEVELS, ModelError, factor_scores, usable_data
from app.surveys.models import Survey
from app.surveys.service import load_item_frame
from app.tables import Table

METHODS = ("regression", "bartlett")


def _refuse(field: str, msg: str) -> InvalidInput:
    error = {"loc": ["query", field], "field": field, "msg": msg, "type": "value_error"}
    return InvalidInput([error])


def _check(job: FitJob) -> dict[str, Any]:
    if job.status != "done" or job.result is None:
        raise Conflict(f"fit {job.id} is {job.status}; factor scores need a finished fit")
    spec = job.spec or {}
    if spec.get("method") == "pls":
        raise _refuse("method", "factor scores are offered for SEM fits, not PLS")
    if spec.get("ordered"):
        raise _refuse("method", "factor scores of ordered items (lavaan's EBM) are not offered")
    if spec.get("missing") == "pairwise":
        raise _refuse("method", "factor scores need complete rows or FIML, not missing=pairwise")
    return spec


def score_frame(frame: pd.DataFrame, spec: dict[str, Any], method: str) -> pd.DataFrame:
    """Scores of the rows of ``frame`` the fit of ``spec`` used; ModelError when refused."""
    group = spec.get("group")
    levels = list(spec.get("invariance_levels") or []) if spec.get("invariance") else []
    data = frame
    if group is not None:
        min_size = int(spec.get("min_group_size") or DEFAULT_MIN_GROUP_SIZE)
        data, _, _ = usable_data(frame, spec["model"], group, spec["missing"], min_size)
    # an invariance job's result is its first level's fit (labels not shared by the groups)
    return factor_scores(
        data,
        spec["model"],
        method=method,
        estimator=spec["estimator"],
        missing=spec["missing"],
        group=group,
        group_equal=LEVELS[levels[0]] if levels else tuple(spec.get("group_equal") or ()),
        share_labels=not levels,
        group_partial=tuple(spec.get("group_partial") or ()),
        std_lv=bool(spec.get("std_lv", False)) and not levels,
        cluster=spec.get("cluster"),
        sampling_weights=spec.get("sampling_weights"),
    )


def scores_table(session: Session, job: FitJob, *, method: str) -> Table:
    """Table ``scores``: ``response_id``, ``group`` (grouped fits), one column per latent."""
    method = method.lower()
    if method not in METHODS:
        raise _refuse("method", f"method must be one of {', '.join(METHODS)}")
    spec = _check(job)
    survey = session.get(Survey, job.survey_id)
    if survey is None:  # pragma: no cover - a deleted survey takes its fits with it
        raise Conflict("the survey of this fit was deleted")
    frame = load_item_frame(session, survey=survey, filters=service.job_filters(job))
    fp = service.fingerprint(frame["id"].astype(str), survey=survey)
    if fp != (job.result or {}).get("data_fingerprint"):
        raise Conflict(
            f"the responses of fit {job.id} changed since it ran; fit the model again to score them"
        )
    try:
        scores = score_frame(frame.reset_index(drop=True), spec, method)
    except ModelError as exc:
        raise _refuse(exc.field or "method", str(exc)) from exc
    ids = frame["id"].astype(str).reset_index(drop=True)
    columns = ["response_id", *[str(c) for c in scores.columns]]
    rows = [
        [ids[i], *[None if pd.isna(v) else (v if isinstance(v, str) else float(v)) for v in row]]
        for i, row in zip(scores.index, scores.itertuples(index=False), strict=True)
    ]
    return Table(f"scores.{method}", columns, rows)
