"""The frame holds together: app starts, a key works, a response is stored and read back."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.surveys.service import load_item_frame


def test_submit_and_read_back(factory, survey, session: Session) -> None:
    r = factory.submit("telecom", {"branch": "BR01", "answers": factory.answers(5, NQ1=None)})
    assert r.status_code == 201, r.text
    frame = load_item_frame(session, survey=survey)
    assert len(frame) == 1
    assert frame.loc[0, "TAN1"] == 5.0
    assert frame["NQ1"].isna().all()
    assert frame.loc[0, "id"] == r.json()["id"]
