"""The instrument library (instruments/*.yaml): every file loads, speaks zh first and en, has a
default model that pvm's SEM parser reads and whose constructs carry their items, and data
simulated from that model fits it. Scale-only instruments are also fielded through the API
(survey, submission, import, export, fit on the exported answers)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.instruments.registry import get_instrument, load_instrument
from app.instruments.spec import InstrumentSpec, model_paths, model_variables
from app.stats.sem import fit_model, parse_model
from app.stats.simulate import simulate_model

LIBRARY_DIR = Path(__file__).resolve().parents[2] / "instruments"
FILES = sorted(LIBRARY_DIR.glob("*.yaml"))
EXPECTED = {
    "telecom-pv",
    "retail-pv",
    "benefit-sacrifice",
    "servqual-gap",
    "csi",
}
# Factors with two indicators (id, version, construct), each explained in a comment in its file.
TWO_INDICATORS = {("telecom-pv", 1, "PV")}
# telecom-pv version 1 is the fielded instrument of INSTRUMENT.md and the reference data; the
# library's conventions (sections, source, outcome, no two-in-one items) start with version 2.
LEGACY = {("telecom-pv", 1)}


def spec_of(path: Path) -> InstrumentSpec:
    return load_instrument(path)


def scales_of(spec: InstrumentSpec) -> dict[str, tuple[int, int]]:
    return {c: (spec.item_scale(c).min, spec.item_scale(c).max) for c in spec.numeric_codes}


def test_the_library_is_complete() -> None:
    ids = {spec_of(p).id for p in FILES}
    assert ids >= EXPECTED
    for instrument_id in EXPECTED:
        assert get_instrument(instrument_id).id == instrument_id


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_file_loads_in_zh_and_en(path: Path) -> None:
    spec = spec_of(path)
    # <id>.yaml is the current version, <id>.v<version>.yaml an archived one (registry.py)
    assert path.name in (f"{spec.id}.yaml", f"{spec.id}.v{spec.version}.yaml")
    assert spec.languages[:2] == ["zh", "en"]
    for texts in [spec.title, *(i.text for i in spec.items), *(c.name for c in spec.constructs)]:
        assert texts["zh"].strip() and texts["en"].strip()
        assert re.search(r"[\u4e00-\u9fff]", texts["zh"]), texts["zh"]
        assert not re.search(r"[\u4e00-\u9fff]", texts["en"]), texts["en"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_model_constructs_carry_their_items(path: Path) -> None:
    spec = spec_of(path)
    parsed = parse_model(spec.default_model)  # pvm's own parser: raises on anything unknown
    assert any(f.op == "~" for f in parsed.formulas), "no structural part"
    blocks, _ = model_variables(spec.default_model)
    assert list(blocks) == [c for c in spec.construct_codes if c in blocks]
    assert set(blocks) == set(spec.construct_codes), "every construct is in the model"
    for construct, indicators in blocks.items():
        assert sorted(indicators) == sorted(spec.construct_items[construct]), construct
        assert len(set(indicators)) == len(indicators)
        if (spec.id, spec.version, construct) not in TWO_INDICATORS:
            assert len(indicators) >= 3, f"{spec.id}: {construct} has {len(indicators)} items"
    assert spec.default_outcome in blocks


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_simulated_data_fit_the_default_model(path: Path) -> None:
    spec = spec_of(path)
    frame = simulate_model(spec.default_model, 600, seed=11, scales=scales_of(spec))
    for code, (lo, hi) in scales_of(spec).items():
        if code in frame:
            assert frame[code].between(lo, hi).all()
    result = fit_model(frame.astype("float64"), spec.default_model, missing="listwise")
    assert result.converged
    assert result.nobs == 600
    assert result.fit["cfi"] > 0.95 and result.fit["srmr"] < 0.06, result.fit
    loadings = [e.std_all for e in result.estimates if e.op == "=~"]
    assert len(loadings) == sum(len(v) for v in spec.construct_items.values())
    assert min(loadings) > 0.5


@pytest.mark.parametrize(
    "path",
    [p for p in FILES if (spec_of(p).id, spec_of(p).version) not in LEGACY],
    ids=lambda p: p.name,
)
def test_library_conventions(path: Path) -> None:
    spec = spec_of(path)
    assert spec.source["zh"] and spec.source["en"]
    assert spec.outcome in spec.construct_codes
    assert spec.sections and spec.paged
    for section in spec.sections:
        assert section.items and section.title["zh"] and section.title["en"]
    assert spec.attributes
    for a in spec.attributes:
        assert a.type == "code" or (a.ask and len(a.options) >= 2)
        assert not a.required
    for name, scale in [("scale", spec.scale), *spec.scales.items()]:
        if scale is None:
            continue
        for lang in spec.languages:
            labels = scale.labels[lang]
            assert len(labels) in (2, scale.points), name
            # balanced: the ends are opposites, so neither end repeats the other's label
            assert labels[0] != labels[-1]
    for item in spec.items:
        # one question per item: no "and"/"or" joining two things outside examples in brackets
        en = re.sub(r"\(.*?\)", "", item.text["en"])
        assert not re.search(r"\b(and|or)\b", en), f"{spec.id} {item.code}: {item.text['en']}"


def test_telecom_revision() -> None:
    old, new = get_instrument("telecom-pv", version=1), get_instrument("telecom-pv")
    assert old.version == 1 and "NQ1" in old.item_codes  # the fielded version is untouched
    assert new.version == 2 and new.id == old.id
    assert new.construct_codes == old.construct_codes
    assert "NQ1" not in new.item_codes
    nq = {c: new.items_by_code[c].text["en"] for c in new.construct_items["NQ"]}
    assert any("5G" in t for t in nq.values()) and any("data" in t for t in nq.values())
    assert all(new.items_by_code[c].allow_na for c in nq)
    # the double-barrelled statements are split: the old code keeps one half, a new code the other
    for kept, added in (("REL1", "REL5"), ("RES2", None), ("ASS2", "ASS5"), ("RES1", "RES5")):
        assert kept in new.item_codes
        assert new.items_by_code[kept].text["en"] != old.items_by_code[kept].text["en"]
        if added:
            assert added in new.item_codes and added not in old.item_codes
    assert new.attribute_values == old.attribute_values
    assert all(a.ask for a in new.attributes)
    assert set(model_paths(new.default_model)) == set(model_paths(old.default_model))


def test_servqual_gap() -> None:
    spec = get_instrument("servqual-gap")
    dims = {"TAN": 4, "REL": 5, "RES": 4, "ASS": 4, "EMP": 5}
    number = 1
    for dim, size in dims.items():
        expected = [f"E{k}" for k in range(number, number + size)]
        assert spec.construct_items[f"{dim}_E"] == expected
        assert spec.construct_items[f"{dim}_P"] == [c.replace("E", "P") for c in expected]
        number += size
    assert number == 23
    assert [(g.perception, g.expectation) for g in spec.gaps] == [
        (f"{d}_P", f"{d}_E") for d in dims
    ]
    assert [s.code for s in spec.sections] == ["expectations", "perceptions"] and spec.paged
    assert spec.sections[0].items == [f"E{k}" for k in range(1, 23)]
    assert spec.sections[1].items[:22] == [f"P{k}" for k in range(1, 23)]
    assert spec.scale is not None and (spec.scale.min, spec.scale.max) == (1, 7)
    assert len(spec.scale.labels["zh"]) == 2  # the original labels only the ends


def test_csi() -> None:
    spec = get_instrument("csi")
    types = {i.code: i.type for i in spec.items}
    assert [c for c, t in types.items() if t == "nps"] == ["NPS"]
    assert (spec.item_scale("NPS").min, spec.item_scale("NPS").max) == (0, 10)
    assert [c for c, t in types.items() if t == "text"] == ["COMMENT"]
    assert not spec.items_by_code["COMMENT"].is_required
    assert spec.items_by_code["COMPLAINED"].option_codes == ["yes", "no"]
    assert spec.items_by_code["COMPLAINT_HANDLING"].allow_na
    for construct, items in spec.construct_items.items():
        scale = spec.construct_scale(construct)
        assert (scale.min, scale.max) == (1, 10), construct
        assert all(len(labels) == 2 for labels in scale.labels.values())
        assert all(spec.items_by_code[c].type == "scale" for c in items)
    ecsi = {
        ("EXP", "IMG"), ("SAT", "IMG"), ("LOY", "IMG"),
        ("PQ", "EXP"), ("PV", "EXP"), ("SAT", "EXP"),
        ("PV", "PQ"), ("SAT", "PQ"), ("SAT", "PV"), ("LOY", "SAT"),
    }  # fmt: skip
    assert set(model_paths(spec.default_model)) == ecsi
    assert spec.outcome == "SAT"


# ---- fielded through the API ----------------------------------------------------------------
# Instruments whose items are all rating-scale statements; csi (nps, single-choice and text
# items) has its own end-to-end test below.
SCALE_ONLY = sorted(
    s.id
    for s in (spec_of(p) for p in FILES)
    if (s.id, s.version) not in LEGACY and all(i.type == "scale" for i in s.items)
)


def test_scale_only_instruments_are_known() -> None:
    assert sorted(EXPECTED - {"csi"}) == SCALE_ONLY


@pytest.mark.parametrize("instrument_id", SCALE_ONLY)
def test_fielded_end_to_end(factory, researcher_headers, instrument_id: str) -> None:
    spec = get_instrument(instrument_id)
    factory.branches()
    c = factory.client
    r = c.post(
        "/api/v1/surveys",
        json={"slug": "lib", "instrument": instrument_id},
        headers=researcher_headers,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["instrument_id"], r.json()["instrument_version"]) == (
        instrument_id,
        spec.version,
    )
    for lang in spec.languages:
        page = c.get(f"/s/lib?branch=BR01&lang={lang}")
        assert page.status_code == 200 and spec.title[lang] in page.text
    assert spec.items[0].text["zh"] in c.get("/s/lib?branch=BR01&lang=zh").text
    scale = spec.scale
    assert scale is not None
    middle = (scale.min + scale.max) // 2
    answers = {code: middle for code in spec.item_codes}
    given = {a.code: a.codes[0] if a.type == "choice" else "seg_A" for a in spec.attributes}
    body = {"branch": "BR01", "answers": answers, "attributes": given, "lang": "en"}
    assert factory.submit("lib", body).status_code == 201
    wrong = {**given, spec.attributes[0].code: "no_such_option"}
    r = factory.submit("lib", {**body, "attributes": wrong})
    assert r.status_code == 422 and spec.attributes[0].code in r.text
    # a missing answer is refused unless the item allows N/A
    first = spec.items[0]
    r = factory.submit("lib", {"branch": "BR01", "answers": {**answers, first.code: None}})
    assert r.status_code == (201 if first.allow_na else 422)

    frame = simulate_model(spec.default_model, 400, seed=5, scales=scales_of(spec))
    frame.insert(0, "branch", np.where(np.arange(400) % 2, "BR01", "BR02"))
    choice = [a for a in spec.attributes if a.type == "choice"]
    for a in choice:
        frame[a.code] = [a.codes[k % len(a.codes)] for k in range(400)]
    columns = ["branch", *(a.code for a in choice), *spec.item_codes]
    data = frame[columns].to_csv(index=False).encode()
    assert factory.import_csv("lib", data, researcher_headers).json() == {"imported": 400}

    r = c.get("/api/v1/surveys/lib/responses.csv", headers=researcher_headers)
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 400 + 1 + (1 if first.allow_na else 0)
    assert set(spec.item_codes) <= set(rows[0])
    assert set(spec.attribute_codes) <= set(rows[0])  # every attribute is exported
    for a in choice:
        assert {row[a.code] for row in rows} == set(a.codes)
    exported = pd.read_csv(io.StringIO(r.text))
    result = fit_model(exported[spec.item_codes].astype("float64"), spec.default_model)
    assert result.converged and result.nobs == len(rows)


def _other_answer(item, k: int) -> object:
    """A valid answer to a non-scale item (the k-th respondent's)."""
    if item.type == "nps":
        return k % 11
    if item.type == "single":
        return item.options[k % len(item.options)].code
    if item.type == "multiple":
        return [item.options[k % len(item.options)].code]
    return f"comment {k}, with a comma"


def test_csi_fielded_end_to_end(factory, researcher_headers) -> None:
    spec = get_instrument("csi")
    factory.branches()
    c = factory.client
    r = c.post(
        "/api/v1/surveys", json={"slug": "csi", "instrument": "csi"}, headers=researcher_headers
    )
    assert r.status_code == 201, r.text
    for lang in spec.languages:
        assert c.get(f"/s/csi?branch=BR01&lang={lang}").status_code == 200
    others = [i for i in spec.items if i.type != "scale"]
    assert {i.type for i in others} >= {"nps", "single", "text"}
    answers = {code: spec.item_scale(code).max for code in spec.numeric_codes}
    answers |= {i.code: _other_answer(i, 1) for i in others}
    assert factory.submit("csi", {"branch": "BR01", "answers": answers}).status_code == 201

    frame = simulate_model(spec.default_model, 300, seed=8, scales=scales_of(spec))
    frame.insert(0, "branch", "BR02")
    for item in others:
        values = [_other_answer(item, k) for k in range(300)]
        frame[item.code] = [";".join(v) if isinstance(v, list) else v for v in values]
    for code in spec.numeric_codes:
        if code not in frame:
            frame[code] = ""  # not in the model: not answered
    data = frame[["branch", *spec.item_codes]].to_csv(index=False).encode()
    assert factory.import_csv("csi", data, researcher_headers).json() == {"imported": 300}

    r = c.get("/api/v1/surveys/csi/responses.csv", headers=researcher_headers)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 301
    text = next(i.code for i in others if i.type == "text")
    assert sum(row[text].startswith("comment") for row in rows) == 301
    exported = pd.read_csv(io.StringIO(r.text))
    used = sorted({v for vs in model_variables(spec.default_model)[0].values() for v in vs})
    result = fit_model(exported[used].astype("float64"), spec.default_model)
    assert result.converged and result.nobs == 301
