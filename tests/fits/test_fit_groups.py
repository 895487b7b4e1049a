"""Multi-group fit jobs through the API: invariance levels against lavaan, excluded groups, path
tests, and the 422s of grouped specs.

Tolerances (issue 5): chisq 1e-3 relative, df exact, cfi/rmsea/srmr 1e-3 absolute; path test
chi-square difference 1e-3 relative, per-group estimates 1e-3 absolute.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.fits.tables import fit_tables
from app.surveys.models import Survey
from tests.conftest import DATA_DIR
from tests.fits.test_fit_api import post_fit, post_rejected, wait_done

CORE = (
    "PV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nLOY =~ LOY1 + LOY2 + LOY3 + LOY4\n"
    "CCI ~ PV\nLOY ~ CCI + PV"
)
INVARIANCE = json.loads((DATA_DIR / "telecom_invariance_customer_type.json").read_text())
PATH_TEST = json.loads((DATA_DIR / "telecom_path_customer_type.json").read_text())
# The spec every test here starts from; a test's own fields are added or override these.
GROUPED: dict[str, Any] = {"model": CORE, "missing": "listwise", "group": "customer_type"}


def post_grouped(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return post_fit(client, headers, **{**GROUPED, **body})


def run(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    """Posts a grouped fit and waits until it is done."""
    r = post_grouped(client, headers, **body)
    assert r.status_code == 202, r.text
    done = wait_done(client, headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    assert done["progress"] == 1.0
    return done


def set_min_group_size(session: Session, survey: Survey, n: int) -> None:
    survey.min_group_size = n
    session.merge(survey)
    session.commit()


def test_invariance_by_customer_type_matches_lavaan(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    done = run(client, researcher_headers, invariance=True)
    assert done["spec"]["invariance_levels"] == ["configural", "metric", "scalar"]
    assert done["spec"]["min_group_size"] == 5
    result = done["result"]
    levels = result["invariance"]
    assert [lv["level"] for lv in levels] == ["configural", "metric", "scalar"]
    for got, want in zip(levels, INVARIANCE["levels"], strict=True):
        assert got["chisq"] == pytest.approx(want["chisq"], rel=1e-6), got["level"]
        assert got["df"] == want["df"]
        for k in ("cfi", "rmsea", "srmr"):
            assert got[k] == pytest.approx(want[k], abs=1e-6), (got["level"], k)
        assert got["verdict"] == "holds"
    assert levels[0]["delta.chisq"] is None
    for prev, cur in zip(levels, levels[1:], strict=False):
        assert cur["delta.df"] == cur["df"] - prev["df"]
        assert cur["delta.chisq"] == pytest.approx(cur["chisq"] - prev["chisq"], rel=1e-6)
        assert cur["delta.cfi"] == pytest.approx(cur["cfi"] - prev["cfi"], abs=1e-9)
        assert 0 < cur["delta.pvalue"] < 1
    assert "Cheung" in result["invariance_rule"]
    # each level's modification indices (tests/stats/sem/test_invariance_modindices.py checks
    # them against lavaan), downloadable as one table led by the level
    for lv in levels:
        mis = [m["mi"] for m in lv["modindices"]]
        assert mis and mis == sorted(mis, reverse=True)
        assert {m["group"] for m in lv["modindices"]} <= set(INVARIANCE["group_labels"])
    tables = {t.name: t for t in fit_tables(result)}
    mi_table = tables["invariance.modindices"]
    assert mi_table.columns[:4] == ["level", "lhs", "op", "rhs"]
    assert len(mi_table.rows) == sum(len(lv["modindices"]) for lv in levels)
    assert "modindices" not in tables["invariance"].columns
    # the configural fit alongside: whole-model fit, estimates and r2 per group
    assert result["fit"]["df"] == INVARIANCE["configural"]["fit"]["df"]
    labels = INVARIANCE["group_labels"]
    # lavaan orders groups by first appearance; the survey's rows come in submission order
    assert {g["group"]: g["nobs"] for g in result["groups"]} == dict(
        zip(labels, INVARIANCE["configural"]["nobs"], strict=True)
    )
    assert {e["group"] for e in result["estimates"]} == set(labels)
    assert set(result["r2"]) == set(labels) and "LOY" in result["r2"]["business"]
    want = {
        (e["lhs"], e["op"], e["rhs"], labels[e["group"] - 1]): e["est"]
        for e in INVARIANCE["configural"]["estimates"]
    }
    got = {(e["lhs"], e["op"], e["rhs"], e["group"]): e["est"] for e in result["estimates"]}
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-5), key
    assert result["excluded_groups"] == []
    assert "path_tests" not in result


def test_small_groups_are_left_out_with_a_reason(
    client: TestClient,
    researcher_headers: dict[str, str],
    telecom_survey: Survey,
    session: Session,
) -> None:
    set_min_group_size(session, telecom_survey, 300)  # key_account has 237 responses
    done = run(
        client, researcher_headers, invariance=True, invariance_levels=["configural", "metric"]
    )
    result = done["result"]
    assert done["spec"]["min_group_size"] == 300
    assert result["excluded_groups"] == [
        {
            "group": "key_account",
            "n": 237,
            "reason": "237 usable rows, below the minimum group size of 300",
        }
    ]
    assert sorted(g["group"] for g in result["groups"]) == ["business", "consumer"]
    assert {e["group"] for e in result["estimates"]} == {"consumer", "business"}
    assert [lv["level"] for lv in result["invariance"]] == ["configural", "metric"]
    assert result["invariance"][0]["df"] == 64  # two groups of the core model (lavaan: 32 each)


def test_grouped_fit_without_invariance_reports_exclusions(
    client: TestClient,
    researcher_headers: dict[str, str],
    telecom_survey: Survey,
    session: Session,
) -> None:
    set_min_group_size(session, telecom_survey, 200)  # tenure "lapsed" has 172
    result = run(client, researcher_headers, group="tenure", group_equal=["loadings"])["result"]
    assert result["invariance"] is None
    assert [e["group"] for e in result["excluded_groups"]] == ["lapsed"]
    assert "minimum group size of 200" in result["excluded_groups"][0]["reason"]
    assert sorted(g["group"] for g in result["groups"]) == ["first_time", "long_term", "short_term"]
    loadings = [e for e in result["estimates"] if (e["lhs"], e["rhs"]) == ("CCI", "CCI2")]
    assert len(loadings) == 3 and len({round(e["est"], 12) for e in loadings}) == 1


def test_fewer_than_two_usable_groups_is_422(
    client: TestClient,
    researcher_headers: dict[str, str],
    telecom_survey: Survey,
    session: Session,
) -> None:
    set_min_group_size(session, telecom_survey, 400)  # only consumer (913) is left
    text = post_rejected(client, researcher_headers, **GROUPED, invariance=True)
    assert "at least two usable groups" in text and "key_account" in text and "350" in text
    assert json.loads(text)["detail"][0]["field"] == "group"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"compare_paths": ["LOY ~ TAN1"]}, "compare_paths", "LOY ~ TAN1 is not a free parameter"),
        ({"model": CORE + "\nX =~ NOPE1 + NOPE2"}, "model", "unknown variable(s) in the model"),
        ({"model": CORE + "\nd := zz*2"}, "model", "unknown label(s) in d := zz*2"),
    ],
)
def test_the_engines_check_names_the_field(
    client: TestClient,
    researcher_headers: dict[str, str],
    telecom_survey: Survey,
    body: dict[str, Any],
    field: str,
    message: str,
) -> None:
    (error,) = json.loads(post_rejected(client, researcher_headers, **{**GROUPED, **body}))[
        "detail"
    ]
    assert error["field"] == field and message in error["msg"], error


def test_path_difference_across_customer_types_matches_lavaan(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    result = run(
        client,
        researcher_headers,
        compare_paths=["CCI~PV", "CCI ~ PV"],  # one path, written twice
    )["result"]
    (test,) = result["path_tests"]
    assert test["path"] == {"lhs": "CCI", "op": "~", "rhs": "PV"}
    assert test["delta.df"] == PATH_TEST["delta.df"]
    assert test["delta.chisq"] == pytest.approx(PATH_TEST["delta.chisq"], rel=1e-6)
    assert test["delta.pvalue"] == pytest.approx(PATH_TEST["delta.pvalue"], abs=1e-6)
    assert test["free"]["df"] == PATH_TEST["free"]["df"]
    assert test["constrained"]["chisq"] == pytest.approx(
        PATH_TEST["constrained"]["chisq"], rel=1e-6
    )
    assert test["verdict"] == "no evidence that it differs across groups"
    got = {g["group"]: g for g in test["per_group"]}
    for want in PATH_TEST["per_group"]:
        assert got[want["group"]]["est"] == pytest.approx(want["est"], abs=1e-5)
        assert got[want["group"]]["se"] == pytest.approx(want["se"], rel=1e-4)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"compare_paths": ["LOY ~ TAN1"]}, "not a free parameter"),
        ({"compare_paths": ["CCI -> PV"]}, "not a path"),
        ({"invariance_levels": ["configural", "metric"]}, "needs invariance"),
        (
            {"invariance": True, "invariance_levels": ["metric", "scalar"]},
            "starting with configural",
        ),
        ({"invariance": True, "group_equal": ["regressions"]}, "may name only"),
        ({"invariance": True, "bootstrap": 200}, "bootstrap"),
        ({"group": None, "compare_paths": ["CCI ~ PV"]}, "need a group"),
    ],
)
def test_grouped_spec_errors_are_422(
    client: TestClient,
    researcher_headers: dict[str, str],
    telecom_survey: Survey,
    body: dict[str, Any],
    message: str,
) -> None:
    assert message in post_rejected(client, researcher_headers, **{**GROUPED, **body})


def test_strict_level_when_group_equal_names_residuals_and_spec_stays_compact(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    r = post_grouped(client, researcher_headers, invariance=True, group_equal=["residuals"])
    assert r.status_code == 202, r.text
    assert r.json()["spec"]["invariance_levels"] == ["configural", "metric", "scalar", "strict"]
    # Fields added for groups stay out of ungrouped specs: earlier jobs' cache keys still match.
    plain = post_fit(client, researcher_headers, model=CORE, missing="listwise").json()["spec"]
    assert not {"invariance_levels", "compare_paths", "min_group_size"} & set(plain)
    wait_done(client, researcher_headers, r.json()["id"])


def test_text_report_lists_excluded_groups_and_path_tests() -> None:
    from app.fits.report import format_result

    text = format_result(
        {
            "fit": {},
            "estimates": [],
            "excluded_groups": [{"group": "lapsed", "n": 3, "reason": "3 usable rows"}],
            "path_tests": [
                {
                    "path": {"lhs": "CCI", "op": "~", "rhs": "PV"},
                    "delta.chisq": 3.4036,
                    "delta.df": 2,
                    "delta.pvalue": 0.1824,
                    "verdict": "no evidence that it differs across groups",
                }
            ],
        }
    )
    assert "group lapsed left out (n = 3): 3 usable rows" in text
    assert "CCI ~ PV: delta chisq 3.404 on 2 df, p 0.182" in text
