"""Server-side SVG charts for scores and drivers: pure string building, no network, no JS.

Each function returns a complete standalone ``<svg>`` document (usable inline in HTML or as a
download). Suppressed groups are drawn as count-only rows / gaps, never with a metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from app.stats.drivers import IPAResult
from app.stats.scores import GroupScore, GroupScores

FONT = "font-family='system-ui,-apple-system,Segoe UI,Roboto,sans-serif'"
# Ten distinguishable colours (Tableau 10), one per construct in trend lines.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
QUADRANT_LABELS = {
    "concentrate": "Concentrate here",
    "keep_up": "Keep up the good work",
    "low_priority": "Low priority",
    "possible_overkill": "Possible overkill",
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


def index_colour(index: float, lo: float, hi: float) -> str:
    """Red (low) through light yellow to green (high) on [lo, hi]; a valid hex colour."""
    t = 0.5 if hi <= lo else min(1.0, max(0.0, (index - lo) / (hi - lo)))
    stops = ((215, 48, 39), (254, 224, 139), (26, 152, 80))
    a, b, u = (stops[0], stops[1], t * 2) if t < 0.5 else (stops[1], stops[2], t * 2 - 1)
    r, g, bl = (round(a[i] + (b[i] - a[i]) * u) for i in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def index_range(scores: GroupScores) -> tuple[float, float]:
    """Colour range: min and max index over the shown cells and the benchmark."""
    vals = [
        c.index
        for g in (*scores.groups, scores.overall)
        if not g.suppressed
        for c in g.constructs.values()
    ]
    return (min(vals), max(vals)) if vals else (0.0, 100.0)


def significance_mark(p: float | None, diff: float | None, alpha: float = 0.05) -> str:
    """'▲' / '▼' when the Holm-adjusted p is below ``alpha``, else ''."""
    if p is None or diff is None or p >= alpha:
        return ""
    return "▲" if diff > 0 else "▼"


def _hidden_note(g: GroupScore, min_group_size: int) -> str:
    if g.n >= min_group_size:  # enough respondents, too few in cells that may be published
        return f"n = {g.n}: fewer than {min_group_size} in publishable cells"
    return f"n = {g.n}: below the minimum group size {min_group_size}"


def heat_table_svg(scores: GroupScores, *, title: str = "Index by group and construct") -> str:
    """Group x construct table coloured by index; ▲/▼ marks Holm-significant differences."""
    cols = list(scores.constructs)
    rows: list[GroupScore] = [scores.overall, *scores.groups]
    names = ["All (benchmark)", *(g.group for g in scores.groups)]
    # ~7.5 px a character of 12 px bold sans: the longest row label must not run into the cells
    label_w = max(110.0, 16.0 + 7.5 * max(len(n) for n in names))
    cell_w, cell_h, top = 58.0, 26.0, 48.0
    width = label_w + cell_w * len(cols) + 10
    height = top + cell_h * len(rows) + 34
    lo, hi = index_range(scores)
    body = [_text(6, 18, title, size=14, font_weight="600")]
    for j, c in enumerate(cols):
        body.append(_text(label_w + cell_w * (j + 0.5), top - 8, c, anchor="middle"))
    for i, g in enumerate(rows):
        y = top + cell_h * i
        name = names[i]
        body.append(_text(6, y + 17, name, font_weight="600" if g is scores.overall else "400"))
        if g.suppressed:
            body.append(
                f"<rect x='{label_w}' y='{y:.1f}' width='{cell_w * len(cols):.1f}' "
                f"height='{cell_h - 2}' fill='#eeeeee'/>"
            )
            body.append(
                _text(
                    label_w + 6,
                    y + 17,
                    _hidden_note(g, scores.min_group_size),
                    fill="#555555",
                )
            )
            continue
        for j, c in enumerate(cols):
            x = label_w + cell_w * j
            cs = g.constructs.get(c)
            if cs is None:
                continue
            mark = significance_mark(cs.p, cs.diff)
            body.append(
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{cell_w - 2}' height='{cell_h - 2}' "
                f"fill='{index_colour(cs.index, lo, hi)}' data-group='{escape(g.group, True)}' "
                f"data-construct='{escape(c, True)}'/>"
            )
            body.append(_text(x + cell_w / 2 - 1, y + 17, f"{cs.index:.1f}{mark}", anchor="middle"))
    foot = top + cell_h * len(rows) + 20
    body.append(
        _text(
            6,
            foot,
            "0-100 index; ▲/▼ differs from the rest (Welch, Holm p < 0.05); "
            f"colour {lo:.0f}-{hi:.0f}",
            size=11,
            fill="#444444",
        )
    )
    return _svg(width, height, body, title)


def ipa_svg(result: IPAResult, *, title: str | None = None) -> str:
    """Importance (x) against performance (y) with the quadrant cross-hairs at the means."""
    title = title or f"Importance-performance: drivers of {result.outcome}"
    w, h, m = 480.0, 380.0, 50.0
    pts = [d for d in result.drivers if d.performance is not None]
    body = [_text(6, 18, title, size=14, font_weight="600")]
    if not pts or result.importance_split is None or result.performance_split is None:
        body.append(_text(w / 2, h / 2, "Not enough responses to show", anchor="middle"))
        return _svg(w, h, body, title)
    xs = [d.importance for d in pts]
    ys = [float(d.performance) for d in pts if d.performance is not None]
    x0, x1 = _pad(min(xs + [0.0]), max(xs))
    y0, y1 = _pad(min(ys), max(ys))

    def sx(v: float) -> float:
        return m + (v - x0) / (x1 - x0) * (w - 2 * m)

    def sy(v: float) -> float:
        return h - m - (v - y0) / (y1 - y0) * (h - 2 * m)

    cx, cy = sx(result.importance_split), sy(result.performance_split)
    body.append(
        f"<rect x='{m}' y='{m}' width='{w - 2 * m}' height='{h - 2 * m}' fill='#fafafa' "
        "stroke='#999999'/>"
    )
    body.append(
        f"<line x1='{cx:.1f}' y1='{m}' x2='{cx:.1f}' y2='{h - m}' stroke='#888888' "
        "stroke-dasharray='4 3'/>"
    )
    body.append(
        f"<line x1='{m}' y1='{cy:.1f}' x2='{w - m}' y2='{cy:.1f}' stroke='#888888' "
        "stroke-dasharray='4 3'/>"
    )
    corners = {
        "concentrate": (w - m - 4, h - m - 6, "end"),
        "keep_up": (w - m - 4, m + 14, "end"),
        "low_priority": (m + 4, h - m - 6, "start"),
        "possible_overkill": (m + 4, m + 14, "start"),
    }
    for q, (qx, qy, anchor) in corners.items():
        body.append(_text(qx, qy, QUADRANT_LABELS[q], size=11, anchor=anchor, fill="#777777"))
    for d in pts:
        colour = "#d73027" if d.quadrant == "concentrate" else "#4e79a7"
        px, py = sx(d.importance), sy(float(d.performance or 0.0))
        body.append(
            f"<circle cx='{px:.1f}' cy='{py:.1f}' r='6' fill='{colour}' "
            f"data-construct='{escape(d.construct, True)}' data-quadrant='{d.quadrant}'/>"
        )
        body.append(_text(px + 8, py - 6, d.construct, size=12, font_weight="600"))
    body.append(
        _text(
            w / 2,
            h - 12,
            f"Importance (standardized effect on {result.outcome})",
            anchor="middle",
            size=11,
        )
    )
    body.append(
        f"<text x='14' y='{h / 2:.1f}' font-size='11' text-anchor='middle' "
        f"transform='rotate(-90 14 {h / 2:.1f})'>Performance (index 0-100)</text>"
    )
    for v in (x0, x1):
        body.append(_text(sx(v), h - m + 14, f"{v:.2f}", size=10, anchor="middle"))
    digits = 0 if y1 - y0 >= 10 else 1
    for v in (y0, y1):
        body.append(_text(m - 4, sy(v) + 4, f"{v:.{digits}f}", size=10, anchor="end"))
    return _svg(w, h, body, title)


def _pad(lo: float, hi: float) -> tuple[float, float]:
    span = hi - lo
    pad = span * 0.12 if span > 0 else max(abs(lo) * 0.1, 1.0)
    return lo - pad, hi + pad


def trend_svg(
    trend: GroupScores,
    *,
    constructs: Sequence[str] | None = None,
    title: str = "Index by month",
) -> str:
    """One line per construct over periods with 95% CI bars; suppressed periods leave gaps."""
    cols = list(constructs or trend.constructs)
    periods = [g.group for g in trend.groups]
    w, h, m, legend_h = 560.0, 340.0, 46.0, 22.0 * ((len(cols) + 4) // 5)
    body = [_text(6, 18, title, size=14, font_weight="600")]
    vals = [
        v
        for g in trend.groups
        if not g.suppressed
        for c in cols
        if (cs := g.constructs.get(c)) is not None
        for v in ((cs.ci or (cs.index, cs.index))[0], (cs.ci or (cs.index, cs.index))[1])
    ]
    if not vals:
        body.append(_text(w / 2, h / 2, "Not enough responses to show", anchor="middle"))
        return _svg(w, h + legend_h, body, title)
    y0, y1 = _pad(min(vals), max(vals))
    step = (w - 2 * m) / max(len(periods) - 1, 1)

    def sx(i: int) -> float:
        return m + (i * step if len(periods) > 1 else (w - 2 * m) / 2)

    def sy(v: float) -> float:
        return h - m - (v - y0) / (y1 - y0) * (h - 2 * m)

    body.append(f"<rect x='{m}' y='{m}' width='{w - 2 * m}' height='{h - 2 * m}' fill='#fafafa'/>")
    for k in range(5):
        v = y0 + (y1 - y0) * k / 4
        body.append(
            f"<line x1='{m}' x2='{w - m}' y1='{sy(v):.1f}' y2='{sy(v):.1f}' stroke='#e0e0e0'/>"
        )
        body.append(_text(m - 4, sy(v) + 4, f"{v:.0f}", size=10, anchor="end"))
    for i, p in enumerate(periods):
        body.append(_text(sx(i), h - m + 16, p, size=10, anchor="middle"))
        if trend.groups[i].suppressed:
            body.append(
                _text(
                    sx(i),
                    m + 12,
                    f"n={trend.groups[i].n}",
                    size=10,
                    anchor="middle",
                    fill="#999999",
                )
            )
    for j, c in enumerate(cols):
        colour = PALETTE[j % len(PALETTE)]
        segs: list[list[tuple[float, float]]] = [[]]
        for i, g in enumerate(trend.groups):
            cs = None if g.suppressed else g.constructs.get(c)
            if cs is None:
                segs.append([])
                continue
            x, y = sx(i), sy(cs.index)
            segs[-1].append((x, y))
            if cs.ci is not None:
                body.append(
                    f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{sy(cs.ci[0]):.1f}' "
                    f"y2='{sy(cs.ci[1]):.1f}' stroke='{colour}' stroke-opacity='0.5'/>"
                )
            body.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='{colour}'/>")
        for seg in segs:
            if len(seg) > 1:
                d = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
                body.append(
                    f"<polyline points='{d}' fill='none' stroke='{colour}' "
                    f"stroke-width='2' data-construct='{escape(c, True)}'/>"
                )
        lx, ly = m + (j % 5) * 96, h + 4 + (j // 5) * 22
        body.append(f"<rect x='{lx:.1f}' y='{ly:.1f}' width='12' height='12' fill='{colour}'/>")
        body.append(_text(lx + 16, ly + 11, c, size=11))
    return _svg(w, h + legend_h, body, title)
