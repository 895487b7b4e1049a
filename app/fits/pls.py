"""PLS fit jobs: the model, its bootstrap and the optional PLSpredict, IPMA and two-group
analysis, run from a canonical spec (app/fits/schemas.FitCreate) on an item frame."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from app.fits.grouped import DEFAULT_MIN_GROUP_SIZE
from app.stats.pls import (
    blindfolding,
    bootstrap_pls,
    fit_pls,
    ipma,
    parse_pls,
    pls_mga,
    pls_result_dict,
)
from app.stats.pls import predict_pls as plspredict
from app.stats.sem import ModelError


def mga_groups(frame: pd.DataFrame, mga: dict[str, Any]) -> list[str]:
    """The two values of ``mga.group`` compared: those named, else the only two present.

    Raises ModelError when there are not exactly two, or one has fewer rows than the
    survey's ``min_group_size`` (recorded in the spec).
    """
    values = frame[mga["group"]].dropna().astype(str)
    present = sorted(str(v) for v in pd.unique(values))
    groups = [str(g) for g in (mga.get("groups") or present)]
    if len(groups) != 2:
        raise ModelError(
            f"{mga['group']} has {len(present)} values ({', '.join(present)}); "
            "name the two to compare in mga.groups"
        )
    min_size = max(int(mga.get("min_group_size") or DEFAULT_MIN_GROUP_SIZE), 3)
    for g in groups:
        n = int((values == g).sum())
        if n < min_size:
            raise ModelError(f"group {g} has {n} rows (at least {min_size} needed)")
    return groups


def run_pls(
    frame: pd.DataFrame, spec: dict[str, Any], *, progress: Callable[[float], None] | None
) -> dict[str, Any]:
    """The result object of a PLS job (``pls_result_dict`` plus ``predict``, ``ipma`` and
    ``mga`` when asked)."""
    options = {
        "scheme": spec.get("scheme", "path"),
        "consistent": bool(spec.get("consistent", True)),
        "missing": spec["missing"],
    }
    res = fit_pls(frame, spec["model"], **options)
    draws = int(spec.get("bootstrap") or 0)
    boot = None
    if draws:
        boot = bootstrap_pls(
            res,
            draws=draws,
            seed=int(spec.get("seed", 1)),
            interval=spec.get("bootstrap_ci", "perc"),
            progress=progress,
        )
    out = pls_result_dict(res, boot)
    seed = int(spec.get("seed", 1))
    if spec.get("predict") is not None:
        folds, reps = int(spec["predict"]["folds"]), int(spec["predict"]["repetitions"])
        p = plspredict(res, folds=folds, repetitions=reps, seed=seed)
        out["predict"] = {
            "folds": p.folds,
            "repetitions": p.repetitions,
            "seed": p.seed,
            "items": [
                {
                    "item": i,
                    "pls.rmse": p.pls_rmse[i],
                    "pls.mae": p.pls_mae[i],
                    "lm.rmse": p.lm_rmse[i],
                    "lm.mae": p.lm_mae[i],
                    "q2predict": p.q2predict[i],
                }
                for i in p.items
            ],
            "blindfolding": blindfolding(res).to_dict(),
        }
    if spec.get("ipma") is not None:
        scale = {i: (float(lo), float(hi)) for i, (lo, hi) in spec["ipma"]["scale"].items()}
        out["ipma"] = ipma(res, spec["ipma"]["target"], scale).to_dict()
    mga = spec.get("mga")
    if mga is not None:
        # the two groups' rows only, missing values handled on them pooled
        groups = mga_groups(frame, mga)
        rows = frame[frame[mga["group"]].astype(str).isin(groups)]
        if spec["missing"] == "listwise":
            rows = rows[rows[parse_pls(spec["model"]).items].notna().all(axis=1)]
        mask = rows[mga["group"]].astype(str).to_numpy() == groups[0]
        out["mga"] = {
            "group": mga["group"],
            **pls_mga(
                fit_pls(rows, spec["model"], **options),
                np.asarray(mask),
                labels=(groups[0], groups[1]),
                draws=int(mga["draws"]),
                permutations=int(mga["permutations"]),
                seed=seed,
            ).to_dict(),
        }
    return out
