"""Rows drawn by app.stats.validity.bootstrap_rows for the HTMT bootstrap reference
(tests/data/htmt_bootstrap.R reads them, 1-based, and runs semTools::htmt on each resample).

usage (from the repo root): PYTHONPATH=. python tests/data/htmt_bootstrap_rows.py
-> tests/data/htmt_bootstrap_rows.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from app.stats.validity import bootstrap_rows

DATA = Path(__file__).resolve().parent
ITEMS = [f"x{k}" for k in range(1, 10)]
# (name, draws, seed, missing cells as in lavaan_outputs.R)
CASES = [("hs_complete", 60, 7, False), ("hs_missing", 30, 3, True)]


def hs(missing: bool) -> pd.DataFrame:
    d = pd.read_csv(DATA / "holzinger_swineford_1939.csv")
    if missing:
        d.loc[d.index[::7], "x1"] = np.nan
        d.loc[d.index[2::11], "x5"] = np.nan
    return d


def main() -> None:
    out = {}
    for name, draws, seed, missing in CASES:
        x = hs(missing)[ITEMS].to_numpy(dtype=float)
        rows = bootstrap_rows(x, draws, seed) + 1
        out[name] = {"draws": draws, "seed": seed, "missing": missing, "rows": rows.tolist()}
    (DATA / "htmt_bootstrap_rows.json").write_text(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
