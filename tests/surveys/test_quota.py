"""Per-branch quotas (issue 17 item 3): a branch that has collected its quota refuses
submissions in mode "stop" (API 409, a friendly page in the respondent's language), goes on in
mode "keep"; set through PATCH /api/v1/surveys/{slug} and `pvm surveys set --quota`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import cli
from app.config import get_settings
from app.surveys.cli import parse_quota
from app.surveys.models import Survey
from app.surveys.schemas import ResponseCreate
from tests.conftest import Factory


def _patch(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.patch("/api/v1/surveys/telecom", json=body, headers=headers)


def _submit(factory: Factory, branch: str) -> Any:
    return factory.submit("telecom", {"branch": branch, "answers": factory.answers()})


def test_a_full_branch_refuses_with_409_and_a_friendly_page(
    client: TestClient, factory: Factory, survey: Survey, researcher_headers: dict[str, str]
) -> None:
    quota = {"mode": "stop", "branches": {"BR01": 2}, "default": 3}
    r = _patch(client, researcher_headers, quota=quota)
    assert r.status_code == 200 and r.json()["quota"] == quota
    assert [_submit(factory, "BR01").status_code for _ in range(3)] == [201, 201, 409]
    refused = _submit(factory, "BR01")
    assert "reached its quota of 2" in refused.json()["detail"]
    # BR02 falls under the default (3); BR01 full does not stop it
    assert [_submit(factory, "BR02").status_code for _ in range(4)] == [201, 201, 201, 409]
    page = client.get("/s/telecom", params={"branch": "BR01", "lang": "zh"})
    assert page.status_code == 409 and "本网点的问卷已收满" in page.text
    assert "message full" in page.text
    page = client.get("/s/telecom", params={"branch": "BR01", "lang": "en"})
    assert "survey is full" in page.text and "This branch" in page.text
    post = client.post("/s/telecom", data={"lang": "en", "branch": "BR02"})
    assert post.status_code == 409 and "survey is full" in post.text
    assert client.get("/s/telecom", params={"branch": "BR03"}).status_code == 200
    assert factory.count() == 5


def test_keep_collecting_and_removing_the_quota(
    client: TestClient, factory: Factory, survey: Survey, researcher_headers: dict[str, str]
) -> None:
    r = _patch(client, researcher_headers, quota={"mode": "keep", "default": 1})
    assert r.status_code == 200
    assert [_submit(factory, "BR01").status_code for _ in range(2)] == [201, 201]
    _patch(client, researcher_headers, quota={"mode": "stop", "default": 1})
    assert _submit(factory, "BR01").status_code == 409
    r = _patch(client, researcher_headers, quota=None)
    assert r.status_code == 200 and r.json()["quota"] is None
    assert _submit(factory, "BR01").status_code == 201


@pytest.mark.parametrize(
    ("quota", "field"),
    [
        ({"mode": "halt"}, "quota.mode"),
        ({"default": 0}, "quota.default"),
        ({"branches": {"BR01": -3}}, "quota.branches.BR01"),
        ({"branches": {"NOPE": 3}}, "quota.branches.NOPE"),
        ({"extra": 1}, "quota.extra"),
    ],
)
def test_bad_quotas_are_422_naming_the_field(
    client: TestClient,
    survey: Survey,
    researcher_headers: dict[str, str],
    quota: dict[str, Any],
    field: str,
) -> None:
    r = _patch(client, researcher_headers, quota=quota)
    assert r.status_code == 422, r.text
    assert field in r.text
    assert client.get("/api/v1/surveys/telecom", headers=researcher_headers).json()["quota"] is None


def test_parse_quota() -> None:
    assert parse_quota("stop:BR01=100,BR02=50,*=80") == {
        "mode": "stop",
        "branches": {"BR01": 100, "BR02": 50},
        "default": 80,
    }
    assert parse_quota("BR01=5") == {"mode": "stop", "branches": {"BR01": 5}}
    assert parse_quota("keep:*=9") == {"mode": "keep", "branches": {}, "default": 9}
    assert parse_quota("") is None
    with pytest.raises(ValueError, match="BRANCH=COUNT"):
        parse_quota("BR01:5")


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PVM_DATABASE_URL", database_url)
    monkeypatch.setenv("PVM_ENVIRONMENT", "test")
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_surveys_set_quota(cli_env: str, capsys: Any, factory: Factory, survey: Survey) -> None:
    assert cli.main(["surveys", "set", "telecom", "--quota", "stop:BR01=1,*=4"]) == 0
    assert "quota stop:BR01=1,*=4" in capsys.readouterr().out
    assert _submit(factory, "BR01").status_code == 201
    assert _submit(factory, "BR01").status_code == 409
    assert cli.main(["surveys", "set", "telecom", "--quota", "BR01=x"]) == 2
    assert "--quota" in capsys.readouterr().err
    assert cli.main(["surveys", "set", "telecom", "--quota", "stop:BR99=3"]) == 1
    assert "unknown branch BR99" in capsys.readouterr().err
    assert cli.main(["surveys", "set", "telecom", "--quota", ""]) == 0
    assert "no quota" in capsys.readouterr().out


def test_concurrent_submissions_never_pass_the_quota(
    client: TestClient, factory: Factory, survey: Survey, researcher_headers: dict[str, str]
) -> None:
    from tests.surveys.test_concurrency import run_parallel

    _patch(client, researcher_headers, quota={"mode": "stop", "branches": {"BR01": 3}})
    payload = ResponseCreate(branch="BR01", answers=factory.answers(4))
    results = run_parallel(factory.app, "telecom", [payload] * 12, [None] * 12)
    assert sum(1 for r in results if r[0] != "conflict") == 3
    assert factory.count() == 3
