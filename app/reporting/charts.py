"""Server-side SVG charts of the operators' pages: pure string building, no network, no JS.

Each chart function returns a complete standalone ``<svg>`` document (inline in HTML or a
download), with every word in the reader's language (:class:`app.reporting.i18n.Labels`).
Suppressed groups are drawn as count-only rows or left out, never with a metric.

Colours (:func:`diff_colour`) say one thing on one fixed scale in every view: a cell's
difference from the benchmark, in index points, painted only where that difference is
significant (Holm-corrected across the table, ``ConstructScore.p_table``).

Sizes are chosen for phones: the dashboard shows each SVG at most about its viewBox width and at
least ~340 CSS px, so the 12-unit text stays at 11 CSS px or more at a 390 px wide screen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from app.reporting.i18n import Labels, plain_labels
from app.stats.drivers import DriverPoint, IPAResult
from app.stats.scores import ConstructScore, GroupScore, GroupScores

FONT = "font-family='system-ui,-apple-system,Segoe UI,PingFang SC,Noto Sans,sans-serif'"
INK, MUTED = "#1d2430", "#4a5566"
ALPHA = 0.05
# Difference from the benchmark in index points: |d| < 5, 5-10, >= 10, each side; "none" when
# the difference is not significant. Colours of ColorBrewer's blue/orange ramps (readable by
# the colour-blind), light enough for dark text at contrast >= 4.5 (tests/reporting).
BIN_EDGES = (5.0, 10.0)
BINS = ("low3", "low2", "low1", "none", "high1", "high2", "high3")
BIN_COLOURS = {
    "low3": "#f16913",
    "low2": "#fdae6b",
    "low1": "#fee6ce",
    "none": "#ffffff",
    "high1": "#deebf7",
    "high2": "#9ecae1",
    "high3": "#6baed6",
}


def _svg(width: float, height: float, body: Sequence[str], title: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width:.0f} {height:.0f}' "
        f"width='100%' role='img' aria-label='{escape(title, quote=True)}' {FONT}>"
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, s: str, *, size: int = 12, anchor: str = "start", **kw: str) -> str:
    extra = "".join(f" {k.replace('_', '-')}='{escape(v, quote=True)}'" for k, v in kw.items())
    return (
        f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}'{extra}>"
        f"{escape(s)}</text>"
    )


def text_width(s: str, size: float = 12) -> float:
    """Rough width of ``s`` in a sans font: CJK characters a full em, others ~0.58 em."""
    return sum(size if ord(ch) >= 0x2E80 else 0.58 * size for ch in s)


# ---- colours ---------------------------------------------------------------------------------
def significant(cs: ConstructScore | None, alpha: float = ALPHA) -> bool:
    """Whether a cell differs from the rest of the table's respondents, Holm across the table."""
    return cs is not None and cs.p_table is not None and cs.p_table < alpha


def diff_bin(diff: float | None, is_significant: bool) -> str:
    """The colour class of a difference from the benchmark (one of :data:`BINS`)."""
    if diff is None or not is_significant or not math.isfinite(diff):
        return "none"
    size = abs(diff)
    level = 1 if size < BIN_EDGES[0] else 2 if size < BIN_EDGES[1] else 3
    return f"{'high' if diff > 0 else 'low'}{level}"


def diff_colour(diff: float | None, is_significant: bool) -> str:
    return BIN_COLOURS[diff_bin(diff, is_significant)]


def significance_mark(p: float | None, diff: float | None, alpha: float = ALPHA) -> str:
    """'▲' / '▼' when the adjusted p is below ``alpha``, else ''."""
    if p is None or diff is None or p >= alpha:
        return ""
    return "▲" if diff > 0 else "▼"


def bench_diff(cs: ConstructScore | None, bench: GroupScore, construct: str) -> float | None:
    """A cell's index minus the benchmark's (the table's first row), in index points."""
    ref = None if bench.suppressed else bench.constructs.get(construct)
    if cs is None or ref is None:
        return None
    return cs.index - ref.index


# ---- score table -----------------------------------------------------------------------------
def _hidden_note(g: GroupScore, min_group_size: int, labels: Labels) -> str:
    t = labels.t
    if g.n >= min_group_size:  # enough respondents, too few in cells that may be published
        return t("heat_hidden_cells", n=t.count(g.n), k=min_group_size)
    return t("heat_hidden_small", n=t.count(g.n), k=min_group_size)


def heat_table_svg(scores: GroupScores, labels: Labels | None = None) -> str:
    """Group x construct table, cells coloured by their significant difference from the
    benchmark (:func:`diff_colour`); ▲/▼ marks Holm-significant differences from the rest."""
    labels = labels or plain_labels()
    t = labels.t
    title = t("heat_title", rows=labels.rows(scores.by))
    cols = list(scores.constructs)
    heads = [labels.construct(c) for c in cols]
    rows: list[GroupScore] = [scores.overall, *scores.groups]
    names = [t("benchmark"), *(labels.group(scores.by, g.group) for g in scores.groups)]
    label_w = max(130.0, 16.0 + max(text_width(n) for n in names))
    cell_w = max(64.0, 12.0 + max(text_width(h, 11) for h in heads) / 2)
    cell_h, top = 26.0, 64.0
    note = t("heat_note")
    width = max(label_w + cell_w * len(cols) + 10, 16 + text_width(note, 11))
    height = top + cell_h * len(rows) + 34
    body = [_text(6, 18, title, size=14, font_weight="600")]
    for j, h in enumerate(heads):  # long names on two lines
        x = label_w + cell_w * (j + 0.5)
        first, second = _two_lines(h, cell_w - 4, 11)
        body.append(_text(x, top - (22 if second else 8), first, size=11, anchor="middle"))
        if second:
            body.append(_text(x, top - 8, second, size=11, anchor="middle"))
    for i, g in enumerate(rows):
        y = top + cell_h * i
        body.append(_text(6, y + 17, names[i], font_weight="600" if i == 0 else "400"))
        if g.suppressed:
            body.append(
                f"<rect x='{label_w}' y='{y:.1f}' width='{cell_w * len(cols):.1f}' "
                f"height='{cell_h - 2}' fill='#eeeeee'/>"
            )
            note_text = _hidden_note(g, scores.min_group_size, labels)
            body.append(_text(label_w + 6, y + 17, note_text, fill=MUTED))
            continue
        for j, c in enumerate(cols):
            x = label_w + cell_w * j
            cs = g.constructs.get(c)
            if cs is None:
                continue
            sig = i > 0 and significant(cs)
            fill = BIN_COLOURS["none"] if i == 0 else diff_colour(bench_diff(cs, rows[0], c), sig)
            mark = significance_mark(cs.p_table, cs.diff) if i > 0 else ""
            body.append(
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{cell_w - 2}' height='{cell_h - 2}' "
                f"fill='{fill}' stroke='#d0d5dd' data-group='{escape(g.group, True)}' "
                f"data-construct='{escape(c, True)}'/>"
            )
            body.append(
                _text(x + cell_w / 2 - 1, y + 17, f"{t.num(cs.index)}{mark}", anchor="middle")
            )
    foot = top + cell_h * len(rows) + 20
    body.append(_text(6, foot, note, size=11, fill=MUTED))
    return _svg(width, height, body, title)


def _two_lines(s: str, width: float, size: float) -> tuple[str, str]:
    if text_width(s, size) <= width:
        return s, ""
    words = s.split(" ")
    if len(words) > 1:
        for k in range(len(words) - 1, 0, -1):
            head = " ".join(words[:k])
            if text_width(head, size) <= width:
                return head, " ".join(words[k:])
        return words[0], " ".join(words[1:])
    half = max(1, len(s) // 2)
    return s[:half], s[half:]


# ---- importance-performance -------------------------------------------------------------------
@dataclass(frozen=True)
class _PlotArea:
    """The plot rectangle of a scatter chart and its data ranges: maps data to SVG units."""

    left: float
    top: float
    width: float
    height: float
    x0: float
    x1: float
    y0: float
    y1: float

    def sx(self, v: float) -> float:
        """SVG x of data value ``v``."""
        return self.left + (v - self.x0) / (self.x1 - self.x0) * self.width

    def sy(self, v: float) -> float:
        """SVG y of data value ``v`` (larger values higher up)."""
        return self.top + self.height - (v - self.y0) / (self.y1 - self.y0) * self.height


def ipa_svg(
    result: IPAResult,
    labels: Labels | None = None,
    *,
    title_key: str = "ipa_title",
    x_key: str = "ipa_x",
) -> str:
    """Importance (x) against performance (y), quadrants split at the means; points numbered,
    their names in a legend below the plot (long names never overlap)."""
    labels = labels or plain_labels()
    t = labels.t
    outcome = labels.construct(result.outcome)
    title = t(title_key, outcome=outcome)
    w, m_left, m_right, m_top, plot_h = 360.0, 44.0, 12.0, 34.0, 250.0
    pts = [d for d in result.drivers if d.performance is not None]
    if not pts or result.importance_split is None or result.performance_split is None:
        return _ipa_empty_svg(title, labels, w)
    first, second = _two_lines(title, w - 12, 13)
    if second:  # a long title takes two lines
        m_top += 16
        second = _fit(second, w - 12, 13)
    legend_top = m_top + plot_h + 46
    h = legend_top + 20.0 * len(pts) + 6
    body = [_text(6, 18, first, size=13, font_weight="600")]
    if second:
        body.append(_text(6, 34, second, size=13, font_weight="600"))
    area = _ipa_area(pts, m_left, m_top, w - m_left - m_right, plot_h)
    body += _ipa_quadrants(area, result.importance_split, result.performance_split, labels)
    body += _ipa_markers(pts, area, labels, legend_top, w)
    body += _ipa_axes(area, labels, t(x_key, outcome=outcome))
    return _svg(w, h, body, title)


def _ipa_empty_svg(title: str, labels: Labels, w: float) -> str:
    """The IPA chart when there is nothing to plot: its title and a one-line note."""
    h = 120.0
    body = [_text(6, 18, _fit(title, w - 12, 13), size=13, font_weight="600")]
    body.append(_text(w / 2, h / 2 + 10, labels.t("ipa_empty"), anchor="middle"))
    return _svg(w, h, body, title)


def _ipa_area(
    pts: Sequence[DriverPoint], left: float, top: float, width: float, height: float
) -> _PlotArea:
    """The plot area of the drivers: x from 0 (or below) to the largest importance, y at least
    10 index points tall, both padded."""
    xs = [d.importance for d in pts]
    ys = [float(d.performance) for d in pts if d.performance is not None]
    x0, x1 = _pad(min(xs + [0.0]), max(xs))
    # at least 10 index points tall: half a point apart must not look like a wide gap
    low, high = min(ys), max(ys)
    if high - low < 10:
        low, high = (low + high) / 2 - 5, (low + high) / 2 + 5
    y0, y1 = _pad(low, high)
    return _PlotArea(left, top, width, height, x0, x1, y0, y1)


def _ipa_quadrants(
    area: _PlotArea, importance_split: float, performance_split: float, labels: Labels
) -> list[str]:
    """The plot's background, the dashed lines splitting it at the means and the quadrants'
    names in their corners."""
    m_left, m_top, pw, plot_h = area.left, area.top, area.width, area.height
    cx, cy = area.sx(importance_split), area.sy(performance_split)
    body = [
        f"<rect x='{m_left}' y='{m_top}' width='{pw}' height='{plot_h}' fill='#fafafa' "
        "stroke='#999999'/>"
    ]
    for line in (
        f"x1='{cx:.1f}' y1='{m_top}' x2='{cx:.1f}' y2='{m_top + plot_h}'",
        f"x1='{m_left}' y1='{cy:.1f}' x2='{m_left + pw}' y2='{cy:.1f}'",
    ):
        body.append(f"<line {line} stroke='#888888' stroke-dasharray='4 3'/>")
    corners = {
        "concentrate": (m_left + pw - 4, m_top + plot_h - 6, "end"),
        "keep_up": (m_left + pw - 4, m_top + 14, "end"),
        "low_priority": (m_left + 4, m_top + plot_h - 6, "start"),
        "possible_overkill": (m_left + 4, m_top + 14, "start"),
    }
    for q, (qx, qy, anchor) in corners.items():
        body.append(_text(qx, qy, labels.quadrant(q), size=12, anchor=anchor, fill=MUTED))
    return body


def _ipa_colour(d: DriverPoint) -> str:
    """A driver's marker colour: orange where effort should concentrate, else blue."""
    return "#c2410c" if d.quadrant == "concentrate" else "#2b5f8a"


def _ipa_markers(
    pts: Sequence[DriverPoint], area: _PlotArea, labels: Labels, legend_top: float, w: float
) -> list[str]:
    """The drivers' numbered markers, moved off their neighbours with a leader to where they
    belong, and the legend below the plot naming each number."""
    body: list[str] = []
    placed: list[tuple[float, float]] = []
    for d in pts:  # every marker's spot first, and the leaders under every marker
        tx, ty = area.sx(d.importance), area.sy(float(d.performance or 0.0))
        px, py = _free_spot(tx, ty, placed)
        placed.append((px, py))
        if (px, py) != (tx, ty):  # moved off a neighbour: a leader to where it belongs
            colour = _ipa_colour(d)
            body.append(
                f"<line x1='{tx:.1f}' y1='{ty:.1f}' x2='{px:.1f}' y2='{py:.1f}' "
                f"stroke='{colour}' stroke-width='1.5'/>"
                f"<circle cx='{tx:.1f}' cy='{ty:.1f}' r='2.5' fill='{colour}'/>"
            )
    m_left = area.left
    for k, d in enumerate(pts, start=1):
        colour = _ipa_colour(d)
        px, py = placed[k - 1]
        body.append(
            f"<circle cx='{px:.1f}' cy='{py:.1f}' r='9' fill='{colour}' "
            f"data-construct='{escape(d.construct, True)}' data-quadrant='{d.quadrant}'>"
            f"<title>{escape(labels.construct(d.construct))}</title></circle>"
        )
        body.append(_text(px, py + 4, str(k), size=12, anchor="middle", fill="#ffffff"))
        ly = legend_top + 20.0 * (k - 1)
        body.append(f"<circle cx='{m_left - 30:.1f}' cy='{ly - 4:.1f}' r='8' fill='{colour}'/>")
        body.append(_text(m_left - 30, ly, str(k), size=12, anchor="middle", fill="#ffffff"))
        entry = f"{labels.construct(d.construct)} · {labels.quadrant(d.quadrant)}"
        body.append(_text(m_left - 16, ly, _fit(entry, w - m_left + 10, 12), size=12))
    return body


def _ipa_axes(area: _PlotArea, labels: Labels, x_title: str) -> list[str]:
    """The end ticks of both axes (inside the corners) and the axis titles."""
    t = labels.t
    m_left, pw = area.left, area.width
    x0, x1, y0, y1 = area.x0, area.x1, area.y0, area.y1
    axis_y = area.top + area.height
    body: list[str] = []
    for v, anchor in ((x0, "start"), (x1, "end")):
        body.append(_text(area.sx(v), axis_y + 15, t.num(v, 2), size=12, anchor=anchor))
    digits = 0 if y1 - y0 >= 10 else 1
    for v, dy in ((y0, -2.0), (y1, 10.0)):  # inside the corners, clear of the x ticks
        body.append(_text(m_left - 4, area.sy(v) + dy, t.num(v, digits), size=12, anchor="end"))
    x_label = _fit(x_title, pw, 12)
    body.append(_text(m_left + pw / 2, axis_y + 32, x_label, anchor="middle", size=12))
    mid = area.top + area.height / 2
    body.append(
        f"<text x='14' y='{mid:.1f}' font-size='12' text-anchor='middle' "
        f"transform='rotate(-90 14 {mid:.1f})'>{escape(t('ipa_y'))}</text>"
    )
    return body


# where a marker (r 9) may go when its place is taken: nearest first, never more than 2 rows off
NUDGES = [(0.0, 0.0)] + [
    (dx * step, dy * step)
    for step in (19.0, 38.0)
    for dx, dy in ((0, -1), (0, 1), (1, 0), (-1, 0), (0.7, -0.7), (-0.7, -0.7), (0.7, 0.7),
                   (-0.7, 0.7))
]  # fmt: skip


def _free_spot(x: float, y: float, placed: list[tuple[float, float]]) -> tuple[float, float]:
    """(x, y), or the nearest nudge of it that keeps 18 units from every placed marker."""
    for dx, dy in NUDGES:
        cx, cy = x + dx, y + dy
        if all((cx - a) ** 2 + (cy - b) ** 2 >= 18.0**2 for a, b in placed):
            return cx, cy
    return x, y


def ipma_svg(result: IPAResult, labels: Labels | None = None) -> str:
    """The importance-performance map of the PLS-weighted model: importance is the
    unstandardized total effect on the outcome (index points of the outcome per index point of
    the driver), performance the driver's 0-100 PLS-weighted index; drawn as :func:`ipa_svg`."""
    return ipa_svg(result, labels, title_key="ipma_title", x_key="ipma_x")


def _fit(s: str, width: float, size: float) -> str:
    """``s`` shortened with '…' to fit ``width``."""
    if text_width(s, size) <= width:
        return s
    while s and text_width(s + "…", size) > width:
        s = s[:-1]
    return s + "…"


def _pad(lo: float, hi: float) -> tuple[float, float]:
    span = hi - lo
    pad = span * 0.12 if span > 0 else max(abs(lo) * 0.1, 1.0)
    return lo - pad, hi + pad


# ---- trends ----------------------------------------------------------------------------------
def trend_periods(trend: GroupScores) -> tuple[list[GroupScore], list[GroupScore]]:
    """(periods drawn, periods left out): suppressed periods before the first and after the last
    shown one are dropped; those between stay on the axis as gaps. Both lists keep the order."""
    shown = [i for i, g in enumerate(trend.groups) if not g.suppressed and g.constructs]
    if not shown:
        return [], [g for g in trend.groups if g.suppressed]
    drawn = list(trend.groups[shown[0] : shown[-1] + 1])
    left_out = [g for g in trend.groups if g.suppressed]
    return drawn, left_out


def trend_range(trend: GroupScores, constructs: Sequence[str]) -> tuple[float, float] | None:
    """One vertical scale for every panel: the shown indices (never the CI ends, so a wide
    interval of a small period cannot squash the others), at least 20 points tall."""
    vals = [
        cs.index
        for g in trend.groups
        if not g.suppressed
        for c in constructs
        if (cs := g.constructs.get(c)) is not None
    ]
    if not vals:
        return None
    lo, hi = min(vals), max(vals)
    if hi - lo < 20:
        mid = (hi + lo) / 2
        lo, hi = mid - 10, mid + 10
    pad = (hi - lo) * 0.1
    return max(0.0, lo - pad), min(100.0, hi + pad)


PANEL_W, PANEL_H = 340.0, 200.0


@dataclass(frozen=True)
class _PanelScale:
    """Where a trend panel's periods and index values go: period ``i`` at the middle of its
    slot, values clamped to the vertical scale ``y0..y1``."""

    left: float
    top: float
    width: float
    height: float
    step: float
    y0: float
    y1: float

    def sx(self, i: int) -> float:
        """SVG x of the ``i``-th drawn period."""
        return self.left + self.step * (i + 0.5)

    def sy(self, v: float) -> float:
        """SVG y of index value ``v``, clamped to the scale."""
        return (
            self.top
            + self.height
            - (min(max(v, self.y0), self.y1) - self.y0) / (self.y1 - self.y0) * self.height
        )


def trend_panel(
    trend: GroupScores,
    construct: str,
    labels: Labels,
    y_range: tuple[float, float],
    *,
    x: float = 0.0,
    y: float = 0.0,
) -> list[str]:
    """The elements of one construct's panel at (x, y): line, points, CI bars (clipped with an
    arrow where they run past the scale), and month labels that never overlap."""
    drawn, _ = trend_periods(trend)
    m_left, m_right, m_top, m_bottom = 34.0, 10.0, 26.0, 40.0
    pw, ph = PANEL_W - m_left - m_right, PANEL_H - m_top - m_bottom
    y0, y1 = y_range
    step = pw / max(len(drawn), 1)
    scale = _PanelScale(x + m_left, y + m_top, pw, ph, step, y0, y1)
    name = labels.construct(construct)
    body = [_text(x + 4, y + 16, _fit(name, PANEL_W - 8, 13), size=13, font_weight="600")]
    body.append(
        f"<rect x='{x + m_left}' y='{y + m_top}' width='{pw}' height='{ph}' fill='#fafafa'/>"
    )
    body += _trend_gridlines(scale, labels)
    body += _trend_period_labels(drawn, scale, labels)
    body += _trend_series(drawn, construct, scale, labels)
    return body


def _trend_gridlines(scale: _PanelScale, labels: Labels) -> list[str]:
    """Three horizontal grid lines (bottom, middle, top of the scale) with their values."""
    body: list[str] = []
    y0, y1 = scale.y0, scale.y1
    for k in range(3):
        v = y0 + (y1 - y0) * k / 2
        body.append(
            f"<line x1='{scale.left}' x2='{scale.left + scale.width}' y1='{scale.sy(v):.1f}' "
            f"y2='{scale.sy(v):.1f}' stroke='#e0e0e0'/>"
        )
        body.append(_text(scale.left - 4, scale.sy(v) + 4, labels.t.num(v, 0), size=12,
                          anchor="end"))  # fmt: skip
    return body


def _trend_period_labels(
    drawn: Sequence[GroupScore], scale: _PanelScale, labels: Labels
) -> list[str]:
    """Month labels under the axis, every k-th so that they never touch, and the year under
    the first labelled month of each year where it has room."""
    t = labels.t
    bottom = scale.top + scale.height
    body: list[str] = []
    # month labels: every k-th, k chosen so that labels of ~3 characters never touch
    widest = max((text_width(t.month(g.group, short=True)) for g in drawn), default=0.0)
    every = max(1, math.ceil((widest + 6) / scale.step))
    years: list[tuple[float, str]] = []  # the year under the first labelled month of each year
    for i, g in enumerate(drawn):
        if i % every:
            continue
        body.append(_text(scale.sx(i), bottom + 16, t.month(g.group, short=True), size=12,
                          anchor="middle"))  # fmt: skip
        if not years or years[-1][1] != t.year(g.group):
            years.append((scale.sx(i), t.year(g.group)))
    for k, (yx, text) in enumerate(years):
        following = years[k + 1][0] if k + 1 < len(years) else math.inf
        if following - yx < text_width(text) + 6:
            continue  # too close to the next year's label, which marks the change
        body.append(_text(yx, bottom + 32, text, size=12, anchor="middle", fill=MUTED))
    return body


def _trend_series(
    drawn: Sequence[GroupScore], construct: str, scale: _PanelScale, labels: Labels
) -> list[str]:
    """The construct's points with their CI bars (an arrow where a bar is clipped), and the
    line through them, broken at suppressed or missing periods."""
    t = labels.t
    sy, y0, y1 = scale.sy, scale.y0, scale.y1
    body: list[str] = []
    points: list[list[tuple[float, float]]] = [[]]
    for i, g in enumerate(drawn):
        cs = None if g.suppressed else g.constructs.get(construct)
        if cs is None:
            points.append([])
            continue
        px, py = scale.sx(i), sy(cs.index)
        points[-1].append((px, py))
        if cs.ci is not None:
            lo, hi = cs.ci
            body.append(
                f"<line x1='{px:.1f}' x2='{px:.1f}' y1='{sy(lo):.1f}' y2='{sy(hi):.1f}' "
                "stroke='#2b5f8a' stroke-opacity='0.55' stroke-width='2'/>"
            )
            for end, beyond, sign in ((hi, hi > y1, -1), (lo, lo < y0, 1)):
                if beyond:
                    ey = sy(end)
                    body.append(
                        f"<path d='M{px - 4:.1f},{ey - sign * 5:.1f} L{px:.1f},{ey:.1f} "
                        f"L{px + 4:.1f},{ey - sign * 5:.1f}' fill='none' stroke='#2b5f8a' "
                        "data-clipped='1'/>"
                    )
        body.append(
            f"<circle cx='{px:.1f}' cy='{py:.1f}' r='3.5' fill='#2b5f8a' "
            f"data-period='{escape(g.group, True)}'><title>"
            f"{escape(t.month(g.group))}: {escape(t.num(cs.index))}</title></circle>"
        )
    for seg in points:
        if len(seg) > 1:
            d = " ".join(f"{px:.1f},{py:.1f}" for px, py in seg)
            body.append(
                f"<polyline points='{d}' fill='none' stroke='#2b5f8a' stroke-width='2' "
                f"data-construct='{escape(construct, True)}'/>"
            )
    return body


def trend_panel_svg(
    trend: GroupScores, construct: str, labels: Labels, y_range: tuple[float, float]
) -> str:
    """One construct's panel as its own SVG (the dashboard's small multiples)."""
    title = labels.t("trend_title", construct=labels.construct(construct))
    return _svg(PANEL_W, PANEL_H, trend_panel(trend, construct, labels, y_range), title)


def trend_svg(
    trend: GroupScores,
    labels: Labels | None = None,
    *,
    constructs: Sequence[str] | None = None,
    columns: int = 3,
) -> str:
    """Every construct's panel in one SVG (the download), ``columns`` panels a row, one scale."""
    labels = labels or plain_labels()
    t = labels.t
    cols = list(constructs or trend.constructs)
    title = t("trends_title")
    y_range = trend_range(trend, cols)
    if y_range is None:
        w, h = PANEL_W, 120.0
        body = [_text(6, 18, title, size=14, font_weight="600")]
        body.append(_text(w / 2, h / 2 + 10, t("trend_empty"), anchor="middle"))
        return _svg(w, h, body, title)
    per_row = max(1, min(columns, len(cols)))
    rows = math.ceil(len(cols) / per_row)
    top = 28.0
    body = [_text(6, 18, title, size=14, font_weight="600")]
    for k, c in enumerate(cols):
        px, py = PANEL_W * (k % per_row), top + PANEL_H * (k // per_row)
        body += trend_panel(trend, c, labels, y_range, x=px, y=py)
    _, left_out = trend_periods(trend)
    height = top + PANEL_H * rows
    if left_out:
        note = t(
            "trend_left_out",
            k=trend.min_group_size,
            list=t.join(t.month(g.group) for g in left_out),
        )
        body.append(_text(6, height + 16, note, size=12, fill=MUTED))
        height += 26
    return _svg(PANEL_W * per_row, height, body, title)
