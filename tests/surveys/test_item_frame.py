"""load_item_frame: the one reader every statistics consumer uses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd

from app.surveys import service
from app.surveys.schemas import ResponseFilters
from tests.conftest import TELECOM_CSV


def test_frame_matches_the_imported_file(telecom_survey, session) -> None:
    frame = service.load_item_frame(session, survey=telecom_survey)
    source = pd.read_csv(TELECOM_CSV)
    codes = service.survey_spec(telecom_survey).item_codes
    spec = service.survey_spec(telecom_survey)
    assert list(frame.columns) == service.frame_columns(spec) + codes
    assert len(frame) == 1500 and frame["id"].is_unique
    assert all(frame[c].dtype == np.float64 for c in codes)
    assert str(frame["submitted_at"].dtype) == "datetime64[ns, UTC]"
    # Same multiset of rows (the frame is ordered by submission time).
    cols = ["branch", "customer_type", "tenure", *codes]
    left = frame[cols].fillna(-1).sort_values(cols).reset_index(drop=True)
    right = source[cols].fillna(-1).sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    assert frame["NQ1"].isna().sum() == source["NQ1"].isna().sum() > 0
    assert frame["lang"].isna().all()


def test_empty_frame_has_the_columns(survey, session) -> None:
    frame = service.load_item_frame(session, survey=survey)
    assert len(frame) == 0 and "LOY4" in frame.columns and "submitted_at" in frame.columns


def rows(n: int, branch_ids: dict[str, int], start: datetime) -> list[dict]:
    codes = list(branch_ids)
    return [
        {
            "id": uuid.uuid4(),
            "branch_id": branch_ids[codes[i % len(codes)]],
            "submitted_at": start + timedelta(hours=i),
            "customer_type": "consumer",
            "tenure": None,
            "lang": "en",
            "channel": "import",
            "answers": [(i + j) % 7 + 1 if j != 20 else None for j in range(37)],
        }
        for i in range(n)
    ]


def test_filters_and_scope(survey, session) -> None:
    ids = service.branch_ids(session, codes=["BR01", "BR02"])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    service.insert_responses(session, survey=survey, rows=rows(48, ids, start))
    session.commit()
    frame = service.load_item_frame(session, survey=survey, branches=["BR02"])
    assert set(frame["branch"]) == {"BR02"} and len(frame) == 24
    window = ResponseFilters(
        branch=["BR01"],
        # 09:00 at UTC+8 is 01:00 UTC: hours 1..10 inclusive, BR01 has the even hours.
        submitted_from=datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=8))),
        submitted_to=datetime(2026, 1, 1, 10),
    )
    frame = service.load_item_frame(session, survey=survey, filters=window)
    assert frame["submitted_at"].dt.hour.tolist() == [2, 4, 6, 8, 10]
    assert frame["NQ1"].isna().all() and frame["TAN1"].notna().all()
    assert frame["tenure"].isna().all() and (frame["lang"] == "en").all()
    assert frame["submitted_at"].is_monotonic_increasing
