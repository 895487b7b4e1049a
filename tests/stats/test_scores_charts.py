"""SVG charts: well-formed XML, one cell/point per shown metric, nothing drawn for suppressed groups,
user text escaped, no external references (no network). Exact structural checks, no tolerance."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from app.stats.charts import heat_table_svg, index_colour, ipa_svg, significance_mark, trend_svg
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
    return group_scores(data, min_group_size=5, published=published)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == NS + "svg"
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")
    return root


def test_heat_table_marks_significance_and_suppresses(scores):
    svg = heat_table_svg(scores)
    root = parse(svg)
    rects = [r for r in root.iter(NS + "rect") if r.get("data-group")]
    # 2 shown branches + the benchmark, 2 constructs each; the suppressed group draws no cell
    assert len(rects) == 6
    assert {r.get("data-group") for r in rects} == {"overall", "BR01", "BR02"}
    texts = "".join(t.text or "" for t in root.iter(NS + "text"))
    assert "▲" in texts and "▼" in texts
    assert "n = 3: below the minimum group size 5" in texts
    assert "n = 40: fewer than 5 in publishable cells" in texts
    assert "<b>x</b>" in texts  # the group name survives as text, escaped in the markup
    assert "<b>" not in svg
    # the cells start right of the longest row label ("All (benchmark)", 15 characters of
    # 12 px bold, about 7.5 px each) instead of covering it
    assert min(float(r.get("x", 0)) for r in rects) >= 6 + 7.5 * len("All (benchmark)")


def test_index_colour_runs_red_to_green():
    assert index_colour(0, 0, 100) == "#d73027"
    assert index_colour(100, 0, 100) == "#1a9850"
    assert index_colour(50, 50, 50) == "#fee08b"


def test_significance_mark():
    assert significance_mark(0.01, 2.0) == "▲"
    assert significance_mark(0.01, -2.0) == "▼"
    assert significance_mark(0.05, -2.0) == ""
    assert significance_mark(None, -2.0) == ""


def test_ipa_svg_draws_one_point_per_driver_with_performance():
    res = ipa({"A": 0.4, "B": 0.1, "C": 0.3}, {"A": 50.0, "B": 70.0, "C": None}, outcome="PV")
    root = parse(ipa_svg(res))
    pts = {c.get("data-construct"): c.get("data-quadrant") for c in root.iter(NS + "circle")}
    assert pts == {"A": "concentrate", "B": "possible_overkill"}


def test_trend_svg_gaps_for_suppressed_periods():
    # 2026-02 and 2026-04 are small, and together large enough to protect each other
    data = cells(
        {
            "2026-01": (50, 5.0, 1.0),
            "2026-02": (2, 5.0, 1.0),
            "2026-03": (60, 5.2, 1.0),
            "2026-04": (3, 5.0, 1.0),
        }
    )
    res = trend_scores(data, by="group", min_group_size=5)
    root = parse(trend_svg(res))
    # 2 constructs x 2 shown months; the suppressed month breaks each line, so no polyline
    assert len(list(root.iter(NS + "circle"))) == 4
    assert list(root.iter(NS + "polyline")) == []
    texts = [t.text for t in root.iter(NS + "text")]
    assert "n=2" in texts and "n=3" in texts


def test_empty_charts_say_so():
    empty = group_scores(cells({"A": (2, 5.0, 1.0)}), min_group_size=5)
    assert "Not enough responses" in trend_svg(empty)
    assert "Not enough responses" in ipa_svg(ipa({"A": 0.2}, {"A": None}, outcome="PV"))
