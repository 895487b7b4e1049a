"""FIML fit of the default telecom model on telecom_1500.csv, against lavaan and semopy.

Prints pvm's time and the ratios pvm/lavaan and pvm/semopy. lavaan is run through Rscript when
R with lavaan is installed; otherwise lavaan's own time stored in tests/data/telecom_sem_fiml.json
(`secs`, measured on a 2-core machine) is used, and the output says so. semopy's FIML runs in a
child process capped at --semopy-limit seconds (default 60); past the cap it reports "> 60 s".

usage: python benchmarks/bench_fiml.py [--repeat 3] [--semopy-limit 60] [--no-semopy]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time

import pandas as pd
from _common import DATA, best_of, run_rscript

R_SCRIPT = """
suppressMessages(library(lavaan))
d <- read.csv("{csv}")
m <- readLines("{model}")
fit <- sem(paste(m, collapse = "\\n"), data = d, missing = "ml")
t <- system.time(for (i in 1:{repeat}) fit <- sem(paste(m, collapse = "\\n"), data = d,
                                                  missing = "ml"))[["elapsed"]] / {repeat}
cat(t, "\\n")
"""


def time_pvm(data: pd.DataFrame, model: str, repeat: int) -> float:
    from app.stats.sem import fit_model

    fit_model(data, model)  # warm-up: imports, caches
    best, res = best_of(lambda: fit_model(data, model), repeat)
    assert res.converged
    return best


def time_lavaan(model: str, repeat: int) -> tuple[float, str]:
    out = run_rscript(R_SCRIPT, model, csv=DATA / "telecom_1500.csv", repeat=repeat)
    if out is not None and out.returncode == 0:
        return float(out.stdout.split()[-1]), "Rscript, measured now"
    secs = json.loads((DATA / "telecom_sem_fiml.json").read_text())["secs"]
    return float(secs), "R not available: lavaan's stored time from telecom_sem_fiml.json"


def _semopy_child(model: str, csv: str, queue: mp.Queue) -> None:
    import semopy

    d = pd.read_csv(csv)
    t0 = time.perf_counter()
    semopy.Model(model.split("ind_PV")[0]).fit(d, obj="FIML")
    queue.put(time.perf_counter() - t0)


def time_semopy(model: str, limit: float) -> float | None:
    """Seconds for semopy's FIML, or None when it exceeds ``limit``."""
    queue: mp.Queue = mp.Queue()
    proc = mp.Process(target=_semopy_child, args=(model, str(DATA / "telecom_1500.csv"), queue))
    proc.start()
    proc.join(limit)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return None
    return queue.get() if not queue.empty() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--semopy-limit", type=float, default=60.0)
    ap.add_argument("--no-semopy", action="store_true")
    args = ap.parse_args()
    model = json.loads((DATA / "telecom_sem_fiml.json").read_text())["model"]
    data = pd.read_csv(DATA / "telecom_1500.csv")
    pvm = time_pvm(data, model, args.repeat)
    lav, how = time_lavaan(model, args.repeat)
    print(
        f"pvm FIML fit (default model, telecom_1500, n=1500): {pvm:.3f} s (best of {args.repeat})"
    )
    print(f"lavaan sem(missing='ml'): {lav:.3f} s [{how}]")
    print(f"ratio pvm / lavaan: {pvm / lav:.2f} ({lav / pvm:.1f}x faster)")
    if not args.no_semopy:
        sem = time_semopy(model, args.semopy_limit)
        if sem is None:
            print(
                f"semopy FIML: > {args.semopy_limit:.0f} s (stopped); ratio pvm / semopy: "
                f"< {pvm / args.semopy_limit:.3f}"
            )
        else:
            print(f"semopy FIML: {sem:.3f} s; ratio pvm / semopy: {pvm / sem:.3f}")


if __name__ == "__main__":
    main()
