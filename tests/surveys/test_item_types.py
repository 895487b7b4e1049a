"""Item types beyond the agreement scale (issue 10 item 3), the data side: every type's valid and
invalid values through the JSON API and the CSV import, how each is stored, "not applicable"
apart from "not answered", the item frame, the CSV round trip, and statistics that see only the
scale and 0-10 items. The instrument is tests/data/mixed_instrument.yaml."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from app.reporting import aggregates
from app.reporting.models import COUNT_CONSTRUCT
from app.stats.disclosure import ALL
from app.surveys import service
from app.surveys.models import Branch, Response
from tests.conftest import DATA_DIR

REPO_INSTRUMENTS = Path(__file__).resolve().parents[2] / "instruments"
SLUG = "mixed"
EXPORT = f"/api/v1/surveys/{SLUG}/responses.csv"
IMPORT = f"/api/v1/surveys/{SLUG}/responses/import"
# spec.answer_codes: every item but the open text, in questionnaire order
CODES = ["SRV1", "SRV2", "SRV3", "QUA1", "QUA2", "QUA3", "NPS", "CHANNEL", "FEATURES"]
NUMERIC = ["SRV1", "SRV2", "SRV3", "QUA1", "QUA2", "QUA3", "NPS"]
HEADER = ["id", "submitted_at", "branch", "region", "lang"]
ITEMS = ["SRV1", "SRV2", "SRV3", "COMMENT", "QUA1", "QUA2", "QUA3", "NPS", "CHANNEL", "FEATURES"]


@pytest.fixture
def mixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, factory: Any) -> Iterator[str]:
    folder = tmp_path / "instruments"
    shutil.copytree(REPO_INSTRUMENTS, folder)
    shutil.copy(DATA_DIR / "mixed_instrument.yaml", folder / "mixed.yaml")
    monkeypatch.setenv("PVM_INSTRUMENTS_DIR", str(folder))
    factory.branches(["BR01", "BR02"])
    factory.survey(SLUG, instrument="mixed", min_group_size=2)
    yield SLUG


def answers(**overrides: Any) -> dict[str, Any]:
    """A valid answer of every type; ``None`` as an override leaves the item out."""
    base: dict[str, Any] = {
        "SRV1": 4,
        "SRV2": 5,
        "SRV3": 3,
        "COMMENT": "Friendly staff",
        "QUA1": 8,
        "QUA2": 10,
        "QUA3": 1,
        "NPS": 0,
        "CHANNEL": "web",
        "FEATURES": ["mobile", "tv"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def submit(factory: Any, values: dict[str, Any], **extra: Any) -> Any:
    # ASCII JSON (\u escapes), so that a lone surrogate can be sent as a client could
    body = json.dumps({"branch": "BR01", "answers": values, **extra})
    return factory.client.post(
        f"/api/v1/surveys/{SLUG}/responses",
        content=body.encode("ascii"),
        headers={"Content-Type": "application/json"},
    )


def rows(client: TestClient) -> list[Response]:
    with client.app.state.sessionmaker() as db:
        return list(db.scalars(select(Response).order_by(Response.submitted_at)))


def stored_values(client: TestClient) -> list[tuple[dict[str, Any], dict[str, str] | None]]:
    return [(dict(zip(CODES, r.answers, strict=True)), r.texts) for r in rows(client)]


# ---- the JSON API ------------------------------------------------------------------------------
def test_each_type_is_stored_in_its_own_form(mixed: str, factory: Any, client: TestClient) -> None:
    r = submit(factory, answers())
    assert r.status_code == 201, r.text
    [(values, texts)] = stored_values(client)
    assert values == {
        "SRV1": 4,
        "SRV2": 5,
        "SRV3": 3,
        "QUA1": 8,
        "QUA2": 10,
        "QUA3": 1,
        "NPS": 0,
        "CHANNEL": 2,  # web: the second option
        "FEATURES": 0b101,  # mobile (bit 0) and tv (bit 2)
    }
    assert texts == {"COMMENT": "Friendly staff"}


@pytest.mark.parametrize(
    ("given", "code", "expected"),
    [
        ({"SRV3": "na"}, "SRV3", "na"),  # not applicable ...
        ({"SRV3": "N/A"}, "SRV3", "na"),
        ({"SRV3": None}, "SRV3", None),  # ... apart from not answered (left out)
        ({"QUA1": "10", "NPS": "7"}, "QUA1", 10),  # digit strings, each item on its own scale
        ({"NPS": 10}, "NPS", 10),
        ({"CHANNEL": "phone"}, "CHANNEL", 1),
        ({"CHANNEL": "na"}, "CHANNEL", "na"),
        ({"CHANNEL": None}, "CHANNEL", None),
        ({"FEATURES": []}, "FEATURES", 0),  # none chosen
        ({"FEATURES": ["cloud", "mobile"]}, "FEATURES", 0b1001),
        ({"FEATURES": None}, "FEATURES", None),
    ],
)
def test_valid_values(
    mixed: str, factory: Any, client: TestClient, given: dict[str, Any], code: str, expected: Any
) -> None:
    r = submit(factory, answers(**given))
    assert r.status_code == 201, r.text
    [(values, _)] = stored_values(client)
    assert values[code] == expected
    if "NPS" in given and code != "NPS":
        assert values["NPS"] == 7


def test_null_is_not_answered_and_accepted_for_optional_items(
    mixed: str, factory: Any, client: TestClient
) -> None:
    values = {**answers(), "SRV3": None, "CHANNEL": None, "FEATURES": None, "COMMENT": None}
    assert submit(factory, values).status_code == 201
    [(stored, texts)] = stored_values(client)
    assert [stored["SRV3"], stored["CHANNEL"], stored["FEATURES"]] == [None, None, None]
    assert texts is None


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("  Line one\r\nline\ttwo  ", "Line one\nline\ttwo"),  # stripped, CR LF -> LF
        ("<script>alert('x')</script> & \"quotes\", commas", None),  # stored as given
        ("x" * 200, None),  # max_length exactly
        ("   ", "<absent>"),  # only blanks: not answered
        ("", "<absent>"),
        ("na", None),  # a text, not N/A
    ],
)
def test_open_text_is_stored_apart(
    mixed: str, factory: Any, client: TestClient, comment: str, expected: str | None
) -> None:
    assert submit(factory, answers(COMMENT=comment)).status_code == 201
    [(_, texts)] = stored_values(client)
    if expected == "<absent>":
        assert texts is None
    else:
        assert texts == {"COMMENT": comment if expected is None else expected}


INVALID: list[tuple[str, Any, str]] = [
    ("SRV1", 6, "must be between 1 and 5"),
    ("SRV1", 0, "must be between 1 and 5"),
    ("QUA1", 11, "must be between 1 and 10"),
    ("QUA2", 0, "must be between 1 and 10"),
    ("NPS", 11, "must be between 0 and 10"),
    ("NPS", -1, "must be between 0 and 10"),
    ("SRV2", "na", "no N/A option"),
    ("SRV2", None, "an answer is required"),
    ("SRV1", True, "must be an integer"),
    ("SRV1", 4.5, "must be an integer"),
    ("SRV1", "4x", "must be an integer"),
    ("SRV1", "9" * 5000, "must be an integer"),
    ("CHANNEL", "email", "must be one of phone, web, branch"),
    ("CHANNEL", 2, "must be one of phone, web, branch"),
    ("CHANNEL", ["web"], "must be one of phone, web, branch"),
    ("FEATURES", "mobile", "must be a list of option codes"),
    ("FEATURES", ["mobile", "mobile"], "chosen twice: 'mobile'"),
    ("FEATURES", ["fax", 3], "unknown option(s) 'fax', 3"),
    ("FEATURES", "na", "no N/A option"),
    ("COMMENT", 5, "must be a text"),
    ("COMMENT", ["a"], "must be a text"),
    ("COMMENT", "x" * 201, "at most 200 characters"),
    ("COMMENT", "escape \x1b[31m red", "control characters"),
    ("COMMENT", "c1 \x85 control", "control characters"),
    ("COMMENT", "lone \ud800 surrogate", "control characters"),
]


def test_invalid_values_are_422_naming_each_item(
    mixed: str, factory: Any, client: TestClient
) -> None:
    for code, value, msg in INVALID:
        values = answers()
        if value is None:
            values.pop(code)
        else:
            values[code] = value
        r = submit(factory, values)
        assert r.status_code == 422, (code, value, r.text)
        errors = {e["field"]: e["msg"] for e in r.json()["detail"]}
        assert list(errors) == [f"answers.{code}"], (code, value, errors)
        assert msg in errors[f"answers.{code}"], (code, value, errors)
    # NUL is refused too (by the body check in front of the item checks)
    r = submit(factory, answers(COMMENT="a\x00b"))
    assert r.status_code == 422 and "NUL" in r.text
    assert rows(client) == []


def test_every_problem_is_reported_at_once(mixed: str, factory: Any, client: TestClient) -> None:
    values = {
        **answers(SRV1=9, QUA1=0, CHANNEL="fax", FEATURES=["x"], COMMENT="\x07"),
        "NOPE": 1,
    }
    del values["NPS"]
    r = submit(factory, values)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["detail"]}
    assert fields == {
        f"answers.{c}" for c in ("SRV1", "QUA1", "NPS", "CHANNEL", "FEATURES", "COMMENT", "NOPE")
    }
    assert rows(client) == []


# ---- the item frame ----------------------------------------------------------------------------
def test_frame_gives_nan_for_na_and_not_answered(
    mixed: str, factory: Any, client: TestClient, session: Any
) -> None:
    assert submit(factory, answers(SRV3="na", CHANNEL="na", COMMENT="first")).status_code == 201
    assert submit(factory, answers(SRV3=None, CHANNEL=None, FEATURES=[])).status_code == 201
    assert submit(factory, answers(FEATURES=None, COMMENT=None)).status_code == 201
    # stored apart ...
    stored = [v for v, _ in stored_values(client)]
    assert [s["SRV3"] for s in stored] == ["na", None, 3]
    assert [s["CHANNEL"] for s in stored] == ["na", None, 2]
    assert [s["FEATURES"] for s in stored] == [5, 0, None]
    # ... both missing in the frame
    frame = service.load_item_frame(session, survey=service.get_survey(session, slug=SLUG))
    assert list(frame.columns) == [*HEADER, *CODES, "COMMENT"]
    assert all(frame[c].dtype == np.float64 for c in CODES)
    assert frame["SRV3"].isna().tolist() == [True, True, False]
    assert frame["CHANNEL"].tolist()[2] == 2.0 and frame["CHANNEL"].isna().sum() == 2
    assert frame["FEATURES"].tolist()[:2] == [5.0, 0.0] and math.isnan(frame["FEATURES"][2])
    assert frame["COMMENT"].dtype == object
    assert frame["COMMENT"].tolist() == ["first", "Friendly staff", None]


def test_frame_without_text_items_has_no_text_columns(
    mixed: str, factory: Any, session: Any
) -> None:
    empty = service.load_item_frame(session, survey=service.get_survey(session, slug=SLUG))
    assert list(empty.columns) == [*HEADER, *CODES, "COMMENT"] and empty.empty
    factory.branches(["BR01"])
    factory.survey("telecom")
    factory.submit("telecom", {"branch": "BR01", "answers": factory.answers(3, NQ1="na")})
    session.commit()  # SQLite: end the read snapshot taken above
    frame = service.load_item_frame(session, survey=service.get_survey(session, slug="telecom"))
    assert frame.columns[-1] == "LOY4" and frame["NQ1"].isna().all()
    assert (frame["NQ2"] == 3).all()


# ---- CSV export and import ---------------------------------------------------------------------
def test_export_writes_each_type(
    mixed: str, factory: Any, client: TestClient, researcher_headers: dict[str, str]
) -> None:
    comment = 'Two lines,\nwith "quotes" and <b>tags</b>'
    first = answers(SRV3="na", CHANNEL="na", FEATURES=["cloud", "mobile"], COMMENT=comment)
    assert submit(factory, first, attributes={"region": "north"}, lang="es").status_code == 201
    second = answers(SRV3=None, CHANNEL=None, FEATURES=[], COMMENT=None)
    assert submit(factory, second).status_code == 201
    r = client.get(EXPORT, headers=researcher_headers)
    assert r.status_code == 200
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == [*HEADER, *ITEMS, "duration_seconds", "flags"]
    one, two = (dict(zip(table[0], row, strict=True)) for row in table[1:])
    assert (one["region"], one["lang"], two["region"], two["lang"]) == ("north", "es", "", "")
    # API submissions: no time measured; the two differ, so neither is a duplicate
    assert [one["duration_seconds"], one["flags"], two["flags"]] == ["", "", ""]
    assert [one[c] for c in ITEMS] == [
        *["4", "5", "NA", comment, "8", "10", "1", "0"],
        *["NA", "mobile;cloud"],
    ]
    assert [two[c] for c in ITEMS] == ["4", "5", "", "", "8", "10", "1", "0", "", ""]


def test_export_import_round_trip_gives_identical_rows(
    mixed: str,
    factory: Any,
    client: TestClient,
    researcher_headers: dict[str, str],
    session: Any,
) -> None:
    bodies = [
        answers(),
        answers(SRV3="na", CHANNEL="na", FEATURES=[], COMMENT='Ça va, très "bien"\nmerci'),
        answers(SRV3=None, CHANNEL=None, NPS=10, QUA1=10, COMMENT=None),
        answers(FEATURES=["mobile", "broadband", "tv", "cloud"], COMMENT="=1+1"),
    ]
    for k, values in enumerate(bodies):
        extra = {"attributes": {"region": "south"}, "lang": "en"} if k % 2 else {}
        assert submit(factory, values, **extra).status_code == 201
    columns = [
        Response.id,
        Response.branch_id,
        Response.submitted_at,
        Response.attributes,
        Response.lang,
        Response.answers,
        Response.texts,
    ]
    before = sorted(map(tuple, session.execute(select(*columns)).all()), key=lambda t: t[0])
    session.rollback()  # end the read snapshot: the export writes an audit event meanwhile
    export = client.get(EXPORT, headers=researcher_headers).content
    session.execute(delete(Response))
    session.commit()
    r = factory.import_csv(SLUG, export, researcher_headers)
    assert r.status_code == 201, r.text
    after = sorted(map(tuple, session.execute(select(*columns)).all()), key=lambda t: t[0])
    assert len(after) == 4 and after == before
    assert client.get(EXPORT, headers=researcher_headers).content == export


def test_multiple_choice_not_answered_reimports_as_none_chosen(
    mixed: str, factory: Any, client: TestClient, researcher_headers: dict[str, str]
) -> None:
    """The one documented exception to the round trip: both are an empty cell."""
    assert submit(factory, answers(FEATURES=None)).status_code == 201
    export = client.get(EXPORT, headers=researcher_headers).text
    factory.survey("copy", instrument="mixed")
    without_ids = "\n".join(line.split(",", 1)[1] for line in export.splitlines())
    r = factory.import_csv("copy", without_ids.encode(), researcher_headers)
    assert r.status_code == 201, r.text
    original, copy = (dict(zip(CODES, r.answers, strict=True)) for r in rows(client))
    assert (original["FEATURES"], copy["FEATURES"]) == (None, 0)


def csv_bytes(lines: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["branch", "region", *ITEMS], lineterminator="\n")
    writer.writeheader()
    good = {
        "branch": "BR01",
        "region": "north",
        **{"SRV1": "4", "SRV2": "5", "SRV3": "3", "COMMENT": "ok", "QUA1": "8"},
        **{"QUA2": "9", "QUA3": "7", "NPS": "6", "CHANNEL": "web", "FEATURES": "tv"},
    }
    for line in lines:
        writer.writerow({**good, **line})
    return out.getvalue().encode("utf-8")


def test_import_reads_each_type_and_both_missing_kinds(
    mixed: str, factory: Any, client: TestClient, researcher_headers: dict[str, str]
) -> None:
    data = csv_bytes(
        [
            {"NPS": "1", "SRV3": "NA", "CHANNEL": "n/a", "FEATURES": "mobile; cloud"},
            {"NPS": "2", "SRV3": "na", "CHANNEL": "N/A", "FEATURES": "", "COMMENT": " hi "},
            {"NPS": "3", "SRV3": "", "CHANNEL": "", "FEATURES": "broadband", "COMMENT": ""},
            {"NPS": "4", "SRV3": " 2 ", "CHANNEL": "branch", "FEATURES": "tv"},
        ]
    )
    r = factory.import_csv(SLUG, data, researcher_headers)
    assert r.status_code == 201, r.text
    by_nps = {
        v["NPS"]: (v["SRV3"], v["CHANNEL"], v["FEATURES"], t) for v, t in stored_values(client)
    }
    assert by_nps == {
        1: ("na", "na", 0b1001, {"COMMENT": "ok"}),
        2: ("na", "na", 0, {"COMMENT": "hi"}),
        3: (None, None, 0b10, None),
        4: (2, 3, 0b100, {"COMMENT": "ok"}),
    }


def test_import_refuses_bad_cells_with_row_numbers(
    mixed: str, factory: Any, client: TestClient, researcher_headers: dict[str, str]
) -> None:
    data = csv_bytes(
        [
            {},  # row 2: fine
            {"SRV1": "6", "QUA1": "11"},  # row 3
            {"CHANNEL": "email"},  # row 4
            {"FEATURES": "mobile;fax"},  # row 5
            {"FEATURES": "tv;tv"},  # row 6
            {"COMMENT": "x" * 201},  # row 7
            {"SRV1": "NA"},  # row 8: no N/A option
            {"NPS": ""},  # row 9: required
            {"COMMENT": "bell \x07"},  # row 10
        ]
    )
    r = factory.import_csv(SLUG, data, researcher_headers)
    assert r.status_code == 422
    detail = {d["row"]: {e["field"]: e["msg"] for e in d["errors"]} for d in r.json()["detail"]}
    assert sorted(detail) == list(range(3, 11))
    assert "between 1 and 5" in detail[3]["SRV1"] and "between 1 and 10" in detail[3]["QUA1"]
    assert "must be one of phone, web, branch" in detail[4]["CHANNEL"]
    assert "unknown option(s) 'fax'" in detail[5]["FEATURES"]
    assert "chosen twice" in detail[6]["FEATURES"]
    assert "at most 200 characters" in detail[7]["COMMENT"]
    assert "no N/A option" in detail[8]["SRV1"]
    assert "required" in detail[9]["NPS"]
    assert "control characters" in detail[10]["COMMENT"]
    assert rows(client) == []
    missing_text = data.decode().replace(",COMMENT", "", 1).encode()
    r = factory.import_csv(SLUG, missing_text, researcher_headers)
    assert r.status_code == 422 and "missing columns: COMMENT" in r.text


# ---- statistics see only the scale and 0-10 items -----------------------------------------------
def simulated_csv(n: int, seed: int = 3) -> bytes:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        srv, qua = rng.normal(size=2)
        qua = 0.6 * srv + 0.8 * qua
        cells = {
            "branch": ["BR01", "BR02"][i % 2],
            "region": ["north", "south"][i % 3 % 2],
            **{
                f"SRV{k}": str(int(np.clip(round(3 + srv + rng.normal(0, 0.7)), 1, 5)))
                for k in (1, 2, 3)
            },
            **{
                f"QUA{k}": str(int(np.clip(round(5.5 + 2 * qua + rng.normal(0, 1.2)), 1, 10)))
                for k in (1, 2, 3)
            },
            "NPS": str(int(np.clip(round(5 + 2 * qua + rng.normal()), 0, 10))),
            "CHANNEL": ["phone", "web", "branch", "NA"][i % 4],
            "FEATURES": ["mobile", "tv;cloud", ""][i % 3],
            "COMMENT": f"comment {i}" if i % 2 else "",
        }
        if i % 7 == 0:
            cells["SRV3"] = "NA"
        lines.append(cells)
    return csv_bytes(lines)


def test_statistics_take_numeric_items_only(
    mixed: str, factory: Any, client: TestClient, researcher_headers: dict[str, str]
) -> None:
    assert factory.import_direct(SLUG, simulated_csv(150)) == 150
    base = f"/api/v1/surveys/{SLUG}"
    r = client.get(f"{base}/reliability", headers=researcher_headers)
    assert r.status_code == 200, r.text
    constructs = r.json()["constructs"]
    assert sorted(constructs) == ["QUA", "SRV"]
    assert [i["code"] for i in constructs["SRV"]["items"]] == ["SRV1", "SRV2", "SRV3"]
    assert not any(c in r.text for c in ("COMMENT", "CHANNEL", "FEATURES"))
    r = client.get(f"{base}/efa?factors=2", headers=researcher_headers)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["communalities"]) == sorted(NUMERIC)
    for bad in ("COMMENT", "CHANNEL", "FEATURES"):
        r = client.get(f"{base}/efa?items=SRV1,SRV2,{bad}", headers=researcher_headers)
        assert r.status_code == 422 and bad in r.text and "not scale or 0-10" in r.text
    fits = f"{base}/fits"
    for bad in ("CHANNEL", "FEATURES", "COMMENT"):
        model = f"SRV =~ SRV1 + SRV2 + SRV3\nSRV ~ {bad}"
        r = client.post(fits, json={"model": model}, headers=researcher_headers)
        assert r.status_code == 422, r.text
        assert bad in r.json()["detail"][0]["msg"], r.text
    r = client.post(
        fits, json={"model": "SRV =~ SRV1 + SRV2 + SRV3\nSRV ~ NPS"}, headers=researcher_headers
    )
    assert r.status_code in (200, 202), r.text
    r = client.post(fits, json={}, headers=researcher_headers)
    assert r.status_code in (200, 202), r.text


# ---- aggregates: "na" is missing, positions follow the answers array ----------------------------
def test_construct_scores_treat_na_as_missing(mixed: str, session: Any) -> None:
    survey = service.get_survey(session, slug=SLUG)
    layout = aggregates.layout(survey)
    assert dict(layout.means) == {"SRV": (0, 1, 2), "QUA": (3, 4, 5)}  # COMMENT takes no place
    branch = session.scalar(select(Branch.id).where(Branch.code == "BR01"))

    def row(srv3: Any) -> dict[str, Any]:
        values = [2, 4, srv3, 7, 8, 9, 10, 1, 3]
        return {"branch_id": branch, "attributes": {}, "answers": values, "submitted_at": None}

    for size in (3, 40):  # the small-batch and the numpy paths
        batch = [row(["na", None, 6][k % 3]) for k in range(size)]
        cells = aggregates.cell_moments(batch, layout=layout)
        whole = {k[-1]: v for k, v in cells.items() if k[0] == ALL}
        srv, qua = whole["SRV"], whole["QUA"]
        with_six = sum(1 for k in range(size) if k % 3 == 2)
        expected = (size - with_six) * 3.0 + with_six * 4.0  # mean of (2, 4) or of (2, 4, 6)
        assert srv[0] == size and srv[1] == pytest.approx(expected)
        assert qua[0] == size and qua[1] == pytest.approx(8.0 * size)


def test_submissions_with_na_update_the_aggregates(
    mixed: str, factory: Any, client: TestClient, session: Any
) -> None:
    assert submit(factory, answers(SRV1=2, SRV2=4, SRV3="na")).status_code == 201
    survey = service.get_survey(session, slug=SLUG)
    frame = aggregates.read_cells(session, survey=survey, dims=[ALL])
    srv = frame[frame["construct"] == "SRV"].iloc[0]
    assert (srv["n"], srv["sum"]) == (1, pytest.approx(3.0))
    assert frame.loc[frame["construct"] == COUNT_CONSTRUCT, "n"].sum() == 1
    # a bulk import with "na" takes the numpy path
    assert factory.import_direct(SLUG, simulated_csv(40)) == 40
    session.commit()
    frame = aggregates.read_cells(session, survey=survey, dims=[ALL])
    assert frame.loc[frame["construct"] == COUNT_CONSTRUCT, "n"].sum() == 41


def test_pvm_fit_refuses_a_text_or_choice_variable(
    mixed: str,
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.cli import main
    from app.fits import cli

    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    path = tmp_path / "model.lav"
    for bad in ("COMMENT", "FEATURES"):
        path.write_text(f"SRV =~ SRV1 + SRV2 + SRV3\nSRV ~ {bad}\n")
        assert main(["fit", SLUG, "--model", str(path)]) == 1
        err = capsys.readouterr().err
        assert f"model: not scale or 0-10 items (a model takes no choices or text): {bad}" in err
