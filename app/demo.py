"""Demo data: synthetic responses to an instrument, for `pvm demo`, tests and benchmarks.

Two generators, both reading the instrument for its items, scales and attributes:

* `simulate_responses`, a seeded population model of telecom customers for instruments with
  the telecom constructs (telecom-pv, every version): six correlated drivers (TAN, REL, RES,
  ASS, EMP, NQ) determine perceived value (PV); PV raises satisfaction (SAT) and
  customer-company identification (CCI); loyalty (LOY) follows CCI, SAT and PV. Latent scores
  are standardised in the reference group, items load 0.72-0.88 on their construct and are
  discretised to the 1..7 agreement scale. Branches shift the driver means, customer types and
  tenure shift drivers and outcomes, time improves the drivers slowly, and items that allow N/A
  (the networks) are N/A for customers who do not use that network. Pure numpy; one million rows
  take about a second.
* `instrument_frame`, for any instrument: its default model's structure with random positive
  loadings and paths (`app.stats.simulate.simulate_model`), random choices for the rest.

`demo_frame` picks the first when the instrument fits it. This is not statistics (the numbers
are made up to look like a survey), so it lives beside the CLI, not in `app/stats`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from app.instruments.spec import InstrumentSpec, model_variables
from app.stats.simulate import simulate_model

DEMO_BRANCHES = [
    ("BR01", "Beijing Chaoyang", "North"),
    ("BR02", "Beijing Haidian", "North"),
    ("BR03", "Tianjin Heping", "North"),
    ("BR04", "Shanghai Pudong", "East"),
    ("BR05", "Hangzhou Xihu", "East"),
    ("BR06", "Nanjing Gulou", "East"),
    ("BR07", "Guangzhou Tianhe", "South"),
    ("BR08", "Shenzhen Futian", "South"),
    ("BR09", "Xiamen Siming", "South"),
    ("BR10", "Chengdu Jinjiang", "West"),
    ("BR11", "Chongqing Yuzhong", "West"),
    ("BR12", "Xi'an Beilin", "West"),
]
# The demo branches' Chinese names (the English ones are the names above).
DEMO_BRANCH_NAMES_ZH = {
    "BR01": "北京朝阳",
    "BR02": "北京海淀",
    "BR03": "天津和平",
    "BR04": "上海浦东",
    "BR05": "杭州西湖",
    "BR06": "南京鼓楼",
    "BR07": "广州天河",
    "BR08": "深圳福田",
    "BR09": "厦门思明",
    "BR10": "成都锦江",
    "BR11": "重庆渝中",
    "BR12": "西安碑林",
}
DRIVERS: tuple[str, ...] = ("TAN", "REL", "RES", "ASS", "EMP", "NQ")
OUTCOMES: tuple[str, ...] = ("PV", "SAT", "CCI", "LOY")
CUSTOMER_TYPES: tuple[str, ...] = ("key_account", "business", "consumer")
TENURES: tuple[str, ...] = ("first_time", "short_term", "long_term", "lapsed")
ATTRIBUTE_COLUMNS: tuple[str, ...] = ("branch", "customer_type", "tenure", "submitted_at")


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
    # Share of customers who use what an N/A-able item asks about (telecom-pv version 1: PHS,
    # fixed line, broadband, mobile; version 2: fixed line, broadband, mobile calls, mobile
    # data, 5G). An item that allows N/A and is not listed is always answered.
    use_p: Mapping[str, float] = field(
        default_factory=lambda: {
            "NQ1": 0.30,
            "NQ2": 0.60,
            "NQ3": 0.74,
            "NQ4": 0.95,
            "NQ5": 0.92,
            "NQ6": 0.70,
        }
    )
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


def population_problems(spec: InstrumentSpec) -> list[str]:
    """Why `simulate_responses` cannot draw answers to `spec` ([] if it can)."""
    problems = [
        f"no construct {c}" for c in (*DRIVERS, *OUTCOMES) if not spec.construct_items.get(c)
    ]
    values = spec.attribute_values
    for code, wanted in (("customer_type", CUSTOMER_TYPES), ("tenure", TENURES)):
        if code not in values or not set(wanted) <= set(values[code]):
            problems.append(f"attribute {code} needs the codes {', '.join(wanted)}")
    for construct in (*DRIVERS, *OUTCOMES):
        for code in spec.construct_items.get(construct, []):
            scale = spec.item_scale(code)
            if (scale.min, scale.max) != (1, 7):
                problems.append(f"item {code} is not on a 1..7 scale")
    return problems


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


def _latents(
    pm: PopulationModel,
    rng: np.random.Generator,
    n: int,
    *,
    branch_shift: np.ndarray,
    b_idx: np.ndarray,
    t_idx: np.ndarray,
    te_idx: np.ndarray,
    years: np.ndarray,
) -> dict[str, np.ndarray]:
    """Latent scores ``{construct: (n,)}``: drivers with their shifts, then the structural
    part with residual variances that make each latent's variance 1 in the reference group."""
    k = len(DRIVERS)
    # Drivers: equicorrelated standard normals via one common factor, plus shifts.
    r = pm.driver_corr
    common = rng.standard_normal(n, dtype=np.float32)
    drivers = np.sqrt(r) * common[:, None] + np.sqrt(1 - r) * rng.standard_normal(
        (n, k), dtype=np.float32
    )
    type_shift = np.array([pm.type_shift[t] for t in CUSTOMER_TYPES], dtype=np.float32)
    drivers += branch_shift[b_idx] + (type_shift[t_idx] + pm.trend_per_year * years)[:, None]

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
    return latents


def simulate_responses(
    spec: InstrumentSpec,
    n: int,
    *,
    seed: int,
    branches: list[str],
    start: datetime,
    months: int = 12,
    model: PopulationModel | None = None,
) -> pd.DataFrame:
    """Draw `n` responses to `spec` (an instrument with the telecom constructs) from the
    population model.

    Parameters
    ----------
    spec : the instrument; its constructs TAN ... LOY give the items (`population_problems`).
    n : number of rows.
    seed : seed of the random generator; the same arguments give the same frame.
    branches : branch codes; each gets its own (seeded) quality offsets on the drivers.
    start, months : `submitted_at` is spread uniformly over [start, start + months).

    Returns
    -------
    DataFrame, shape (n, 4 + items of those constructs): branch, customer_type, tenure (str),
    submitted_at (datetime64, tz of `start`), then the items in instrument order as nullable
    Int64 in 1..7, <NA> on N/A-able items the customer does not use (`PopulationModel.use_p`).
    Rows are sorted by `submitted_at`.
    """
    _check_arguments(spec, n, branches, months)
    pm = model or PopulationModel()
    rng = np.random.default_rng(seed)
    b_idx, t_idx, te_idx, offsets, latents = _draw_respondents(
        pm, rng, n, len(branches), start, months
    )
    data: dict[str, object] = {
        "branch": np.asarray(branches, dtype=object)[b_idx],
        "customer_type": np.asarray(CUSTOMER_TYPES, dtype=object)[t_idx],
        "tenure": np.asarray(TENURES, dtype=object)[te_idx],
        "submitted_at": pd.Timestamp(start) + pd.to_timedelta(offsets, unit="s").floor("s"),
    }
    data.update(_draw_items(spec, pm, rng, n, latents))
    columns = [*ATTRIBUTE_COLUMNS, *(c for c in spec.item_codes if c in data)]
    return pd.DataFrame(data, columns=columns, copy=False)


def _check_arguments(spec: InstrumentSpec, n: int, branches: list[str], months: int) -> None:
    """ValueError when the instrument does not fit the population model or an argument is out
    of range."""
    problems = population_problems(spec)
    if problems:
        raise ValueError(f"{spec.id} does not fit the population model: {'; '.join(problems)}")
    if n < 0:
        raise ValueError("n must be >= 0")
    if not branches:
        raise ValueError("at least one branch is needed")
    if months < 1:
        raise ValueError("months must be >= 1")


def _draw_respondents(
    pm: PopulationModel,
    rng: np.random.Generator,
    n: int,
    n_b: int,
    start: datetime,
    months: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(branch, customer type, tenure indices, seconds since start (sorted), latents)`` of
    ``n`` respondents of ``n_b`` branches; the draws come from ``rng`` in a fixed order."""
    # Branch quality: a general level plus a driver-specific profile, fixed per branch.
    general = rng.normal(0.0, pm.branch_sd, size=n_b)
    profile = rng.normal(0.0, pm.branch_sd / 2, size=(n_b, len(DRIVERS)))
    branch_shift = (general[:, None] + profile).astype(np.float32)

    b_idx = rng.integers(0, n_b, size=n)
    t_idx = rng.choice(len(CUSTOMER_TYPES), size=n, p=np.asarray(pm.customer_type_p))
    te_idx = rng.choice(len(TENURES), size=n, p=np.asarray(pm.tenure_p))
    span = (_add_months(start, months) - start).total_seconds()
    offsets = np.sort(rng.random(n)) * span  # seconds since start, sorted
    years = (offsets / (365.25 * 86400)).astype(np.float32)
    latents = _latents(
        pm, rng, n, branch_shift=branch_shift, b_idx=b_idx, t_idx=t_idx, te_idx=te_idx, years=years
    )
    return b_idx, t_idx, te_idx, offsets, latents


def _draw_items(
    spec: InstrumentSpec,
    pm: PopulationModel,
    rng: np.random.Generator,
    n: int,
    latents: dict[str, np.ndarray],
) -> dict[str, pd.arrays.IntegerArray]:
    """Each item of the model's constructs as nullable Int64 in 1..7 drawn from its
    construct's latent score; <NA> where an N/A-able item's service is not used."""
    # Measurement part: item = mean + sd * (loading * latent + unique), rounded into 1..7.
    blocks = {c: spec.construct_items[c] for c in (*DRIVERS, *OUTCOMES)}
    codes = [code for items in blocks.values() for code in items]
    lo, hi = pm.loading_range
    loadings = rng.uniform(lo, hi, size=len(codes))
    intercepts = pm.item_mean + rng.normal(0.0, 0.05, size=len(codes))
    noise = rng.standard_normal((len(codes), n), dtype=np.float32)
    na_able = [c for c in codes if spec.items_by_code[c].allow_na and c in pm.use_p]
    use = rng.random((n, len(na_able))) < np.asarray([pm.use_p[c] for c in na_able])

    data: dict[str, pd.arrays.IntegerArray] = {}
    j = 0
    for construct, items in blocks.items():
        eta = latents[construct]
        for code in items:
            lam = np.float32(loadings[j])
            x = noise[j]
            x *= np.float32(np.sqrt(1 - lam * lam))
            x += lam * eta
            x *= np.float32(pm.item_sd)
            x += np.float32(intercepts[j])
            np.rint(x, out=x)
            np.clip(x, 1, 7, out=x)
            mask = ~use[:, na_able.index(code)] if code in na_able else np.zeros(n, dtype=bool)
            data[code] = pd.arrays.IntegerArray(x.astype(np.int64), mask)
            j += 1
    return data


def instrument_frame(
    spec: InstrumentSpec, n: int, *, seed: int, start: datetime, branches: list[str]
) -> pd.DataFrame:
    """Synthetic responses to any instrument, in the CSV import format: numeric items from its
    default model (`simulate_model`; numeric items outside the model reflect the outcome),
    a random option for single-choice items, N/A for 15% of the items that allow it, nothing
    for multiple-choice and open-text items; a random option of every choice attribute and
    one of three codes ("<attribute>_1" ...) for code attributes."""
    blocks = model_variables(spec.default_model)[0]
    latents = list(blocks)
    anchor = spec.default_outcome if spec.default_outcome in latents else latents[-1]
    indicators = {i for inds in blocks.values() for i in inds}
    numeric = spec.numeric_codes
    scales = {c: (spec.item_scale(c).min, spec.item_scale(c).max) for c in numeric}
    simulated = simulate_model(
        spec.default_model,
        n,
        seed=seed,
        scales=scales,
        extra_items={c: anchor for c in numeric if c not in indicators},
    )
    rng = np.random.default_rng(seed + 1)
    offsets = np.sort(rng.random(n)) * 365 * 86400
    frame = pd.DataFrame(
        {
            "branch": rng.choice(branches, size=n),
            "submitted_at": [(start + timedelta(seconds=int(s))).isoformat() for s in offsets],
        }
    )
    for attr in spec.attributes:
        values = attr.codes if attr.type == "choice" else [f"{attr.code}_{k}" for k in (1, 2, 3)]
        frame[attr.code] = rng.choice(values, size=n)
    for item in spec.items:
        if item.is_numeric:
            column = simulated[item.code].astype(object)
        elif item.type == "single":
            column = pd.Series(rng.choice(item.option_codes, size=n), dtype=object)
        else:
            column = pd.Series([""] * n, dtype=object)
        if item.allow_na:
            column = column.mask(rng.random(n) < 0.15, "NA")  # not applicable (empty: unanswered)
        frame[item.code] = column
    return frame


def demo_frame(spec: InstrumentSpec, n: int, *, seed: int, start: datetime) -> pd.DataFrame:
    """`n` demo responses to `spec` over the 12 months from `start`, in the CSV import format
    (timestamps as ISO text): the population model when the instrument fits it (branch
    differences, customer groups, a trend), else `instrument_frame`."""
    branches = [code for code, _, _ in DEMO_BRANCHES]
    if population_problems(spec):
        return instrument_frame(spec, n, seed=seed, start=start, branches=branches)
    frame = simulate_responses(spec, n, seed=seed, branches=branches, start=start, months=12)
    frame["submitted_at"] = frame["submitted_at"].map(lambda t: t.isoformat())
    return frame
