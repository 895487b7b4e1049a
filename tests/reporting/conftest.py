"""The dashboard queues a background invariance check (a fit job) on every new data state.

Tests that are not about it get a submitter that queues nothing, so no fit runs on behind them;
a test asks for the real one by requesting the ``run_invariance_jobs`` fixture.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def run_invariance_jobs() -> None:
    """Request this to let the dashboard run its invariance check for real."""


@pytest.fixture(autouse=True)
def _no_invariance_jobs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "run_invariance_jobs" in request.fixturenames:
        return
    from app.reporting import views

    monkeypatch.setattr(views, "_submitter", lambda request: lambda fit_id: None)
