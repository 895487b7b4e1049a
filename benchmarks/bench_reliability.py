"""Benchmark: reliability + HTMT for the 37-item instrument on 100,000 responses.

Baseline: the same statistics computed naively in pandas (what a psych-like script does:
per construct, drop incomplete rows, recompute alpha for every dropped item, correlate each
item with the rest score; HTMT from ``DataFrame.corr()``), run in the same process on the
same data. Prints both times and their ratio.

    .venv/bin/python benchmarks/bench_reliability.py [--n 100000] [--seed 1] [--model]

``--model`` also times the full report with the FIML CFA (omega, CR, AVE, Fornell-Larcker).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from _common import best_of

from app.demo import simulate_responses
from app.instruments.registry import get_instrument
from app.stats.reliability_report import reliability_report


def simulated(n: int, seed: int) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Responses to telecom-pv version 1 from the demo population model (app/demo.py)."""
    spec = get_instrument("telecom-pv", version=1)
    frame = simulate_responses(
        spec,
        n,
        seed=seed,
        branches=[f"BR{i:02d}" for i in range(1, 9)],
        start=datetime(2026, 1, 1, tzinfo=UTC),
    )
    constructs = {k: list(v) for k, v in spec.construct_items.items()}
    items = [c for its in constructs.values() for c in its]
    return frame[items].astype("float64"), constructs


def naive(data: pd.DataFrame, constructs: dict[str, list[str]]) -> dict[str, object]:
    """The same statistics, computed the obvious way with pandas."""
    out: dict[str, object] = {}

    def alpha(frame: pd.DataFrame) -> float:
        k = frame.shape[1]
        return k / (k - 1) * (1 - frame.var().sum() / frame.sum(axis=1).var())

    for name, items in constructs.items():
        cc = data[items].dropna()
        total = cc.sum(axis=1)
        stats = {}
        for item in items:
            rest = total - cc[item]
            stats[item] = (
                cc[item].mean(),
                cc[item].std(),
                cc[item].corr(rest),
                alpha(cc.drop(columns=item)) if len(items) > 2 else np.nan,
            )
        out[name] = (alpha(cc), stats)
    corr = data.corr().abs()
    names = list(constructs)
    within = {
        a: corr.loc[constructs[a], constructs[a]]
        .to_numpy()[np.triu_indices(len(constructs[a]), 1)]
        .mean()
        for a in names
    }
    out["htmt"] = {
        (a, b): corr.loc[constructs[a], constructs[b]].to_numpy().mean()
        / np.sqrt(within[a] * within[b])
        for a in names
        for b in names
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", action="store_true", help="also time the FIML CFA")
    args = parser.parse_args()

    t0 = time.perf_counter()
    data, constructs = simulated(args.n, args.seed)
    n_items = sum(len(v) for v in constructs.values())
    print(
        f"data: {len(data)} rows x {n_items} items, {int(data.isna().any(axis=1).sum())} "
        f"rows with N/A (simulated in {time.perf_counter() - t0:.1f} s)"
    )

    ours, _ = best_of(lambda: reliability_report(data, constructs, fit_model=False), args.repeat)
    base, _ = best_of(lambda: naive(data, constructs), args.repeat)
    print(
        f"pvm reliability + HTMT/HTMT2 (EM correlations for N/A): {ours:.3f} s "
        f"(best of {args.repeat})"
    )
    print(f"naive pandas baseline (pairwise corr for HTMT):        {base:.3f} s")
    print(
        f"ratio baseline / pvm: {base / ours:.1f}x   target < 1 s: "
        f"{'met' if ours < 1.0 else 'NOT met'}"
    )
    if args.model:
        full, _ = best_of(lambda: reliability_report(data, constructs, missing="fiml"), 1)
        print(f"full report incl. FIML CFA (omega, CR, AVE, Fornell-Larcker): {full:.3f} s")


if __name__ == "__main__":
    main()
