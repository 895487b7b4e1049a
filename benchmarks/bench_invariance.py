"""Configural + metric + scalar invariance across 12 branches on 20,000 simulated responses.

The core PV/CCI/LOY model (complete data: no NQ items), ML. Prints pvm's wall time for
``fit_invariance`` (three multi-group fits and their comparisons) and the ratio against the same
three ``sem(..., group="branch", group.equal=...)`` fits in lavaan, timed by Rscript on the same
CSV in the same run (fitting time only, data already read). Without R the output says so and
prints pvm's time alone. Goal: faster than lavaan.

usage: python benchmarks/bench_invariance.py [--n 20000] [--repeat 2] [--no-r]
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from _common import best_of, run_rscript

CORE = (
    "PV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nLOY =~ LOY1 + LOY2 + LOY3 + LOY4\n"
    "CCI ~ PV\nLOY ~ CCI + PV"
)
BRANCHES = [f"BR{i:02d}" for i in range(1, 13)]

R_SCRIPT = """
suppressMessages(library(lavaan))
d <- read.csv("{csv}")
m <- paste(readLines("{model}"), collapse = "\\n")
lev <- list("none", c("loadings"), c("loadings", "intercepts"))
fit3 <- function() lapply(lev, function(ge) sem(m, data = d, group = "branch", group.equal = ge))
invisible(fit3())  # warm-up
best <- Inf
for (i in 1:{repeat}) best <- min(best, system.time(f <- fit3())[["elapsed"]])
cat(sapply(f, function(x) fitMeasures(x, "chisq")), best, "\\n")
"""


def simulate(n: int) -> pd.DataFrame:
    from app.demo import simulate_responses
    from app.instruments.registry import get_instrument

    spec = get_instrument("telecom-pv", version=1)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return simulate_responses(spec, n, seed=20, branches=BRANCHES, start=start, months=12)


def time_pvm(data: pd.DataFrame, repeat: int) -> tuple[float, list[float]]:
    from app.stats.sem.invariance import fit_invariance

    best, inv = best_of(
        lambda: fit_invariance(data, CORE, group="branch", missing="listwise"), repeat
    )
    return best, [lv.chisq for lv in inv.levels]


def time_lavaan(csv: Path, repeat: int) -> tuple[float, list[float]] | str:
    out = run_rscript(R_SCRIPT, CORE, csv=csv, repeat=repeat)
    if out is None:
        return "R not available"
    if out.returncode != 0:
        return f"Rscript failed: {out.stderr.strip()[-200:]}"
    vals = [float(x) for x in out.stdout.split()]
    return vals[-1], vals[:-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()
    data = simulate(args.n)
    items = [
        v.strip()
        for line in CORE.splitlines()
        if "=~" in line
        for v in line.split("=~")[1].split("+")
    ]
    print(f"core model, {len(BRANCHES)} branches, n={args.n}; configural + metric + scalar")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "sim.csv"
        data[["branch", *items]].to_csv(csv, index=False)
        lav = "--no-r" if args.no_r else time_lavaan(csv, args.repeat)
    pvm, chisq = time_pvm(data, args.repeat)
    print(
        f"pvm fit_invariance: {pvm:.2f} s (best of {args.repeat}); "
        f"chisq {[round(c, 2) for c in chisq]}"
    )
    if isinstance(lav, str):
        print(f"lavaan: not timed ({lav}); no ratio")
        return
    secs, lav_chisq = lav
    print(
        f"lavaan 3 x sem(group.equal=...): {secs:.2f} s (best of {args.repeat}, Rscript now); "
        f"chisq {[round(c, 2) for c in lav_chisq]}"
    )
    print(f"ratio pvm / lavaan: {pvm / secs:.3f} ({secs / pvm:.1f}x faster)")


if __name__ == "__main__":
    main()
