"""Measurement invariance and path-difference tests against lavaan 0.6.14.

References: tests/data/telecom_invariance_customer_type.json (reference.R), and
tests/data/invariance_extra.json / invariance_mlr.json made by the R scripts beside them
(invariance_extra.R, invariance_mlr.R).

Tolerances (measured agreement with a margin): chisq 1e-6 relative, df and npar exact,
cfi/tli/rmsea/srmr 1e-6 absolute at every level; delta.chisq 1e-6 relative to the larger level's
chisq (it is a difference of two statistics each held to that), delta.df exact, delta.pvalue
1e-6 absolute (1e-5 for MLR's scaled difference test); configural per-group estimates as
tests/stats/sem/golden.py (est 2e-5, se 1e-4 relative; 1e-4 for the eight small branch groups,
see that test); MLR chisq.scaled and scaling factor 5e-6.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.stats.sem import ModelError
from app.stats.sem.invariance import LEVELS, chisq_difference, fit_invariance, screen_groups
from app.stats.sem.path_difference import path_difference
from tests.stats.sem.golden import estimate_mismatches, fit_mismatches, load_csv, load_json

STAT_REL = 1e-6
INDEX_ABS = 1e-6
EST_ABS = 1e-5
SE_REL = 1e-4
P_ABS = 1e-6

REF = load_json("telecom_invariance_customer_type")
EXTRA = load_json("invariance_extra")
MLR = load_json("invariance_mlr")


@pytest.fixture(scope="module")
def telecom() -> pd.DataFrame:
    return load_csv("telecom_1500.csv")


def _ge(x: str | list[str]) -> tuple[str, ...]:
    return (x,) if isinstance(x, str) else tuple(x)


def _level_mismatches(mine: dict, ref: dict, p_abs: float = P_ABS) -> list[str]:
    keys = ("npar", "chisq", "df", "cfi", "tli", "rmsea", "srmr")
    bad = fit_mismatches(mine, {k: ref[k] for k in keys if k in ref})
    if "delta.chisq" in ref:
        if abs(mine["delta.chisq"] - ref["delta.chisq"]) > STAT_REL * ref["chisq"]:
            bad.append(f"delta.chisq {mine['delta.chisq']} vs {ref['delta.chisq']}")
        if mine["delta.df"] != ref["delta.df"]:
            bad.append(f"delta.df {mine['delta.df']} vs {ref['delta.df']}")
        if abs(mine["delta.pvalue"] - ref["delta.pvalue"]) > p_abs:
            bad.append(f"delta.pvalue {mine['delta.pvalue']} vs {ref['delta.pvalue']}")
    return bad


def _estimates_mismatches(
    res, ref_rows: list[dict], *, free_only: bool = False, est_abs: float = 2e-5
) -> list[str]:
    """Per-group rows against lavaan's, keyed by group label (tolerances of tests/stats/sem/golden.py).

    ``free_only``: ``ref_rows`` are lavaan's free rows (tolerances of tests/stats/sem/golden.py), to be
    matched by the rows with a standard error; otherwise every row.
    """
    mine = [e.to_dict() for e in res.estimates if e.se > 0 or not free_only]
    return estimate_mismatches(mine, ref_rows, res.groups, est_abs=est_abs)


def test_customer_type_levels_match_reference(telecom):
    inv = fit_invariance(telecom, REF["model"], group="customer_type", missing="listwise")
    assert inv.groups == REF["group_labels"]
    assert [lv.level for lv in inv.levels] == ["configural", "metric", "scalar"]
    for mine, ref in zip(inv.to_list(), REF["levels"], strict=True):
        assert mine["group_equal"] == list(_ge(ref["group_equal"]))
        assert _level_mismatches(mine, ref) == [], mine["level"]
    # configural per-group estimates, matched by group label (lavaan numbers groups 1..3)
    conf = inv.levels[0].result.to_dict()
    assert estimate_mismatches(conf["estimates"], REF["configural"]["estimates"], inv.groups) == []
    assert inv.nobs == REF["configural"]["nobs"]


def test_strict_level_and_deltas_match_lavaan_lrt(telecom):
    ref = EXTRA["strict_customer_type"]
    inv = fit_invariance(
        telecom, ref["model"], group="customer_type", missing="listwise", levels=list(LEVELS)
    )
    assert [lv.level for lv in inv.levels] == ["configural", "metric", "scalar", "strict"]
    for mine, r in zip(inv.to_list(), ref["levels"], strict=True):
        assert _level_mismatches(mine, r) == [], mine["level"]
    strict = inv.to_list()[-1]
    assert strict["group_equal"] == ["loadings", "intercepts", "residuals"]
    # the configural level has nothing to be compared with
    first = inv.to_list()[0]
    assert first["delta.chisq"] is None and first["delta.cfi"] is None


def test_grouping_by_branch_matches_lavaan(telecom):
    ref = EXTRA["branch"]  # telecom_1500 has 8 branches
    inv = fit_invariance(
        telecom, ref["model"], group="branch", missing="listwise", levels=list(LEVELS)
    )
    assert inv.groups == ref["group_labels"] and len(inv.groups) == 8
    assert inv.nobs == ref["nobs"]
    for mine, r in zip(inv.to_list(), ref["levels"], strict=True):
        assert _level_mismatches(mine, r) == [], mine["level"]
    conf = inv.levels[0].result
    # est 1e-4: eight listwise groups of 14-40 complete rows; 4.3e-5 measured, where the
    # configural optimum is flat and both optimisers stop within their own tolerances.
    assert _estimates_mismatches(conf, ref["configural_estimates"], est_abs=1e-4) == []


def test_fiml_multigroup_matches_lavaan_missing_ml(telecom):
    ref = EXTRA["fiml"]  # NQ items are N/A for many customers: real missing data
    assert telecom[["NQ1", "NQ2", "NQ3", "NQ4"]].isna().any().all()
    inv = fit_invariance(
        telecom,
        ref["model"],
        group="customer_type",
        missing="fiml",
        levels=["configural", "metric", "scalar"],
    )
    assert inv.missing == "fiml" and inv.nobs == ref["nobs"]
    for mine, r in zip(inv.to_list(), ref["levels"], strict=True):
        assert _level_mismatches(mine, r) == [], mine["level"]
    assert _estimates_mismatches(inv.levels[0].result, ref["configural_estimates"]) == []


def _mlr_level_mismatches(inv, ref_levels: list[dict]) -> list[str]:
    """Each level as :func:`_level_mismatches`, plus chisq.scaled and chisq.scaling.factor
    (tolerances of tests/stats/sem/golden.py)."""
    bad = []
    for mine, r in zip(inv.levels, ref_levels, strict=True):
        robust = {k: r[k] for k in ("chisq.scaled", "chisq.scaling.factor")}
        # delta.pvalue 1e-5: the scaled difference test inherits the scaling factors'
        # 5e-6 (7e-6 measured)
        found = fit_mismatches(mine.result.fit, robust) + _level_mismatches(
            mine.to_dict(), r, p_abs=1e-5
        )
        bad += [f"{mine.level} {b}" for b in found]
    return bad


def test_mlr_levels_use_the_scaled_difference_test(telecom):
    inv = fit_invariance(
        telecom, MLR["model"], group="customer_type", missing="listwise", estimator="MLR"
    )
    assert _mlr_level_mismatches(inv, MLR["levels"]) == []
    # the plain difference would be 13.43 for metric; Satorra-Bentler 2001 gives 13.81
    assert abs(inv.levels[1].delta_chisq - 13.8112801775) < 1e-2


def test_mlr_fiml_levels_match_lavaan(telecom):
    # Warm-started levels must not use a stale information matrix: when the optimiser handed
    # on the one of its first Newton step, the scalar level's scaling factor was 0.98815
    # against lavaan's 0.98561 and its robust se up to 4.7% off.
    ref = MLR["fiml"]
    inv = fit_invariance(
        telecom, ref["model"], group="customer_type", missing="fiml", estimator="MLR"
    )
    assert _mlr_level_mismatches(inv, ref["levels"]) == []
    scalar = inv.levels[2].result
    assert _estimates_mismatches(scalar, ref["scalar_estimates"], free_only=True) == []


def test_path_difference_matches_lavaan_lrt(telecom):
    ref = EXTRA["path"]
    res = path_difference(
        telecom, ref["model"], group="customer_type", path=("CCI", "~", "PV"), missing="listwise"
    )
    assert res.path == ("CCI", "~", "PV")
    assert abs(res.chisq_free - ref["free"]["chisq"]) <= STAT_REL * ref["free"]["chisq"]
    assert res.df_free == ref["free"]["df"] and res.df_constrained == ref["constrained"]["df"]
    c = ref["constrained"]["chisq"]
    assert abs(res.chisq_constrained - c) <= STAT_REL * c
    assert abs(res.delta_chisq - ref["delta.chisq"]) <= STAT_REL * c
    assert res.delta_df == ref["delta.df"] == 2
    assert abs(res.delta_pvalue - ref["delta.pvalue"]) <= P_ABS
    assert abs(res.constrained_est - ref["constrained_est"]) <= EST_ABS
    assert [g.group for g in res.per_group] == ref["group_labels"]
    for mine, r in zip(res.per_group, ref["per_group"], strict=True):
        assert abs(mine.est - r["est"]) <= EST_ABS
        assert abs(mine.se / r["se"] - 1) <= SE_REL
    d = res.to_dict()
    assert d["verdict"] == "no evidence that it differs across groups"  # p = 0.18
    assert {"delta.chisq", "delta.df", "delta.pvalue", "per_group"} <= set(d)


def test_path_difference_lifts_a_label_that_would_tie_the_path(telecom):
    ref = EXTRA["path"]
    labelled = ref["model"].replace("CCI ~ PV", "CCI ~ a*PV")  # lavaan: equal in all groups
    res = path_difference(
        telecom, labelled, group="customer_type", path=("CCI", "~", "PV"), missing="listwise"
    )
    assert res.df_free == ref["free"]["df"]
    assert abs(res.delta_chisq - ref["delta.chisq"]) <= STAT_REL * ref["constrained"]["chisq"]


def test_path_difference_rejects_a_path_not_in_the_model(telecom):
    with pytest.raises(ModelError, match="not a free parameter"):
        path_difference(telecom, REF["model"], group="customer_type", path=("LOY", "~", "XX"))


def test_verdict_follows_delta_cfi_and_detects_non_invariance(telecom):
    # Shift one item's intercept in one group: loadings stay equal, intercepts do not.
    df = telecom.copy()
    ka = df["customer_type"] == "key_account"
    df["CCI2"] = df["CCI2"].astype(float)
    df.loc[ka, "CCI2"] += 1.5
    inv = fit_invariance(df, REF["model"], group="customer_type", missing="listwise")
    verdicts = {lv.level: lv.verdict for lv in inv.levels}
    assert verdicts == {"configural": "holds", "metric": "holds", "scalar": "does not hold"}
    scalar = inv.levels[2]
    assert scalar.delta_cfi is not None and scalar.delta_cfi < -0.01
    assert scalar.delta_pvalue is not None and scalar.delta_pvalue < 1e-6
    for lv in inv.levels[1:]:
        assert lv.delta_cfi is not None
        assert (lv.verdict == "holds") == (lv.delta_cfi >= -0.01)
    assert "Cheung & Rensvold" in inv.rule


def _with_bad_groups(df: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    tiny = df.sample(3, random_state=1).assign(customer_type="tiny")
    flat = df.sample(60, random_state=2).assign(customer_type="flat", PV1=4)
    empty = df.sample(60, random_state=3).assign(customer_type="empty", LOY3=np.nan)
    few = df.sample(9, random_state=4).assign(customer_type="few")  # 9 rows, 10 variables
    out = pd.concat([df, tiny, flat, empty, few], ignore_index=True)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)


def test_unusable_groups_are_left_out_with_a_reason(telecom):
    df = _with_bad_groups(telecom)
    inv = fit_invariance(df, REF["model"], group="customer_type", missing="listwise")
    reasons = {e.group: e.reason for e in inv.excluded}
    assert set(reasons) == {"tiny", "flat", "empty", "few"}
    assert "minimum group size" in reasons["tiny"]
    assert "no variance in PV1" in reasons["flat"]
    assert "too few" in reasons["few"]
    # listwise: LOY3 missing everywhere leaves no complete row
    assert "minimum group size" in reasons["empty"]
    # the three real groups give exactly lavaan's numbers (group order of first appearance
    # changes with the shuffle, the fit does not)
    assert sorted(inv.groups) == sorted(REF["group_labels"])
    for mine, ref in zip(inv.to_list(), REF["levels"], strict=True):
        assert _level_mismatches(mine, ref) == []
    d = inv.to_dict()
    assert {e["group"] for e in d["excluded"]} == set(reasons)


def test_fiml_screening_names_a_variable_without_observations(telecom):
    split = telecom.sample(40, random_state=6).assign(customer_type="split")
    split.iloc[:20, split.columns.get_loc("PV1")] = np.nan
    split.iloc[20:, split.columns.get_loc("PV2")] = np.nan
    df = pd.concat([_with_bad_groups(telecom), split], ignore_index=True)
    kept, excluded = screen_groups(
        df, ["PV1", "PV2", "LOY3"], group="customer_type", missing="fiml", min_group_size=5
    )
    reasons = {e.group: e.reason for e in excluded}
    assert reasons["empty"] == "no observations of LOY3"
    assert reasons["split"].startswith("PV1 and PV2 are never observed together")
    assert "few" in kept  # 9 rows for 3 variables is enough
    assert set(REF["group_labels"]) <= set(kept)


def test_screening_names_linearly_dependent_variables(telecom):
    # the engine's singularity check (checks.group_data): the reason names the items
    dep = telecom.sample(200, random_state=7).assign(customer_type="dependent")
    dep["PV2"] = dep["PV1"]
    df = pd.concat([telecom, dep], ignore_index=True)
    kept, excluded = screen_groups(
        df, ["PV1", "PV2", "LOY3"], group="customer_type", missing="listwise"
    )
    reasons = {e.group: e.reason for e in excluded}
    assert set(reasons) == {"dependent"} and "dependent" not in kept
    assert reasons["dependent"].startswith("the sample covariance matrix of PV1, PV2, LOY3 is ")
    assert reasons["dependent"].endswith("linearly dependent items: PV1, PV2)")


def test_min_group_size_and_too_few_groups(telecom):
    kept, excluded = screen_groups(
        telecom, ["PV1", "PV2"], group="customer_type", missing="listwise", min_group_size=300
    )
    assert kept == ["consumer", "business"]
    assert [(e.group, e.n) for e in excluded] == [("key_account", 237)]
    with pytest.raises(ModelError, match="at least two usable groups"):
        fit_invariance(
            telecom, REF["model"], group="customer_type", missing="listwise", min_group_size=400
        )


def test_bad_levels_and_unknown_group_are_model_errors(telecom):
    with pytest.raises(ModelError):
        fit_invariance(telecom, REF["model"], group="customer_type", levels=["weak"])
    with pytest.raises(ModelError, match="unknown group"):
        fit_invariance(telecom, REF["model"], group="region")


def test_chisq_difference_plain_under_ml(telecom):
    inv = fit_invariance(
        telecom, REF["model"], group="customer_type", missing="listwise", levels=["configural"]
    )
    conf = inv.levels[0].result
    d, ddf, p = chisq_difference(conf, conf)
    assert (d, ddf) == (0.0, 0) and np.isnan(p)
    assert inv.to_list()[0]["verdict"] == "holds"  # cfi 0.999, rmsea 0.012


def test_verdict_without_a_chi_square_is_not_assessable():
    """With no saturated model (fit measures NaN), 'does not hold' would be a false alarm."""
    from types import SimpleNamespace

    from app.stats.sem.invariance import _verdict

    nan_fit = SimpleNamespace(converged=True, fit={"cfi": float("nan")})
    assert _verdict(nan_fit, ok=False) == "not assessable"  # type: ignore[arg-type]
    assert _verdict(SimpleNamespace(converged=False, fit={"cfi": 0.99}), ok=True) == (  # type: ignore[arg-type]
        "not converged"
    )
    good = SimpleNamespace(converged=True, fit={"cfi": 0.99})
    assert _verdict(good, ok=True) == "holds"  # type: ignore[arg-type]
    assert _verdict(good, ok=False) == "does not hold"  # type: ignore[arg-type]
