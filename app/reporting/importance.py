"""Driver importances from the default SEM fitted on all of a survey's responses, cached.

A FIML fit of the default model takes seconds, so fits are cached in-process per *data
fingerprint*: sha256 of the instrument content, the model and the survey's maintained
aggregates (counts and sums of every construct score per cell), which change with any insert.
Surveys larger than ``MAX_FIT_ROWS`` are fitted on a seeded random sample of that size; a fit
stays in use while the survey grows by less than ``REFIT_GROWTH`` (the ``method`` text says on
how many responses it was made).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from app.errors import InvalidInput, field_error
from app.surveys.models import Survey

logger = logging.getLogger(__name__)

MAX_FIT_ROWS = 20_000
REFIT_GROWTH = 0.05
CACHE_SIZE = 16


@dataclass(frozen=True)
class ImportanceFit:
    fingerprint: str
    n_responses: int  # responses of the survey when fitted
    nobs: int  # rows the model was fitted on (a sample when sampled)
    converged: bool
    estimates: tuple[dict[str, Any], ...]
    sampled: bool


_cache: OrderedDict[str, ImportanceFit] = OrderedDict()
_latest: dict[tuple[str, str], ImportanceFit] = {}  # (database#survey, model hash) -> fit
_lock = threading.Lock()


def fingerprint(*, content_hash: str, model: str, totals: pd.DataFrame) -> str:
    """Hash of what the fit depends on; ``totals``: construct, n, sum, sumsq over all data."""
    h = hashlib.sha256()
    h.update(content_hash.encode())
    h.update(model.encode())
    for row in totals.sort_values("construct").itertuples(index=False):
        h.update(f"{row.construct}:{int(row.n)}:{float(row.sum)!r}:{float(row.sumsq)!r};".encode())
    return h.hexdigest()


def clear_cache() -> None:
    with _lock:
        _cache.clear()
        _latest.clear()


def _fit(data: pd.DataFrame, model: str, fp: str) -> ImportanceFit:
    from app.stats.sem import ModelError, fit_model

    population = len(data)
    sampled = population > MAX_FIT_ROWS
    if sampled:
        data = data.sample(n=MAX_FIT_ROWS, random_state=1)
    try:
        result = fit_model(data, model, missing="fiml").to_dict()
    except ModelError as exc:
        raise InvalidInput([field_error("outcome", msg=f"the default model: {exc}")]) from None
    est = tuple(r for r in result["estimates"] if r["op"] in ("~", "=~"))
    return ImportanceFit(
        fp, population, int(result["nobs"]), bool(result["converged"]), est, sampled
    )


def importance_fit(
    session: Session,
    *,
    survey: Survey,
    model: str,
    content_hash: str,
    item_codes: Sequence[str],
    totals: pd.DataFrame,
    n_responses: int,
    exclude_flagged: bool = False,
) -> ImportanceFit:
    """The cached fit for the current data, fitting (once, under a lock) when needed.
    ``exclude_flagged``: fitted without the responses with a quality flag (``totals`` then
    without them too); cached apart from the fit on every response."""
    from app.surveys.schemas import ResponseFilters
    from app.surveys.service import load_item_frame

    fp = fingerprint(content_hash=content_hash, model=model, totals=totals)
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    data_key = f"{database}#{survey.id}" + ("#exclude_flagged" if exclude_flagged else "")
    model_key = (data_key, hashlib.sha256(model.encode()).hexdigest())
    with _lock:
        hit = _cache.get(fp)
        if hit is not None:
            _cache.move_to_end(fp)
            return hit
        recent = _latest.get(model_key)
        if recent is not None and recent.n_responses <= n_responses <= recent.n_responses * (
            1 + REFIT_GROWTH
        ):
            return recent
        filters = ResponseFilters(exclude_flagged=True) if exclude_flagged else None
        frame = load_item_frame(session, survey=survey, filters=filters)
        if len(frame) < 2 * len(item_codes):
            raise InvalidInput(
                [
                    field_error(
                        "outcome",
                        msg=f"{len(frame)} responses are too few to fit the default model",
                    )
                ]
            )
        logger.info("fitting the default model of %s on %d responses", survey.slug, len(frame))
        fit = _fit(frame[list(item_codes)], model, fp)
        _cache[fp] = fit
        _latest[model_key] = fit
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return fit
