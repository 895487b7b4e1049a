"""Invitations end to end: a batch sent to a real SMTP server process and an SMS webhook
receiver in the background, each message's state, opened and completed, reminders, CSV
batches, bad input, anonymity and the deletion of contact details when the survey closes."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth.models import InvitationToken
from app.invitations.models import InvitationMessage
from app.invitations.service import purge_closed_contacts
from tests.conftest import Factory
from tests.invitations.conftest import SmsReceiver, SmtpServer

LINK = re.compile(r"http://survey\.example/s/\S+?token=[A-Za-z0-9_-]+&lang=[a-z]+")


def wait_settled(client: TestClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        batch = client.get(url, headers=headers).json()
        if batch["counts"]["queued"] == 0:
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.05)


def new_survey(factory: Factory, slug: str = "field", **fields: Any) -> None:
    factory.branches()
    factory.survey(slug, requires_token=True, min_group_size=2, **fields)


def link_of(text: str) -> str:
    found = LINK.search(text)
    assert found, text
    return found.group(0)


def body_of(message: Any) -> str:
    return str(message.get_content())


def test_a_batch_is_sent_by_email_and_sms_and_tracked_to_completion(
    factory: Factory,
    client: TestClient,
    researcher_headers: dict[str, str],
    smtp_server: SmtpServer,
    sms_receiver: SmsReceiver,
) -> None:
    new_survey(factory)
    sms_receiver.script = {"+8613800000002": [503], "+8613800000003": [400]}
    recipients = [
        {"email": "li@example.com", "branch": "BR01", "lang": "zh", "attributes": {"seg": "a"}},
        {"email": "amy@example.com", "branch": "BR01", "lang": "en", "attributes": {"seg": "b"}},
        {"email": "bo@example.com", "branch": "BR02"},
        {"phone": "+8613800000002", "branch": "BR02", "lang": "en"},
        {"phone": "+8613800000003", "branch": "BR02", "lang": "zh"},
    ]
    created = client.post(
        "/api/v1/surveys/field/invitations",
        json={"recipients": recipients, "max_reminders": 1, "remind_after_days": 0},
        headers=researcher_headers,
    )
    assert created.status_code == 202, created.text
    assert created.json()["queued"] == 5
    url = f"/api/v1/surveys/field/invitations/{created.json()['batch']}"
    batch = wait_settled(client, url, researcher_headers)
    states = {m["to"]: m for m in batch["messages"]}
    assert batch["counts"] == {"queued": 0, "sent": 4, "failed": 1, "opened": 0, "completed": 0}
    assert states["***0002"]["state"] == "sent"  # a 503, retried with backoff, then sent
    assert states["***0003"]["state"] == "failed"
    assert "400" in states["***0003"]["error"]
    assert states["l***@example.com"]["branch"] == "BR01"
    assert states["l***@example.com"]["attributes"] == {"seg": "a"}

    mails = {m["To"]: m for m in smtp_server.messages()}
    assert set(mails) == {"li@example.com", "amy@example.com", "bo@example.com"}
    assert mails["li@example.com"]["From"] == "survey@pvm.example"
    zh, en = body_of(mails["li@example.com"]), body_of(mails["amy@example.com"])
    assert "您好" in zh and "Hello" in en
    assert "电信客户感知价值调查" in str(mails["li@example.com"]["Subject"])
    assert "您好" in body_of(mails["bo@example.com"])  # no language: the instrument's first
    [sms] = sms_receiver.received
    assert sms["to"] == "+8613800000002" and sms["message"]["lang"] == "en"
    assert sms_receiver.headers[0]["Authorization"] == "Bearer sms-secret"
    sms_link = link_of(sms["message"]["text"])

    # opened: the questionnaire loaded with the token; completed: submitted with it
    link = link_of(en)
    page = client.get(link.removeprefix("http://survey.example"))
    assert page.status_code == 200
    token = parse_qs(urlsplit(link).query)["token"][0]
    answered = factory.submit(
        "field", {"branch": "BR01", "answers": factory.answers(), "token": token}
    )
    assert answered.status_code == 201, answered.text
    client.get(urlsplit(sms_link).path + "?" + urlsplit(sms_link).query)
    batch = client.get(url, headers=researcher_headers).json()
    assert batch["counts"]["opened"] == 2 and batch["counts"]["completed"] == 1
    done = {m["to"]: m for m in batch["messages"]}
    assert done["a***@example.com"]["completed"] and done["a***@example.com"]["opened"]
    assert not done["l***@example.com"]["opened"]

    # reminders: to the sent messages whose recipient has not completed, once (max 1)
    reminded = client.post(f"{url}/remind", headers=researcher_headers)
    assert reminded.json()["queued"] == 3
    batch = wait_settled(client, url, researcher_headers)
    assert sorted(m["reminders_sent"] for m in batch["messages"]) == [0, 0, 1, 1, 1]
    assert len(smtp_server.messages()) == 5  # li and bo reminded, amy completed
    assert len(sms_receiver.received) == 2
    subjects = sorted(
        str(m["Subject"]) for m in smtp_server.messages() if m["To"] == "li@example.com"
    )
    assert len(subjects) == 2 and any(s.startswith("提醒") for s in subjects), subjects
    assert client.post(f"{url}/remind", headers=researcher_headers).json()["queued"] == 0


def test_operators_see_their_branches_and_contacts_are_masked(
    factory: Factory, client: TestClient, researcher_headers: dict[str, str]
) -> None:
    new_survey(factory)
    recipients = [
        {"email": "one@example.com", "branch": "BR01"},
        {"email": "two@example.com", "branch": "BR02"},
    ]
    batch = client.post(
        "/api/v1/surveys/field/invitations",
        json={"recipients": recipients},
        headers=researcher_headers,
    ).json()["batch"]
    operator = factory.key("operator", branches=["BR02"])
    read = client.get(f"/api/v1/surveys/field/invitations/{batch}", headers=operator).json()
    assert [m["to"] for m in read["messages"]] == ["t***@example.com"]
    assert "two@example.com" not in str(read)
    # an operator may not send, nor a scoped researcher to another branch
    post = client.post(
        "/api/v1/surveys/field/invitations", json={"recipients": recipients}, headers=operator
    )
    assert post.status_code == 403
    scoped = factory.key("researcher", branches=["BR01"])
    post = client.post(
        "/api/v1/surveys/field/invitations", json={"recipients": recipients}, headers=scoped
    )
    assert post.status_code == 422 and "recipients.1.branch" in post.text
    missing = client.get("/api/v1/surveys/field/invitations/nope", headers=researcher_headers)
    assert missing.status_code == 404


def test_a_csv_batch(
    factory: Factory,
    client: TestClient,
    researcher_headers: dict[str, str],
    smtp_server: SmtpServer,
    sms_receiver: SmsReceiver,
) -> None:
    new_survey(factory)
    csv = (
        "email,phone,branch,lang,segment\nc1@example.com,,BR03,en,prepaid\n,+8613900000001,BR03,,\n"
    )
    created = client.post(
        "/api/v1/surveys/field/invitations?max_reminders=2",
        content=csv.encode(),
        headers={**researcher_headers, "Content-Type": "text/csv"},
    )
    assert created.status_code == 202, created.text
    url = f"/api/v1/surveys/field/invitations/{created.json()['batch']}"
    batch = wait_settled(client, url, researcher_headers)
    assert batch["max_reminders"] == 2
    assert batch["counts"]["sent"] == 2
    by_channel = {m["channel"]: m for m in batch["messages"]}
    assert by_channel["email"]["attributes"] == {"segment": "prepaid"}
    assert by_channel["sms"]["lang"] == "zh" and by_channel["sms"]["attributes"] == {}
    assert [m["To"] for m in smtp_server.messages()] == ["c1@example.com"]
    assert "您好" in sms_receiver.received[0]["message"]["text"]


def test_bad_batches_are_422_naming_the_field_and_store_nothing(
    factory: Factory, client: TestClient, researcher_headers: dict[str, str], app: Any
) -> None:
    new_survey(factory)
    url = "/api/v1/surveys/field/invitations"
    cases = [
        ({"recipients": [{"email": "a@example.com", "phone": "+861380000", "branch": "BR01"}]},
         "recipients.0"),
        ({"recipients": [{"email": "not-an-address", "branch": "BR01"}]}, "recipients.0.email"),
        ({"recipients": [{"email": "a@example.com", "branch": "NOPE"}]}, "recipients.0.branch"),
        ({"recipients": [{"email": "a@example.com", "branch": "BR01", "lang": "de"}]},
         "recipients.0.lang"),
        ({"recipients": []}, "recipients"),
        ({"recipients": [{"email": "a@example.com", "branch": "BR01"}], "max_reminders": -1},
         "max_reminders"),
    ]  # fmt: skip
    for body, name in cases:
        reply = client.post(url, json=body, headers=researcher_headers)
        assert reply.status_code == 422, (body, reply.text)
        assert name in reply.text, (name, reply.text)
    csv = client.post(
        url, content=b"who,branch\nx,BR01\n",
        headers={**researcher_headers, "Content-Type": "text/csv"},
    )  # fmt: skip
    assert csv.status_code == 422 and "recipients" in csv.text
    garbage = client.post(
        url, content=b"{nope", headers={**researcher_headers, "Content-Type": "application/json"}
    )
    assert garbage.status_code == 422
    with app.state.sessionmaker() as db:
        assert db.scalars(select(InvitationMessage)).all() == []
        assert db.scalars(select(InvitationToken)).all() == []


def test_a_survey_without_tokens_or_closed_takes_no_batch(
    factory: Factory, client: TestClient, researcher_headers: dict[str, str]
) -> None:
    factory.branches()
    factory.survey("open-door")
    body = {"recipients": [{"email": "a@example.com", "branch": "BR01"}]}
    reply = client.post(
        "/api/v1/surveys/open-door/invitations", json=body, headers=researcher_headers
    )
    assert reply.status_code == 409 and "requires_token" in reply.text
    new_survey(factory)
    client.patch("/api/v1/surveys/field", json={"status": "closed"}, headers=researcher_headers)
    reply = client.post("/api/v1/surveys/field/invitations", json=body, headers=researcher_headers)
    assert reply.status_code == 409 and "closed" in reply.text


def test_anonymous_surveys_never_link_a_response_to_a_recipient(
    factory: Factory, client: TestClient, researcher_headers: dict[str, str],
    smtp_server: SmtpServer, app: Any,
) -> None:  # fmt: skip
    new_survey(factory, anonymous=True)
    body = {"recipients": [{"email": "anon@example.com", "branch": "BR01", "lang": "en"}]}
    created = client.post(
        "/api/v1/surveys/field/invitations", json=body, headers=researcher_headers
    )
    url = f"/api/v1/surveys/field/invitations/{created.json()['batch']}"
    wait_settled(client, url, researcher_headers)
    token = parse_qs(urlsplit(link_of(body_of(smtp_server.messages()[0]))).query)["token"][0]
    answered = factory.submit(
        "field", {"branch": "BR01", "answers": factory.answers(), "token": token}
    )
    assert answered.status_code == 201
    assert client.get(url, headers=researcher_headers).json()["counts"]["completed"] == 1
    with app.state.sessionmaker() as db:
        [row] = db.scalars(select(InvitationToken)).all()
        assert row.response_id is None
        assert (row.used_at.hour, row.used_at.minute, row.used_at.second) == (0, 0, 0)


def test_contact_details_are_deleted_when_the_survey_closes(
    factory: Factory, client: TestClient, researcher_headers: dict[str, str],
    smtp_server: SmtpServer, app: Any,
) -> None:  # fmt: skip
    new_survey(factory)
    body = {"recipients": [{"email": "gone@example.com", "branch": "BR01"}], "max_reminders": 3,
            "remind_after_days": 0}  # fmt: skip
    created = client.post(
        "/api/v1/surveys/field/invitations", json=body, headers=researcher_headers
    )
    url = f"/api/v1/surveys/field/invitations/{created.json()['batch']}"
    wait_settled(client, url, researcher_headers)
    export = client.get("/api/v1/surveys/field/responses.csv", headers=researcher_headers)
    assert "example.com" not in export.text
    settings = app.state.settings
    with app.state.sessionmaker() as db:
        assert purge_closed_contacts(db, settings=settings) == 0  # still open
    client.patch("/api/v1/surveys/field", json={"status": "closed"}, headers=researcher_headers)
    with app.state.sessionmaker() as db:
        assert purge_closed_contacts(db, settings=settings.model_copy(
            update={"invitation_keep_contacts": True})) == 0  # fmt: skip
        assert purge_closed_contacts(db, settings=settings) == 1
        [m] = db.scalars(select(InvitationMessage)).all()
        assert (m.email, m.phone, m.link) == (None, None, None)
        assert m.contacts_deleted_at is not None
    read = client.get(url, headers=researcher_headers).json()
    assert read["messages"][0]["to"] is None and read["messages"][0]["state"] == "sent"
    client.patch("/api/v1/surveys/field", json={"status": "open"}, headers=researcher_headers)
    assert client.post(f"{url}/remind", headers=researcher_headers).json()["queued"] == 0
