"""ACSI-style PLS-weighted indices (``scores?index=pls``).

The weights come from one PLS fit (mode-A composites, path scheme, mean replacement; seminr's
PLS-SEM algorithm) of the instrument's default model on every response of the survey, so a
group's index does not depend on who asks or which table it is in: per construct, the items'
unstandardized weights on the 0-100 rescaled items, normalized to sum to one
(:func:`app.stats.pls.index_weights`). Each respondent gets a weighted 0-100 score per construct
(:func:`app.stats.pls.respondent_index`); the atomic cells of these scores (one per branch,
month and attribute value, as the maintained aggregates) go through the same disclosure control
(:func:`app.reporting.disclosure.protected_cells`) and the same score tables as the
equal-weight index: a group's index is the mean of its published respondents' scores, i.e.
``sum w_i (mean_i - min) / (max - min) * 100`` when every item is answered, with the same
t-interval and Welch test against the rest. The intervals treat the weights as fixed (as the
ACSI does); the weights' own sampling error is not in them (``ci_boot``, app/reporting/plsboot.py,
adds it on request).

The fit is cached in-process per *data fingerprint* (:func:`data_fingerprint`: the database,
the survey, the instrument's content, the model and each response's id, branch and time), so
the same data and model are never refitted and any new or deleted response means a new fit.
The scoring (and with it ``min_group_size``) is rebuilt from the survey on every call.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import InvalidInput, field_error
from app.instruments.spec import model_paths
from app.reporting.aggregates import cell_groups
from app.reporting.disclosure import Scoring
from app.stats.disclosure import ALL, COUNT
from app.stats.drivers import IPAResult
from app.stats.drivers import ipa as ipa_quadrants
from app.stats.pls import PlsResult, fit_pls, index_weights, ipma, respondent_index
from app.stats.sem import ModelError
from app.surveys.models import Response, Survey
from app.surveys.specs import survey_spec

logger = logging.getLogger(__name__)

INDEX_SCALE = (0.0, 100.0)
CACHE_SIZE = 8


@dataclass(frozen=True)
class PlsIndex:
    """What the PLS-weighted tables stand on: raw atomic cells of the respondents' weighted
    scores, the scoring they are read with, and the fit's account."""

    raw: pd.DataFrame
    scoring: Scoring
    model: str
    nobs: int
    weights: dict[str, dict[str, float]]
    scale: dict[str, tuple[float, float]]
    fit: PlsResult = field(repr=False)
    fingerprint: str = ""
    items: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)  # (n, answer codes)
    keys: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)  # branch, month, attr:*

    def info(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "nobs": self.nobs,
            "data_fingerprint": self.fingerprint,
            "method": "PLS path modelling, mode A composites, path scheme, mean replacement",
            "weights": self.weights,
            "scale": {i: list(s) for i, s in self.scale.items()},
        }


def pls_model(survey: Survey) -> str:
    """The instrument's default model as a PLS model: every construct on a path of it,
    measured by its scale items, and the paths between constructs."""
    spec = survey_spec(survey)
    blocks = spec.construct_items
    numeric = set(spec.numeric_codes)
    paths = [(y, x) for y, x in model_paths(spec.default_model) if y in blocks and x in blocks]
    used = [c for c in spec.construct_codes if any(c in p for p in paths)]
    lines = [f"{c} =~ {' + '.join(i for i in blocks[c] if i in numeric)}" for c in used]
    lines += [f"{y} ~ {x}" for y, x in paths]
    return "\n".join(lines)


_cache: OrderedDict[str, PlsIndex] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def data_fingerprint(session: Session, *, survey: Survey, model: str) -> str:
    """sha256 of what the PLS index depends on: the database, the survey, the instrument's
    content, the model and each response's id, branch and submission time (responses are never
    edited, only added or deleted; branch and time guard against a rebuilt database that
    reuses imported ids)."""
    h = hashlib.sha256()
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    h.update(f"{database}#{survey.id}\0{survey.instrument.content_hash}\0{model}\0".encode())
    rows = session.execute(
        select(Response.id, Response.branch_id, Response.submitted_at)
        .where(Response.survey_id == survey.id)
        .order_by(Response.id)
    )
    for id_, branch_id, submitted_at in rows:
        h.update(f"{id_}:{branch_id}:{submitted_at.isoformat()};".encode())
    return h.hexdigest()


def pls_index(session: Session, *, survey: Survey) -> PlsIndex:
    """The PLS-weighted index of the survey's current data: cached per data fingerprint,
    fitted (once, under a lock) when the data or the model changed.

    Raises InvalidInput (``index``) when the instrument's model has no paths between
    constructs or the model cannot be estimated on the data.
    """
    model = pls_model(survey)
    if "~" not in model.replace("=~", ""):
        raise InvalidInput(
            [field_error("index", msg="the instrument's model has no paths between constructs")]
        )
    fp = data_fingerprint(session, survey=survey, model=model)
    with _lock:
        built = _cache.get(fp)
        if built is not None:
            _cache.move_to_end(fp)
        else:
            built = _build(session, survey=survey, model=model, fingerprint=fp)
            _cache[fp] = built
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return replace(built, scoring=index_scoring(survey, built.weights))


def index_scoring(survey: Survey, weights: dict[str, dict[str, float]]) -> Scoring:
    """The survey's scoring for the weighted constructs, each on 0-100."""
    base = Scoring.of(survey)
    constructs = tuple(c for c in base.constructs if c in weights)
    return Scoring(
        constructs=constructs,
        nps=(),
        gaps=(),
        scales={c: INDEX_SCALE for c in constructs},
        attributes=base.attributes,
        min_group_size=base.min_group_size,
    )


def _build(session: Session, *, survey: Survey, model: str, fingerprint: str) -> PlsIndex:
    """Fit the weights on every response of the survey and build the raw cells."""
    spec = survey_spec(survey)
    query = select(
        Response.branch_id, Response.submitted_at, Response.answers, Response.attributes
    ).where(Response.survey_id == survey.id)
    rows = [r._asdict() for r in session.execute(query)]
    logger.info("fitting the PLS index of %s on %d responses", survey.slug, len(rows))
    codes = list(spec.answer_codes)
    answers = np.array(
        [[np.nan if v is None or v == "na" else v for v in r["answers"]] for r in rows],
        dtype=float,
    ).reshape(len(rows), len(codes))
    items = pd.DataFrame(answers, columns=codes)
    try:
        res = fit_pls(items, model, consistent=False, missing="mean")
        scale = {}
        for i in res.items:
            s = spec.item_scale(i)
            scale[i] = (float(s.min), float(s.max))
        weights = index_weights(res, scale)
    except ModelError as exc:
        raise InvalidInput([field_error("index", msg=f"PLS weights: {exc}")]) from exc
    scores = respondent_index(items, weights, scale)
    attributes = list(spec.attribute_codes)
    groups = cell_groups(rows, attributes)
    keys = pd.DataFrame(
        [(b, m, *values) for b, m, values in groups],
        columns=["branch", "month", *[f"attr:{a}" for a in attributes]],
    )
    raw = respondent_cells(keys, scores, attributes)
    scoring = index_scoring(survey, weights)
    return PlsIndex(
        raw, scoring, model, res.nobs, weights, scale, res, fingerprint, items[res.items], keys
    )


def respondent_cells(
    keys: pd.DataFrame, scores: pd.DataFrame, attributes: list[str]
) -> pd.DataFrame:
    """Atomic cells (columns branch, month, dim, value, construct, n, sum, sumsq) of the
    respondents' scores (``keys``: branch, month and ``attr:<code>`` per respondent): the
    whole branch-month (dim ``*``) and each attribute's values
    (``""`` when missing), with the ``*`` pseudo-construct counting the respondents."""
    frame = keys.reset_index(drop=True).copy()
    moments = []
    for c in scores.columns:
        col = scores[c].reset_index(drop=True)
        frame[f"{c}\0n"] = col.notna().astype(np.int64)
        frame[f"{c}\0sum"] = col.fillna(0.0)
        frame[f"{c}\0sumsq"] = col.fillna(0.0) ** 2
        moments.append(c)
    frame[f"{COUNT}\0n"] = 1
    frame[f"{COUNT}\0sum"] = 0.0
    frame[f"{COUNT}\0sumsq"] = 0.0
    parts = []
    for dim in [ALL, *attributes]:
        by = ["branch", "month"] + ([] if dim == ALL else [f"attr:{dim}"])
        value_cols = [c for c in frame.columns if "\0" in c]
        sums = frame.groupby(by, sort=False)[value_cols].sum().reset_index()
        for c in [COUNT, *moments]:
            part = pd.DataFrame(
                {
                    "branch": sums["branch"],
                    "month": sums["month"],
                    "dim": dim,
                    "value": "" if dim == ALL else sums[f"attr:{dim}"],
                    "construct": c,
                    "n": sums[f"{c}\0n"],
                    "sum": sums[f"{c}\0sum"],
                    "sumsq": sums[f"{c}\0sumsq"],
                }
            )
            parts.append(part[part["n"] > 0])
    columns = ["branch", "month", "dim", "value", "construct", "n", "sum", "sumsq"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)[columns]
    return out.astype({"n": np.int64, "sum": float, "sumsq": float})


def pls_ipma(session: Session, *, survey: Survey, outcome: str | None = None) -> dict[str, Any]:
    """Importance-performance map of the PLS-weighted model for ``outcome`` (default: the
    instrument's outcome), pooled over every response like the driver importances.

    Raises InvalidInput (``outcome``) when it is not a construct of the model.
    """
    weighted = pls_index(session, survey=survey)
    target = outcome or survey_spec(survey).default_outcome
    if target not in weighted.fit.constructs:
        raise InvalidInput(
            [
                field_error(
                    "outcome",
                    msg=f"{target} is not a construct of the model "
                    f"({', '.join(weighted.fit.constructs)})",
                )
            ]
        )
    out = ipma(weighted.fit, target, weighted.scale).to_dict()
    return out | {
        "model": weighted.model,
        "nobs": weighted.nobs,
        "data_fingerprint": weighted.fingerprint,
    }


def pls_drivers(
    weighted: PlsIndex, *, outcome: str, performance: Mapping[str, float | None]
) -> IPAResult:
    """The PLS importance-performance map for ``outcome``: importance the unstandardized total
    effect of each construct on it (IPMA, pooled over every response), performance the given
    0-100 PLS-weighted indices (the dashboard passes the protected index of the row it shows);
    quadrants split at the means, as the equal-weight driver analysis.

    Raises InvalidInput (``outcome``) when it is not a construct of the model.
    """
    if outcome not in weighted.fit.constructs:
        choices = ", ".join(weighted.fit.constructs)
        raise InvalidInput([field_error("outcome", msg=f"must be a construct: {choices}")])
    importance = ipma(weighted.fit, outcome, weighted.scale).importance
    return ipa_quadrants(importance, {c: performance.get(c) for c in importance}, outcome=outcome)
