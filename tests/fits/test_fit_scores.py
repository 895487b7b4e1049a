"""Factor scores per respondent of a finished fit (issue 14): ``GET /fits/{id}/scores.csv|xlsx``.

The numbers are checked against lavaan's ``lavPredict`` in tests/stats/sem/test_factor_scores.py;
here: rows keyed by response id, only the fit's rows (scope, groups, missing-data rule), the
same numbers in CSV and XLSX, and the refusals.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from app.stats.sem import factor_scores
from app.surveys.models import Survey
from tests.fits.test_fit_collection import done, post

NQ = "NQ =~ NQ1 + NQ2 + NQ3 + NQ4\nPV =~ PV1 + PV2\nPV ~ NQ"


def read_csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def frame(factory: Any, slug: str = "telecom") -> pd.DataFrame:
    from app.surveys import service as surveys

    with factory._session() as db:
        return surveys.load_item_frame(db, survey=surveys.get_survey(db, slug=slug))


def test_scores_keyed_by_response_id_under_fiml(
    client: TestClient, factory: Any, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    job = post(client, researcher_headers, model=NQ, missing="fiml")
    result = done(client, researcher_headers, job["id"])["result"]
    base = f"/api/v1/fits/{job['id']}"
    r = client.get(f"{base}/scores.csv", headers=researcher_headers)
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    rows = read_csv(r.content)
    assert list(rows[0]) == ["response_id", "NQ", "PV"]
    assert len(rows) == result["nobs"]
    data = frame(factory)
    assert data["NQ1"].isna().any()  # FIML scores rows with missing answers too
    want = factor_scores(data, NQ, missing="fiml")
    ids = data["id"].astype(str)
    assert [row["response_id"] for row in rows] == list(ids[want.index])
    got = np.array([[float(row["NQ"]), float(row["PV"])] for row in rows])
    np.testing.assert_allclose(got, want[["NQ", "PV"]].to_numpy(), rtol=0, atol=1e-12)

    bart = client.get(f"{base}/scores.xlsx?method=bartlett", headers=researcher_headers)
    assert bart.status_code == 200
    book = load_workbook(io.BytesIO(bart.content), read_only=True)
    values = list(book[book.sheetnames[0]].iter_rows(values_only=True))
    assert list(values[0]) == ["response_id", "NQ", "PV"] and len(values) == len(rows) + 1
    want_b = factor_scores(data, NQ, missing="fiml", method="bartlett")
    assert abs(values[1][1] - want_b["NQ"].iloc[0]) < 1e-12  # same fit, same rows


def test_listwise_grouped_and_scoped_rows(
    client: TestClient, factory: Any, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    data = frame(factory)
    job = post(client, researcher_headers, group="customer_type")
    result = done(client, researcher_headers, job["id"])["result"]
    rows = read_csv(
        client.get(f"/api/v1/fits/{job['id']}/scores.csv", headers=researcher_headers).content
    )
    assert list(rows[0]) == ["response_id", "group", "TAN", "REL"]
    assert len(rows) == result["nobs"]
    by_id = data.set_index(data["id"].astype(str))
    assert all(by_id.loc[r["response_id"], "customer_type"] == r["group"] for r in rows)
    complete = by_id.loc[[r["response_id"] for r in rows], ["TAN1", "REL4"]]
    assert complete.notna().all().all()  # listwise: complete rows only

    br01 = factory.key("researcher", branches=["BR01"])
    scoped = post(client, br01)
    done(client, br01, scoped["id"])
    rows = read_csv(client.get(f"/api/v1/fits/{scoped['id']}/scores.csv", headers=br01).content)
    assert rows and {by_id.loc[r["response_id"], "branch"] for r in rows} == {"BR01"}
    # the unscoped fit's scores are hidden from the scoped key, as the fit itself
    assert client.get(f"/api/v1/fits/{job['id']}/scores.csv", headers=br01).status_code == 404


def test_invariance_job_scores_its_first_level(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    job = post(client, researcher_headers, group="customer_type", invariance=True)
    result = done(client, researcher_headers, job["id"])["result"]
    r = client.get(f"/api/v1/fits/{job['id']}/scores.csv", headers=researcher_headers)
    assert r.status_code == 200, r.text
    assert len(read_csv(r.content)) == result["nobs"]


def test_refusals(
    client: TestClient, factory: Any, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    job = post(client, researcher_headers)
    done(client, researcher_headers, job["id"])
    base = f"/api/v1/fits/{job['id']}"
    r = client.get(f"{base}/scores.csv?method=ebm", headers=researcher_headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "method"]
    assert client.get(f"{base}/scores.pdf", headers=researcher_headers).status_code == 422
    assert client.get("/api/v1/fits/nope/scores.csv", headers=researcher_headers).status_code == 404
    pls = post(
        client,
        researcher_headers,
        method="pls",
        model="TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4\nREL ~ TAN",
    )
    done(client, researcher_headers, pls["id"])
    r = client.get(f"/api/v1/fits/{pls['id']}/scores.csv", headers=researcher_headers)
    assert r.status_code == 422 and "PLS" in r.text
    # new responses since the fit: refused rather than scored on other data
    new = {"branch": "BR01", "answers": factory.answers(5)}
    assert factory.submit("telecom", new).status_code in (200, 201)
    r = client.get(f"{base}/scores.csv", headers=researcher_headers)
    assert r.status_code == 409 and "again" in r.json()["detail"]
