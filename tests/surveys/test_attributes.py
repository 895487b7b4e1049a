"""Respondent attributes as data (issue 10 item 2): any attributes an instrument declares are
validated, stored, exported, imported and usable as a fit's group."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.surveys import service
from app.surveys.models import Response
from tests.conftest import DATA_DIR

REPO_INSTRUMENTS = Path(__file__).resolve().parents[2] / "instruments"
ITEMS = ["SQ1", "SQ2", "SQ3", "VAL1", "VAL2", "VAL3"]


@pytest.fixture
def instruments_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "instruments"
    shutil.copytree(REPO_INSTRUMENTS, folder)
    shutil.copy(DATA_DIR / "shop_instrument.yaml", folder / "shop.yaml")
    monkeypatch.setenv("PVM_INSTRUMENTS_DIR", str(folder))
    return folder


@pytest.fixture
def shop(instruments_dir: Path, factory: Any) -> Iterator[str]:
    factory.branches(["BR01", "BR02"])
    factory.survey("shop", instrument="shop", min_group_size=2)
    yield "shop"


def answers(value: int = 4) -> dict[str, int]:
    return dict.fromkeys(ITEMS, value)


def stored(client: TestClient) -> list[Response]:
    with client.app.state.sessionmaker() as db:
        return list(db.scalars(select(Response)))


def test_attributes_are_stored(shop: str, factory: Any, client: TestClient) -> None:
    body = {
        "branch": "BR01",
        "answers": answers(),
        "attributes": {"region": "north", "segment": "Gold A"},
        "lang": "de",
    }
    r = factory.submit(shop, body, key="a1")
    assert r.status_code == 201, r.text
    [row] = stored(client)
    assert row.attributes == {"region": "north", "segment": "Gold A"} and row.lang == "de"
    # the same body again is a replay
    assert factory.submit(shop, body, key="a1").json() == r.json()


@pytest.mark.parametrize(
    ("attributes", "extra", "field", "msg"),
    [
        ({}, {}, "attributes.region", "required"),
        ({"region": "east"}, {}, "attributes.region", "must be one of north, south"),
        ({"region": "north", "colour": "red"}, {}, "attributes.colour", "unknown attribute"),
        ({"region": "north", "segment": "a,b;c"}, {}, "attributes.segment", "letters, digits"),
        ({"region": "north"}, {"customer_type": "consumer"}, "customer_type", "unknown attribute"),
        ({"region": "north"}, {"lang": "zh"}, "lang", "must be one of en, de"),
    ],
)
def test_bad_attributes_are_refused(
    shop: str, factory: Any, client: TestClient, attributes: Any, extra: Any, field: str, msg: str
) -> None:
    body = {"branch": "BR01", "answers": answers(), "attributes": attributes, **extra}
    r = factory.submit(shop, body)
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["msg"] for e in r.json()["detail"]}
    assert msg in errors[field]
    assert stored(client) == []


def test_export_import_and_frame_carry_every_attribute(
    shop: str, factory: Any, client: TestClient, admin_headers: dict[str, str], session: Any
) -> None:
    for i in range(8):
        attrs = {"region": ["north", "south"][i % 2], **({"segment": "S1"} if i % 3 else {})}
        body = {
            "branch": ["BR01", "BR02"][i % 2],
            "answers": answers(1 + i % 5),
            "attributes": attrs,
        }
        assert factory.submit(shop, body, key=f"k{i}").status_code == 201
    export = client.get("/api/v1/surveys/shop/responses.csv", headers=admin_headers)
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert list(rows[0])[:7] == ["id", "submitted_at", "branch", "region", "segment", "lang", "SQ1"]
    assert sorted(r["region"] for r in rows) == ["north"] * 4 + ["south"] * 4
    assert sum(r["segment"] == "S1" for r in rows) == 5
    assert sum(r["segment"] == "" for r in rows) == 3

    factory.survey("shop2", instrument="shop", min_group_size=2)
    without_ids = "\n".join(line.split(",", 1)[1] for line in export.text.splitlines())
    r = factory.import_csv("shop2", without_ids.encode(), admin_headers)
    assert r.status_code == 201, r.text
    frame = service.load_item_frame(session, survey=service.get_survey(session, slug="shop2"))
    assert sorted(frame["region"]) == ["north"] * 4 + ["south"] * 4
    assert frame["segment"].isna().sum() == 3 and (frame["segment"].dropna() == "S1").all()
    assert frame["SQ1"].dtype == np.float64


def test_import_refuses_bad_and_missing_attribute_values(
    shop: str, factory: Any, admin_headers: dict[str, str], client: TestClient
) -> None:
    header = "branch,region,segment," + ",".join(ITEMS)
    good = "BR01,north,S1," + ",".join("3" * 6)
    data = "\n".join(
        [header, good, "BR01,west,S1," + ",".join("3" * 6), "BR02,,," + ",".join("2" * 6)]
    )
    r = factory.import_csv(shop, data.encode(), admin_headers)
    assert r.status_code == 422
    detail = {d["row"]: {e["field"]: e["msg"] for e in d["errors"]} for d in r.json()["detail"]}
    assert "north, south" in detail[3]["region"]
    assert "required" in detail[4]["region"]
    assert stored(client) == []
    unknown = "branch,region,colour," + ",".join(ITEMS) + "\nBR01,north,red," + ",".join("3" * 6)
    r = factory.import_csv(shop, unknown.encode(), admin_headers)
    assert r.status_code == 422 and "unknown columns: colour" in r.text


def test_fits_group_by_any_declared_attribute(
    shop: str, factory: Any, client: TestClient, researcher_headers: dict[str, str]
) -> None:
    rng = np.random.default_rng(5)
    for i in range(60):
        base = rng.integers(1, 6)
        values = {c: int(np.clip(base + rng.integers(-1, 2), 1, 5)) for c in ITEMS}
        body = {
            "branch": "BR01",
            "answers": values,
            "attributes": {"region": ["north", "south"][i % 2]},
        }
        assert factory.submit(shop, body, key=f"f{i}").status_code == 201
    url = "/api/v1/surveys/shop/fits"
    r = client.post(url, json={"group": "region"}, headers=researcher_headers)
    assert r.status_code in (200, 202), r.text
    r = client.post(url, json={"group": "customer_type"}, headers=researcher_headers)
    assert r.status_code == 422
    assert "branch, region, segment" in r.json()["detail"][0]["msg"]
