"""Process pools for the bootstraps (SEM and PLS): the same result for any number of workers.

A caller splits its work into tasks whose results do not depend on where they run, gives
:func:`run_tasks` one function that runs a task in this process and one (module-level, so it
pickles by name) that runs it in a worker from the state sent once per worker, and stores each
result by the task's position. Tasks may come from a generator: at most ``in_flight`` tasks per
worker are generated ahead of the results, so a caller that draws large inputs in the parent
holds only those few in memory. When workers cannot run (a daemonic process, e.g. some job
queue workers; a worker killed for memory; a script without the ``__main__`` guard that
forkserver and spawn need) the tasks not yet done run in this process, with the same result.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import Any

log = logging.getLogger(__name__)

# What the parent sent this worker process (see run_tasks' ``state``).
_STATE: dict[str, Any] = {}
_PRELOAD: set[str] = set()


def worker_state() -> dict[str, Any]:
    """In a worker: the ``state`` that :func:`run_tasks` sent to it."""
    return _STATE


def _init_worker(payload: bytes) -> None:
    _STATE.clear()
    _STATE.update(pickle.loads(payload))


def mp_context(preload: Sequence[str] = ()) -> BaseContext:
    """fork when this process runs one thread, else forkserver (spawn where neither exists).

    fork starts workers fastest (nothing re-imported: ~0.1 s against ~1-2 s), but forking a
    multi-threaded process (the API's job threads) can hand the child a lock held by another
    thread; forkserver forks from a clean single-threaded server that persists across calls
    and imports the modules named in ``preload`` (by this call or earlier ones) once, when it
    starts.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        _PRELOAD.update(preload)
        ctx.set_forkserver_preload(sorted(_PRELOAD))
        return ctx
    return multiprocessing.get_context("spawn")


def usable_cpus() -> int:
    """CPUs this process may run on (honours container and taskset limits)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def worker_count(n_jobs: int | None, n_tasks: int) -> int:
    """Workers to start: ``n_jobs`` (None: every usable CPU), at most the usable CPUs and the
    tasks, and 1 (this process) inside a daemonic process, which may not start children."""
    if multiprocessing.current_process().daemon:
        return 1
    cpus = usable_cpus()
    return max(1, min(cpus if n_jobs is None else n_jobs, cpus, n_tasks))


def run_tasks(
    tasks: Iterable[tuple[Any, ...]],
    *,
    run: Callable[..., Any],
    remote: Callable[..., Any],
    state: dict[str, Any],
    collect: Callable[[tuple[Any, ...], Any], None],
    workers: int,
    context: BaseContext | None = None,
    in_flight: int = 2,
) -> None:
    """Run every task, ``run(*task)`` here when ``workers`` is 1, else ``remote(*task)`` in
    ``workers`` processes, and call ``collect(task, result)`` in this process as each finishes
    (in completion order: store results by the task's position).

    ``remote`` reads what it needs from :func:`worker_state` (``state``, pickled once per
    worker). An exception from ``collect`` (e.g. a progress callback stopping a cancelled job)
    drops the tasks not yet started and propagates; so does one raised by a task.
    """
    it = iter(tasks)
    if workers <= 1:
        for task in it:
            collect(task, run(*task))
        return
    payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    todo: dict[Future, tuple[Any, ...]] = {}  # submitted, result not yet collected
    unsent: list[tuple[Any, ...]] = []  # drawn from ``tasks``, not yet submitted
    try:
        with ProcessPoolExecutor(
            workers,
            mp_context=context or mp_context(),
            initializer=_init_worker,
            initargs=(payload,),
        ) as pool:
            try:
                for task in it:
                    unsent.append(task)
                    todo[pool.submit(remote, *task)] = task
                    unsent.clear()
                    if len(todo) < workers * in_flight:
                        continue
                    _collect_some(todo, collect)
                while todo:
                    _collect_some(todo, collect)
            except BaseException as exc:
                if not isinstance(exc, BrokenProcessPool):
                    # drop the tasks not started rather than let the pool's exit run them all
                    pool.shutdown(wait=False, cancel_futures=True)
                raise
    except (BrokenProcessPool, OSError) as exc:
        log.warning("worker processes failed (%s); continuing in this process", exc)
        for task in [*todo.values(), *unsent]:
            collect(task, run(*task))
        for task in it:
            collect(task, run(*task))


def _collect_some(
    todo: dict[Future, tuple[Any, ...]], collect: Callable[[tuple[Any, ...], Any], None]
) -> None:
    finished, _ = wait(todo, return_when=FIRST_COMPLETED)
    for fut in finished:
        result = fut.result()
        collect(todo.pop(fut), result)
