"""Read and validate instrument documents (YAML or JSON: files, request bodies), and find the
bundled files.

Every problem of a document is reported with its path (`Problem`, ``items[3].text.en``);
duplicate keys are problems too, and so are documents too large or nested too deeply.

Bundled files: instrument ``<id>`` is ``<dir>/<id>.yaml``; earlier versions kept beside it are
``<dir>/<id>.v<version>.yaml``. The directory is the repository's ``instruments/`` unless
``PVM_INSTRUMENTS_DIR`` points elsewhere. The service stores the files in the database at start;
which *stored* version is current is decided in one place, `app.instruments.service`.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from app.instruments.spec import InstrumentSpec

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "instruments"
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ARCHIVED_RE = re.compile(r"^(?P<id>[a-z0-9][a-z0-9_-]*)\.v(?P<version>[1-9][0-9]{0,8})\.yaml$")
_cache: dict[tuple[str, int, int], InstrumentSpec] = {}
_lock = threading.Lock()
DocumentFormat = Literal["yaml", "json"]
# An instrument of a few hundred items in several languages is well under both.
MAX_DOCUMENT_BYTES = 512 * 1024
MAX_NODES = 200_000


@dataclass(frozen=True)
class Problem:
    """One problem in a document: where (``items[3].text.en``; "" for the whole document) and
    what."""

    path: str
    msg: str

    @classmethod
    def parse(cls, text: str) -> Problem:
        """``"items[3].text.en: missing ..."`` -> Problem("items[3].text.en", "missing ...")."""
        match = _PROBLEM_RE.match(text)
        if match is None:
            return cls("", text)
        return cls(match["path"], match["msg"])

    @property
    def loc(self) -> tuple[str | int, ...]:
        """The path as parts: ``items[3].text.en`` -> ``("items", 3, "text", "en")``."""
        return tuple(
            int(index) if index else name for index, name in _PATH_PART_RE.findall(self.path)
        )

    def __str__(self) -> str:
        return f"{self.path}: {self.msg}" if self.path else self.msg


_PROBLEM_RE = re.compile(
    r"^(?P<path>[A-Za-z_][\w-]*(?:\[\d+\]|\.[^\s:\[\].]+)*): (?P<msg>.+)$", re.S
)
_PATH_PART_RE = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


class InstrumentError(ValueError):
    """A document that cannot be used; ``details`` lists every problem found, with its path."""

    def __init__(self, source: str, problems: Sequence[Problem | str]) -> None:
        self.source = source
        self.details = [p if isinstance(p, Problem) else Problem.parse(p) for p in problems]
        self.problems = [str(p) for p in self.details]
        super().__init__(f"{source}: " + "; ".join(self.problems))


class InstrumentNotFound(LookupError):
    def __init__(self, instrument_id: str, version: int | None = None) -> None:
        self.instrument_id = instrument_id
        self.version = version
        what = instrument_id if version is None else f"{instrument_id} version {version}"
        super().__init__(f"unknown instrument {what}")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader for instrument documents (duplicate keys are found on the node tree first)."""


def _walk_nodes(
    node: yaml.Node,
    path: str,
    seen: set[int],
    duplicates: list[Problem],
    count: list[int],
    active: frozenset[int] = frozenset(),
) -> None:
    """Report duplicate mapping keys with their path; count nodes with aliases expanded (an
    alias expands to its whole anchored subtree, which is what validation will walk)."""
    count[0] += 1
    if count[0] > MAX_NODES:
        raise _TooLarge(f"the document expands to more than {MAX_NODES} values (aliases?)")
    if id(node) in active:
        raise _TooLarge(f"{path}: an alias refers to a mapping or list that contains it")
    active = active | {id(node)}
    if isinstance(node, yaml.MappingNode):
        keys: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            child = f"{path}.{key}" if path else str(key)
            if key is not None and key in keys and id(node) not in seen:
                line = key_node.start_mark.line + 1
                duplicates.append(Problem(child, f"duplicate key {key!r} (line {line})"))
            keys.add(key)
            _walk_nodes(value_node, child, seen, duplicates, count, active)
        seen.add(id(node))
    elif isinstance(node, yaml.SequenceNode):
        for k, child_node in enumerate(node.value):
            _walk_nodes(child_node, f"{path}[{k}]", seen, duplicates, count, active)
        seen.add(id(node))


class _TooLarge(Exception):
    pass


def error_path(loc: tuple[int | str, ...]) -> str:
    """``("items", 3, "text", "en")`` -> ``items[3].text.en``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _format_errors(exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors():
        path = error_path(err["loc"])
        for msg in err["msg"].removeprefix("Value error, ").split("; "):
            # The whole-document checks put each problem's own path in its message.
            problems.append(Problem(path, msg) if path else Problem.parse(msg))
    return problems


def parse_instrument(data: Any, *, source: str = "<instrument>") -> InstrumentSpec:
    """Validate an already-parsed document (a dict) into an `InstrumentSpec`."""
    if not isinstance(data, dict):
        raise InstrumentError(source, [Problem("", "the document must be a mapping")])
    try:
        return InstrumentSpec.model_validate(data)
    except ValidationError as exc:
        raise InstrumentError(source, _format_errors(exc)) from None
    except RecursionError:
        raise InstrumentError(source, [Problem("", "the document is nested too deeply")]) from None


def _json_pairs(duplicates: list[Problem]) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                duplicates.append(Problem("", f"duplicate key {key!r}"))
            out[key] = value
        return out

    return hook


def read_document(content: bytes | str, *, fmt: DocumentFormat, source: str) -> Any:
    """The parsed YAML or JSON document (not yet validated). Refuses duplicate keys (all of
    them are listed), documents over `MAX_DOCUMENT_BYTES`, and alias expansions or nesting that
    would make validation walk more than `MAX_NODES` values."""
    if isinstance(content, bytes):
        if len(content) > MAX_DOCUMENT_BYTES:
            raise InstrumentError(source, [f"the document is over {MAX_DOCUMENT_BYTES} bytes"])
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InstrumentError(source, ["the document is not UTF-8"]) from None
    duplicates: list[Problem] = []
    try:
        if fmt == "json":
            try:
                data = json.loads(content, object_pairs_hook=_json_pairs(duplicates))
            except ValueError as exc:
                raise InstrumentError(source, [f"invalid JSON: {exc}"]) from None
        else:
            data = _read_yaml(content, source=source, duplicates=duplicates)
    except RecursionError:
        raise InstrumentError(source, ["the document is nested too deeply"]) from None
    if duplicates:
        raise InstrumentError(source, duplicates)
    return data


def _read_yaml(text: str, *, source: str, duplicates: list[Problem]) -> Any:
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            _walk_nodes(node, "", set(), duplicates, [0])
        except _TooLarge as exc:
            raise InstrumentError(source, [str(exc)]) from None
        if duplicates:
            return None
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise InstrumentError(source, [f"invalid YAML: {exc}"]) from None
    finally:
        loader.dispose()


def parse_document(content: bytes | str, *, fmt: DocumentFormat, source: str) -> InstrumentSpec:
    """Read and validate a YAML or JSON instrument document; `InstrumentError` lists every
    problem with its path."""
    return parse_instrument(read_document(content, fmt=fmt, source=source), source=source)


def document_format(path: str | os.PathLike[str]) -> DocumentFormat:
    """``json`` for ``*.json`` files, else ``yaml``."""
    return "json" if Path(path).suffix.lower() == ".json" else "yaml"


def load_instrument(path: str | os.PathLike[str]) -> InstrumentSpec:
    """Read and validate one instrument file (YAML, or JSON by suffix); raises
    `InstrumentError` naming each problem."""
    p = Path(path)
    try:
        content = p.read_bytes()
    except FileNotFoundError:
        raise InstrumentError(str(p), ["file not found"]) from None
    except IsADirectoryError:
        raise InstrumentError(str(p), ["not a file"]) from None
    return parse_document(content, fmt=document_format(p), source=str(p))


def json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of an instrument document, from `InstrumentSpec`. It checks
    structure and types; cross references, translations and the model are checked by
    `parse_instrument`."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **InstrumentSpec.model_json_schema(),
        "title": "pvm instrument document",
        "description": "See docs/instruments.md.",
    }


def instruments_dir() -> Path:
    override = os.environ.get("PVM_INSTRUMENTS_DIR")
    return Path(override) if override else DEFAULT_DIR


def _load_cached(path: Path) -> InstrumentSpec:
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _lock:
        spec = _cache.get(key)
    if spec is None:
        spec = load_instrument(path)
        with _lock:
            _cache[key] = spec
    return spec


def get_instrument(instrument_id: str, version: int | None = None) -> InstrumentSpec:
    """The instrument `instrument_id` (its current version unless `version` is given)."""
    if not _ID_RE.match(instrument_id):
        raise InstrumentNotFound(instrument_id, version)
    base = instruments_dir()
    current_path = base / f"{instrument_id}.yaml"
    candidates = [current_path]
    if version is not None:
        candidates.append(base / f"{instrument_id}.v{version}.yaml")
    for path in candidates:
        if not path.is_file():
            continue
        spec = _load_cached(path)
        if spec.id != instrument_id:
            raise InstrumentError(str(path), [f"id {spec.id!r} does not match the file name"])
        if version is None or spec.version == version:
            return spec
    raise InstrumentNotFound(instrument_id, version)


def list_instruments() -> list[InstrumentSpec]:
    """The current version of every instrument in the directory, sorted by id."""
    base = instruments_dir()
    if not base.is_dir():
        return []
    paths = sorted(p for p in base.glob("*.yaml") if _ID_RE.match(p.stem))
    return [get_instrument(p.stem) for p in paths]


def bundled_versions(instrument_id: str | None = None) -> list[InstrumentSpec]:
    """Every bundled version (archived ``<id>.v<n>.yaml`` files and the current ``<id>.yaml``)
    of every instrument, or of `instrument_id` only, sorted by id then version: the order in
    which they are stored, so that each id's current file is stored last. `InstrumentNotFound`
    if `instrument_id` has no file; `InstrumentError` for an archived file whose id or version
    is not the one its name says, or that is not below the current version."""
    current = list_instruments() if instrument_id is None else [get_instrument(instrument_id)]
    out: list[InstrumentSpec] = []
    base = instruments_dir()
    for spec in current:
        archived = []
        for path in base.glob(f"{spec.id}.v*.yaml"):
            match = _ARCHIVED_RE.match(path.name)
            if match is None or match["id"] != spec.id:
                continue
            old = _load_cached(path)
            if (old.id, old.version) != (spec.id, int(match["version"])):
                problem = f"id and version must be {spec.id!r} and {match['version']}"
                raise InstrumentError(str(path), [problem + " (the file name)"])
            if old.version >= spec.version:
                raise InstrumentError(
                    str(path), [f"an archived version must be below the current {spec.version}"]
                )
            archived.append(old)
        out += sorted(archived, key=lambda s: s.version) + [spec]
    return out
