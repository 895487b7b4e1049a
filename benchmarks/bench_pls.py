"""PLS estimation and 5,000 bootstrap draws on mobi and on 100,000 simulated telecom responses,
against the seminr Python port timed in the same run.

pvm: ``fit_pls`` (best of 3) and ``bootstrap_pls(draws=5000)`` of the ECSI model on mobi (250
rows, mode-A composites) and of the telecom default model on 100,000 responses drawn by
``app.demo.simulate_responses`` (mean replacement of the N/A network items).

seminr (GPL, a baseline only; pvm never imports it) runs as a subprocess of the Python given by
``--seminr-python`` (default /tmp/seminr-venv/bin/python; the comparison is skipped with a
message when it is absent): ``estimate_pls`` (best of 3) and ``bootstrap_model`` with
``--seminr-draws`` draws (default 200 on mobi, 10 on 100,000 rows, where one draw takes seconds),
its time per draw scaled to 5,000 draws (said in the output). Goal (issue 16): estimation at any
N under a second, bootstrap under a tenth of seminr's time.

usage: python benchmarks/bench_pls.py [--draws 5000] [--n 100000] [--seminr-python PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from _common import DATA, best_of

MOBI_MODEL = """Image =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5
Expectation =~ CUEX1 + CUEX2 + CUEX3
Quality =~ PERQ1 + PERQ2 + PERQ3 + PERQ4 + PERQ5 + PERQ6 + PERQ7
Value =~ PERV1 + PERV2
Satisfaction =~ CUSA1 + CUSA2 + CUSA3
Complaints =~ CUSCO
Loyalty =~ CUSL1 + CUSL2 + CUSL3
Expectation ~ Image
Satisfaction ~ Image + Expectation + Quality + Value
Loyalty ~ Image + Satisfaction + Complaints
Quality ~ Expectation
Value ~ Expectation + Quality
Complaints ~ Satisfaction"""

SEMINR_SCRIPT = r"""
import json, sys, time
import pandas as pd
import seminr as s

data = pd.read_csv(sys.argv[1])
model = open(sys.argv[2]).read()
draws = int(sys.argv[3])
blocks, paths = {}, []
for line in model.splitlines():
    if "=~" in line:
        c, items = line.split("=~")
        blocks[c.strip()] = [i.strip() for i in items.split("+")]
    elif "~" in line:
        t, srcs = line.split("~")
        paths += [(x.strip(), t.strip()) for x in srcs.split("+")]
mm = s.constructs(*(s.composite(c, i) for c, i in blocks.items()))
sm = s.relationships(*(s.paths(a, b) for a, b in paths))
data = data[[i for its in blocks.values() for i in its]]
best = float("inf")
for _ in range(3):
    t0 = time.perf_counter()
    fit = s.estimate_pls(data, mm, sm)
    best = min(best, time.perf_counter() - t0)
t0, c0 = time.perf_counter(), time.process_time()
boot = s.bootstrap_model(fit, draws, seed=1)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"estimate": best, "bootstrap": wall, "bootstrap_cpu": cpu, "draws": draws}))
"""


def telecom_data(n: int) -> tuple[pd.DataFrame, str]:
    from app.demo import simulate_responses
    from app.instruments.registry import get_instrument
    from app.instruments.spec import model_paths

    spec = get_instrument("telecom-pv")
    frame = simulate_responses(
        spec,
        n,
        seed=1,
        branches=[f"BR{i:02d}" for i in range(1, 11)],
        start=datetime(2025, 1, 1, tzinfo=UTC),
    )
    paths = model_paths(spec.default_model)
    used = [c for c in spec.construct_codes if any(c in p for p in paths)]
    lines = [f"{c} =~ {' + '.join(spec.construct_items[c])}" for c in used]
    lines += [f"{y} ~ {x}" for y, x in paths]
    items = [i for c in used for i in spec.construct_items[c]]
    return frame[items].astype("float64"), "\n".join(lines)


def time_pvm(data: pd.DataFrame, model: str, draws: int) -> tuple[float, float, float, int]:
    """Best-of-3 estimation, and the bootstrap's wall and CPU seconds and succeeded draws."""
    from app.stats.pls import bootstrap_pls, fit_pls

    est, res = best_of(lambda: fit_pls(data, model, consistent=False), 3)
    t0, c0 = time.perf_counter(), cpu_seconds()
    boot = bootstrap_pls(res, draws=draws, seed=1)
    return est, time.perf_counter() - t0, cpu_seconds() - c0, boot.succeeded


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the bootstrap's workers,
    reaped when it returns)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def time_seminr(python: str, data: pd.DataFrame, model: str, draws: int) -> dict | None:
    with tempfile.TemporaryDirectory() as tmp:
        csv, mfile, script = Path(tmp, "d.csv"), Path(tmp, "m.txt"), Path(tmp, "s.py")
        data.to_csv(csv, index=False)
        mfile.write_text(model)
        script.write_text(SEMINR_SCRIPT)
        out = subprocess.run(
            [python, str(script), str(csv), str(mfile), str(draws)],
            capture_output=True,
            text=True,
            check=False,
        )
    if out.returncode != 0:
        print(f"  seminr failed: {out.stderr.strip()[-300:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def usable_cpus() -> int:
    from app.stats.parallel import usable_cpus as cpus

    return cpus()


def report(name: str, data: pd.DataFrame, model: str, args: argparse.Namespace, sdraws: int):
    est, boot, cpu, ok = time_pvm(data, model, args.draws)
    print(f"{name} (n={len(data)}):")
    print(
        f"  pvm estimate: {est:.4f} s; bootstrap {args.draws} draws: {boot:.2f} s wall, "
        f"{cpu:.2f} s CPU with its workers ({ok} ok, {usable_cpus()} usable CPUs)"
    )
    if not Path(args.seminr_python).exists():
        print(f"  seminr: skipped ({args.seminr_python} not found)")
        return
    s = time_seminr(args.seminr_python, data, model, sdraws)
    if s is None:
        return
    scaled = s["bootstrap"] / s["draws"] * args.draws
    scaled_cpu = s["bootstrap_cpu"] / s["draws"] * args.draws
    print(f"  seminr estimate: {s['estimate']:.4f} s; ratio pvm / seminr {est / s['estimate']:.3f}")
    print(
        f"  seminr bootstrap: {s['bootstrap']:.2f} s wall for {s['draws']} draws, scaled to "
        f"{args.draws}: {scaled:.1f} s wall, {scaled_cpu:.1f} s CPU"
    )
    print(
        f"  bootstrap ratio pvm / seminr: {boot / scaled:.4f} wall, {cpu / scaled_cpu:.4f} CPU "
        "(wall times depend on what else the machine runs, CPU times less)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=5000)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seminr-python", default="/tmp/seminr-venv/bin/python")
    ap.add_argument("--seminr-draws-mobi", type=int, default=200)
    ap.add_argument("--seminr-draws-large", type=int, default=10)
    args = ap.parse_args()
    mobi = pd.read_csv(DATA / "mobi.csv")
    report("mobi, ECSI model", mobi, MOBI_MODEL, args, args.seminr_draws_mobi)
    data, model = telecom_data(args.n)
    report("simulated telecom, default model", data, model, args, args.seminr_draws_large)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
