"""Path diagram of a fitted model as standalone SVG, drawn from the API ``result`` object.

Layered left to right by the structural regressions (exogenous factors on the left, outcomes on
the right): for the default telecom model that is drivers -> PV -> SAT/CCI -> LOY. Indicators sit
beside their factor: to the left of the first column, to the right of the last one, in a row under
the factor in between. Every label is std.all; R² is printed inside endogenous factors. All text
is XML-escaped, so names and titles from users cannot inject markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

RX, RY = 40.0, 23.0  # latent oval radii
BW, BH = 54.0, 22.0  # indicator box
V_PITCH, H_PITCH = 28.0, 62.0  # indicator spacing in a column / in a row
SIDE_GAP = 150.0  # oval centre to indicator column centre
COL_GAP = 170.0  # free space between neighbouring columns (room for path labels)
BLOCK_GAP = 26.0
ROW_GAP = 48.0  # oval edge to a row of indicators above or below it
MARGIN = 30.0
MAX_COV_ARCS = 6  # more factor covariances than this go into a table
_MARKERS = {"#666": "head", "#1a4f8b": "blue", "#888": "grey"}


@dataclass
class _Node:
    name: str
    latent: bool
    indicators: list[str] = field(default_factory=list)
    layer: int = 0
    side: str = "left"  # where the indicators go: left | right | above | below
    x: float = 0.0
    y: float = 0.0

    def extents(self) -> tuple[float, float, float, float]:
        """(left, right, up, down) distances of the whole block from the node centre."""
        n = len(self.indicators)
        rx, ry = (RX, RY) if self.latent else (BW / 2, BH / 2)
        if n == 0:
            return rx, rx, ry, ry
        if self.side in ("above", "below"):
            half = max(rx, (n - 1) * H_PITCH / 2 + BW / 2)
            far = ry + ROW_GAP + BH
            return (half, half, far, ry) if self.side == "above" else (half, half, ry, far)
        half_h = max(ry, (n * V_PITCH) / 2)
        if self.side == "left":
            return SIDE_GAP + BW / 2, rx, half_h, half_h
        return rx, SIDE_GAP + BW / 2, half_h, half_h


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "NA"
    return f"{float(value):.2f}"


def _stars(p: Any) -> str:
    if p is None or not isinstance(p, int | float) or not math.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def _pick_group(estimates: list[dict[str, Any]], group: str | None) -> str | None:
    groups = [e.get("group") for e in estimates if e.get("group") not in (None, "")]
    if not groups:
        return None
    return group if group in groups else str(groups[0])


def _layers(nodes: dict[str, _Node], preds: dict[str, list[str]]) -> None:
    """Longest path from an exogenous node; cycles (non-recursive models) are cut."""
    done: dict[str, int] = {}

    def depth(name: str, stack: frozenset[str]) -> int:
        if name in done:
            return done[name]
        parents = [p for p in preds.get(name, []) if p not in stack]
        d = 1 + max((depth(p, stack | {name}) for p in parents), default=-1)
        done[name] = d
        return d

    for name, node in nodes.items():
        node.layer = depth(name, frozenset())


def _place(nodes: dict[str, _Node], preds: dict[str, list[str]]) -> None:
    last = max(n.layer for n in nodes.values())
    columns: list[list[_Node]] = [[] for _ in range(last + 1)]
    for node in nodes.values():
        node.side = "left" if node.layer == 0 else "right" if node.layer == last else "below"
        columns[node.layer].append(node)
    x = MARGIN
    for col in columns:
        left = max(n.extents()[0] for n in col)
        right = max(n.extents()[1] for n in col)
        x += left
        for n in col:
            n.x = x
        x += right + COL_GAP
        targets = []
        for n in col:
            ps = [nodes[p].y for p in preds.get(n.name, []) if nodes[p].layer < n.layer]
            targets.append(sum(ps) / len(ps) if ps else None)
        known = [t for t in targets if t is not None]
        if not known:  # first column: syntax order, top to bottom
            _stack(col, [0.0] * len(col), list(range(len(col))))
            continue
        want = [t if t is not None else known[-1] for t in targets]
        order = sorted(range(len(col)), key=lambda i: want[i])
        if 0 < col[0].layer < last:
            # Upper half of a middle column puts its indicators above, lower half below, which
            # leaves the middle free for paths that skip this column (PV -> LOY).
            for rank, i in enumerate(order):
                col[i].side = "above" if rank < len(order) // 2 else "below"
        _stack(col, want, order)
        # Keep the column centred on the factors it hangs from.
        shift = sum(want[i] - col[i].y for i in range(len(col))) / len(col)
        for n in col:
            n.y += shift


def _stack(col: list[_Node], want: list[float], order: list[int]) -> None:
    """Put each block as near its wanted height as the blocks above it allow."""
    floor = -math.inf
    for i in order:
        _, _, up, down = col[i].extents()
        col[i].y = max(want[i], floor + up)
        floor = col[i].y + down + BLOCK_GAP


def _boundary(cx: float, cy: float, dx: float, dy: float, latent: bool) -> tuple[float, float]:
    """Point where a ray from the centre in direction (dx, dy) leaves the shape."""
    if dx == 0 and dy == 0:
        return cx, cy
    if latent:
        t = 1.0 / math.sqrt((dx / RX) ** 2 + (dy / RY) ** 2)
    else:
        t = min((BW / 2) / abs(dx) if dx else math.inf, (BH / 2) / abs(dy) if dy else math.inf)
    return cx + dx * t, cy + dy * t


def _bezier(
    a: tuple[float, float], c: tuple[float, float], b: tuple[float, float], t: float
) -> tuple[float, float]:
    u = 1 - t
    return (
        u * u * a[0] + 2 * u * t * c[0] + t * t * b[0],
        u * u * a[1] + 2 * u * t * c[1] + t * t * b[1],
    )


def _clear_control(
    a: tuple[float, float], b: tuple[float, float], obstacles: list[tuple[float, float, bool]]
) -> tuple[float, float]:
    """Control point of the least bent curve from a to b that misses every other shape."""
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    length = math.hypot(b[0] - a[0], b[1] - a[1]) or 1.0
    nx, ny = -(b[1] - a[1]) / length, (b[0] - a[0]) / length  # unit normal
    for k in (0, -1, 1, -2, 2, -3, 3, -4, 4, -6, 6):
        c = (mid[0] + nx * 70 * k, mid[1] + ny * 70 * k)
        hit = False
        for i in range(1, 40):
            px, py = _bezier(a, c, b, i / 40)
            for ox, oy, lat in obstacles:
                hw, hh = (RX + 8, RY + 8) if lat else (BW / 2 + 6, BH / 2 + 6)
                if abs(px - ox) < hw and abs(py - oy) < hh:
                    hit = True
                    break
            if hit:
                break
        if not hit:
            return c
    return mid


class _Canvas:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.labels: list[str] = []  # drawn last, above every line

    def text(
        self,
        x: float,
        y: float,
        s: str,
        *,
        size: int = 11,
        weight: str = "normal",
        anchor: str = "middle",
        fill: str = "#222",
    ) -> None:
        self.labels.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
            f'text-anchor="{anchor}" fill="{fill}">{escape(s)}</text>'
        )

    def label(self, x: float, y: float, s: str, *, fill: str = "#1a4f8b") -> None:
        w = 6.2 * len(s) + 6
        self.labels.append(
            f'<rect x="{x - w / 2:.1f}" y="{y - 7:.1f}" width="{w:.1f}" height="13" rx="3" '
            'fill="white" fill-opacity="0.9"/>'
        )
        self.text(x, y + 3.5, s, size=10, fill=fill)

    def arrow(
        self,
        a: tuple[float, float],
        b: tuple[float, float],
        *,
        width: float = 1.0,
        color: str = "#444",
    ) -> None:
        self.parts.append(
            f'<line x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" y2="{b[1]:.1f}" '
            f'stroke="{color}" stroke-width="{width:.2f}" marker-end="url(#{_MARKERS[color]})"/>'
        )

    def curve(
        self,
        a: tuple[float, float],
        c: tuple[float, float],
        b: tuple[float, float],
        *,
        width: float,
        color: str,
    ) -> None:
        self.parts.append(
            f'<path d="M{a[0]:.1f},{a[1]:.1f} Q{c[0]:.1f},{c[1]:.1f} {b[0]:.1f},{b[1]:.1f}" '
            f'fill="none" stroke="{color}" stroke-width="{width:.2f}" '
            f'marker-end="url(#{_MARKERS[color]})"/>'
        )

    def arc(self, a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> None:
        self.parts.append(
            f'<path d="M{a[0]:.1f},{a[1]:.1f} Q{c[0]:.1f},{c[1]:.1f} {b[0]:.1f},{b[1]:.1f}" '
            'fill="none" stroke="#888" stroke-dasharray="4 3" marker-start="url(#grey)" '
            'marker-end="url(#grey)"/>'
        )


PLS_NOTE = (
    "PLS: loadings (mode A) and weights (mode B, arrows into the construct), path "
    "coefficients; * 95% bootstrap interval excludes 0"
)


def render_pls_svg(result: dict[str, Any], *, title: str = "") -> str:
    """A PLS ``result`` (method pls) drawn like a CB-SEM one: mode-A constructs with their
    loadings, mode-B constructs with their weights on arrows from the items, the path
    coefficients (starred when the bootstrap interval excludes 0), R² and SRMR."""
    modes = {c["name"]: c["mode"] for c in result.get("constructs") or []}
    rows = []
    for e in result.get("estimates") or []:
        op, lhs = e["op"], e["lhs"]
        mode_b = modes.get(lhs) == "B"
        if (op == "=~" and mode_b) or (op == "<=" and not mode_b):
            continue
        lo, hi = e.get("ci.lower"), e.get("ci.upper")
        significant = lo is not None and hi is not None and (lo > 0 or hi < 0)
        row = {"lhs": lhs, "op": op, "rhs": e["rhs"], "std.all": e.get("est")}
        row["pvalue"] = 0.01 if op == "~" and significant else None
        rows.append(row)
    pseudo = {
        "estimates": rows,
        "r2": result.get("r2") or {},
        "fit": {"srmr": result.get("srmr")},
        "nobs": result.get("nobs"),
    }
    return render_svg(pseudo, title=title, note=PLS_NOTE)


def render_svg(
    result: dict[str, Any], *, title: str = "", group: str | None = None, note: str | None = None
) -> str:
    """Render the API ``result`` object (estimates, r2, fit) as an SVG document string.

    Rows with op ``<=`` (PLS mode-B weights, lhs construct, rhs item) are drawn as arrows
    from the item into the construct."""
    all_est = list(result.get("estimates") or [])
    grp = _pick_group(all_est, group)
    est = [e for e in all_est if grp is None or e.get("group") == grp]
    r2_all = result.get("r2") or {}
    r2 = r2_all.get(grp, {}) if grp is not None and isinstance(r2_all.get(grp), dict) else r2_all

    nodes, preds, loadings, paths = _graph(est)
    if not nodes:
        return _empty(title or "no structural parameters to draw")
    _layers(nodes, preds)
    _place(nodes, preds)
    pos = _positions(nodes)
    indicator_of = {i: n.name for n in nodes.values() for i in n.indicators}
    cv = _Canvas()
    _draw_edges(cv, pos, nodes, loadings, paths)
    table = _draw_covariances(cv, pos, nodes, indicator_of, est)
    _draw_nodes(cv, pos, nodes, preds, r2)
    return _document(cv, pos, result, title, grp, table, note)


_Pos = dict[str, tuple[float, float, bool]]


def _graph(
    est: list[dict[str, Any]],
) -> tuple[dict[str, _Node], dict[str, list[str]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The nodes (constructs, and observed variables in paths), each node's predecessors, the
    loading rows (item under its construct) and the path rows (with ``src``/``dst``)."""
    latents = list(dict.fromkeys(e["lhs"] for e in est if e["op"] in ("=~", "<=")))
    nodes: dict[str, _Node] = {name: _Node(name, True) for name in latents}
    preds: dict[str, list[str]] = {}
    loadings: list[dict[str, Any]] = []
    paths: list[dict[str, Any]] = []
    for e in est:
        if e["op"] in ("=~", "<=") and e["rhs"] not in nodes:
            nodes[e["lhs"]].indicators.append(e["rhs"])
            loadings.append(e)
    indicator_of = {i: n.name for n in nodes.values() for i in n.indicators}
    for e in est:
        is_path = e["op"] == "~" or (e["op"] == "=~" and e["rhs"] in nodes)
        if not is_path:
            continue
        src, dst = (e["rhs"], e["lhs"]) if e["op"] == "~" else (e["lhs"], e["rhs"])
        for v in (src, dst):
            if v not in nodes and v not in indicator_of:
                nodes[v] = _Node(v, False)
        preds.setdefault(dst, []).append(src)
        paths.append({**e, "src": src, "dst": dst})
    return nodes, preds, loadings, paths


def _positions(nodes: dict[str, _Node]) -> _Pos:
    """Centre and shape of every node and indicator box; indicators in a row above or below
    their construct, or a column beside it (``_Node.side``)."""
    pos: _Pos = {n.name: (n.x, n.y, n.latent) for n in nodes.values()}
    for n in nodes.values():
        k = len(n.indicators)
        for i, ind in enumerate(n.indicators):
            if n.side in ("above", "below"):
                dy = RY + ROW_GAP + BH / 2
                pos[ind] = (
                    n.x + (i - (k - 1) / 2) * H_PITCH,
                    n.y + (dy if n.side == "below" else -dy),
                    False,
                )
            else:
                dx = -SIDE_GAP if n.side == "left" else SIDE_GAP
                pos[ind] = (n.x + dx, n.y + (i - (k - 1) / 2) * V_PITCH, False)
    return pos


def _draw_edges(
    cv: _Canvas,
    pos: _Pos,
    nodes: dict[str, _Node],
    loadings: list[dict[str, Any]],
    paths: list[dict[str, Any]],
) -> None:
    """Loadings (grey, standardized value) and paths (blue, width by |std.all|, stars by p);
    arrows between constructs curve around the other nodes."""
    obstacles = list(pos.values())

    def edge(src: str, dst: str, *, t: float, text: str, width: float, color: str) -> None:
        (x1, y1, l1), (x2, y2, l2) = pos[src], pos[dst]
        a = _boundary(x1, y1, x2 - x1, y2 - y1, l1)
        b = _boundary(x2, y2, x1 - x2, y1 - y2, l2)
        if nodes.get(src) is None or nodes.get(dst) is None:
            cv.arrow(a, b, width=width, color=color)
            cv.label(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, text)
            return
        c = _clear_control(
            a, b, [o for o in obstacles if o[:2] not in (pos[src][:2], pos[dst][:2])]
        )
        cv.curve(a, c, b, width=width, color=color)
        cv.label(*_bezier(a, c, b, t), text)

    for e in loadings:
        src, dst = (e["rhs"], e["lhs"]) if e["op"] == "<=" else (e["lhs"], e["rhs"])
        t_label = 0.32 if e["op"] == "<=" else 0.68
        edge(src, dst, t=t_label, text=_fmt(e.get("std.all")), width=1.0, color="#666")
    for e in paths:
        std = e.get("std.all")
        width = 1.0 + 2.5 * min(abs(float(std)), 1.0) if isinstance(std, int | float) else 1.0
        text = _fmt(std) + _stars(e.get("pvalue"))
        edge(e["src"], e["dst"], t=0.42, text=text, width=width, color="#1a4f8b")


def _draw_covariances(
    cv: _Canvas,
    pos: _Pos,
    nodes: dict[str, _Node],
    indicator_of: dict[str, str],
    est: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Covariance arcs where they can be drawn clearly (constructs in one layer, at most
    ``MAX_COV_ARCS`` of them; residual covariances within one construct's indicators); the
    rest are returned for the table under the diagram."""
    covs = [e for e in est if e["op"] == "~~" and e["lhs"] != e["rhs"]]
    covs = [e for e in covs if e["lhs"] in pos and e["rhs"] in pos]
    n_factor_covs = sum(1 for e in covs if e["lhs"] in nodes and e["rhs"] in nodes)
    table = []
    for e in covs:
        lhs, rhs = e["lhs"], e["rhs"]
        if lhs in nodes and rhs in nodes:
            drawable = nodes[lhs].layer == nodes[rhs].layer and n_factor_covs <= MAX_COV_ARCS
        else:  # residual covariance: an arc only within one factor's indicators
            owner = indicator_of.get(lhs)
            drawable = owner is not None and owner == indicator_of.get(rhs)
        if drawable:
            _cov_arc(cv, pos, e, nodes, indicator_of)
        else:
            table.append(e)
    return table


def _draw_nodes(
    cv: _Canvas,
    pos: _Pos,
    nodes: dict[str, _Node],
    preds: dict[str, list[str]],
    r2: dict[str, Any],
) -> None:
    """Indicator boxes, construct ellipses (observed variables as boxes), names and R²."""
    for n in nodes.values():
        for ind in n.indicators:
            x, y, _ = pos[ind]
            cv.parts.append(_box(x, y))
            cv.text(x, y + 4, ind, size=11)
        if n.latent:
            cv.parts.append(
                f'<ellipse cx="{n.x:.1f}" cy="{n.y:.1f}" rx="{RX}" ry="{RY}" '
                'fill="#eef4fb" stroke="#1a4f8b" stroke-width="1.5"/>'
            )
        else:
            cv.parts.append(_box(n.x, n.y))
        r2v = r2.get(n.name) if n.name in preds else None
        dy = -2 if r2v is not None else 4
        cv.text(n.x, n.y + dy, n.name, size=13 if n.latent else 11, weight="bold")
        if r2v is not None:
            cv.text(n.x, n.y + 12, f"R² = {_fmt(r2v)}", size=10, fill="#333")


def _box(x: float, y: float) -> str:
    return (
        f'<rect x="{x - BW / 2:.1f}" y="{y - BH / 2:.1f}" width="{BW}" height="{BH}" '
        'fill="white" stroke="#555"/>'
    )


def _cov_arc(
    cv: _Canvas,
    pos: dict[str, tuple[float, float, bool]],
    e: dict[str, Any],
    nodes: dict[str, _Node],
    indicator_of: dict[str, str],
) -> None:
    """A double-headed curved arrow bulging away from the rest of the drawing."""
    (x1, y1, l1), (x2, y2, l2) = pos[e["lhs"]], pos[e["rhs"]]
    owner = nodes.get(indicator_of.get(e["lhs"], ""))
    side = owner.side if owner is not None else "right"
    span = math.hypot(x2 - x1, y2 - y1)
    bulge = 25 + 0.35 * span
    ux, uy = {"left": (-1, 0), "right": (1, 0), "above": (0, -1), "below": (0, 1)}[side]
    if owner is None and nodes[e["lhs"]].side == "left":
        ux = 1  # factor covariances of the first column bulge into the free space on the right
    a = _boundary(x1, y1, ux, uy, l1)
    b = _boundary(x2, y2, ux, uy, l2)
    c = ((a[0] + b[0]) / 2 + ux * bulge, (a[1] + b[1]) / 2 + uy * bulge)
    cv.arc(a, b, c)
    mid = (0.25 * a[0] + 0.5 * c[0] + 0.25 * b[0], 0.25 * a[1] + 0.5 * c[1] + 0.25 * b[1])
    cv.label(mid[0], mid[1], _fmt(e.get("std.all")), fill="#555")


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _fit_line(result: dict[str, Any], grp: str | None = None) -> str:
    """Fit measures of the header: under MLR the scaled chi-square and the robust indices
    (with the robust RMSEA interval), as lavaan's summary shows them; ``n`` is the group's
    own when the diagram shows one group of a multi-group fit."""
    fit = result.get("fit") or {}
    robust = result.get("estimator") == "MLR" and _num(fit.get("chisq.scaled")) is not None
    bits = []
    if robust:
        df = _num(fit.get("df.scaled", fit.get("df")))
        df_text = f"{df:g}" if df is not None else ""
        bits.append(f"χ²scaled({df_text}) = {float(fit['chisq.scaled']):.1f}")
    elif fit.get("chisq") is not None:
        bits.append(f"χ²({fit.get('df')}) = {float(fit['chisq']):.1f}")
    for key in ("cfi", "tli", "rmsea", "srmr"):
        name = f"{key}.robust" if robust and key != "srmr" else key
        value = _num(fit.get(name))
        if value is None and name != key:  # robust index not computable: say which is shown
            name, value = key, _num(fit.get(key))
        if value is None:
            continue
        label = key.upper() + (" (robust)" if name.endswith(".robust") else "")
        text = f"{label} = {value:.3f}"
        suffix = ".robust" if name.endswith(".robust") else ""
        lo, hi = _num(fit.get(f"rmsea.ci.lower{suffix}")), _num(fit.get(f"rmsea.ci.upper{suffix}"))
        if key == "rmsea" and lo is not None and hi is not None:
            text += f" [{lo:.3f}, {hi:.3f}]"
        bits.append(text)
    n = result.get("nobs")
    if grp is not None:
        per_group = {str(g.get("group")): g.get("nobs") for g in result.get("groups") or []}
        if per_group.get(grp) is not None:
            n = f"{per_group[grp]} of {result.get('nobs')}"
    if n is not None:
        bits.append(f"n = {n}")
    return ", ".join(bits)


def _document(
    cv: _Canvas,
    pos: dict[str, tuple[float, float, bool]],
    result: dict[str, Any],
    title: str,
    grp: str | None,
    table: list[dict[str, Any]],
    note: str | None = None,
) -> str:
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    pad = RX + 60
    min_x, max_x = min(xs) - pad, max(xs) + pad
    warns = [str(x) for x in result.get("warnings") or []]
    min_y, max_y = min(ys) - pad - 40 - 15 * len(warns), max(ys) + pad
    head = title + (f" (group {grp})" if grp is not None else "")
    cv.text(min_x + 10, min_y + 20, head or "Path diagram", size=15, weight="bold", anchor="start")
    cv.text(min_x + 10, min_y + 38, _fit_line(result, grp), size=11, anchor="start", fill="#444")
    for i, text in enumerate(warns):  # non-convergence first, then lavaan's admissibility
        y = min_y + 54 + 15 * i
        cv.text(min_x + 10, y, f"Warning: {text}", size=11, anchor="start", fill="#b00020")
    if table:
        tx, ty = max_x + 10, min_y + 60
        cv.text(tx, ty, "Covariances (std.all)", size=11, weight="bold", anchor="start")
        for i, e in enumerate(table):
            line = f"{e['lhs']} ~~ {e['rhs']}  {_fmt(e.get('std.all'))}{_stars(e.get('pvalue'))}"
            cv.text(tx, ty + 16 * (i + 1), line, size=10, anchor="start", fill="#333")
        max_x += 200
        max_y = max(max_y, ty + 16 * (len(table) + 1) + 10)
    widest = max([len(head), len(_fit_line(result, grp))] + [len(text) + 9 for text in warns])
    max_x = max(max_x, min_x + 20 + 6.5 * widest)
    note = note or "Standardized estimates (std.all); * p < .05, ** p < .01, *** p < .001"
    cv.text(min_x + 10, max_y - 8, note, size=10, anchor="start", fill="#666")
    w, h = max_x - min_x, max_y - min_y
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
        f'viewBox="{min_x:.1f} {min_y:.1f} {w:.1f} {h:.1f}" font-family="Helvetica, Arial, '
        f'sans-serif" role="img" aria-label={quoteattr(head or "Path diagram")}>\n'
        + _defs()
        + f'<rect x="{min_x:.1f}" y="{min_y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="white"/>\n'
        + "\n".join(cv.parts + cv.labels)
        + "\n</svg>\n"
    )


def _defs() -> str:
    # One marker per colour: context-stroke is not understood by every renderer.
    marks = "".join(
        f'<marker id="{mid}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
        for color, mid in _MARKERS.items()
    )
    return f"<defs>{marks}</defs>\n"


def _empty(message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="60" viewBox="0 0 400 60">'
        f'<text x="10" y="35" font-family="sans-serif" font-size="13">{escape(message)}</text>'
        "</svg>\n"
    )
