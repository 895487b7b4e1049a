"""Rate limits of public submission (per client and per token) and the bad-token lockout."""

from __future__ import annotations

import asyncio
import os

import pytest
from fastapi.testclient import TestClient

from app.auth.service import create_tokens
from app.config import Settings
from app.main import create_app
from app.security.counters import MemoryCounters, RedisCounters
from app.security.middleware import token_of
from tests.security.helpers import form_post, set_limits

URL = "/api/v1/surveys/telecom/responses"
REDIS_URL = os.environ.get("PVM_TEST_REDIS_URL")


def body(factory, **extra):
    return {"branch": "BR01", "answers": factory.answers(4), **extra}


def test_per_client_limit_is_429_with_retry_after(app, factory, survey) -> None:
    set_limits(app, submit_per_ip=3, submit_ip_window_s=60)
    codes = [factory.submit("telecom", body(factory)).status_code for _ in range(3)]
    assert codes == [201, 201, 201]
    r = factory.submit("telecom", body(factory))
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert "too many submissions" in r.json()["detail"]
    # the HTML form shares the client's budget, and answers in HTML
    page = form_post(factory.client, "telecom")
    assert page.status_code == 429 and "text/html" in page.headers["content-type"]
    assert factory.count() == 3
    # another client is not affected
    with TestClient(app, client=("10.0.0.2", 1234)) as other:
        assert other.post(URL, json=body(factory)).status_code == 201
    assert factory.count() == 4


def test_limit_can_be_switched_off(app, factory, survey) -> None:
    set_limits(app, submit_per_ip=1, rate_limit_enabled=False)
    assert [factory.submit("telecom", body(factory)).status_code for _ in range(3)] == [201] * 3


def test_per_token_limit(app, factory, session) -> None:
    factory.branches()
    invite = factory.survey("invite", requires_token=True)
    [token] = create_tokens(session, survey=invite, branch_code="BR01", count=1)
    set_limits(app, submit_per_token=2)
    url = "/api/v1/surveys/invite/responses"
    assert factory.client.post(url, json=body(factory, token=token)).status_code == 201
    assert factory.client.post(url, json=body(factory, token=token)).status_code == 409
    r = factory.client.post(url, json=body(factory, token=token))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert factory.count("invite") == 1


def test_bad_tokens_lock_the_client_out(app, factory, session) -> None:
    factory.branches()
    invite = factory.survey("invite", requires_token=True)
    good = create_tokens(session, survey=invite, branch_code="BR01", count=2)
    clock = [0.0]
    app.state.security.counters = MemoryCounters(clock=lambda: clock[0])
    set_limits(app, bad_token_max=3, bad_token_window_s=600)
    url = "/api/v1/surveys/invite/responses"
    for guess in ("aaaa", "bbbb", "cccc"):
        assert factory.client.post(url, json=body(factory, token=guess)).status_code == 403
    # locked: even a good token is refused, and nothing is stored
    r = factory.client.post(url, json=body(factory, token=good[0]))
    assert r.status_code == 429 and 590 <= int(r.headers["retry-after"]) <= 600
    assert "invitation tokens" in r.json()["detail"]
    assert form_post(factory.client, "invite", token=good[0]).status_code == 429
    assert factory.count("invite") == 0
    # another client is not locked out
    with TestClient(app, client=("10.0.0.9", 1)) as other:
        assert other.post(url, json=body(factory, token=good[1])).status_code == 201
    clock[0] = 601.0  # the window has passed
    assert factory.client.post(url, json=body(factory, token=good[0])).status_code == 201
    assert factory.count("invite") == 2


def test_form_bad_tokens_count_too(app, factory, session) -> None:
    factory.branches()
    factory.survey("invite", requires_token=True)
    set_limits(app, bad_token_max=2)
    assert form_post(factory.client, "invite", token="nope1").status_code == 403
    assert form_post(factory.client, "invite", token="nope2").status_code == 403
    assert form_post(factory.client, "invite", token="nope3").status_code == 429


def test_a_missing_token_or_an_invalid_answer_is_no_strike(app, factory, session) -> None:
    factory.branches()
    factory.survey("invite", requires_token=True)
    set_limits(app, bad_token_max=1)
    url = "/api/v1/surveys/invite/responses"
    assert factory.client.post(url, json=body(factory)).status_code == 403  # no token sent
    assert factory.client.post(url, json=body(factory)).status_code == 403
    bad_answers = {"branch": "BR01", "answers": {"TAN1": 9}, "token": "x"}
    assert factory.client.post(url, json=bad_answers).status_code == 422
    assert factory.client.post(url, json=body(factory, token="x")).status_code == 403
    assert factory.client.post(url, json=body(factory, token="x")).status_code == 429


def test_other_routes_are_not_limited(app, factory, survey, operator_headers) -> None:
    set_limits(app, submit_per_ip=1)
    for _ in range(3):
        assert factory.client.get("/api/v1/surveys", headers=operator_headers).status_code == 200
        assert factory.client.get("/s/telecom?branch=BR01").status_code == 200


@pytest.mark.parametrize(
    ("raw", "ctype", "expected"),
    [
        (b'{"token": "abc", "branch": "BR01"}', "application/json", "abc"),
        (b'{"token": " abc "}', "application/json; charset=utf-8", "abc"),
        (b'{"token": 5}', "application/json", None),
        (b'["token"]', "application/json", None),
        (b'{"token": "a', "application/json", None),
        (b"branch=BR01&token=xyz", "application/x-www-form-urlencoded", "xyz"),
        (b"branch=BR01&token=", "application/x-www-form-urlencoded", None),
        (b'{"branch": "BR01"}', "application/json", None),
        (b"token=abc", "text/plain", None),
    ],
)
def test_token_of(raw: bytes, ctype: str, expected: str | None) -> None:
    form = ctype.startswith("application/x-www-form-urlencoded")
    assert asyncio.run(token_of(_scope(ctype), raw, form=form)) == expected


def _scope(ctype: str) -> dict[str, object]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-type", ctype.encode())],
    }


def test_memory_counter_windows() -> None:
    clock = [100.0]
    counters = MemoryCounters(clock=lambda: clock[0])

    async def run() -> list[tuple[int, int]]:
        out = [await counters.incr("k", 10), await counters.incr("k", 10)]
        clock[0] = 109.5
        out += [await counters.get("k"), await counters.incr("k", 10)]
        clock[0] = 110.0
        out += [await counters.get("k"), await counters.incr("k", 10)]
        return out

    assert asyncio.run(run()) == [(1, 10), (2, 10), (2, 1), (3, 1), (0, 0), (1, 10)]


def test_unreachable_redis_lets_requests_through() -> None:
    counters = RedisCounters("redis://127.0.0.1:1/0", namespace="x")

    async def run() -> tuple[tuple[int, int], tuple[int, int]]:
        return await counters.incr("k", 10), await counters.get("k")

    assert asyncio.run(run()) == ((0, 0), (0, 0))


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, environment="test", secret_key="s" * 40, **values)  # type: ignore[arg-type, call-arg]


def test_shared_store_follows_the_settings() -> None:
    assert _settings(redis_url=None, broker_url=None).counter_store_url() is None
    assert _settings(redis_url=None, broker_url="amqp://x").counter_store_url() is None
    broker = _settings(redis_url=None, broker_url="redis://h:6379/1")
    assert broker.counter_store_url() == "redis://h:6379/1"
    explicit = _settings(redis_url="redis://r/2", broker_url="redis://h:6379/1")
    assert explicit.counter_store_url() == "redis://r/2"


def test_limits_are_settings_read_from_the_environment(monkeypatch) -> None:
    """Same env names and defaults as the former SecurityLimits; the guard reads app.state."""
    defaults = _settings()
    assert (defaults.rate_limit_enabled, defaults.submit_per_ip, defaults.submit_ip_window_s) == (
        True,
        120,
        60,
    )
    assert (defaults.submit_per_token, defaults.submit_token_window_s) == (10, 3600)
    assert (defaults.bad_token_max, defaults.bad_token_window_s) == (10, 900)
    monkeypatch.setenv("PVM_SUBMIT_PER_IP", "7")
    monkeypatch.setenv("PVM_BAD_TOKEN_WINDOW_S", "30")
    monkeypatch.setenv("PVM_RATE_LIMIT_ENABLED", "false")
    env = _settings()
    assert (env.submit_per_ip, env.bad_token_window_s, env.rate_limit_enabled) == (7, 30, False)
    with pytest.raises(ValueError):
        _settings(submit_per_ip=0)


@pytest.mark.skipif(not REDIS_URL, reason="PVM_TEST_REDIS_URL not set")
def test_processes_share_limits_through_redis(settings, factory, survey, monkeypatch) -> None:
    """Two app instances on one database (two workers) count against one budget."""
    monkeypatch.setenv("PVM_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("PVM_SUBMIT_PER_IP", "3")
    # each process reads its settings from the environment (the fixture's own values kept)
    fixed = settings.model_dump(exclude={"redis_url", "submit_per_ip"})
    apps = [create_app(Settings(**fixed, _env_file=None)) for _ in range(2)]  # type: ignore[call-arg]
    guards = [a.state.security for a in apps]
    assert all(g.shared and isinstance(g.counters, RedisCounters) for g in guards)
    assert apps[0].state.settings.submit_per_ip == 3
    # processes of one deployment (one database) share a namespace; other databases do not
    assert guards[0].counters.namespace == guards[1].counters.namespace
    ip = ("10.9.8.7", 1)
    try:
        with TestClient(apps[0], client=ip) as one, TestClient(apps[1], client=ip) as two:
            codes = [c.post(URL, json=body(factory)).status_code for c in (one, two, one, two)]
        assert codes == [201, 201, 201, 429]
    finally:
        for application in apps:
            application.state.engine.dispose()
