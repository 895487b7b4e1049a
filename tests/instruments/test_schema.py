"""The JSON Schema of an instrument document is usable: the bundled instrument and the example
validate against it, broken documents do not."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from app.instruments.registry import json_schema
from tests.instruments.helpers import EXAMPLE, ROOT, example, telecom

SCHEMA: dict[str, Any] = json_schema()


def errors(doc: dict[str, Any]) -> list[str]:
    """Errors of a document under SCHEMA (jsonschema-rs, a dev dependency)."""
    return [e.message for e in VALIDATOR.iter_errors(doc)]


VALIDATOR = jsonschema_rs.Draft202012Validator(SCHEMA)


@pytest.mark.parametrize("doc", [telecom(), example()], ids=["telecom-pv", "cafe-visit"])
def test_documents_validate(doc: dict[str, Any]) -> None:
    assert errors(doc) == []


def test_broken_documents_do_not() -> None:
    bad_type = example()
    bad_type["items"][0]["type"] = "slider"
    extra = example()
    extra["colour"] = "red"
    missing = example()
    del missing["default_model"]
    bad_code = example()
    bad_code["items"][1]["code"] = "1X"
    for doc in (bad_type, extra, missing, bad_code):
        assert errors(doc), doc


def test_schema_structure() -> None:
    props = SCHEMA["properties"]
    assert {"id", "version", "title", "constructs", "items", "default_model"} <= set(
        SCHEMA["required"]
    )
    assert SCHEMA["additionalProperties"] is False
    item = SCHEMA["$defs"]["ItemSpec"]
    assert set(item["properties"]["type"]["enum"]) == {"scale", "nps", "single", "multiple", "text"}
    assert props["items"]["items"] == {"$ref": "#/$defs/ItemSpec"}
    assert item["properties"]["code"]["pattern"] == "^[A-Za-z][A-Za-z0-9_]*$"


def test_docs_example_is_the_tested_file() -> None:
    """docs/instruments.md shows tests/data/cafe-visit.yaml verbatim (validated and uploaded by
    test_api and test_cli), and README links the page."""
    docs = (ROOT / "docs" / "instruments.md").read_text(encoding="utf-8")
    block = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert block == EXAMPLE.read_text(encoding="utf-8")
    assert "(docs/instruments.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    fields = set(SCHEMA["properties"])
    for field in fields:
        assert f"| `{field}` |" in docs, f"docs/instruments.md has no row for {field}"
    for name, definition in SCHEMA["$defs"].items():
        for field in definition.get("properties", {}):
            assert f"| `{field}` |" in docs, f"no row for {name}.{field}"
