"""Response rates (issue 17 item 4): sent, opened, completed, rate per branch and per
recipient attribute, in the API and the CLI; operators see their branches; small groups are
suppressed (with a complementary group), bad ``by`` is a 422 naming it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from app import cli
from app.config import get_settings
from tests.conftest import Factory
from tests.invitations.conftest import SmtpServer
from tests.invitations.test_invitations import body_of, link_of, wait_settled

PLAN = [("BR01", "a")] * 4 + [("BR02", "b")] * 3 + [("BR03", "a")]


def fielded(
    factory: Factory, client: TestClient, headers: dict[str, str], smtp: SmtpServer
) -> None:
    """8 invitations (BR01 4, BR02 3, BR03 1); BR01: 3 opened, 2 completed; BR02: 1 opened
    and completed."""
    factory.branches()
    factory.survey("field", requires_token=True, min_group_size=3)
    recipients = [
        {"email": f"r{i}@example.com", "branch": b, "lang": "en", "attributes": {"seg": seg}}
        for i, (b, seg) in enumerate(PLAN)
    ]
    created = client.post(
        "/api/v1/surveys/field/invitations", json={"recipients": recipients}, headers=headers
    )
    wait_settled(client, f"/api/v1/surveys/field/invitations/{created.json()['batch']}", headers)
    links = {str(m["To"]): link_of(body_of(m)) for m in smtp.messages()}
    for i, complete in ((0, True), (1, True), (2, False), (4, True)):
        link = urlsplit(links[f"r{i}@example.com"])
        client.get(f"{link.path}?{link.query}")
        if complete:
            token = parse_qs(link.query)["token"][0]
            body = {"branch": PLAN[i][0], "answers": factory.answers(), "token": token}
            assert factory.submit("field", body).status_code == 201


def test_rates_by_branch_and_attribute(
    factory: Factory,
    client: TestClient,
    researcher_headers: dict[str, str],
    smtp_server: SmtpServer,
) -> None:
    fielded(factory, client, researcher_headers, smtp_server)
    r = client.get("/api/v1/surveys/field/rates?by=branch", headers=researcher_headers)
    assert r.status_code == 200, r.text
    groups = {g["group"]: g for g in r.json()["groups"]}
    assert groups["BR01"] == {
        "group": "BR01",
        "sent": 4,
        "opened": 3,
        "completed": 2,
        "rate": 0.5,
        "median_seconds": None,
        "partial": 0,
        "suppressed": False,
    }  # fmt: skip (2 durations at most, below min_group_size 3: no median)
    # BR03 (1 sent) is below min_group_size 3; BR02, the next smallest, goes with it
    for code in ("BR02", "BR03"):
        assert groups[code]["suppressed"] and groups[code]["sent"] is None
    by_seg = client.get("/api/v1/surveys/field/rates?by=seg", headers=researcher_headers).json()
    assert {g["group"]: (g["sent"], g["completed"]) for g in by_seg["groups"]} == {
        "a": (5, 2),
        "b": (3, 1),
    }
    bad = client.get("/api/v1/surveys/field/rates?by=nothing", headers=researcher_headers)
    assert bad.status_code == 422 and "by" in bad.text
    operator = factory.key("operator", branches=["BR01"])
    mine = client.get("/api/v1/surveys/field/rates", headers=operator).json()
    assert [g["group"] for g in mine["groups"]] == ["BR01"]
    assert client.get("/api/v1/surveys/field/rates").status_code == 401


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PVM_DATABASE_URL", database_url)
    monkeypatch.setenv("PVM_ENVIRONMENT", "test")
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_pvm_rates(
    cli_env: str,
    capsys: Any,
    factory: Factory,
    client: TestClient,
    researcher_headers: dict[str, str],
    smtp_server: SmtpServer,
) -> None:
    fielded(factory, client, researcher_headers, smtp_server)
    assert cli.main(["rates", "field", "--by", "branch"]) == 0
    out = capsys.readouterr().out
    assert "BR01" in out and "50%" in out and "fewer than 3 sent" in out
    assert cli.main(["rates", "field", "--by", "nothing"]) == 1
    assert "must be one of" in capsys.readouterr().err


def test_the_dashboard_shows_rates_of_the_operators_branches(
    factory: Factory,
    client: TestClient,
    researcher_headers: dict[str, str],
    smtp_server: SmtpServer,
) -> None:
    fielded(factory, client, researcher_headers, smtp_server)
    page = client.get("/dashboard/field?lang=en", headers=researcher_headers)
    assert page.status_code == 200, page.text
    table = page.text[page.text.index('id="rates-table"') :]
    table = table[: table.index("</table>")]
    assert "Invitation response rates" in page.text
    assert '<tr data-branch="BR01"><th scope="row">Branch BR01</th><td>4</td><td>3</td>' in table
    assert "<td>50%</td>" in table
    assert table.count("hidden (fewer than 3 sent") == 2  # BR03 and, with it, BR02
    zh = client.get("/dashboard/field?lang=zh", headers=researcher_headers).text
    assert "邀请回复率" in zh and "已隐藏（发送少于 3 份" in zh
    operator = factory.key("operator", branches=["BR02"])
    mine = client.get("/dashboard/field?lang=en", headers=operator).text
    rows = re.findall(r'<tr data-branch="(\w+)">', mine)
    assert rows == ["BR02"]
    factory.survey("quiet")
    quiet = client.get("/dashboard/quiet?lang=en", headers=researcher_headers).text
    assert "No invitations have been sent yet." in quiet
