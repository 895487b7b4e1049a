"""POST/GET /api/v1/instruments: upload as YAML or JSON, every problem with its path, stored in
the database, versions, and surveys on uploaded instruments (both backends)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.instruments.registry import json_schema
from app.surveys.models import Instrument
from tests.instruments.helpers import (
    EXAMPLE,
    UPLOAD,
    example,
    post_json,
    post_yaml,
    telecom,
)


def problems(r: Any) -> dict[str, str]:
    """``{path: msg}`` of a 422, checking the shape of each entry."""
    assert r.status_code == 422, r.text
    out = {}
    for entry in r.json()["detail"]:
        assert set(entry) >= {"loc", "msg", "path"}, entry
        assert entry["loc"][0] == "body"
        out[entry["path"]] = entry["msg"]
    return out


# ---- upload --------------------------------------------------------------------------------


@pytest.mark.parametrize("media", ["application/yaml", "text/yaml", "application/x-yaml"])
def test_upload_yaml_file_as_is(factory, researcher_headers, media) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")  # comments, flow style and all
    r = post_yaml(factory.client, text, researcher_headers, media=media + "; charset=utf-8")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["id"], body["version"], body["created"]) == ("cafe-visit", 1, True)
    assert len(body["content_hash"]) == 64
    assert body["languages"] == ["en", "fr"] and body["items"] == 12
    assert body["source"] == "api"
    # The same content again (also as JSON): 200 with the stored version, nothing new.
    again = post_json(factory.client, example(), researcher_headers)
    assert again.status_code == 200, again.text
    assert (again.json()["version"], again.json()["created"]) == (1, False)
    assert again.json()["content_hash"] == body["content_hash"]


def test_upload_json_and_read_back(factory, admin_headers, operator_headers, session) -> None:
    r = post_json(factory.client, example(), admin_headers)
    assert r.status_code == 201, r.text
    c = factory.client
    listed = c.get(UPLOAD, headers=operator_headers).json()
    ids = [i["id"] for i in listed]
    assert ids == sorted(ids) and {"cafe-visit", "telecom-pv"} <= set(ids)
    assert [i["version"] for i in listed if i["id"] == "cafe-visit"] == [1]
    full = c.get(f"{UPLOAD}/cafe-visit", headers=operator_headers).json()
    assert full["version"] == 1 and full["content_hash"] == r.json()["content_hash"]
    assert [i["code"] for i in full["items"]][:3] == ["VISIT", "SRV1", "SRV2"]
    assert full["outcome"] == "LOY" and full["paged"] is True
    assert [s["items"] for s in full["sections"]][1] == ["LOY1", "LOY2", "LOY3", "REC", "COMMENT"]
    # Stored in the database with who sent it: another process needs no file.
    row = session.scalar(select(Instrument).where(Instrument.id == "cafe-visit"))
    assert row is not None and row.source == "api" and row.uploaded_by_key_id is not None
    assert row.definition["title"]["fr"] == "Votre visite dans notre café"


def test_access(factory, operator_headers) -> None:
    assert post_yaml(factory.client, example(), {}).status_code == 401
    assert post_yaml(factory.client, example(), operator_headers).status_code == 403
    factory.branches(["BR01"])
    scoped = factory.key("researcher", branches=["BR01"])  # a new version moves every branch
    assert post_yaml(factory.client, example(), scoped).status_code == 403
    assert factory.client.get(UPLOAD).status_code == 401


def test_media_type_and_size(factory, researcher_headers) -> None:
    c = factory.client
    text = EXAMPLE.read_bytes()
    r = c.post(UPLOAD, content=text, headers={**researcher_headers, "Content-Type": "text/plain"})
    assert r.status_code == 415 and "application/yaml" in r.json()["detail"]
    r = c.post(UPLOAD, content=text, headers=researcher_headers)
    assert r.status_code == 415
    big = text + b"\n# " + b"x" * 600_000 + b"\n"
    r = post_yaml(c, big.decode(), researcher_headers)
    assert r.status_code == 413
    assert c.get(f"{UPLOAD}/cafe-visit", headers=researcher_headers).status_code == 404


# ---- every problem, with its path ------------------------------------------------------------


def test_422_lists_every_problem_with_its_path(factory, researcher_headers) -> None:
    doc = example()
    del doc["items"][3]["text"]["en"]  # SRV3
    doc["default_model"] = doc["default_model"].replace("LOY3", "LOY9")
    doc["scales"]["nps"]["labels"]["fr"] = ["un", "deux", "trois"]
    doc["outcome"] = "NOPE"
    found = problems(post_yaml(factory.client, doc, researcher_headers))
    assert found["items[3].text.en"] == "missing translation 'en' for item SRV3"
    assert found["default_model"] == "indicator 'LOY9' of 'LOY' is not an item"
    assert "scales.nps.labels.fr" in found and found["outcome"] == "NOPE is not a construct"
    r = post_yaml(factory.client, doc, researcher_headers)
    entry = next(e for e in r.json()["detail"] if e["path"] == "items[3].text.en")
    assert entry["loc"] == ["body", "items", 3, "text", "en"]
    # The same problems in a JSON body.
    assert problems(post_json(factory.client, doc, researcher_headers)) == found
    assert factory.client.get(f"{UPLOAD}/cafe-visit", headers=researcher_headers).status_code == 404


def test_422_field_problems(factory, researcher_headers) -> None:
    doc = example()
    doc["items"][0]["type"] = "slider"
    doc["items"][1]["colour"] = "red"
    doc["scale"]["max"] = "five"
    del doc["default_model"]
    found = problems(post_json(factory.client, doc, researcher_headers))
    assert set(found) == {"items[0].type", "items[1].colour", "scale.max", "default_model"}
    assert found["default_model"] == "Field required"


@pytest.mark.parametrize(
    ("text", "path", "needle"),
    [
        ("id: a\ntitle: {en: x}\nid: b\n", "id", "duplicate key 'id' (line 3)"),
        ("items:\n  - code: A\n    text: {en: x, en: y}\n", "items[0].text.en", "duplicate key"),
        ("id: [unclosed\n", "", "invalid YAML"),
        ("- just\n- a list\n", "", "the document must be a mapping"),
        ("", "", "the document must be a mapping"),
        ("a: &a [*a]\n", "a[0]", "an alias refers to"),
    ],
)
def test_422_unreadable_yaml(factory, researcher_headers, text, path, needle) -> None:
    found = problems(post_yaml(factory.client, text, researcher_headers))
    assert path in found and needle in found[path], found


def test_422_yaml_lists_every_duplicate_key(factory, researcher_headers) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("version: 1\n", "version: 1\nversion: 2\n", 1)
    text = text.replace("paged: true\n", "paged: true\npaged: false\n", 1)
    found = problems(post_yaml(factory.client, text, researcher_headers))
    assert set(found) == {"version", "paged"}


def test_422_unreadable_json(factory, researcher_headers) -> None:
    c = factory.client
    headers = {**researcher_headers, "Content-Type": "application/json"}
    found = problems(c.post(UPLOAD, content=b'{"id": "x", "id": "y"}', headers=headers))
    assert found == {"": "duplicate key 'id'"}
    found = problems(c.post(UPLOAD, content=b'{"id": ', headers=headers))
    assert found[""].startswith("invalid JSON")
    found = problems(c.post(UPLOAD, content=b"[" * 100_000, headers=headers))
    assert found == {"": "the document is nested too deeply"}
    found = problems(c.post(UPLOAD, content=b"\xff\xfe", headers=headers))
    assert found == {"": "the document is not UTF-8"}


def test_alias_bomb_is_refused(factory, researcher_headers) -> None:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]" for k in range(1, 9)]
    found = problems(post_yaml(factory.client, "\n".join(lines) + "\n", researcher_headers))
    assert "more than" in found[""]


def test_reserved_id(factory, researcher_headers) -> None:
    doc = example()
    doc["id"] = "schema"
    assert problems(post_yaml(factory.client, doc, researcher_headers)) == {
        "id": "'schema' is reserved"
    }


# ---- versions ------------------------------------------------------------------------------


def test_new_content_is_a_new_version_fielded_one_stays(
    factory, survey, researcher_headers, operator_headers, session
) -> None:
    c = factory.client
    factory.survey("idle", instrument_version=None)  # current (2), no responses: follows
    assert factory.submit("telecom", {"branch": "BR01", "answers": factory.answers(4)}).status_code
    assert factory.count("telecom") == 1
    doc = telecom()
    doc["items"][0]["text"]["en"] = "The service halls are pleasant."
    r = post_yaml(c, doc, researcher_headers)
    assert r.status_code == 201, r.text
    # versions 1 and 2 are the bundled files
    assert (r.json()["version"], r.json()["created"]) == (3, True)
    pinned = c.get("/api/v1/surveys/telecom", headers=operator_headers).json()
    assert pinned["instrument_version"] == 1  # has responses: never changes
    assert c.get("/api/v1/surveys/idle", headers=operator_headers).json()["instrument_version"] == 3
    # the earlier versions are unchanged; the latest is the default
    for old in (1, 2):
        body = c.get(f"{UPLOAD}/telecom-pv?version={old}", headers=operator_headers).json()
        assert body["items"][0]["text"]["en"] != "The service halls are pleasant."
    latest = c.get(f"{UPLOAD}/telecom-pv", headers=operator_headers).json()
    assert latest["version"] == 3 and latest["items"][0]["text"]["en"].startswith("The service")
    listed = c.get(UPLOAD, headers=operator_headers).json()
    assert [i["version"] for i in listed if i["id"] == "telecom-pv"] == [3]
    versions = c.get(f"{UPLOAD}/telecom-pv/versions", headers=operator_headers).json()
    assert [(v["version"], v["current"], v["fielded"], v["surveys"]) for v in versions] == [
        (1, False, True, 1),
        (2, False, False, 0),
        (3, True, False, 1),
    ]
    assert [v["source"] for v in versions] == ["file", "file", "api"]
    # a response to the fielded survey is still checked against version 1
    assert factory.submit("telecom", {"branch": "BR01", "answers": factory.answers(5)}).status_code
    # uploading version 2's content again is idempotent: 200, version 2, nothing new
    again = post_yaml(c, telecom(), researcher_headers)
    assert (again.status_code, again.json()["version"]) == (200, 2)
    # downloading the current version and sending it back changes nothing either
    back = {k: v for k, v in latest.items() if k != "content_hash"}
    assert post_json(c, back, researcher_headers).json()["version"] == 3
    assert len(c.get(f"{UPLOAD}/telecom-pv/versions", headers=operator_headers).json()) == 3
    # a higher free version number in the document is kept
    doc["items"][0]["text"]["en"] = "Third wording."
    doc["version"] = 7
    assert post_yaml(c, doc, researcher_headers).json()["version"] == 7
    doc["items"][0]["text"]["en"] = "Fourth wording."
    doc["version"] = 3  # lower than the latest: the next number instead
    assert post_yaml(c, doc, researcher_headers).json()["version"] == 8


def test_unknown_instrument_and_version(factory, operator_headers) -> None:
    c = factory.client
    assert c.get(f"{UPLOAD}/nope", headers=operator_headers).status_code == 404
    assert c.get(f"{UPLOAD}/nope/versions", headers=operator_headers).status_code == 404
    assert c.get(f"{UPLOAD}/telecom-pv?version=9", headers=operator_headers).status_code == 404
    assert c.get(f"{UPLOAD}/telecom-pv?version=0", headers=operator_headers).status_code == 422


# ---- surveys on uploaded instruments ---------------------------------------------------------


def test_survey_on_an_uploaded_instrument(factory, researcher_headers, operator_headers) -> None:
    c = factory.client
    assert post_yaml(c, example(), researcher_headers).status_code == 201
    r = c.post(
        "/api/v1/surveys",
        json={"slug": "cafe", "instrument": "cafe-visit"},
        headers=researcher_headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["instrument_id"], body["instrument_version"]) == ("cafe-visit", 1)
    assert body["title"]["fr"] == "Votre visite dans notre café"
    doc = example()
    doc["title"]["en"] = "Your visit"
    assert post_yaml(c, doc, researcher_headers).json()["version"] == 2
    # an explicit version pins an older one
    r = c.post(
        "/api/v1/surveys",
        json={"slug": "cafe-old", "instrument": "cafe-visit", "instrument_version": 1},
        headers=researcher_headers,
    )
    assert r.status_code == 201 and r.json()["instrument_version"] == 1
    r = c.post(
        "/api/v1/surveys",
        json={"slug": "cafe-new", "instrument": "cafe-visit"},
        headers=researcher_headers,
    )
    assert r.json()["instrument_version"] == 2
    r = c.post(
        "/api/v1/surveys",
        json={"slug": "cafe-x", "instrument": "cafe-visit", "instrument_version": 5},
        headers=researcher_headers,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "instrument_version"


def test_schema_route(factory, operator_headers) -> None:
    r = factory.client.get(f"{UPLOAD}/schema", headers=operator_headers)
    assert r.status_code == 200
    schema = r.json()
    assert schema["$schema"].endswith("2020-12/schema")
    assert {"id", "version", "items", "constructs", "default_model"} <= set(schema["required"])
    assert schema == json_schema()
