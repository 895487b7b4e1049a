"""Reliability and EFA as tables: ``?format=csv`` (one table, ``table=``) and ``?format=xlsx``
(every table, one sheet each), with the JSON's names as column names (issue 14)."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from app.surveys.models import Survey

URL = "/api/v1/surveys/telecom"
CONSTRUCTS = "constructs=TAN,REL,RES"


def rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


def test_reliability_downloads(
    client: TestClient, telecom_survey: Survey, researcher_headers: dict[str, str]
) -> None:
    report = client.get(f"{URL}/reliability?{CONSTRUCTS}", headers=researcher_headers).json()
    r = client.get(f"{URL}/reliability?{CONSTRUCTS}&format=csv", headers=researcher_headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = rows(r.content)
    assert [t["construct"] for t in table] == list(report["constructs"])
    tan = report["constructs"]["TAN"]
    assert list(table[0]) == [k for k in tan if k != "items"]  # "construct" first
    assert float(table[0]["alpha"]) == tan["alpha"]

    r = client.get(
        f"{URL}/reliability?{CONSTRUCTS}&format=csv&table=items", headers=researcher_headers
    )
    items = rows(r.content)
    assert list(items[0]) == ["construct", *tan["items"][0]]
    assert [i["code"] for i in items if i["construct"] == "TAN"] == [
        i["code"] for i in tan["items"]
    ]
    htmt = rows(
        client.get(
            f"{URL}/reliability?{CONSTRUCTS}&format=csv&table=htmt", headers=researcher_headers
        ).content
    )
    assert list(htmt[0]) == ["construct", *report["htmt"]]

    r = client.get(f"{URL}/reliability?{CONSTRUCTS}&format=xlsx", headers=researcher_headers)
    book = load_workbook(io.BytesIO(r.content), read_only=True)
    assert {"constructs", "items", "htmt", "htmt2", "info"} <= set(book.sheetnames)
    assert book.sheetnames[0] == "constructs"

    r = client.get(f"{URL}/reliability?format=csv&table=nope", headers=researcher_headers)
    assert r.status_code == 404 and "constructs" in r.json()["detail"]
    assert (
        client.get(f"{URL}/reliability?format=pdf", headers=researcher_headers).status_code == 422
    )


def test_efa_downloads(
    client: TestClient, telecom_survey: Survey, researcher_headers: dict[str, str]
) -> None:
    query = "items=TAN1,TAN2,TAN3,REL1,REL2,REL3,REL4&factors=2"
    report = client.get(f"{URL}/efa?{query}", headers=researcher_headers).json()
    loadings = rows(client.get(f"{URL}/efa?{query}&format=csv", headers=researcher_headers).content)
    assert [r["item"] for r in loadings] == list(report["loadings"])
    first = next(iter(report["loadings"].values()))
    assert list(loadings[0]) == ["item", *first]
    assert float(loadings[0][next(iter(first))]) == next(iter(first.values()))
    r = client.get(f"{URL}/efa?{query}&format=xlsx", headers=researcher_headers)
    book = load_workbook(io.BytesIO(r.content), read_only=True)
    assert book.sheetnames[0] == "loadings" and "info" in book.sheetnames
    info = list(book["info"].iter_rows(values_only=True))
    assert dict(zip(info[0], info[1], strict=True))["n"] == report["n"]
