"""What the operators' dashboard shows, worded for its reader: the score table's rows and
cells, the colour legend, the comparability verdict, the drivers and the trend panels, and the
CSV download, all in the reader's language (:class:`app.reporting.i18n.Labels`).

Numbers come from :mod:`app.reporting.service` (protected cells only, see
:mod:`app.reporting.disclosure`); this module only chooses words, colours and formats.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from app.reporting.charts import (
    BIN_COLOURS,
    BINS,
    bench_diff,
    diff_bin,
    ipa_svg,
    significance_mark,
    significant,
    trend_panel_svg,
    trend_periods,
    trend_range,
)
from app.reporting.i18n import Labels
from app.reporting.invariance import InvarianceStatus
from app.stats.drivers import IPAResult
from app.stats.scores import GroupScore, GroupScores


# ---- score table -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    construct: str
    index: str
    ci: str  # "lo–hi" or ""
    bin: str
    colour: str
    mark: str
    mark_label: str
    title: str


@dataclass(frozen=True)
class Row:
    code: str
    name: str
    n: str
    benchmark: bool
    suppressed: bool
    hidden: str = ""
    cells: list[Cell | None] = field(default_factory=list)


def score_rows(scores: GroupScores, labels: Labels) -> list[Row]:
    """The benchmark row, then each group, with one cell per construct (None: no value)."""
    t = labels.t
    bench = scores.overall
    rows = []
    for i, g in enumerate((bench, *scores.groups)):
        name = t("benchmark") if i == 0 else labels.group(scores.by, g.group)
        if g.suppressed:
            hidden = t("hidden", k=scores.min_group_size)
            rows.append(Row(g.group, name, t.count(g.n), i == 0, True, hidden))
            continue
        cells: list[Cell | None] = []
        for c in scores.constructs:
            cs = g.constructs.get(c)
            if cs is None:
                cells.append(None)
                continue
            diff = None if i == 0 else bench_diff(cs, bench, c)
            sig = i > 0 and significant(cs)
            kind = diff_bin(diff, sig)
            mark = significance_mark(cs.p_table, cs.diff) if i > 0 else ""
            ci = t("ci_range", lo=t.num(cs.ci[0]), hi=t.num(cs.ci[1])) if cs.ci else ""
            title = t(
                "cell_title",
                construct=labels.construct(c),
                index=t.num(cs.index),
                lo=t.num(cs.ci[0]) if cs.ci else "–",
                hi=t.num(cs.ci[1]) if cs.ci else "–",
            )
            if diff is not None:
                title += " · " + t("cell_diff", diff=t.num(diff, sign=True))
            cells.append(
                Cell(
                    construct=c,
                    index=t.num(cs.index),
                    ci=ci,
                    bin=kind,
                    colour=BIN_COLOURS[kind],
                    mark=mark,
                    mark_label=t("mark_up") if mark == "▲" else t("mark_down") if mark else "",
                    title=title,
                )
            )
        rows.append(Row(g.group, name, t.count(g.n), i == 0, False, "", cells))
    return rows


def legend(labels: Labels) -> list[tuple[str, str, str]]:
    """(bin, colour, words) of every colour, from far below to far above the benchmark."""
    return [(b, BIN_COLOURS[b], labels.t(f"bin_{b}")) for b in BINS]


def scores_csv(scores: GroupScores, labels: Labels) -> str:
    """The dashboard's download: one row per group x construct, headers and names in the
    reader's language beside the codes, the 95% CI, the difference from the benchmark and
    whether it is significant (Holm across the table, as the colours); suppressed groups get one
    row with their count only."""
    t = labels.t
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    keys = [
        "group_code",
        "group",
        "n",
        "suppressed",
        "construct_code",
        "construct",
        "construct_n",
        "index",
        "ci_lower",
        "ci_upper",
        "diff_benchmark",
        "significant",
        "p_table",
        "diff_rest",
        "p_holm",
        "reason",
    ]
    w.writerow([t(f"csv_{k}") for k in keys])
    bench = scores.overall
    yes, no = t("word_yes"), t("word_no")
    for i, g in enumerate((bench, *scores.groups)):
        name = t("benchmark") if i == 0 else labels.group(scores.by, g.group)
        if g.suppressed:
            reason = t("hidden", k=scores.min_group_size)
            w.writerow([g.group, name, g.n, yes, *[""] * 11, reason])
            continue
        for c in scores.constructs:
            cs = g.constructs.get(c)
            if cs is None:
                continue
            ci = cs.ci or (None, None)
            diff = None if i == 0 else bench_diff(cs, bench, c)
            sig = "" if i == 0 else (yes if significant(cs) else no)
            w.writerow(
                [g.group, name, g.n, no, c, labels.construct(c), cs.n]
                + [_f(cs.index), _f(ci[0]), _f(ci[1]), _f(diff), sig, _f(cs.p_table)]
                + [_f(cs.diff), _f(cs.p), ""]
            )
    return out.getvalue()


def _f(x: float | None) -> str:
    return "" if x is None else repr(float(x))


# ---- the comparability verdict ----------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    state: str
    headline: str
    details: list[str]
    refresh: bool
    previous: str = ""
    fit_id: str = ""


def verdict(status: InvarianceStatus, labels: Labels) -> Verdict:
    """One plain sentence first; the statistics behind it as detail lines."""
    t = labels.t
    headline = {
        "holds": t("verdict_holds"),
        "fails": t("verdict_fails"),
        "running": t("verdict_running", pct=t.pct(status.progress)),
        "unknown": t("verdict_unknown"),
    }.get(status.state, t("verdict_failed" if status.fit_id else "verdict_unavailable"))
    details: list[str] = []
    if status.state in ("holds", "fails", "unknown"):
        details.append(t("verdict_method", groups=status.groups, n=t.count(status.nobs or 0)))
        if status.delta_cfi is not None:
            limit = t.num(status.limit, 2)
            details.append(t("verdict_stats", dcfi=t.num(status.delta_cfi, 3), limit=limit))
        if status.delta_p is not None:
            details.append(t("verdict_chisq", p=_p(status.delta_p, t)))
        names = [labels.group("branch", b) for b in status.left_out]
        if status.others:
            names.append(t("verdict_others", n=status.others))
        if names:
            details.append(t("verdict_left_out", list=t.join(names)))
        if status.not_covered:
            constructs = t.join(labels.construct(c) for c in status.not_covered)
            details.append(t("verdict_not_covered", list=constructs))
    if status.error:
        details.append(t("verdict_error", error=status.error))
    if status.fit_id:
        details.append(t("verdict_fit", fit=status.fit_id))
    previous = ""
    if status.previous is not None:
        previous = t("verdict_previous", verdict=verdict(status.previous, labels).headline)
    refresh = status.state == "running"
    return Verdict(status.state, headline, details, refresh, previous, status.fit_id or "")


def _p(p: float, t: Any) -> str:
    return "< 0.001" if p < 0.001 else t.num(p, 3)


# ---- drivers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DriverLine:
    construct: str
    name: str
    importance: str
    performance: str
    quadrant: str


def driver_lines(report: Any, labels: Labels) -> list[DriverLine]:
    return ipa_lines(report.ipa, labels)


def ipa_lines(result: IPAResult, labels: Labels) -> list[DriverLine]:
    """One line per driver of an importance-performance result (SEM drivers or PLS IPMA)."""
    t = labels.t
    return [
        DriverLine(
            d.construct,
            labels.construct(d.construct),
            t.num(d.importance, 2),
            t.num(d.performance) if d.performance is not None else t("no_value"),
            labels.quadrant(d.quadrant) if d.quadrant else "",
        )
        for d in result.drivers
    ]


def drivers_method(report: Any, labels: Labels, *, min_group_size: int) -> list[str]:
    """How the importances were made, in plain words (no fit jargon)."""
    t = labels.t
    outcome = labels.construct(report.outcome)
    lines = [t("drivers_method", outcome=outcome)]
    nobs = int(report.fit.get("nobs") or 0)
    if report.fit_sampled:
        lines.append(t("drivers_sampled", n=t.count(nobs), total=t.count(report.fit_n_responses)))
    else:
        lines.append(t("drivers_sample", n=t.count(nobs)))
    if report.fit_n_responses and report.fit_n_responses != report.n_responses:
        lines.append(t("drivers_refit", n=t.count(report.n_responses)))
    if report.group:
        lines.append(t("drivers_branch", n=t.count(report.n)))
        if report.suppressed:
            lines.append(t("drivers_branch_hidden", k=min_group_size))
    return lines


def drivers_chart(report: Any, labels: Labels) -> str:
    return ipa_svg(report.ipa, labels)


# ---- trends ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trends:
    panels: list[tuple[str, str, str]]  # (construct code, name, svg)
    left_out: str  # the sentence naming the months left out, or ""
    clipped: bool


def trends(trend: GroupScores, labels: Labels) -> Trends:
    """One small panel per construct on one shared scale; months below the minimum left out
    and named."""
    t = labels.t
    cols = list(trend.constructs)
    y_range = trend_range(trend, cols)
    _, left = trend_periods(trend)
    note = ""
    if left:
        months = t.join(t.month(g.group) for g in left)
        note = t("trend_left_out", k=trend.min_group_size, list=months)
    if y_range is None:
        return Trends([], note, False)
    panels = []
    clipped = False
    for c in cols:
        if not _has_values(trend.groups, c):
            continue
        svg = trend_panel_svg(trend, c, labels, y_range)
        clipped = clipped or "data-clipped" in svg
        panels.append((c, labels.construct(c), svg))
    return Trends(panels, note, clipped)


def _has_values(groups: tuple[GroupScore, ...], construct: str) -> bool:
    return any(not g.suppressed and construct in g.constructs for g in groups)
