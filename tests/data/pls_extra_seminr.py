"""Reference numbers for pvm's PLS SRMR, PLSpredict, IPMA, multi-group analysis and MICOM, from
the seminr Python port (pip `seminr` 0.2.1) plus hand computations on seminr's own estimates
where seminr has no such function. A development aid only (GPL): run it in a throw-away venv
(`/tmp/s/bin/pip install seminr && /tmp/s/bin/python tests/data/pls_extra_seminr.py`); it writes
tests/data/pls_extra_seminr.json. pvm never imports seminr.

- SRMR: seminr has none. Computed here by hand, the saturated model as cSEM's fit() and
  SmartPLS define it, from seminr's loadings, construct-score correlations and rho_A: within a
  composite block the observed correlations, within a PLSc common-factor block λλ', between
  blocks λ_a ρ_ab λ_b'; mean of the squared residuals over the lower triangle with diagonal.
- PLSpredict: seminr's predict_pls (direct antecedents) on fold orderings drawn the way pvm
  draws them (numpy PCG64 with the seed, one permutation per repetition, R's cut() folds), so
  both see the same folds. Q2predict (seminr has none) by hand: 1 - SSE(PLS) / SSE(mean of the
  training fold), per item. Repetitions: each metric averaged over the repetitions.
- Blindfolding Q2: neither seminr nor plspm has it. Computed here point by point with every
  round re-estimated by seminr (omission distance 7, SmartPLS's cross-validated redundancy).
- IPMA: seminr has none. By hand from seminr's standardized weights, item sds, construct scores
  and total effects: items rescaled to 0-100 on the given scale range, weights / sd of the
  rescaled item normalized to sum to one per block, performance = weighted mean, importance =
  total effect * sd(target score) / sd(source score) on the rescaled-weight scores.
- MGA: seminr's estimate_pls_mga (Henseler's PLS-MGA) with the groups' bootstrap resamples
  drawn the way pvm draws them; permutation test and MICOM steps 2-3 (seminr has neither) by
  hand from seminr estimates on fixed label permutations drawn from the same generator.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import seminr as s
from pls_seminr import (
    CORP_BLOCKS,
    CORP_PATHS,
    MOBI_BLOCKS,
    MOBI_PATHS,
    TEL_BLOCKS,
    TEL_PATHS,
    items,
    seminr_model,
    syntax,
)
from seminr.estimate.rerun import rerun
from seminr.mga.estimate_pls_mga import estimate_pls_mga
from seminr.predict.predict_pls import cut_folds, predict_pls

HERE = Path(__file__).resolve().parent


def estimate(data, blocks, paths, *, reflective, formative=(), missing=None):
    mm, sm = seminr_model(blocks, paths, reflective=reflective, formative=formative)
    data = data[[i for its in blocks.values() for i in its]]
    return s.estimate_pls(data, mm, sm, missing_value=missing)


def items_of(model):
    return list(model.mm_variables)


def construct_cor(model, blocks, reflective):
    scores = model.construct_scores.values
    cor = np.corrcoef(scores, rowvar=False)
    if reflective:
        rel = s.summarize(model).reliability
        rho = np.array(
            [rel.get(c, "rhoA") if len(blocks[c]) > 1 else 1.0 for c in model.construct_scores.cols]
        )
        cor = cor / np.sqrt(np.outer(rho, rho))
        np.fill_diagonal(cor, 1.0)
    return cor


def srmr_case(name, data, blocks, paths, *, reflective, formative=(), missing=None):
    model = estimate(
        data, blocks, paths, reflective=reflective, formative=formative, missing=missing
    )
    items = items_of(model)
    constructs = list(model.construct_scores.cols)
    x = model.data.values[:, [model.data.columns.index(i) for i in items]]
    R = np.corrcoef(x, rowvar=False)
    lam = np.array([[model.outer_loadings.get(i, c) for c in constructs] for i in items])
    implied = lam @ construct_cor(model, blocks, reflective) @ lam.T
    for its in blocks.values():
        idx = [items.index(i) for i in its]
        if not (reflective and len(its) > 1):
            implied[np.ix_(idx, idx)] = R[np.ix_(idx, idx)]
    np.fill_diagonal(implied, 1.0)
    low = np.tril_indices(len(items))
    value = float(np.sqrt(np.mean((R - implied)[low] ** 2)))
    return {
        "name": name,
        "model": syntax(blocks, paths, formative),
        "consistent": reflective,
        "srmr": value,
    }


def predict_case(name, data, blocks, paths, *, reflective, formative=(), folds, reps, seed):
    model = estimate(data, blocks, paths, reflective=reflective, formative=formative)
    n = model.data.n_obs
    rng = np.random.default_rng(seed)
    per_rep = []
    for _ in range(reps):
        order = [int(v) for v in rng.permutation(n)]
        pred = predict_pls(model, no_folds=folds, ordering=order)
        fold_of = np.empty(n, dtype=int)
        for pos, f in enumerate(cut_folds(n, folds)):
            fold_of[order[pos]] = f
        cols = list(pred.items.pls_out_of_sample.cols)
        actual = np.column_stack([model.data.values[:, model.data.columns.index(c)] for c in cols])
        naive = np.empty_like(actual)
        for f in range(1, folds + 1):
            naive[fold_of == f] = actual[fold_of != f].mean(axis=0)
        pls_res = pred.items.pls_out_of_sample_residuals.values
        lm_res = pred.items.lm_out_of_sample_residuals.values
        per_rep.append(
            {
                "items": cols,
                "pls_rmse": np.sqrt((pls_res**2).mean(axis=0)),
                "pls_mae": np.abs(pls_res).mean(axis=0),
                "lm_rmse": np.sqrt((lm_res**2).mean(axis=0)),
                "lm_mae": np.abs(lm_res).mean(axis=0),
                "q2predict": 1 - (pls_res**2).sum(axis=0) / ((actual - naive) ** 2).sum(axis=0),
                "first_rows": pred.items.pls_out_of_sample.values[:3].tolist(),
            }
        )
    cols = per_rep[0]["items"]
    out = {}
    for key in ("pls_rmse", "pls_mae", "lm_rmse", "lm_mae", "q2predict"):
        mean = np.mean([r[key] for r in per_rep], axis=0)
        out[key] = {c: float(v) for c, v in zip(cols, mean, strict=True)}
    return {
        "name": name,
        "model": syntax(blocks, paths, formative),
        "consistent": reflective,
        "folds": folds,
        "repetitions": reps,
        "seed": seed,
        "items": cols,
        "first_rows_rep1": per_rep[0]["first_rows"],
        **out,
    }


def ipma_case(name, data, blocks, paths, *, target, scale, reflective=False, formative=()):
    model = estimate(data, blocks, paths, reflective=reflective, formative=formative)
    constructs = list(model.construct_scores.cols)
    lo, hi = scale
    x = model.data
    perf, weights, unstd_scores = {}, {}, {}
    for c, its in blocks.items():
        raw = np.column_stack([x.values[:, x.columns.index(i)] for i in its])
        rescaled = (raw - lo) / (hi - lo) * 100
        w = np.array([model.outer_weights.get(i, c) for i in its]) / rescaled.std(axis=0, ddof=1)
        w = w / w.sum()
        weights[c] = dict(zip(its, w.tolist(), strict=True))
        perf[c] = float(rescaled.mean(axis=0) @ w)
        unstd_scores[c] = rescaled @ w
    te = s.summarize(model).total_effects
    importance = {}
    for c in constructs:
        t = te.get(c, target)
        if c != target and t != 0:
            importance[c] = float(
                t * unstd_scores[target].std(ddof=1) / unstd_scores[c].std(ddof=1)
            )
    item_importance = {i: importance[c] * w for c in importance for i, w in weights[c].items()}
    item_perf = {}
    for its in blocks.values():
        for i in its:
            item_perf[i] = float(((x.values[:, x.columns.index(i)] - lo) / (hi - lo) * 100).mean())
    return {
        "name": name,
        "model": syntax(blocks, paths, formative),
        "consistent": reflective,
        "target": target,
        "scale": list(scale),
        "performance": perf,
        "importance": importance,
        "weights": weights,
        "item_performance": item_perf,
        "item_importance": item_importance,
    }


def mga_case(name, data, blocks, paths, *, column, group1, draws, permutations, seed, missing=None):
    """Group 1 = rows with ``column == group1``; every other row is group 2. pvm's draws: one
    PCG64 generator with the seed gives group 1's (draws, n1) resample indices, then group 2's
    (draws, n2), then ``permutations`` permutations of all n rows (the first n1 positions of
    a permutation form permuted group 1)."""
    cleaned = estimate(data, blocks, paths, reflective=False, missing=missing).data
    pooled = pd.DataFrame(cleaned.values, columns=list(cleaned.columns))
    model = estimate(pooled, blocks, paths, reflective=False)
    keep = (data[column] == group1).to_numpy()
    n1, n2 = int(keep.sum()), int((~keep).sum())
    rng = np.random.default_rng(seed)
    idx1 = rng.integers(0, n1, size=(draws, n1))
    idx2 = rng.integers(0, n2, size=(draws, n2))
    rows = estimate_pls_mga(model, keep, nboot=draws, group1_indices=idx1, group2_indices=idx2)
    mga = {
        f"{r.target}|{r.source}": {
            "group1": r.group1_beta,
            "group2": r.group2_beta,
            "diff": r.diff,
            "p": r.pls_mga_p,
        }
        for r in rows
    }
    # missing values were replaced by the pooled means before the groups were formed, as pvm
    # does, so every group below is a subset of the same cleaned data
    n = n1 + n2
    order = np.concatenate([np.flatnonzero(keep), np.flatnonzero(~keep)])

    def split(labels):
        g1 = rerun(model, data=pooled[labels])
        g2 = rerun(model, data=pooled[~labels])
        return g1, g2

    obs1, obs2 = split(keep)
    path_list = [(src, t) for src, ts in paths for t in ts]
    items = [i for its in blocks.values() for i in its]
    z = (pooled[items] - pooled[items].mean()) / pooled[items].std(ddof=1)

    def composite_cor(g1, g2):
        out = {}
        for c, its in blocks.items():
            w1 = np.array([g1.outer_weights.get(i, c) for i in its])
            w2 = np.array([g2.outer_weights.get(i, c) for i in its])
            out[c] = float(np.corrcoef(z[its].to_numpy() @ w1, z[its].to_numpy() @ w2)[0, 1])
        return out

    def diffs(g1, g2):
        return {
            f"{t}|{src}": g1.path_coef.get(src, t) - g2.path_coef.get(src, t)
            for src, t in path_list
        }

    pooled_scores = {
        c: z[its].to_numpy() @ np.array([model.outer_weights.get(i, c) for i in its])
        for c, its in blocks.items()
    }

    def moments(labels):
        mean, logvar = {}, {}
        for c, sc in pooled_scores.items():
            a, b = sc[labels], sc[~labels]
            mean[c] = float(a.mean() - b.mean())
            logvar[c] = float(np.log(a.var(ddof=1)) - np.log(b.var(ddof=1)))
        return mean, logvar

    observed_diff = diffs(obs1, obs2)
    observed_c = composite_cor(obs1, obs2)
    observed_mean, observed_logvar = moments(keep)
    perm_diff, perm_c, perm_mean, perm_logvar = [], [], [], []
    for _ in range(permutations):
        perm = rng.permutation(n)
        labels = np.zeros(n, dtype=bool)
        labels[order[perm[:n1]]] = True
        g1, g2 = split(labels)
        perm_diff.append(diffs(g1, g2))
        perm_c.append(composite_cor(g1, g2))
        m, v = moments(labels)
        perm_mean.append(m)
        perm_logvar.append(v)
    return {
        "name": name,
        "model": syntax(blocks, paths),
        "column": column,
        "group1": group1,
        "n1": n1,
        "n2": n2,
        "draws": draws,
        "permutations": permutations,
        "seed": seed,
        "henseler": mga,
        "observed_diff": observed_diff,
        "permutation_diff": perm_diff,
        "observed_c": observed_c,
        "permutation_c": perm_c,
        "observed_mean_diff": observed_mean,
        "permutation_mean_diff": perm_mean,
        "observed_logvar_diff": observed_logvar,
        "permutation_logvar_diff": perm_logvar,
    }


TEL_DEFAULT_BLOCKS = {
    "TAN": items("TAN", 3),
    "REL": items("REL", 4),
    "RES": items("RES", 4),
    "ASS": items("ASS", 4),
    "EMP": items("EMP", 5),
    "NQ": items("NQ", 4),
    "PV": items("PV", 2),
    "SAT": items("SAT", 3),
    "CCI": items("CCI", 4),
    "LOY": items("LOY", 4),
}
TEL_DEFAULT_PATHS = [
    ("TAN", ["PV"]),
    ("REL", ["PV"]),
    ("RES", ["PV"]),
    ("ASS", ["PV"]),
    ("EMP", ["PV"]),
    ("NQ", ["PV"]),
    ("PV", ["SAT", "CCI", "LOY"]),
    ("CCI", ["LOY"]),
    ("SAT", ["LOY"]),
]


def index_case(name, data, blocks, paths):
    """The weights behind ``scores?index=pls``: the instrument's default model as mode-A
    composites, mean replacement; seminr's standardized weights and the (mean-replaced) items'
    sds, from which the test forms the normalized unstandardized weights by hand."""
    model = estimate(data, blocks, paths, reflective=False)
    x = model.data
    return {
        "name": name,
        "model": syntax(blocks, paths),
        "weights": {
            c: {i: float(model.outer_weights.get(i, c)) for i in its} for c, its in blocks.items()
        },
        "sd": {
            i: float(x.values[:, x.columns.index(i)].std(ddof=1))
            for its in blocks.values()
            for i in its
        },
    }


def blindfolding_case(name, data, blocks, paths, *, distance, formative=()):
    """Blindfolding Q² (cross-validated redundancy; seminr has none): every round re-estimated
    by seminr on the data with the round's points replaced by their item's remaining mean,
    the omitted points predicted from seminr's estimates of that round."""
    model = estimate(data, blocks, paths, reflective=False, formative=formative)
    full = pd.DataFrame(model.data.values, columns=list(model.data.columns))
    n = len(full)
    out = {}
    for dv in model.sm_matrix.all_endogenous():
        its = blocks[dv]
        antecedents = model.sm_matrix.construct_antecedents(dv)
        sse = sso = 0.0
        for d in range(distance):
            omitted = [
                (case, item)
                for case in range(n)
                for j, item in enumerate(its)
                if (case * len(its) + j) % distance == d
            ]
            if not omitted:
                continue
            x = full.copy()
            for item in its:
                rows = [case for case, it in omitted if it == item]
                keep = [r for r in range(n) if r not in set(rows)]
                x.loc[rows, item] = full.loc[keep, item].mean()
            mm, sm = seminr_model(blocks, paths, reflective=False, formative=formative)
            fit = s.estimate_pls(x, mm, sm)
            for case, item in omitted:
                score = 0.0
                for a in antecedents:
                    lv = sum(
                        (x.loc[case, i] - fit.mean_data[i])
                        / fit.sd_data[i]
                        * fit.outer_weights.get(i, a)
                        for i in blocks[a]
                    )
                    score += fit.path_coef.get(a, dv) * lv
                hat = (
                    fit.mean_data[item]
                    + fit.sd_data[item] * fit.outer_loadings.get(item, dv) * score
                )
                sse += (full.loc[case, item] - hat) ** 2
                sso += (full.loc[case, item] - fit.mean_data[item]) ** 2
        out[dv] = {"sse": float(sse), "sso": float(sso), "q2": float(1 - sse / sso)}
    return {
        "name": name,
        "model": syntax(blocks, paths, formative),
        "distance": distance,
        "constructs": out,
    }


def main():
    mobi = pd.read_csv(HERE / "mobi.csv")
    corp = pd.read_csv(HERE / "corp_rep.csv")
    tel = pd.read_csv(HERE / "telecom_1500.csv")
    srmr = [
        srmr_case("mobi_plsc", mobi, MOBI_BLOCKS, MOBI_PATHS, reflective=True),
        srmr_case(
            "mobi_composite", mobi, MOBI_BLOCKS, MOBI_PATHS, reflective=False, formative=("Image",)
        ),
        srmr_case("corp_rep", corp, CORP_BLOCKS, CORP_PATHS, reflective=False, missing=-99),
        srmr_case("corp_rep_plsc", corp, CORP_BLOCKS, CORP_PATHS, reflective=True, missing=-99),
    ]
    predict = [
        predict_case(
            "mobi_composite",
            mobi,
            MOBI_BLOCKS,
            MOBI_PATHS,
            reflective=False,
            formative=("Image",),
            folds=10,
            reps=3,
            seed=11,
        ),
        predict_case(
            "mobi_plsc", mobi, MOBI_BLOCKS, MOBI_PATHS, reflective=True, folds=5, reps=2, seed=3
        ),
    ]
    ipma = [
        ipma_case("mobi_composite", mobi, MOBI_BLOCKS, MOBI_PATHS, target="Loyalty", scale=(1, 10)),
        ipma_case("telecom", tel, TEL_BLOCKS, TEL_PATHS, target="LOY", scale=(1, 7)),
    ]
    mga = [
        mga_case(
            "corp_rep_servicetype",
            corp,
            CORP_BLOCKS,
            CORP_PATHS,
            column="servicetype",
            group1=1,
            draws=200,
            permutations=50,
            seed=5,
            missing=-99,
        ),
    ]
    blind = [
        blindfolding_case(
            "corp_rep",
            corp.replace(-99, np.nan),
            CORP_BLOCKS,
            CORP_PATHS,
            distance=7,
        )
    ]
    index = [index_case("telecom_default", tel, TEL_DEFAULT_BLOCKS, TEL_DEFAULT_PATHS)]
    out = {
        "source": f"seminr (Python port) {s.__version__} and hand computations on its estimates",
        "index": index,
        "blindfolding": blind,
        "srmr": srmr,
        "predict": predict,
        "ipma": ipma,
        "mga": mga,
    }
    (HERE / "pls_extra_seminr.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
