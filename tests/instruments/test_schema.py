"""The JSON Schema of an instrument document is usable: the bundled instrument and the example
validate against it, broken documents do not."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest

from app.instruments.registry import json_schema
from tests.instruments.helpers import EXAMPLE, ROOT, example, telecom

SCHEMA: dict[str, Any] = json_schema()


def _validator() -> Callable[[dict[str, Any]], list[str]] | None:
    """Errors of a document under SCHEMA, by whichever validator the venv has."""
    if importlib.util.find_spec("jsonschema") is not None:
        import jsonschema

        jsonschema.Draft202012Validator.check_schema(SCHEMA)
        checker = jsonschema.Draft202012Validator(SCHEMA)
        return lambda doc: [e.message for e in checker.iter_errors(doc)]
    if importlib.util.find_spec("jsonschema_rs") is not None:
        import jsonschema_rs

        checker_rs = jsonschema_rs.Draft202012Validator(SCHEMA)
        return lambda doc: [e.message for e in checker_rs.iter_errors(doc)]
    return None


VALIDATE = _validator()


@pytest.mark.parametrize("doc", [telecom(), example()], ids=["telecom-pv", "cafe-visit"])
def test_documents_validate(doc: dict[str, Any]) -> None:
    if VALIDATE is not None:
        assert VALIDATE(doc) == []
    else:  # no validator installed: the schema at least names every top-level key used
        assert set(doc) <= set(SCHEMA["properties"])
        assert set(SCHEMA["required"]) <= set(doc)


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
        if VALIDATE is not None:
            assert VALIDATE(doc), doc
        else:
            assert set(SCHEMA["required"]) <= set(doc) or doc is missing


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
