"""F7/F8 replayed against a real server (``pvm serve``, one worker, the default): bursts of
concurrent submissions never give a 500 and never freeze the other pages.

* F7: 50 concurrent API submissions with one Idempotency-Key -> only 201/200/409/429, one stored.
* F8: 20 concurrent valid form posts -> all stored (303), no 500.

Meanwhile a probe keeps loading an unrelated page (a survey read with an operator key, which
reads the database) and must get 200 every time. Its latency is recorded (``record_property``)
and asserted only generously (< 5 s; before the fix it stalled 30-150 s): the speed itself is
measured by ``benchmarks/bench_bursts.py``.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server import Server, burst, free_port

SLOW_S = 5.0
ANSWERS = None


class Probe:
    """Loads ``url`` in a loop until stopped; keeps (status, seconds) of every request."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers = url, headers
        self.results: list[tuple[int, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=60) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    status = http.get(self.url, headers=self.headers).status_code
                except httpx.HTTPError:
                    status = 0
                self.results.append((status, time.monotonic() - started))
                time.sleep(0.05)

    def __enter__(self) -> Probe:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        self.thread.join(timeout=70)

    @property
    def worst(self) -> float:
        return max(seconds for _, seconds in self.results)


@pytest.fixture
def server(settings, survey) -> Iterator[Server]:
    env = {"PVM_MIGRATE_ON_START": "false"}
    running = Server(settings.database_url, port=free_port(), workers=1, **env).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def probe(server: Server, factory) -> Probe:
    return Probe(f"{server.base}/api/v1/surveys/telecom", factory.key("operator"))


def test_one_idempotency_key_fifty_times_at_once(
    server: Server, probe: Probe, factory, record_property
) -> None:
    url = f"{server.base}/api/v1/surveys/telecom/responses"
    key = str(uuid.uuid4())
    same = {"branch": "BR01", "answers": factory.answers(4)}
    other = {"branch": "BR02", "answers": factory.answers(3)}

    def submit(i: int) -> int:
        body = other if i % 10 == 9 else same  # a few conflicting bodies: the 409 path
        with httpx.Client(timeout=60) as http:
            return http.post(url, json=body, headers={"Idempotency-Key": key}).status_code

    with probe:
        time.sleep(0.2)
        codes = burst(50, submit)
        time.sleep(0.2)
    record_property("probe_worst_s", round(probe.worst, 3))
    assert set(codes) <= {200, 201, 409, 429}, codes
    assert codes.count(201) <= 1 and (201 in codes or 200 in codes or 409 in codes), codes
    assert factory.count() == 1
    assert {status for status, _ in probe.results} == {200}, probe.results
    assert probe.worst < SLOW_S, probe.results


def _form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf_token|submission_id)" value="([^"]*)"', html))


def test_twenty_form_posts_at_once(server: Server, probe: Probe, factory, record_property) -> None:
    page = f"{server.base}/s/telecom"
    answers = {code: "5" for code in factory.answers(5)}
    clients = [httpx.Client(timeout=60) for _ in range(20)]
    try:
        forms = [_form_fields(c.get(page, params={"branch": "BR01"}).text) for c in clients]
        assert all(len(f) == 2 for f in forms)

        def post(i: int) -> int:
            data = answers | forms[i] | {"branch": "BR01", "lang": "en", "website": ""}
            return clients[i].post(page, data=data, follow_redirects=False).status_code

        with probe:
            time.sleep(0.2)
            codes = burst(20, post)
            time.sleep(0.2)
    finally:
        for c in clients:
            c.close()
    record_property("probe_worst_s", round(probe.worst, 3))
    assert codes == [303] * 20, codes
    assert factory.count() == 20
    assert {status for status, _ in probe.results} == {200}, probe.results
    assert probe.worst < SLOW_S, probe.results
