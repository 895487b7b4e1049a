"""A seeded population model of telecom survey answers, for demos, tests and benchmarks.

Six correlated drivers (TAN, REL, RES, ASS, EMP, NQ) determine perceived value (PV); PV raises
satisfaction (SAT) and customer-company identification (CCI); loyalty (LOY) follows CCI, SAT and
PV. Latent scores are standardised in the reference group, items load 0.70-0.85 on their
construct and are discretised to the 1..7 agreement scale. Branches shift the driver means,
customer types and tenure shift drivers and outcomes, and NQ items are missing (N/A) for customers
who do not use that network. Pure numpy; one million rows take about a second.

`simulate_model` draws answers for any instrument from its lavaan model instead: a random
population with the model's structure (positive loadings and paths), discretised to each item's
scale. It is what `pvm demo --instrument ID` loads for instruments other than telecom-pv.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from app.stats.sem import ModelError, parse_model

CONSTRUCT_ITEMS: dict[str, list[str]] = {
    "TAN": ["TAN1", "TAN2", "TAN3"],
    "REL": ["REL1", "REL2", "REL3", "REL4"],
    "RES": ["RES1", "RES2", "RES3", "RES4"],
    "ASS": ["ASS1", "ASS2", "ASS3", "ASS4"],
    "EMP": ["EMP1", "EMP2", "EMP3", "EMP4", "EMP5"],
    "NQ": ["NQ1", "NQ2", "NQ3", "NQ4"],
    "PV": ["PV1", "PV2"],
    "SAT": ["SAT1", "SAT2", "SAT3"],
    "CCI": ["CCI1", "CCI2", "CCI3", "CCI4"],
    "LOY": ["LOY1", "LOY2", "LOY3", "LOY4"],
}
ITEM_CODES: list[str] = [c for items in CONSTRUCT_ITEMS.values() for c in items]
DRIVERS: tuple[str, ...] = ("TAN", "REL", "RES", "ASS", "EMP", "NQ")
CUSTOMER_TYPES: tuple[str, ...] = ("key_account", "business", "consumer")
TENURES: tuple[str, ...] = ("first_time", "short_term", "long_term", "lapsed")
FRAME_COLUMNS: list[str] = ["branch", "customer_type", "tenure", "submitted_at", *ITEM_CODES]


@dataclass(frozen=True)
class PopulationModel:
    """Parameters of the population; the defaults resemble tests/data/telecom_1500.csv."""

    driver_corr: float = 0.45
    # PV ~ drivers (standardised coefficients, in DRIVERS order)
    beta_pv: tuple[float, ...] = (0.12, 0.26, 0.16, 0.12, 0.12, 0.22)
    sat_on_pv: float = 0.72
    cci_on_pv: float = 0.60
    # LOY ~ CCI + SAT + PV
    loy_on: tuple[float, float, float] = (0.32, 0.30, 0.15)
    loading_range: tuple[float, float] = (0.72, 0.88)
    item_mean: float = 4.55
    item_sd: float = 1.2
    branch_sd: float = 0.30  # spread of branch quality (latent SD units)
    trend_per_year: float = 0.10  # slow improvement of the drivers over time
    customer_type_p: tuple[float, ...] = (0.16, 0.23, 0.61)
    tenure_p: tuple[float, ...] = (0.19, 0.30, 0.39, 0.12)
    # share of customers who use the PHS, fixed-line, broadband and mobile networks
    network_use_p: tuple[float, float, float, float] = (0.30, 0.60, 0.74, 0.95)
    # latent mean shifts (drivers, PV, SAT, CCI, LOY) by customer type and tenure
    type_shift: dict[str, float] = field(
        default_factory=lambda: {"key_account": 0.25, "business": 0.10, "consumer": 0.0}
    )
    tenure_outcome_shift: dict[str, tuple[float, float, float]] = field(
        default_factory=lambda: {
            "first_time": (0.0, -0.10, -0.20),
            "short_term": (0.0, 0.0, 0.0),
            "long_term": (0.05, 0.20, 0.25),
            "lapsed": (-0.30, -0.30, -0.60),
        }
    )  # (SAT, CCI, LOY)


def _add_months(start: datetime, months: int) -> datetime:
    y, m = divmod(start.month - 1 + months, 12)
    year, month = start.year + y, m + 1
    day = min(start.day, [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m])
    return start.replace(year=year, month=month, day=day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _residual_sd(explained: float) -> float:
    if explained >= 1.0:
        raise ValueError("population model explains more than all of a latent's variance")
    return float(np.sqrt(1.0 - explained))


def simulate_responses(
    n: int,
    *,
    seed: int,
    branches: list[str],
    start: datetime,
    months: int = 12,
    model: PopulationModel | None = None,
) -> pd.DataFrame:
    """Draw `n` survey responses from the population model.

    Parameters
    ----------
    n : number of rows.
    seed : seed of the random generator; the same arguments give the same frame.
    branches : branch codes; each gets its own (seeded) quality offsets on the drivers.
    start, months : `submitted_at` is spread uniformly over [start, start + months).

    Returns
    -------
    DataFrame, shape (n, 4 + 37), columns `FRAME_COLUMNS` (the CSV import format): branch,
    customer_type, tenure (str), submitted_at (datetime64, tz of `start`), item codes as
    nullable Int64 in 1..7 with <NA> on NQ items of networks the customer does not use.
    Rows are sorted by `submitted_at`.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not branches:
        raise ValueError("at least one branch is needed")
    if months < 1:
        raise ValueError("months must be >= 1")
    pm = model or PopulationModel()
    rng = np.random.default_rng(seed)
    k = len(DRIVERS)

    # Branch quality: a general level plus a driver-specific profile, fixed per branch.
    n_b = len(branches)
    general = rng.normal(0.0, pm.branch_sd, size=n_b)
    profile = rng.normal(0.0, pm.branch_sd / 2, size=(n_b, k))
    branch_shift = (general[:, None] + profile).astype(np.float32)

    b_idx = rng.integers(0, n_b, size=n)
    t_idx = rng.choice(len(CUSTOMER_TYPES), size=n, p=np.asarray(pm.customer_type_p))
    te_idx = rng.choice(len(TENURES), size=n, p=np.asarray(pm.tenure_p))
    end = _add_months(start, months)
    span = (end - start).total_seconds()
    offsets = np.sort(rng.random(n)) * span  # seconds since start, sorted

    # Drivers: equicorrelated standard normals via one common factor, plus shifts.
    r = pm.driver_corr
    common = rng.standard_normal(n, dtype=np.float32)
    drivers = np.sqrt(r) * common[:, None] + np.sqrt(1 - r) * rng.standard_normal(
        (n, k), dtype=np.float32
    )
    type_shift = np.array([pm.type_shift[t] for t in CUSTOMER_TYPES], dtype=np.float32)
    years = (offsets / (365.25 * 86400)).astype(np.float32)
    drivers += branch_shift[b_idx] + (type_shift[t_idx] + pm.trend_per_year * years)[:, None]

    # Structural part, with residual variances that make each latent's variance 1.
    beta = np.asarray(pm.beta_pv, dtype=np.float64)
    phi = np.full((k, k), r) + np.eye(k) * (1 - r)
    pv = drivers @ beta.astype(np.float32)
    pv += _residual_sd(float(beta @ phi @ beta)) * rng.standard_normal(n, dtype=np.float32)
    ten = np.array([pm.tenure_outcome_shift[t] for t in TENURES], dtype=np.float32)[te_idx]
    sat = pm.sat_on_pv * pv + _residual_sd(pm.sat_on_pv**2) * rng.standard_normal(
        n, dtype=np.float32
    )
    cci = pm.cci_on_pv * pv + _residual_sd(pm.cci_on_pv**2) * rng.standard_normal(
        n, dtype=np.float32
    )
    g_cci, g_sat, g_pv = pm.loy_on
    c_sp, c_cp, c_cs = pm.sat_on_pv, pm.cci_on_pv, pm.sat_on_pv * pm.cci_on_pv
    loy_explained = (
        g_cci**2 + g_sat**2 + g_pv**2 + 2 * (g_cci * g_sat * c_cs + g_cci * g_pv * c_cp)
    ) + 2 * g_sat * g_pv * c_sp
    loy = g_cci * cci + g_sat * sat + g_pv * pv
    loy += _residual_sd(loy_explained) * rng.standard_normal(n, dtype=np.float32)
    sat += ten[:, 0]
    cci += ten[:, 1]
    loy += ten[:, 2]

    latents = dict(zip(DRIVERS, drivers.T, strict=True))
    latents.update(PV=pv, SAT=sat, CCI=cci, LOY=loy)

    # Measurement part: item = mean + sd * (loading * latent + unique), rounded into 1..7.
    lo, hi = pm.loading_range
    loadings = rng.uniform(lo, hi, size=len(ITEM_CODES))
    intercepts = pm.item_mean + rng.normal(0.0, 0.05, size=len(ITEM_CODES))
    noise = rng.standard_normal((len(ITEM_CODES), n), dtype=np.float32)
    use = rng.random((n, 4)) < np.asarray(pm.network_use_p)

    data: dict[str, object] = {
        "branch": np.asarray(branches, dtype=object)[b_idx],
        "customer_type": np.asarray(CUSTOMER_TYPES, dtype=object)[t_idx],
        "tenure": np.asarray(TENURES, dtype=object)[te_idx],
        "submitted_at": pd.Timestamp(start) + pd.to_timedelta(offsets, unit="s").floor("s"),
    }
    j = 0
    for construct, codes in CONSTRUCT_ITEMS.items():
        eta = latents[construct]
        for code in codes:
            lam = np.float32(loadings[j])
            x = noise[j]
            x *= np.float32(np.sqrt(1 - lam * lam))
            x += lam * eta
            x *= np.float32(pm.item_sd)
            x += np.float32(intercepts[j])
            np.rint(x, out=x)
            np.clip(x, 1, 7, out=x)
            values = x.astype(np.int64)
            mask = np.zeros(n, dtype=bool)
            if construct == "NQ":
                mask = ~use[:, int(code[-1]) - 1]
            data[code] = pd.arrays.IntegerArray(values, mask)
            j += 1
    return pd.DataFrame(data, columns=FRAME_COLUMNS, copy=False)


def _model_structure(model: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Measurement blocks ``{latent: indicators}`` and regressions ``{outcome: predictors}``
    among latents, in syntax order."""
    parsed = parse_model(model)
    blocks: dict[str, list[str]] = {}
    for f in parsed.formulas:
        if f.op == "=~":
            blocks.setdefault(f.lhs, []).append(f.rhs)
    paths: dict[str, list[str]] = {}
    for f in parsed.formulas:
        if f.op != "~":
            continue
        if f.lhs not in blocks or f.rhs not in blocks:
            raise ModelError(f"cannot simulate {f.lhs} ~ {f.rhs}: only paths between latents")
        paths.setdefault(f.lhs, []).append(f.rhs)
    nested = sorted({i for items in blocks.values() for i in items} & set(blocks))
    if nested:
        raise ModelError(f"cannot simulate higher-order factors: {', '.join(nested)}")
    return blocks, paths


def _causal_order(latents: list[str], paths: dict[str, list[str]]) -> list[str]:
    """Exogenous latents first, then each outcome after all of its predictors."""
    order: list[str] = [x for x in latents if x not in paths]
    pending = [x for x in latents if x in paths]
    while pending:
        ready = [y for y in pending if all(x in order for x in paths[y])]
        if not ready:
            raise ModelError(f"cannot simulate a non-recursive model: {', '.join(pending)}")
        order += ready
        pending = [y for y in pending if y not in ready]
    return order


def simulate_model(
    model: str,
    n: int,
    *,
    seed: int,
    scales: Mapping[str, tuple[int, int]],
    extra_items: Mapping[str, str] | None = None,
    loading_range: tuple[float, float] = (0.70, 0.88),
    path_range: tuple[float, float] = (0.25, 0.50),
    exogenous_corr: float = 0.40,
    max_r2: float = 0.70,
) -> pd.DataFrame:
    """Draw `n` answers from a random population with the structure of a lavaan model.

    Exogenous latents are standard normal with correlation `exogenous_corr`; each regression
    coefficient is drawn from `path_range` (scaled down when a latent's R² would pass `max_r2`)
    and residual variances make every latent's variance 1. Each item loads on its latent with a
    loading from `loading_range`; the latent-plus-error score is centred a little above the
    midpoint of the item's scale, spread so that the range covers about 5.8 SDs, rounded and
    clipped. Covariances (``~~``), labels, fixed values and ``:=`` lines are accepted and
    ignored.

    Parameters
    ----------
    model : lavaan syntax; regressions only between latents, no higher-order factors.
    n : number of rows.
    seed : seed of the random generator; the same arguments give the same frame.
    scales : ``{item: (min, max)}`` for every indicator and every extra item.
    extra_items : ``{item: latent}``, items outside the model that reflect one of its latents
        (e.g. a 0-10 recommendation question reflecting loyalty).

    Returns
    -------
    DataFrame, shape (n, indicators + extra items): the indicators in model order, then the
    extra items, as nullable Int64 within each item's scale (no missing values).

    Raises
    ------
    ModelError
        Bad syntax, a path involving an observed variable, higher-order factors, a cycle.
    ValueError
        An item without a scale or with max <= min, an extra item of an unknown latent, bad
        ranges.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not 0.0 <= exogenous_corr < 1.0 or not 0.0 < max_r2 < 1.0:
        raise ValueError("exogenous_corr must be in [0, 1) and max_r2 in (0, 1)")
    if not 0.0 < loading_range[0] <= loading_range[1] < 1.0:
        raise ValueError("loadings must lie in (0, 1)")
    blocks, paths = _model_structure(model)
    unknown = sorted(lat for lat in (extra_items or {}).values() if lat not in blocks)
    if unknown:
        raise ValueError(f"extra items reflect unknown latents: {', '.join(unknown)}")
    reflects: dict[str, list[str]] = {}  # item -> the latents it reflects
    for lat, inds in blocks.items():
        for code in inds:
            reflects.setdefault(code, []).append(lat)
    for code, lat in (extra_items or {}).items():
        reflects.setdefault(code, []).append(lat)
    bad = [c for c in reflects if c not in scales or scales[c][1] <= scales[c][0]]
    if bad:
        raise ValueError(f"no scale (min < max) for: {', '.join(bad)}")

    rng = np.random.default_rng(seed)
    order = _causal_order(list(blocks), paths)
    pos = {lat: j for j, lat in enumerate(order)}
    exo = [j for j, lat in enumerate(order) if lat not in paths]
    # Latent covariance matrix, filled in causal order (every latent has variance 1).
    cov = np.eye(len(order))
    cov[np.ix_(exo, exo)] = exogenous_corr + (1.0 - exogenous_corr) * np.eye(len(exo))
    eta = np.zeros((n, len(order)))
    eta[:, exo] = rng.standard_normal((n, len(exo))) @ np.linalg.cholesky(cov[np.ix_(exo, exo)]).T
    for lat in order[len(exo) :]:
        y, xs = pos[lat], [pos[x] for x in paths[lat]]
        beta = rng.uniform(*path_range, size=len(xs))
        explained = float(beta @ cov[np.ix_(xs, xs)] @ beta)
        if explained > max_r2:
            beta *= np.sqrt(max_r2 / explained)
            explained = max_r2
        cov[y, :y] = cov[:y, y] = beta @ cov[xs, :y]
        eta[:, y] = eta[:, xs] @ beta + np.sqrt(1.0 - explained) * rng.standard_normal(n)

    data: dict[str, object] = {}
    for code, lats in reflects.items():
        idx = [pos[lat] for lat in lats]
        lam = rng.uniform(*loading_range, size=len(idx))
        common = float(lam @ cov[np.ix_(idx, idx)] @ lam)
        unique = np.sqrt(max(1.0 - common, 1.0 - loading_range[1] ** 2))
        x = eta[:, idx] @ lam + unique * rng.standard_normal(n)
        lo, hi = scales[code]
        centre, spread = lo + 0.58 * (hi - lo), (hi - lo + 1) / 5.8
        values = np.clip(np.rint(centre + spread * x), lo, hi).astype(np.int64)
        data[code] = pd.arrays.IntegerArray(values, np.zeros(n, dtype=bool))
    return pd.DataFrame(data, columns=list(reflects), copy=False)
