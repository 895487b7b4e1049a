import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.instruments.registry import (
    InstrumentError,
    InstrumentNotFound,
    bundled_versions,
    get_instrument,
    list_instruments,
    load_instrument,
    parse_instrument,
)

LIBRARY = Path(__file__).resolve().parents[2] / "instruments"
# telecom-pv version 1, the instrument of INSTRUMENT.md and of tests/data/telecom_1500.csv
REPO_FILE = LIBRARY / "telecom-pv.v1.yaml"
CURRENT_FILE = LIBRARY / "telecom-pv.yaml"
CONSTRUCT_ITEMS = {
    "TAN": ["TAN1", "TAN2", "TAN3"],
    "REL": ["REL1", "REL2", "REL3", "REL4"],
    "RES": ["RES1", "RES2", "RES3", "RES4"],
    "ASS": ["ASS1", "ASS2", "ASS3", "ASS4"],
    "EMP": ["EMP1", "EMP2", "EMP3", "EMP4", "EMP5"],
    "NQ": ["NQ1", "NQ2", "NQ3", "NQ4"],
    "PV": ["PV1", "PV2"],
    "SAT": ["SAT1", "SAT2", "SAT3"],
    "CCI": ["CCI1", "CCI2", "CCI3", "CCI4"],
    "LOY": ["LOY1", "LOY2", "LOY3", "LOY4"],
}

DEFAULT_MODEL = """\
TAN =~ TAN1 + TAN2 + TAN3
REL =~ REL1 + REL2 + REL3 + REL4
RES =~ RES1 + RES2 + RES3 + RES4
ASS =~ ASS1 + ASS2 + ASS3 + ASS4
EMP =~ EMP1 + EMP2 + EMP3 + EMP4 + EMP5
NQ  =~ NQ1 + NQ2 + NQ3 + NQ4
PV  =~ PV1 + PV2
SAT =~ SAT1 + SAT2 + SAT3
CCI =~ CCI1 + CCI2 + CCI3 + CCI4
LOY =~ LOY1 + LOY2 + LOY3 + LOY4
PV  ~ TAN + REL + RES + ASS + EMP + NQ
SAT ~ PV
CCI ~ a*PV
LOY ~ b*CCI + SAT + PV
ind_PV_CCI_LOY := a*b
"""


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(REPO_FILE.read_text(encoding="utf-8"))


def mutate(raw: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(raw)


def problems_of(data: dict[str, Any]) -> str:
    with pytest.raises(InstrumentError) as info:
        parse_instrument(data, source="test.yaml")
    assert str(info.value).startswith("test.yaml: ")
    return str(info.value)


# ---- the shipped instrument --------------------------------------------------------------


def test_telecom_instrument_matches_instrument_md() -> None:
    spec = load_instrument(REPO_FILE)
    assert spec.id == "telecom-pv"
    assert spec.version == 1
    assert len(spec.item_codes) == 37
    # The map is written out once in code, in the simulator (app/stats cannot read the registry).
    assert spec.construct_items == CONSTRUCT_ITEMS
    assert spec.na_items == ["NQ1", "NQ2", "NQ3", "NQ4"]
    assert spec.default_model == DEFAULT_MODEL
    assert (spec.scale.min, spec.scale.max) == (1, 7)
    assert spec.scale.labels["zh"][0] == "非常不同意"
    assert spec.scale.labels["zh"][-1] == "非常同意"
    assert spec.scale.labels["en"][0] == "Strongly disagree"
    assert spec.scale.labels["en"][-1] == "Strongly agree"
    assert spec.attribute_values == {
        "customer_type": ["key_account", "business", "consumer"],
        "tenure": ["first_time", "short_term", "long_term", "lapsed"],
    }
    for item in spec.items:
        assert item.text["zh"].strip() and item.text["en"].strip()
    assert spec.title["zh"] and spec.title["en"]


def test_item_codes_follow_csv_reference_order() -> None:
    header = (Path(__file__).resolve().parents[1] / "data" / "telecom_1500.csv").open().readline()
    assert header.strip().split(",")[3:] == load_instrument(REPO_FILE).item_codes


def test_get_instrument_reads_the_repository_files() -> None:
    spec = get_instrument("telecom-pv")
    assert spec.version == 2
    assert spec.content_hash == load_instrument(CURRENT_FILE).content_hash
    assert get_instrument("telecom-pv", version=2) is spec
    old = get_instrument("telecom-pv", version=1)
    assert old.content_hash == load_instrument(REPO_FILE).content_hash
    assert [s.version for s in list_instruments() if s.id == "telecom-pv"] == [2]
    bundled = [(s.id, s.version) for s in bundled_versions()]
    assert bundled.index(("telecom-pv", 1)) + 1 == bundled.index(("telecom-pv", 2))
    assert [s.version for s in bundled_versions("telecom-pv")] == [1, 2]
    assert "telecom-pv-2026" not in {s.id for s in bundled_versions()}


def test_content_hash_is_stable_and_content_sensitive(raw: dict[str, Any]) -> None:
    a = parse_instrument(mutate(raw))
    assert len(a.content_hash) == 64
    # Key order and YAML layout do not matter, content does.
    reordered = dict(reversed(list(mutate(raw).items())))
    assert parse_instrument(reordered).content_hash == a.content_hash
    edited = mutate(raw)
    edited["items"][0]["text"]["en"] += " (edited)"
    assert parse_instrument(edited).content_hash != a.content_hash


# ---- lookup --------------------------------------------------------------------------------


def test_unknown_instrument_and_version() -> None:
    with pytest.raises(InstrumentNotFound):
        get_instrument("no-such-instrument")
    with pytest.raises(InstrumentNotFound):
        get_instrument("../instruments/telecom-pv")
    with pytest.raises(InstrumentNotFound):
        get_instrument("telecom-pv", version=99)


def test_env_override_and_archived_versions(
    tmp_path: Path, raw: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = mutate(raw)
    v2 = mutate(raw)
    v2["version"] = 2
    v2["items"][0]["text"]["en"] = "New wording."
    (tmp_path / "telecom-pv.yaml").write_text(yaml.safe_dump(v2, allow_unicode=True), "utf-8")
    (tmp_path / "telecom-pv.v1.yaml").write_text(yaml.safe_dump(v1, allow_unicode=True), "utf-8")
    monkeypatch.setenv("PVM_INSTRUMENTS_DIR", str(tmp_path))
    assert get_instrument("telecom-pv").version == 2
    old = get_instrument("telecom-pv", version=1)
    assert old.version == 1
    assert old.items[0].text["en"] == raw["items"][0]["text"]["en"]
    assert [s.version for s in list_instruments()] == [2]
    assert [s.version for s in bundled_versions()] == [1, 2]


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        ("telecom-pv.v1.yaml", 3, "id and version must be 'telecom-pv' and 1"),
        ("telecom-pv.v2.yaml", 2, "an archived version must be below the current 2"),
    ],
)
def test_a_mislabelled_archived_file_is_refused(
    tmp_path: Path,
    raw: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    version: int,
    message: str,
) -> None:
    current = {**mutate(raw), "version": 2}
    (tmp_path / "telecom-pv.yaml").write_text(yaml.safe_dump(current, allow_unicode=True))
    (tmp_path / name).write_text(yaml.safe_dump({**mutate(raw), "version": version}))
    monkeypatch.setenv("PVM_INSTRUMENTS_DIR", str(tmp_path))
    with pytest.raises(InstrumentError, match=message):
        bundled_versions()


def test_file_id_must_match_file_name(
    tmp_path: Path, raw: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    monkeypatch.setenv("PVM_INSTRUMENTS_DIR", str(tmp_path))
    with pytest.raises(InstrumentError, match="does not match the file name"):
        get_instrument("other")


# ---- validation errors ---------------------------------------------------------------------


def test_unknown_construct(raw: dict[str, Any]) -> None:
    data = mutate(raw)
    data["items"][1]["construct"] = "XYZ"
    msg = problems_of(data)
    assert "item 'TAN2' refers to unknown construct 'XYZ'" in msg


def test_duplicate_item_code(raw: dict[str, Any]) -> None:
    data = mutate(raw)
    data["items"][1]["code"] = "TAN1"
    assert "duplicate item code 'TAN1'" in problems_of(data)


def test_duplicate_construct_code(raw: dict[str, Any]) -> None:
    data = mutate(raw)
    data["constructs"].append(copy.deepcopy(data["constructs"][0]))
    assert "duplicate construct code 'TAN'" in problems_of(data)


def test_duplicate_attribute_option(raw: dict[str, Any]) -> None:
    data = mutate(raw)
    data["attributes"][0]["options"].append(copy.deepcopy(data["attributes"][0]["options"][0]))
    assert "duplicate option 'key_account' in attribute 'customer_type'" in problems_of(data)


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(REPO_FILE.read_text("utf-8").replace("version: 1\n", "version: 1\nid: x\n"))
    with pytest.raises(InstrumentError, match="duplicate key 'id'"):
        load_instrument(path)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (lambda d: d["items"][4]["text"].pop("en"), "missing translation 'en' for item REL2"),
        (lambda d: d["items"][0]["text"].update(zh="  "), "missing translation 'zh' for item TAN1"),
        (lambda d: d["title"].pop("zh"), "missing translation 'zh' for title"),
        (
            lambda d: d["constructs"][2]["name"].pop("en"),
            "missing translation 'en' for construct RES",
        ),
        (lambda d: d["scale"]["labels"].pop("en"), "missing translation 'en' for scale labels"),
        (lambda d: d["scale"]["na_label"].pop("zh"), "missing translation 'zh' for scale na_label"),
        (
            lambda d: d["attributes"][1]["options"][3]["label"].pop("en"),
            "missing translation 'en' for attribute tenure option lapsed",
        ),
        (
            lambda d: d["items"][0]["text"].update(fr="Bonjour"),
            "item TAN1 has a text in undeclared language 'fr'",
        ),
    ],
)
def test_missing_translation(raw: dict[str, Any], where: Any, expected: str) -> None:
    data = mutate(raw)
    where(data)
    assert expected in problems_of(data)


def test_scale_labels_count(raw: dict[str, Any]) -> None:
    data = mutate(raw)
    data["scale"]["labels"]["zh"] = data["scale"]["labels"]["zh"][:6]
    assert "scale.labels.zh: scale labels 'zh' need 7 entries (or 2 for the ends), got 6" in (
        problems_of(data)
    )


def test_model_indicator_not_an_item(raw: dict[str, Any]) -> None:
    data = mutate(raw)
    data["default_model"] = data["default_model"].replace("TAN3\n", "TAN9\n", 1)
    assert "default_model: indicator 'TAN9' of 'TAN' is not an item" in problems_of(data)


def test_model_regression_on_unknown_variable(raw: dict[str, Any]) -> None:
    data = mutate(raw)
    data["default_model"] += "LOY ~ AGE\n"
    assert "default_model: refers to unknown variable 'AGE'" in problems_of(data)


def test_model_unreadable_line(raw: dict[str, Any]) -> None:
    data = mutate(raw)
    data["default_model"] += "this is not lavaan\n"
    assert "default_model: cannot read line 'this is not lavaan'" in problems_of(data)


def test_unknown_field_and_reports_every_problem(raw: dict[str, Any]) -> None:
    data = mutate(raw)
    data["colour"] = "red"
    data["items"][0]["allow_na"] = "sometimes"
    msg = problems_of(data)
    assert "colour" in msg and "items[0].allow_na" in msg


def test_construct_without_items(raw: dict[str, Any]) -> None:
    data = mutate(raw)
    data["constructs"].append({"code": "NEW", "name": {"zh": "新", "en": "New"}})
    assert "construct 'NEW' has no items" in problems_of(data)


def test_not_a_mapping_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError, match="must be a mapping"):
        parse_instrument(["a", "b"])
    with pytest.raises(InstrumentError, match="file not found"):
        load_instrument(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n")
    with pytest.raises(InstrumentError, match="invalid YAML"):
        load_instrument(bad)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("title: café".encode("latin-1"))
    with pytest.raises(InstrumentError, match="not UTF-8"):
        load_instrument(latin)
