"""The same seed on the same data gives the same bootstrap whatever order the rows were stored in
(issue 14 item 6): the same 300 rows imported in two orders (new ids, one submission time, so
the stored order is the ids' random order) give identical results, intervals included."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from app.fits.worker import run_fit
from app.surveys import service
from app.surveys.models import Survey
from tests.conftest import DATA_DIR

MODEL = "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4\nREL ~ a*TAN\nx := 2*a"


def test_reimported_rows_in_another_order_give_identical_bootstrap(
    factory: Any, researcher_headers: dict[str, str], session: Any
) -> None:
    factory.branches()
    rows = pd.read_csv(DATA_DIR / "telecom_1500.csv", dtype=str, keep_default_na=False).head(300)
    for slug, table in (("first", rows), ("second", rows.iloc[::-1])):
        factory.survey(slug)
        body = io.StringIO()
        table.to_csv(body, index=False)
        r = factory.import_csv(slug, body.getvalue().encode(), researcher_headers)
        assert r.status_code == 201, r.text
    spec = {
        "model": MODEL,
        "estimator": "ML",
        "missing": "fiml",
        "bootstrap": 100,
        "seed": 7,
        "group": None,
    }
    results = []
    for slug in ("first", "second"):
        survey = session.query(Survey).filter_by(slug=slug).one()
        frame = service.load_item_frame(session, survey=survey)
        results.append((frame, run_fit(frame, spec)))
    (one_frame, one), (two_frame, two) = results
    assert one_frame["TAN1"].tolist() != two_frame["TAN1"].tolist()  # stored in other orders
    assert one["estimates"] == two["estimates"]
    assert one["bootstrap"] == two["bootstrap"]
    assert one["bootstrap"]["draws"] == 100 and one["bootstrap"]["interval"] == "perc"
