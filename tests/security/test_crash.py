"""SIGKILL the server (every worker) in the middle of a submission load, restart it, and find
every acknowledged response stored exactly once; a fit job caught by the kill ends, not stuck.

Clients behave as API.md asks: each response has its own Idempotency-Key and is retried with
that key on connection errors, timeouts and 5xx until it is acknowledged (201, or 200 = replay).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.service import create_api_key
from app.surveys.models import Response
from tests.server import Server, free_port

CLIENTS = 6
BEFORE_KILL = 60  # acknowledged responses before the kill
AFTER_RESTART = 40  # and after the restart
DEADLINE_S = 90.0
MODEL = "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4"


@dataclass
class Load:
    url: str
    answers: dict[str, int]
    acked: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> response id
    replays: int = 0
    retries: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, n: int) -> None:
        with httpx.Client(timeout=5) as http:
            while not self.stop.is_set():
                key = str(uuid.uuid4())
                body = {"branch": f"BR{n % 12 + 1:02d}", "answers": self.answers}
                while True:  # until acknowledged; the key stays the same on every retry
                    try:
                        r = http.post(self.url, json=body, headers={"Idempotency-Key": key})
                    except httpx.HTTPError:
                        r = None
                    if r is not None and r.status_code in (200, 201):
                        with self.lock:
                            assert key not in self.acked
                            self.acked[key] = r.json()["id"]
                            self.replays += r.status_code == 200
                        break
                    assert r is None or r.status_code >= 500, (r.status_code, r.text)
                    with self.lock:
                        self.retries += 1
                    time.sleep(0.05)

    def wait_for(self, count: int, deadline: float) -> None:
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} acknowledged"
            time.sleep(0.02)


def test_acknowledged_responses_survive_sigkill(
    factory, telecom_survey, session: Session, settings
) -> None:
    with factory.app.state.sessionmaker() as db:
        _, researcher = create_api_key(db, role="researcher")
    auth = {"Authorization": f"Bearer {researcher}"}
    before = factory.count()
    port = free_port()
    env = {"PVM_SUBMIT_PER_IP": "1000000", "PVM_MIGRATE_ON_START": "false"}
    server = Server(settings.database_url, port=port, workers=2, **env).start()
    load = Load(f"{server.base}/api/v1/surveys/telecom/responses", factory.answers(4))
    threads = [threading.Thread(target=load.client, args=(n,)) for n in range(CLIENTS)]
    deadline = time.monotonic() + DEADLINE_S
    fit_id = None
    try:
        r = httpx.post(
            f"{server.base}/api/v1/surveys/telecom/fits",
            json={"model": MODEL, "bootstrap": 2000, "seed": 7},
            headers=auth,
            timeout=30,
        )
        assert r.status_code == 202, r.text
        fit_id = r.json()["id"]
        for t in threads:
            t.start()
        load.wait_for(BEFORE_KILL, deadline)
        server.kill()
        killed_at = len(load.acked)
        time.sleep(0.5)  # clients keep retrying against a dead port
        server.start()
        load.wait_for(killed_at + AFTER_RESTART, deadline)
    finally:
        load.stop.set()
        for t in threads:
            t.join(timeout=30)
        fit = None
        if fit_id is not None and server.proc is not None and server.proc.poll() is None:
            fit = httpx.get(
                f"{server.base}/api/v1/fits/{fit_id}", params={"wait": 30}, headers=auth, timeout=60
            ).json()
        server.stop()

    assert load.retries > 0, "the kill landed between requests: nothing was in flight"
    session.expire_all()
    stored = dict(
        session.execute(
            select(Response.idempotency_key, func.cast(Response.id, Response.id.type)).where(
                Response.idempotency_key.in_(list(load.acked))
            )
        ).all()
    )
    missing = [k for k in load.acked if k not in stored]
    assert not missing, f"{len(missing)} acknowledged responses lost"
    assert {k: str(v) for k, v in stored.items()} == load.acked  # the acknowledged ids
    dupes = session.execute(
        select(Response.idempotency_key)
        .where(Response.idempotency_key.is_not(None))
        .group_by(Response.idempotency_key)
        .having(func.count() > 1)
    ).all()
    assert dupes == []
    # nothing stored that was never acknowledged (every client retried until acknowledged)
    assert factory.count() - before == len(load.acked)
    # the fit caught by the kill has ended (re-run to done, or failed), never stuck "running"
    assert fit is not None and fit["status"] in ("done", "failed"), fit
