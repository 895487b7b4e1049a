"""Run the engine's small-matrix linear algebra on one BLAS thread.

Every matrix here is at most a few dozen rows; multi-threaded OpenBLAS is then slower (15x
measured on a busy 2-core machine) because threads spin and contend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from threadpoolctl import threadpool_limits


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="blas"):
        yield
