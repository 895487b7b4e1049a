"""Reference numbers for pvm's ACSI-style PLS-weighted index (``scores?index=pls``) and its
bootstrap draws, from the seminr Python port (pip `seminr` 0.2.1). A development aid only
(GPL): run it in a throw-away venv (`python3 -m venv /tmp/seminr-venv && /tmp/seminr-venv/bin/pip
install seminr pandas && /tmp/seminr-venv/bin/python tests/data/pls_index_seminr.py`); it writes
tests/data/pls_index_seminr.json. pvm never imports seminr.

Model: the telecom instrument's default model as mode-A composites, path scheme, N/A answers
replaced by item means (seminr's default), on tests/data/telecom_1500.csv.

- ``groups``: the index by hand from seminr's standardized outer weights: unstandardized weight
  w_i = standardized weight / sd of the item rescaled to 0-100 ((x - 1) / 6 * 100, sd of the
  mean-replaced item), normalized to sum to one per construct; each respondent's score is
  sum w_i x_i' / sum w_i over the items they answered (x_i' the rescaled answer); a group's
  index is the mean of its respondents' scores (no disclosure control: the raw figure the
  protected one is rounded from), per branch, per customer_type and overall. With every item
  answered this is ACSI's sum w_i (mean_i - 1) / 6 * 100 (``overall_formula``, over the
  mean-replaced items).
- ``draws``: the bootstrap draws of ``app.stats.pls.index_draws`` with one stratum and seed 7:
  each draw's rows are ``rng.integers(0, n, size=n)`` from numpy's PCG64 seeded with 7 (one
  call per draw), seminr re-estimated on the resampled raw rows (mean replacement inside the
  resample, as pvm does), and the normalized weights formed as above.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import seminr as s
from pls_extra_seminr import TEL_DEFAULT_BLOCKS, TEL_DEFAULT_PATHS
from pls_seminr import seminr_model, syntax

HERE = Path(__file__).resolve().parent
SEED, DRAWS = 7, 3


def estimate(data):
    mm, sm = seminr_model(TEL_DEFAULT_BLOCKS, TEL_DEFAULT_PATHS, reflective=False)
    cols = [i for its in TEL_DEFAULT_BLOCKS.values() for i in its]
    return s.estimate_pls(data[cols].reset_index(drop=True), mm, sm)


def normalized(model):
    x = model.data
    out = {}
    for c, its in TEL_DEFAULT_BLOCKS.items():
        raw = {}
        for i in its:
            sd = float(((x.values[:, x.columns.index(i)] - 1) / 6 * 100).std(ddof=1))
            raw[i] = float(model.outer_weights.get(i, c)) / sd
        total = sum(raw.values())
        out[c] = {i: v / total for i, v in raw.items()}
    return out


def scores(data, weights):
    out = {}
    for c, row in weights.items():
        its = list(row)
        w = np.array([row[i] for i in its])
        x = (data[its].to_numpy(float) - 1) / 6 * 100
        ok = ~np.isnan(x)
        num = np.where(ok, x, 0.0) @ w
        den = ok.astype(float) @ w
        out[c] = np.where(den > 1e-12, num / np.where(den > 1e-12, den, 1.0), np.nan)
    return pd.DataFrame(out, index=data.index)


def main():
    tel = pd.read_csv(HERE / "telecom_1500.csv")
    model = estimate(tel)
    weights = normalized(model)
    per = scores(tel, weights)
    groups = {"overall": {c: float(per[c].mean()) for c in weights}}
    for column in ("branch", "customer_type"):
        for value, part in per.groupby(tel[column]):
            groups[f"{column}={value}"] = {c: float(part[c].mean()) for c in weights}
    x = model.data
    formula = {
        c: float(
            sum(w * (x.values[:, x.columns.index(i)].mean() - 1) / 6 * 100 for i, w in row.items())
        )
        for c, row in weights.items()
    }
    rng = np.random.default_rng(SEED)
    n = len(tel)
    draws = []
    for _ in range(DRAWS):
        rows = rng.integers(0, n, size=n)
        draws.append(
            {
                "rows_head": [int(r) for r in rows[:5]],
                "weights": normalized(estimate(tel.iloc[rows])),
            }
        )
    out = {
        "source": f"seminr (Python port) {s.__version__}; indices by hand from its weights",
        "model": syntax(TEL_DEFAULT_BLOCKS, TEL_DEFAULT_PATHS),
        "weights": weights,
        "groups": groups,
        "overall_formula": formula,
        "seed": SEED,
        "draws": draws,
    }
    (HERE / "pls_index_seminr.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
