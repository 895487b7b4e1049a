"""Job execution: one function that runs a fit job end to end, and the two ways to call it.

``execute_job`` claims the row, loads the data (only then: a queued job holds no data frame),
fits, stores the result or the error, and keeps a heartbeat on the row while it works. A job
cancelled meanwhile (``DELETE /fits/{id}``) is noticed at the next heartbeat or progress report
(between stages and bootstrap draws) and the fit stops there.

``LocalRunner`` calls it on a small thread pool inside the API process (the default);
``CeleryRunner`` publishes the job id to the broker and a ``pvm worker`` (Celery) process calls
it. Either way the database row is the only shared state.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Protocol

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from app.fits import service
from app.fits.broker import TASK_NAME, make_client
from app.fits.grouped import run_grouped
from app.fits.pls import run_pls
from app.stats.sem import ModelError, fit_model
from app.surveys.models import Survey
from app.surveys.service import load_item_frame

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
STALE_AFTER = timedelta(seconds=60)  # no heartbeat for this long: the runner is presumed dead
PROGRESS_INTERVAL = 0.25  # seconds between progress writes


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become None (PostgreSQL's json rejects NaN)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_fit(
    frame: pd.DataFrame, spec: dict[str, Any], *, progress: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """Fit ``spec`` (a canonical FitCreate) to ``frame``; the API ``result`` object.

    Grouped specs (groups screened, invariance, path tests) go through ``app.fits.grouped``.
    Raises ModelError for anything the engine refuses, including options it lacks.
    """
    if spec.get("method") == "pls":
        return _clean(run_pls(frame, spec, progress=progress))
    if spec.get("group") is not None:
        return _clean(run_grouped(frame, spec, progress=progress))
    result = fit_model(
        frame,
        spec["model"],
        estimator=spec["estimator"],
        missing=spec["missing"],
        ordered=spec.get("ordered", False),
        std_lv=bool(spec.get("std_lv", False)),
        cluster=spec.get("cluster"),
        sampling_weights=spec.get("sampling_weights"),
        bootstrap=int(spec.get("bootstrap") or 0),
        seed=int(spec.get("seed", 1)),
        bootstrap_ci=spec.get("bootstrap_ci", "perc"),
        progress=progress,
    ).to_dict()
    return _clean(result)


class FitCancelled(Exception):
    """Raised from a job's progress callback once the job is no longer this runner's
    (cancelled, or taken over by recovery): the engine stops at that point."""


class _Beat:
    """Background heartbeat (and throttled progress) for one running job."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        fit_id: str,
        runner: str,
        halt: threading.Event | None = None,
    ) -> None:
        self.factory, self.fit_id, self.runner = factory, fit_id, runner
        self.halt = halt  # set when the runner shuts down: stop at the next progress report
        self.stop = threading.Event()
        self.gone = threading.Event()  # the row is not ours any more
        self.last_write = 0.0
        self.pending: float | None = None
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name=f"fit-beat-{fit_id}", daemon=True)

    def __enter__(self) -> _Beat:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def progress(self, fraction: float) -> None:
        """The engine's progress callback; raises FitCancelled when the job is not ours or
        the runner is shutting down."""
        if self.gone.is_set() or (self.halt is not None and self.halt.is_set()):
            raise FitCancelled(self.fit_id)
        with self.lock:
            self.pending = min(max(float(fraction), 0.0), 0.99)
        if time.monotonic() - self.last_write >= PROGRESS_INTERVAL:
            self._write()
            if self.gone.is_set():
                raise FitCancelled(self.fit_id)

    def _write(self) -> None:
        with self.lock:
            value, self.pending = self.pending, None
            self.last_write = time.monotonic()
        try:
            with self.factory() as session:
                held = service.touch_jobs(
                    session, fit_ids=[self.fit_id], runner=self.runner, progress=value
                )
            if not held:
                self.gone.set()
        except Exception:  # a missed heartbeat must never break the fit itself
            logger.exception("heartbeat of fit %s failed", self.fit_id)

    def _loop(self) -> None:
        while not self.stop.wait(HEARTBEAT_SECONDS):
            self._write()


def execute_job(
    factory: sessionmaker[Session],
    fit_id: str,
    *,
    runner: str,
    halt: threading.Event | None = None,
) -> None:
    """Run one job if it is still queued; it ends ``done``, ``failed`` or (when cancelled
    meanwhile) stays ``cancelled``. When `halt` is set (the runner shuts down) the fit stops at
    its next progress report and stays ``running`` without a heartbeat: recovery re-runs it."""
    with factory() as session:
        if not service.claim_job(session, fit_id=fit_id, runner=runner):
            logger.info("fit %s is not queued any more; skipped", fit_id)
            return
        job = service.get_fit(session, fit_id=fit_id)
        spec = dict(job.spec)
        survey = session.get(Survey, job.survey_id)
        try:
            if survey is None:
                raise ModelError("the survey of this fit was deleted")
            # the stored filters and the creating key's scope: the same rows as at creation
            frame = load_item_frame(session, survey=survey, filters=service.job_filters(job))
            data_fp = service.fingerprint(frame["id"].astype(str), survey=survey)
        except Exception as exc:
            logger.exception("fit %s could not load its data", fit_id)
            service.finish_job(session, fit_id=fit_id, runner=runner, error=f"data: {exc}")
            return
    started = time.perf_counter()
    result: dict[str, Any] | None = None
    error: str | None = None
    with _Beat(factory, fit_id, runner, halt) as beat:
        try:
            beat.progress(0.0)  # cancelled while the data loaded: stop before fitting
            result = run_fit(frame, spec, progress=beat.progress)
            result["data_fingerprint"] = data_fp
        except FitCancelled:
            logger.info("fit %s stopped: cancelled, taken over or shutting down", fit_id)
            return
        except ModelError as exc:
            error = str(exc)
        except Exception as exc:
            logger.exception("fit %s failed", fit_id)
            error = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            del frame  # the frame is not needed while the result is stored
    with factory() as session:
        stored = service.finish_job(
            session, fit_id=fit_id, runner=runner, result=result, error=error
        )
    logger.info(
        "fit %s %s in %.2fs%s",
        fit_id,
        "done" if error is None else "failed",
        time.perf_counter() - started,
        "" if stored else " (discarded: the job was taken over)",
    )


class Runner(Protocol):
    id: str

    def start(self) -> None: ...

    def submit(self, fit_id: str) -> None: ...

    def shutdown(self) -> None: ...


class _Sweeper:
    """Shared by both runners: recovery at start, then a periodic sweep for dead runners."""

    id: str
    factory: sessionmaker[Session]
    stale_after: timedelta
    requeue_on_sweep: bool = True

    def _init_sweeper(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fit-sweeper", daemon=True)

    def recover(self, *, requeue_queued: bool = True) -> list[str]:
        with self.factory() as session:
            ids = service.recover_jobs(
                session, runner=self.id, stale_after=self.stale_after, requeue_queued=requeue_queued
            )
        for fit_id in ids:
            self.submit(fit_id)
        return ids

    def submit(self, fit_id: str) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self.recover()
        self._thread.start()

    def _stop_sweeper(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=HEARTBEAT_SECONDS + 10)

    def _beat(self) -> None:  # hook: heartbeat of jobs held in memory
        return None

    def _loop(self) -> None:
        last_sweep = time.monotonic()
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self._beat()
                if time.monotonic() - last_sweep >= self.stale_after.total_seconds() / 2:
                    last_sweep = time.monotonic()
                    self.recover(requeue_queued=self.requeue_on_sweep)
            except Exception:
                logger.exception("fit sweeper failed; retrying")


class LocalRunner(_Sweeper):
    """Fits on a small thread pool in this process (numpy releases the GIL in its kernels)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        workers: int = 2,
        stale_after: timedelta = STALE_AFTER,
    ) -> None:
        self.id = service.new_runner_id()
        self.factory, self.stale_after = factory, stale_after
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pvm-fit")
        self.held: set[str] = set()
        self.lock = threading.Lock()
        self._init_sweeper()

    def submit(self, fit_id: str) -> None:
        with self.factory() as session:
            service.assign_job(session, fit_id=fit_id, runner=self.id)
        with self.lock:
            self.held.add(fit_id)
        self.pool.submit(self._run, fit_id)

    def _run(self, fit_id: str) -> None:
        try:
            execute_job(self.factory, fit_id, runner=self.id, halt=self._stop)
        except Exception:
            logger.exception("fit %s crashed its runner thread", fit_id)
        finally:
            with self.lock:
                self.held.discard(fit_id)

    def _beat(self) -> None:
        with self.lock:
            held = list(self.held)
        with self.factory() as session:
            service.touch_jobs(session, fit_ids=held, runner=self.id)

    def shutdown(self) -> None:
        """Stop the sweeper and every fit thread before returning, so none outlives the app.

        Queued jobs stay "queued" under this runner (the next process to start takes them); a
        running fit stops at its next progress report and its heartbeat thread ends with it
        (the job is re-run by recovery).
        """
        self._stop_sweeper()  # first: a sweep could submit to the pool
        self.pool.shutdown(wait=True, cancel_futures=True)


class CeleryRunner(_Sweeper):
    """Publishes jobs to the broker; ``pvm worker`` processes run them."""

    requeue_on_sweep = False  # queued jobs wait in the broker; only re-publish at start

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        broker_url: str,
        queue: str,
        stale_after: timedelta = STALE_AFTER,
    ) -> None:
        self.id = service.new_runner_id()
        self.factory, self.stale_after = factory, stale_after
        self.celery = make_client(broker_url, queue)
        self._init_sweeper()

    def submit(self, fit_id: str) -> None:
        self.celery.send_task(TASK_NAME, args=[fit_id])

    def shutdown(self) -> None:
        self._stop_sweeper()


def make_runner(
    factory: sessionmaker[Session],
    *,
    broker_url: str | None,
    queue: str = "pvm-fits",
    workers: int = 2,
) -> Runner:
    if broker_url:
        return CeleryRunner(factory, broker_url=broker_url, queue=queue)
    return LocalRunner(factory, workers=workers)
