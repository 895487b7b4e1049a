"""An independent computation of the disclosure control's protected values, from respondent rows.

Written from the rules in app/security/README.md ("Disclosure control"), not from
app.stats.disclosure: cells per (branch id, month, dim, value) from the respondents themselves,
pooling, per-construct threshold, rounding of the normalised moments to 0.5 on the grid shifted
by BLAKE2b(key; "branch|month|dim|group|construct|n|moment") / 2**64 * 0.5, and the statistics
(index, t CI, Welch vs rest, Holm) from the protected moments with scipy.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from sqlalchemy import select

from app.reporting.models import DisclosureKey
from app.surveys import service as surveys
from app.surveys.models import Branch, Response, Survey


def survey_key(session: Any, survey_id: int) -> bytes:
    return bytes.fromhex(session.get(DisclosureKey, survey_id).key)


def offset(key: bytes, parts: Sequence[object]) -> float:
    msg = "\x1f".join(str(p) for p in parts).encode()
    h = hashlib.blake2b(msg, key=key, digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64 * 0.5


def rounded(value: float, off: float) -> float:
    return math.floor((value + off) / 0.5 + 0.5) * 0.5 - off


def pool(counts: dict[str, int], k: int) -> dict[str, str]:
    small = {v for v, c in counts.items() if c < k}
    pooled = sum(counts[v] for v in small)
    rest = sorted((c, v) for v, c in counts.items() if v not in small)
    while 0 < pooled < k and rest:
        c, v = rest.pop(0)
        small.add(v)
        pooled += c
    return {v: ("other" if v in small else v) for v in counts}


def protected(
    people: pd.DataFrame,
    *,
    dim: str,
    k: int,
    key: bytes,
    scores: Sequence[str],
    scales: Mapping[str, tuple[float, float]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``people``: one row per respondent with ``branch_id``, ``month``, attribute columns and a
    score column per construct (NaN = no score). Returns (moments, counts) per
    (branch_id, month, group): moments in item-scale units after rounding, counts exact."""
    moments, counts = [], []
    for (b, m), part in people.groupby(["branch_id", "month"]):
        published = len(part) >= k
        if dim == "all":
            values = pd.Series([""] * len(part), index=part.index)
        else:
            values = part[dim].fillna("").astype(str)
        groups = values.map(pool(values.value_counts().to_dict(), k)) if dim != "all" else values
        for g, members in part.groupby(groups):
            counts.append({"branch_id": b, "month": m, "group": g, "n": len(members),
                           "published": published})  # fmt: skip
            if not published:
                continue
            for c in scores:
                x = members[c].dropna().to_numpy(dtype=float)
                if len(x) < k:
                    continue
                lo, hi = scales[c]
                y = (x - lo) / (hi - lo)
                ident = [b, m, "*" if dim == "all" else dim, g, c, len(x)]  # "*": stored name
                sy = rounded(float(y.sum()), offset(key, [*ident, "sum"]))
                ssy = rounded(float((y * y).sum()), offset(key, [*ident, "sumsq"]))
                moments.append({"branch_id": b, "month": m, "group": g, "construct": c,
                                "n": len(x), "sy": sy, "ssy": ssy})  # fmt: skip
    return pd.DataFrame(moments), pd.DataFrame(counts)


def holm(p: list[float]) -> list[float]:
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def stats_of(n: float, sy: float, ssy: float) -> tuple[float, float]:
    """Mean and SD of y from protected moments (variance clamped at 0)."""
    mean = sy / n
    var = max(0.0, (ssy - sy * sy / n) / (n - 1))
    return mean, math.sqrt(var)


def table(moments: pd.DataFrame, column: str, constructs: Sequence[str]) -> dict[str, Any]:
    """Index (0-100 of y), CI, diff/p vs rest and Holm per group of ``column``."""
    sums = moments.groupby([column, "construct"])[["n", "sy", "ssy"]].sum()
    groups = sorted({str(g) for g in sums.index.get_level_values(0)})
    out: dict[str, Any] = {g: {} for g in groups}
    for c in constructs:
        tot = (
            sums.xs(c, level="construct").sum()
            if c in set(sums.index.get_level_values(1))
            else None
        )
        ps, shown = [], []
        for g in groups:
            if (g, c) not in sums.index:
                continue
            row = sums.loc[(g, c)]
            n = float(row["n"])
            mean, sd = stats_of(n, row["sy"], row["ssy"])
            lo_, hi_ = sps.t.interval(0.95, n - 1, loc=mean, scale=sd / math.sqrt(n))
            rest = tot - row
            e = {"n": int(n), "index": mean * 100, "ci": [lo_ * 100, hi_ * 100]}
            if rest["n"] >= 2:
                m2, sd2 = stats_of(float(rest["n"]), rest["sy"], rest["ssy"])
                t = sps.ttest_ind_from_stats(
                    mean, sd, n, m2, sd2, float(rest["n"]), equal_var=False
                )
                e["diff"] = (mean - m2) * 100
                e["p_unadjusted"] = float(t.pvalue)
                ps.append(float(t.pvalue))
                shown.append(g)
            out[g][c] = e
        for g, p in zip(shown, holm(ps), strict=True):
            out[g][c]["p"] = p
    return out


def people_frame(
    session: Any, survey_id: int, constructs: Mapping[str, Sequence[str]]
) -> pd.DataFrame:
    """Respondents of a survey straight from ``responses`` (not from the aggregates)."""
    survey = session.get(Survey, survey_id)
    codes = surveys.survey_spec(survey).answer_codes
    rows = session.scalars(select(Response).where(Response.survey_id == survey_id)).all()
    recs = []
    for r in rows:
        t = pd.Timestamp(r.submitted_at)
        t = t.tz_convert("UTC") if t.tzinfo is not None else t
        rec: dict[str, Any] = {"branch_id": r.branch_id, "month": f"{t.year:04d}-{t.month:02d}"}
        rec.update(r.attributes or {})
        answers = dict(zip(codes, r.answers, strict=True))
        for c, items in constructs.items():
            vals = [answers[i] for i in items if answers.get(i) is not None]
            rec[c] = float(np.mean(vals)) if vals else np.nan
        recs.append(rec)
    return pd.DataFrame(recs)


def branch_codes(session: Any) -> dict[int, str]:
    return {b.id: b.code for b in session.scalars(select(Branch))}


def insert_rows(session: Any, *, slug: str, records: Sequence[Mapping[str, Any]]) -> None:
    """Insert responses through the single write path with chosen ``submitted_at`` (months in the
    past), bypassing request validation. ``records``: branch (code), submitted_at, answers
    (dict), and attribute values by code."""
    survey = surveys.get_survey(session, slug=slug)
    spec = surveys.survey_spec(survey)
    ids = {code: id_ for id_, code in branch_codes(session).items()}
    rows = []
    for rec in records:
        attrs = {a: rec[a] for a in spec.attribute_codes if rec.get(a) is not None}
        row: dict[str, Any] = {
            "branch_id": ids[rec["branch"]],
            "submitted_at": rec["submitted_at"],
            "answers": [rec["answers"].get(c) for c in spec.answer_codes],
            "channel": "api",
            "attributes": attrs,
        }
        rows.append(row)
    surveys.insert_responses(session, survey=survey, rows=rows)
    session.commit()
