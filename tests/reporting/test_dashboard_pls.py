"""The dashboard's PLS view without a browser: the index switch (plain links, the form keeps
the choice), the PLS-weighted table and trends, the IPMA chart in both languages with names,
not codes, and the same suppression as the JSON API. Structural checks, plus the table's
numbers equal to ``scores?index=pls`` (formatting to one decimal)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from app.reporting import plsindex

API = "/api/v1/surveys/telecom"


@pytest.fixture(autouse=True)
def _fresh() -> None:
    plsindex.clear_cache()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pls_view(client, telecom_survey, operator_headers, lang):
    page = client.get(f"/dashboard/telecom?index=pls&lang={lang}", headers=operator_headers)
    assert page.status_code == 200, page.text[:500]
    html = page.text
    switch = re.search(r'<nav class="index-switch".*?</nav>', html, re.S).group(0)
    assert 'aria-current="page"' in switch and switch.count("<a ") == 2
    current = re.search(r'<a href="([^"]+)"[^>]*aria-current="page"', switch).group(1)
    assert "index=pls" in current
    assert '<input type="hidden" name="index" value="pls">' in html
    assert 'id="ipma-chart"' in html and 'id="drivers-h"' not in html
    svg = re.search(r'<figure class="chart ipa" id="ipma-chart">(.*?)</figure>', html, re.S)
    root = ET.fromstring(svg.group(1))
    ns = "{http://www.w3.org/2000/svg}"
    points = root.findall(f".//{ns}circle[@data-construct]")
    assert {p.get("data-construct") for p in points} >= {"TAN", "REL", "RES", "ASS", "EMP"}
    text = " ".join("".join(e.itertext()) for e in root.iter(f"{ns}text"))
    if lang == "zh":
        assert "重要性–表现图" in text and "可靠性" in text and "总效应" in text
        assert "…" not in text
    else:
        assert "Importance-performance map" in text and "Reliability" in text
    assert not re.search(r"\b(REL|TAN|EMP)\b", text)  # names, not codes
    body = client.get(f"{API}/scores?index=pls", headers=operator_headers).json()
    pv = body["overall"]["constructs"]["PV"]["index"]
    cell = re.search(r'<tr class="bench[^"]*" data-group="overall">(.*?)</tr>', html, re.S)
    assert f"{pv:.1f}" in cell.group(1)
    equal = client.get(f"/dashboard/telecom?lang={lang}", headers=operator_headers).text
    assert 'id="ipma-chart"' not in equal and 'id="ipa-chart"' in equal
    assert '<input type="hidden" name="index" value="equal">' in equal


def test_pls_view_scoped_and_bad_index(client, telecom_survey, factory):
    headers = factory.key("operator", branches=["BR01"])
    page = client.get("/dashboard/telecom?index=pls&lang=en", headers=headers)
    assert page.status_code == 200
    assert 'data-group="BR01"' in page.text and 'data-group="BR02"' not in page.text
    assert "in " in re.search(r'<h2 id="ipma-h">(.*?)</h2>', page.text).group(1)
    bad = client.get("/dashboard/telecom?index=acsi&lang=en", headers=headers)
    assert bad.status_code == 422 and "Index" in bad.text


def test_pls_view_falls_back_without_enough_data(client, survey, operator_headers):
    page = client.get("/dashboard/telecom?index=pls&lang=en", headers=operator_headers)
    assert page.status_code == 200
    assert 'id="pls-error"' in page.text and 'id="ipma-chart"' not in page.text


def test_pls_downloads(client, telecom_survey, operator_headers):
    body = client.get(f"{API}/scores?index=pls", headers=operator_headers).json()
    csv_text = client.get(
        "/dashboard/telecom/scores.csv?index=pls&lang=en", headers=operator_headers
    ).text
    assert f"{body['overall']['constructs']['PV']['index']:.1f}" in csv_text
    equal = client.get(f"{API}/scores", headers=operator_headers).json()
    assert (
        equal["overall"]["constructs"]["LOY"]["index"]
        != body["overall"]["constructs"]["LOY"]["index"]
    )
    svg = client.get("/dashboard/telecom/trends.svg?index=pls", headers=operator_headers)
    assert svg.status_code == 200 and svg.text.startswith("<svg")
    bad = client.get("/dashboard/telecom/scores.csv?index=x", headers=operator_headers)
    assert bad.status_code == 422


def test_coinciding_points_are_nudged_apart_with_leaders():
    """Markers with (nearly) the same importance and performance do not hide each other."""
    import itertools

    from app.reporting.charts import ipma_svg
    from app.stats.drivers import ipa

    res = ipa(
        {"A": 0.2, "B": 0.2, "C": 0.201, "D": 0.5},
        {"A": 60.0, "B": 60.0, "C": 60.1, "D": 50.0},
        outcome="Z",
    )
    svg = ipma_svg(res)
    ET.fromstring(svg)
    spots = [
        (float(x), float(y))
        for x, y in re.findall(r"<circle cx='([\d.]+)' cy='([\d.]+)' r='9'", svg)
    ]
    assert len(spots) == 4
    for (ax, ay), (bx, by) in itertools.combinations(spots, 2):
        assert (ax - bx) ** 2 + (ay - by) ** 2 >= 18.0**2 - 1e-6
    assert len(re.findall(r"r='2.5'", svg)) == 2  # two moved, each with a dot where it belongs
    first_marker = svg.index("r='9'")
    assert all(m.start() < first_marker for m in re.finditer(r"r='2.5'", svg))  # leaders below
