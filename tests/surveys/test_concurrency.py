"""Concurrent submissions: one Idempotency-Key or one invitation token stores exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from app.auth.service import create_tokens
from app.errors import Conflict
from app.surveys import service
from app.surveys.schemas import ResponseCreate


def run_parallel(app, slug: str, payloads: list[ResponseCreate], keys: list[str | None]):
    def one(args):
        payload, key = args
        with app.state.sessionmaker() as db:
            survey = service.get_survey(db, slug=slug)
            try:
                stored, created = service.submit_response(
                    db, survey=survey, payload=payload, idempotency_key=key, client=None
                )
                return str(stored.id), created
            except Conflict as exc:
                return "conflict", str(exc.detail)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, zip(payloads, keys, strict=True)))


def test_same_key_in_parallel_is_stored_once(app, factory, survey) -> None:
    payload = ResponseCreate(branch="BR01", answers=factory.answers(4))
    results = run_parallel(app, "telecom", [payload] * 16, ["same-key"] * 16)
    assert len({r[0] for r in results}) == 1
    assert sum(1 for r in results if r[1] is True) == 1
    assert factory.count() == 1


def test_one_token_in_parallel_is_used_once(app, factory, survey, session) -> None:
    invite = factory.survey("invite", requires_token=True)
    [token] = create_tokens(session, survey=invite, branch_code="BR01", count=1)
    payload = ResponseCreate(branch="BR01", answers=factory.answers(4), token=token)
    results = run_parallel(app, "invite", [payload] * 12, [None] * 12)
    assert sum(1 for r in results if r[0] != "conflict") == 1
    assert factory.count("invite") == 1
