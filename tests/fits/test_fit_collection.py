"""Fits as a collection (issue 14): listed per survey (paged, filtered, scoped), named, removed;
every table of a result downloadable as CSV and XLSX with the JSON's column names."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from app.surveys.models import Survey

MODEL = "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4"
PATHS = MODEL + "\nPV =~ PV1 + PV2\nPV ~ TAN + REL"


def post(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body = {"model": MODEL, "missing": "listwise", **body}
    r = client.post("/api/v1/surveys/telecom/fits", json=body, headers=headers)
    assert r.status_code in (200, 202), r.text
    return dict(r.json())


def done(client: TestClient, headers: dict[str, str], fit_id: str) -> dict[str, Any]:
    for _ in range(10):
        r = client.get(f"/api/v1/fits/{fit_id}", params={"wait": 30}, headers=headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("done", "failed"):
            assert r.json()["status"] == "done", r.json()["error"]
            return dict(r.json())
    raise AssertionError("fit did not finish")


def listing(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/surveys/telecom/fits", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_fits_are_listed_newest_first_with_names_paging_and_filters(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    first = post(client, researcher_headers, name="two factors")
    second = post(client, researcher_headers, model=PATHS, estimator="MLR", name="paths (MLR)")
    third = post(client, researcher_headers, model=PATHS)
    for job in (first, second, third):
        done(client, researcher_headers, job["id"])
    assert first["name"] == "two factors"

    page = listing(client, researcher_headers)
    assert page["total"] == 3 and page["offset"] == 0 and page["next_offset"] is None
    ids = [item["id"] for item in page["items"]]
    assert ids == [third["id"], second["id"], first["id"]]
    top = page["items"][1]
    assert top["name"] == "paths (MLR)" and top["estimator"] == "MLR" and top["method"] == "sem"
    assert top["status"] == "done" and top["nobs"] > 0
    assert {"chisq", "df", "cfi", "rmsea", "chisq.scaled", "cfi.robust"} <= set(top["fit"])
    assert "result" not in top

    one = listing(client, researcher_headers, limit=1, offset=1)
    assert [i["id"] for i in one["items"]] == [second["id"]]
    assert one["total"] == 3 and one["next_offset"] == 2

    assert [i["id"] for i in listing(client, researcher_headers, estimator="MLR")["items"]] == [
        second["id"]
    ]
    by_model = listing(client, researcher_headers, model="PV ~ TAN")["items"]
    assert {i["id"] for i in by_model} == {second["id"], third["id"]}
    assert [i["id"] for i in listing(client, researcher_headers, name="TWO")["items"]] == [
        first["id"]
    ]
    assert listing(client, researcher_headers, method="pls")["total"] == 0
    assert listing(client, researcher_headers, status="failed,cancelled")["total"] == 0
    assert listing(client, researcher_headers, status="done")["total"] == 3
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert listing(client, researcher_headers, created_from=future)["total"] == 0
    assert listing(client, researcher_headers, created_from=past, created_to=future)["total"] == 3

    # the same spec under another name is the stored fit; a name it lacked is kept
    again = post(client, researcher_headers, model=PATHS, name="paths (ML)")
    assert again["id"] == third["id"] and again["name"] == "paths (ML)"
    kept = post(client, researcher_headers, name="renamed?")
    assert kept["id"] == first["id"] and kept["name"] == "two factors"


@pytest.mark.parametrize(
    "params, field",
    [
        ({"status": "finished"}, "status"),
        ({"method": "cfa"}, "method"),
        ({"estimator": "WLS"}, "estimator"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"created_from": "yesterday"}, "created_from"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(
    client: TestClient,
    researcher_headers: dict[str, str],
    telecom_survey: Survey,
    params: dict[str, Any],
    field: str,
) -> None:
    r = client.get("/api/v1/surveys/telecom/fits", params=params, headers=researcher_headers)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_list_is_scoped_like_reading_one_fit(
    client: TestClient, factory: Any, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    br01 = factory.key("researcher", branches=["BR01"])
    br02 = factory.key("researcher", branches=["BR02"])
    everyone = post(client, researcher_headers)
    own = post(client, br01)
    narrowed = post(client, researcher_headers, filters={"branch": ["BR01"]})
    ids = {i["id"] for i in listing(client, br01)["items"]}
    assert ids == {own["id"], narrowed["id"]}
    assert listing(client, br01)["total"] == 2
    assert listing(client, br02)["total"] == 0
    assert {i["id"] for i in listing(client, researcher_headers)["items"]} == {
        everyone["id"],
        own["id"],
        narrowed["id"],
    }
    operator = factory.key("operator")
    r = client.get("/api/v1/surveys/telecom/fits", headers=operator)
    assert r.status_code == 403
    assert client.get("/api/v1/surveys/nope/fits", headers=researcher_headers).status_code == 404


def test_delete_cancels_a_queued_fit_and_removes_a_finished_one(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    finished = post(client, researcher_headers)
    done(client, researcher_headers, finished["id"])
    r = client.delete(f"/api/v1/fits/{finished['id']}", headers=researcher_headers)
    assert r.status_code == 204
    assert listing(client, researcher_headers)["total"] == 0
    slow = post(client, researcher_headers, model=PATHS, bootstrap=2000, seed=3)
    r = client.delete(f"/api/v1/fits/{slow['id']}", headers=researcher_headers)
    assert r.status_code == 204
    page = listing(client, researcher_headers)
    if page["total"]:  # cancelled while queued or running: listed as cancelled
        assert [i["status"] for i in page["items"]] == ["cancelled"]
        assert listing(client, researcher_headers, status="cancelled")["total"] == 1


def read_csv(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


def test_tables_download_as_csv_and_xlsx_with_the_json_names(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    job = post(client, researcher_headers, model=PATHS, estimator="MLR")
    result = done(client, researcher_headers, job["id"])["result"]
    base = f"/api/v1/fits/{job['id']}"

    r = client.get(f"{base}/estimates.csv", headers=researcher_headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = read_csv(r.content)
    assert list(rows[0]) == list(result["estimates"][0])
    assert len(rows) == len(result["estimates"])
    for row, est in zip(rows, result["estimates"], strict=True):
        assert row["op"] == est["op"]  # "=~" verbatim
        assert float(row["est"]) == est["est"]  # full precision
        assert row["label"] == (est["label"] or "")

    fit = read_csv(client.get(f"{base}/fit.csv", headers=researcher_headers).content)
    assert len(fit) == 1 and list(fit[0]) == list(result["fit"])
    assert float(fit[0]["cfi.robust"]) == result["fit"]["cfi.robust"]
    r2 = read_csv(client.get(f"{base}/r2.csv", headers=researcher_headers).content)
    assert {k: float(v) for k, v in r2[0].items()} == result["r2"]

    mi = read_csv(client.get(f"{base}/modindices.csv", headers=researcher_headers).content)
    assert list(mi[0]) == ["lhs", "op", "rhs", "mi", "epc", "sepc.all"]
    assert len(mi) == len(result["modindices"]) > 0
    assert float(mi[0]["mi"]) == result["modindices"][0]["mi"]
    cor = read_csv(client.get(f"{base}/residuals.cor.csv", headers=researcher_headers).content)
    assert list(cor[0]) == ["variable", *result["residuals"]["cor"]]
    assert float(cor[1]["TAN1"]) == result["residuals"]["cor"][cor[1]["variable"]]["TAN1"]

    tables = client.get(f"{base}/tables", headers=researcher_headers).json()
    names = [t["name"] for t in tables["tables"]]
    assert names[:3] == ["estimates", "fit", "r2"] and "info" in names

    r = client.get(f"{base}/estimates.xlsx", headers=researcher_headers)
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content), read_only=True)
    assert book.sheetnames == ["estimates"]
    values = list(book["estimates"].iter_rows(values_only=True))
    assert list(values[0]) == list(result["estimates"][0])
    assert values[1][1] == "=~"  # text, not a formula
    assert values[1][5] == result["estimates"][0]["est"]

    book = load_workbook(
        io.BytesIO(client.get(f"{base}/results.xlsx", headers=researcher_headers).content),
        read_only=True,
    )
    assert book.sheetnames == names
    info = list(book["info"].iter_rows(values_only=True))
    assert dict(zip(info[0], info[1], strict=True))["nobs"] == result["nobs"]

    r = client.get(f"{base}/nothing.csv", headers=researcher_headers)
    assert r.status_code == 404 and "estimates" in r.json()["detail"]
    assert client.get(f"{base}/estimates.pdf", headers=researcher_headers).status_code == 422


def test_grouped_and_invariance_tables(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    job = post(client, researcher_headers, group="customer_type", invariance=True)
    result = done(client, researcher_headers, job["id"])["result"]
    base = f"/api/v1/fits/{job['id']}"
    inv = read_csv(client.get(f"{base}/invariance.csv", headers=researcher_headers).content)
    assert [r["level"] for r in inv] == [lv["level"] for lv in result["invariance"]]
    # the level's own values; its modification indices are a table of their own
    assert list(inv[0]) == [k for k in result["invariance"][0] if k != "modindices"]
    mi = read_csv(
        client.get(f"{base}/invariance.modindices.csv", headers=researcher_headers).content
    )
    assert list(mi[0])[:4] == ["level", "lhs", "op", "rhs"]
    assert {m["level"] for m in mi} == {lv["level"] for lv in result["invariance"]}
    r2 = read_csv(client.get(f"{base}/r2.csv", headers=researcher_headers).content)
    assert [r["group"] for r in r2] == list(result["r2"])
    groups = read_csv(client.get(f"{base}/groups.csv", headers=researcher_headers).content)
    assert [g["group"] for g in groups] == [g["group"] for g in result["groups"]]

    grouped = post(client, researcher_headers, group="customer_type")
    result = done(client, researcher_headers, grouped["id"])["result"]
    base = f"/api/v1/fits/{grouped['id']}"
    names = [
        t["name"] for t in client.get(f"{base}/tables", headers=researcher_headers).json()["tables"]
    ]
    assert {"modindices", "residuals.cor.consumer", "residuals.mean"} <= set(names)
    mi = read_csv(client.get(f"{base}/modindices.csv", headers=researcher_headers).content)
    assert list(mi[0]) == ["lhs", "op", "rhs", "group", "mi", "epc", "sepc.all"]
    url = f"{base}/residuals.cor.consumer.csv"
    cor = read_csv(client.get(url, headers=researcher_headers).content)
    assert list(cor[0]) == ["variable", *result["residuals"]["cor"]["consumer"]]
    means = read_csv(client.get(f"{base}/residuals.mean.csv", headers=researcher_headers).content)
    assert [m["group"] for m in means] == list(result["residuals"]["mean"])


def test_tables_of_an_unfinished_or_unreadable_fit(
    client: TestClient, factory: Any, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    job = post(client, researcher_headers)
    done(client, researcher_headers, job["id"])
    br01 = factory.key("researcher", branches=["BR01"])
    r = client.get(f"/api/v1/fits/{job['id']}/estimates.csv", headers=br01)
    assert r.status_code == 404
    assert (
        client.get("/api/v1/fits/nope/estimates.csv", headers=researcher_headers).status_code == 404
    )


ONE = "F =~ TAN1 + TAN2 + TAN3 + REL1 + REL2 + REL3 + REL4"


def compare(client: TestClient, headers: dict[str, str], *ids: str) -> Any:
    return client.post("/api/v1/fits/compare", json={"fits": list(ids)}, headers=headers)


def test_compare_gives_lavtestlrt_table_of_nested_fits(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    two = post(client, researcher_headers, name="two factors")
    one = post(client, researcher_headers, model=ONE, name="one factor")
    r_two = done(client, researcher_headers, two["id"])["result"]
    r_one = done(client, researcher_headers, one["id"])["result"]
    r = compare(client, researcher_headers, two["id"], one["id"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "standard" and body["nobs"] == r_two["nobs"]
    first, second = body["table"]
    assert [first["fit"], second["fit"]] == [two["id"], one["id"]]  # ordered by Df
    assert first["name"] == "two factors"
    assert list(first) == [
        "fit", "name", "Df", "AIC", "BIC", "Chisq", "Chisq diff", "RMSEA", "Df diff", "Pr(>Chisq)"
    ]  # fmt: skip
    assert first["Chisq diff"] is None and first["Pr(>Chisq)"] is None
    assert second["Df diff"] == r_one["fit"]["df"] - r_two["fit"]["df"] == 1
    diff = r_one["fit"]["chisq"] - r_two["fit"]["chisq"]
    assert second["Chisq diff"] == pytest.approx(diff, rel=1e-12)
    assert 0 <= second["Pr(>Chisq)"] <= 1 and second["RMSEA"] >= 0

    mlr_two = post(client, researcher_headers, estimator="MLR")
    mlr_one = post(client, researcher_headers, model=ONE, estimator="MLR")
    for job in (mlr_two, mlr_one):
        done(client, researcher_headers, job["id"])
    scaled = compare(client, researcher_headers, mlr_one["id"], mlr_two["id"]).json()
    assert scaled["method"] == "satorra.bentler.2001"
    assert "RMSEA" not in scaled["table"][1]
    assert scaled["table"][1]["Chisq diff"] != pytest.approx(diff, rel=1e-6)  # scaled

    r = compare(client, researcher_headers, two["id"], mlr_one["id"])
    assert r.status_code == 422 and "estimators" in r.text and "fits" in r.text


def test_compare_refuses_fits_on_different_data(
    client: TestClient, factory: Any, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    everyone = post(client, researcher_headers)
    br01 = post(client, researcher_headers, model=ONE, filters={"branch": ["BR01"]})
    fiml = post(client, researcher_headers, model=ONE, missing="fiml")
    for job in (everyone, br01, fiml):
        done(client, researcher_headers, job["id"])
    r = compare(client, researcher_headers, everyone["id"], br01["id"])
    assert r.status_code == 422, r.text
    assert "different responses" in r.text
    r = compare(client, researcher_headers, everyone["id"], fiml["id"])
    assert r.status_code == 422 and "missing data differently" in r.text
    assert compare(client, researcher_headers, everyone["id"]).status_code == 422
    r = compare(client, researcher_headers, everyone["id"], everyone["id"])
    assert r.status_code == 422 and "twice" in r.text
    assert compare(client, researcher_headers, everyone["id"], "nope").status_code == 404
    scoped = factory.key("researcher", branches=["BR01"])
    assert compare(client, scoped, everyone["id"], br01["id"]).status_code == 404
