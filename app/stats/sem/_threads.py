"""Run the engine's small-matrix linear algebra on one BLAS thread.

Every matrix here is at most a few dozen rows; multi-threaded OpenBLAS is then slower (15x
measured on a busy 2-core machine) because threads spin and contend. threadpoolctl comes
with scikit-learn; without it the context manager does nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
