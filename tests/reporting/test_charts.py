"""SVG charts (app/reporting/charts.py): well-formed XML, one cell/point per shown metric, nothing
drawn for suppressed groups, user text escaped, no external references (no network), words in
the reader's language, colours on one fixed scale of the significant difference from the
benchmark, and trend panels whose scale and labels a tiny month cannot spoil. Exact structural
checks; the contrast ratios are WCAG 2's formula."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from app.reporting.charts import (
    BIN_COLOURS,
    diff_bin,
    diff_colour,
    heat_table_svg,
    ipa_svg,
    significance_mark,
    trend_panel_svg,
    trend_periods,
    trend_range,
    trend_svg,
)
from app.reporting.i18n import Labels, plain_labels, texts
from app.stats.drivers import ipa
from app.stats.scores import group_scores, trend_scores

NS = "{http://www.w3.org/2000/svg}"


def cells(groups: dict[str, tuple[int, float, float]], constructs=("REL", "TAN")) -> pd.DataFrame:
    rows = []
    for g, (n, mean, sd) in groups.items():
        for k, c in enumerate(constructs):
            m = mean + k * 0.2
            ss = (n - 1) * sd**2 + n * m * m
            rows.append({"group": g, "construct": c, "n": n, "sum": n * m, "sumsq": ss})
    return pd.DataFrame(rows)


@pytest.fixture()
def scores():
    data = cells(
        {
            "BR01": (200, 5.5, 1.0),
            "BR02": (200, 4.5, 1.0),
            "BR03": (40, 5.0, 1.0),
            "<b>x</b>": (3, 6.0, 1.0),
        }
    )
    # BR03's 40 respondents stand in no published cell (e.g. months below the minimum)
    published = {"BR01": 200, "BR02": 200, "BR03": 0, "<b>x</b>": 3}
    return group_scores(data, by="branch", key="group", min_group_size=5, published=published)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == NS + "svg"
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")
    return root


def texts_of(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(NS + "text")]


def test_heat_table_colours_significant_differences_and_suppresses(scores):
    svg = heat_table_svg(scores)
    root = parse(svg)
    rects = [r for r in root.iter(NS + "rect") if r.get("data-group")]
    # 2 shown branches + the benchmark, 2 constructs each; the suppressed group draws no cell
    assert len(rects) == 6
    assert {r.get("data-group") for r in rects} == {"overall", "BR01", "BR02"}
    fills = {(r.get("data-group"), r.get("data-construct")): r.get("fill") for r in rects}
    # BR01 is 8.3 points above the benchmark (5.5 vs 5.0 on a 1..7 scale), BR02 8.3 below;
    # both highly significant: the 5-10 point colours
    assert fills["BR01", "REL"] == BIN_COLOURS["high2"]
    assert fills["BR02", "REL"] == BIN_COLOURS["low2"]
    assert fills["overall", "REL"] == BIN_COLOURS["none"]
    joined = "".join(texts_of(root))
    assert "▲" in joined and "▼" in joined
    assert "n = 3: below the minimum group size 5" in joined
    assert "n = 40: fewer than 5 in publishable cells" in joined
    assert "<b>x</b>" in joined  # the group name survives as text, escaped in the markup
    assert "<b>" not in svg


def test_heat_table_in_chinese_names_not_codes(scores):
    labels = Labels(texts("zh"), None, {"BR01": "北京朝阳", "BR02": "北京海淀"})
    root = parse(heat_table_svg(scores, labels))
    words = texts_of(root)
    assert "北京朝阳" in words and "全部（基准）" in words and "各网点的得分" in words
    assert "BR01" not in words and "BR02" not in words


def test_colour_depends_on_the_difference_only_and_only_when_significant():
    assert diff_bin(12.0, True) == "high3" and diff_bin(-12.0, True) == "low3"
    assert diff_bin(7.0, True) == "high2" and diff_bin(-5.0, True) == "low2"
    assert diff_bin(4.9, True) == "high1" and diff_bin(-0.1, True) == "low1"
    assert diff_bin(25.0, False) == "none" and diff_bin(None, True) == "none"
    # the same difference has the same colour whatever else the table holds
    assert diff_colour(7.0, True) == diff_colour(7.0, True) == BIN_COLOURS["high2"]


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_every_colour_keeps_dark_text_readable():
    ink = _luminance("#1d2430")
    for colour in BIN_COLOURS.values():
        ratio = (_luminance(colour) + 0.05) / (ink + 0.05)
        assert ratio >= 4.5, (colour, ratio)  # WCAG AA for normal text


def test_significance_mark():
    assert significance_mark(0.01, 2.0) == "▲"
    assert significance_mark(0.01, -2.0) == "▼"
    assert significance_mark(0.05, -2.0) == ""
    assert significance_mark(None, -2.0) == ""


def test_ipa_svg_numbers_each_driver_with_performance_and_names_it_below():
    res = ipa({"A": 0.4, "B": 0.1, "C": 0.3}, {"A": 50.0, "B": 70.0, "C": None}, outcome="PV")
    root = parse(ipa_svg(res))
    pts = {
        c.get("data-construct"): c.get("data-quadrant")
        for c in root.iter(NS + "circle")
        if c.get("data-construct")
    }
    assert pts == {"A": "concentrate", "B": "possible_overkill"}
    words = texts_of(root)
    assert "A · Concentrate here" in words and "B · Possible overkill" in words
    assert min(int(t.get("font-size", "0")) for t in root.iter(NS + "text")) >= 12


def test_ipa_svg_in_chinese_translates_the_quadrants():
    res = ipa({"A": 0.4, "B": 0.1}, {"A": 50.0, "B": 70.0}, outcome="PV")
    words = texts_of(parse(ipa_svg(res, plain_labels("zh"))))
    assert {"重点改进", "继续保持", "次要", "可能投入过多"} <= set(words)
    assert "Concentrate here" not in words


def months(spec: dict[str, tuple[int, float, float]]) -> pd.DataFrame:
    return cells(spec)


def test_trend_leaves_suppressed_months_out_and_keeps_gaps_between():
    data = months(
        {
            "2026-01": (2, 5.0, 1.0),  # before the first shown month: dropped from the axis
            "2026-02": (50, 5.0, 1.0),
            "2026-03": (3, 5.0, 1.0),  # between: a gap
            "2026-04": (60, 5.2, 1.0),
        }
    )
    res = trend_scores(data, by="group", min_group_size=5)
    drawn, left_out = trend_periods(res)
    assert [g.group for g in drawn] == ["2026-02", "2026-03", "2026-04"]
    assert [g.group for g in left_out] == ["2026-01", "2026-03"]
    root = parse(trend_svg(res))
    # 2 constructs x 2 shown months; the suppressed month breaks each line, so no polyline
    assert len([c for c in root.iter(NS + "circle") if c.get("data-period")]) == 4
    assert list(root.iter(NS + "polyline")) == []
    assert any("Months not shown" in t and "Jan 2026" in t for t in texts_of(root))


def test_a_small_month_does_not_set_the_scale():
    """A month just above the minimum has a wide interval; the scale follows the indices."""
    data = months(
        {"2026-01": (212, 5.0, 1.0), "2026-02": (5, 3.0, 2.5), "2026-03": (200, 5.1, 1.0)}
    )
    res = trend_scores(data, by="group", min_group_size=5)
    y0, y1 = trend_range(res, ["REL", "TAN"])
    wide = res.groups[1].constructs["REL"].ci
    assert wide is not None and wide[0] < y0  # its interval runs past the scale ...
    svg = trend_panel_svg(res, "REL", plain_labels(), (y0, y1))
    assert "data-clipped" in svg  # ... and an arrow says so
    # the large months keep their place: the scale spans at most the indices plus 10% padding
    idx = [c.index for g in res.groups for c in g.constructs.values()]
    assert y1 - y0 <= max(20.0, max(idx) - min(idx)) * 1.2 + 1e-9


def test_month_labels_never_overlap_and_read_in_the_language():
    spec = {f"{2025 + (m - 1) // 12}-{(m - 1) % 12 + 1:02d}": (50, 5.0, 1.0) for m in range(1, 25)}
    res = trend_scores(months(spec), by="group", min_group_size=5)
    y = trend_range(res, ["REL"])
    assert y is not None
    for lang in ("en", "zh"):
        root = parse(trend_panel_svg(res, "REL", plain_labels(lang), y))
        names = set(texts(lang).strings["months"])
        row = sorted(float(t.get("x", 0)) for t in root.iter(NS + "text") if t.text in names)
        assert len(row) >= 4
        gaps = [b - a for a, b in zip(row, row[1:], strict=False)]
        assert min(gaps) >= 12 * 3  # three characters of 12 px never touch
        assert min(int(t.get("font-size", "0")) for t in root.iter(NS + "text")) >= 12
    zh_words = texts_of(parse(trend_panel_svg(res, "REL", plain_labels("zh"), y)))
    assert "1月" in zh_words and "2025年" in zh_words


def test_empty_charts_say_so():
    empty = group_scores(cells({"A": (2, 5.0, 1.0)}), min_group_size=5)
    assert "Not enough responses" in trend_svg(empty)
    assert "Not enough responses" in ipa_svg(ipa({"A": 0.2}, {"A": None}, outcome="PV"))
    assert "回答太少" in trend_svg(empty, plain_labels("zh"))
