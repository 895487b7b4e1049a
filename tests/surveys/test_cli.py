"""The pvm command: keys create, import, demo (idempotent)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app import cli
from app.auth.models import ApiKey
from app.config import get_settings
from tests.conftest import TELECOM_CSV


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PVM_DATABASE_URL", database_url)
    monkeypatch.setenv("PVM_ENVIRONMENT", "test")
    monkeypatch.setenv("PVM_SECRET_KEY", "cli-test-secret-" + "y" * 32)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_keys_create_prints_a_working_key(cli_env, capsys, factory, survey) -> None:
    assert cli.main(["keys", "create", "--role", "operator", "--branches", "BR01,BR02"]) == 0
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("pvm_")
    headers = {"Authorization": f"Bearer {raw}"}
    codes = [b["code"] for b in factory.client.get("/api/v1/branches", headers=headers).json()]
    assert codes == ["BR01", "BR02"]
    assert (
        factory.client.post("/api/v1/surveys", json={"slug": "z"}, headers=headers).status_code
        == 403
    )


def test_keys_create_rejects_unknown_branch(cli_env, capsys, survey) -> None:
    assert cli.main(["keys", "create", "--role", "researcher", "--branches", "BR99"]) == 2
    assert "unknown branch" in capsys.readouterr().err


def test_import_command(cli_env, capsys, factory, survey, tmp_path) -> None:
    assert cli.main(["import", "--survey", "telecom", str(TELECOM_CSV)]) == 0
    assert "imported 1500" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    lines = TELECOM_CSV.read_text().splitlines()[:4]
    lines[2] = lines[2].replace("BR", "XX", 1)
    bad.write_text("\n".join(lines))
    assert cli.main(["import", "--survey", "telecom", str(bad)]) == 2
    assert '"row": 3' in capsys.readouterr().err
    assert factory.count("telecom") == 1500


def test_demo_loads_once(cli_env, capsys, app, session) -> None:
    assert cli.main(["demo", "--responses", "300"]) == 0
    out = capsys.readouterr().out
    assert "/s/demo?branch=BR01&lang=zh" in out and "/docs" in out and "/dashboard/demo" in out
    assert re.search(r"researcher key:\s+pvm_", out) and re.search(r"operator key:\s+pvm_", out)
    from app.surveys.service import (
        count_responses,
        get_survey,
        list_branches,
        load_item_frame,
        survey_spec,
    )

    demo = get_survey(session, slug="demo")
    assert (demo.min_group_size, demo.instrument_id, demo.is_open) == (5, "telecom-pv", True)
    assert demo.instrument_version == 2  # the current version, with the population model
    assert count_responses(session, survey=demo) == 300
    spec = survey_spec(demo)
    frame = load_item_frame(session, survey=demo)
    assert frame[spec.na_items].isna().any().all()  # networks some customers do not use
    assert set(frame["customer_type"]) == {"key_account", "business", "consumer"}
    assert len(list_branches(session)) == 12
    br01 = list_branches(session, codes=["BR01"])[0]  # named in both languages
    assert (br01.name_in("zh"), br01.name_in("en")) == ("北京朝阳", "Beijing Chaoyang")
    session.commit()
    assert cli.main(["demo", "--responses", "300"]) == 0
    assert "kept" in capsys.readouterr().out
    assert count_responses(session, survey=demo) == 300
    roles = sorted(session.scalars(select(ApiKey.role)))
    assert roles == ["operator", "operator", "researcher", "researcher"]


@pytest.mark.parametrize("instrument", ["retail-pv", "csi"])
def test_demo_any_instrument(cli_env, capsys, app, session, instrument) -> None:
    from app.stats.sem import fit_model
    from app.surveys.service import count_responses, get_survey, load_item_frame, survey_spec

    assert cli.main(["demo", "--instrument", instrument, "--responses", "250"]) == 0
    out = capsys.readouterr().out
    slug = f"demo-{instrument}"
    assert f"/s/{slug}?branch=BR01&lang=zh" in out and f"/dashboard/{slug}" in out
    demo = get_survey(session, slug=slug)
    assert demo.instrument_id == instrument
    assert count_responses(session, survey=demo) == 250
    spec = survey_spec(demo)
    frame = load_item_frame(session, survey=demo)
    assert len(frame) == 250
    na = frame[spec.na_items].isna().mean() if spec.na_items else None
    if na is not None:  # items that allow N/A have some
        assert ((na > 0.05) & (na < 0.3)).all()
    for attr in spec.attributes:  # every attribute has a value from the instrument
        assert frame[attr.code].notna().all()
        assert set(frame[attr.code]) == set(attr.codes)
    result = fit_model(frame[spec.numeric_codes].astype("float64"), spec.default_model)
    assert result.converged
    # the telecom-pv demo is a different survey and stays as it is
    from app.errors import NotFound

    with pytest.raises(NotFound):
        get_survey(session, slug="demo")


def test_demo_unknown_instrument(cli_env, capsys, app) -> None:
    assert cli.main(["demo", "--instrument", "no-such-thing", "--responses", "10"]) == 2
    assert "unknown instrument no-such-thing" in capsys.readouterr().err


def test_branches_set_name(cli_env, capsys, factory, survey) -> None:
    assert cli.main(["branches", "set-name", "BR01", "zh", "北京朝阳"]) == 0
    assert "BR01 in zh: 北京朝阳" in capsys.readouterr().out
    listed = factory.client.get("/api/v1/branches", headers=factory.key("admin")).json()
    assert next(b for b in listed if b["code"] == "BR01")["names"] == {"zh": "北京朝阳"}
    assert cli.main(["branches", "list"]) == 0
    assert "zh=北京朝阳" in capsys.readouterr().out
    assert cli.main(["branches", "set-name", "BR01", "zh", ""]) == 0  # removes it again
    assert "BR01 in zh: Branch BR01" in capsys.readouterr().out
    assert cli.main(["branches", "set-name", "BR99", "zh", "x"]) == 1
    assert "BR99" in capsys.readouterr().err
    assert cli.main(["branches", "set-name", "BR01", "not a tag", "x"]) == 2
    assert "not a tag" in capsys.readouterr().err


def test_surveys_set_lifecycle(cli_env, capsys, factory, survey) -> None:
    args = [
        "surveys",
        "set",
        "telecom",
        "--status",
        "draft",
        "--closes-at",
        "2027-03-31T18:00+08:00",
    ]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "draft" in out and "2027-03-31T10:00:00+00:00" in out
    r = factory.submit("telecom", {"branch": "BR01", "answers": factory.answers()})
    assert r.status_code == 409 and "draft" in r.json()["detail"]
    assert cli.main(["surveys", "set", "telecom", "--status", "open", "--closes-at", ""]) == 0
    assert "open, opens -, closes -" in capsys.readouterr().out
    r = factory.submit("telecom", {"branch": "BR01", "answers": factory.answers()})
    assert r.status_code == 201
    # bad input names the option; nothing changes
    assert cli.main(["surveys", "set", "telecom", "--opens-at", "tomorrow"]) == 2
    assert "--opens-at" in capsys.readouterr().err
    args = [
        "surveys",
        "set",
        "telecom",
        "--opens-at",
        "2027-02-01T00:00Z",
        "--closes-at",
        "2027-01-01T00:00Z",
    ]
    assert cli.main(args) == 1
    assert "closes_at" in capsys.readouterr().err
    assert cli.main(["surveys", "set", "nope", "--status", "open"]) == 1
    assert cli.main(["surveys", "set", "telecom"]) == 2
