"""Find, load and validate instrument files.

The current version of instrument ``<id>`` is ``<dir>/<id>.yaml``; earlier versions that are kept
for surveys already fielded with them live beside it as ``<dir>/<id>.v<version>.yaml``. The
directory is the repository's ``instruments/`` unless ``PVM_INSTRUMENTS_DIR`` points elsewhere.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.instruments.spec import InstrumentSpec

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "instruments"
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_cache: dict[tuple[str, int, int], InstrumentSpec] = {}
_lock = threading.Lock()


class InstrumentError(ValueError):
    """An instrument file that cannot be used; the message lists every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class InstrumentNotFound(LookupError):
    def __init__(self, instrument_id: str, version: int | None = None) -> None:
        self.instrument_id = instrument_id
        self.version = version
        what = instrument_id if version is None else f"{instrument_id} version {version}"
        super().__init__(f"unknown instrument {what}")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def error_path(loc: tuple[int | str, ...]) -> str:
    """``("items", 3, "text", "en")`` -> ``items[3].text.en``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _format_errors(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for err in exc.errors():
        loc = error_path(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        problems.extend(f"{loc}: {m}" if loc else m for m in msg.split("; "))
    return problems


def parse_instrument(data: Any, *, source: str = "<instrument>") -> InstrumentSpec:
    """Validate an already-parsed document (a dict) into an `InstrumentSpec`."""
    if not isinstance(data, dict):
        raise InstrumentError(source, ["the document must be a mapping"])
    try:
        return InstrumentSpec.model_validate(data)
    except ValidationError as exc:
        raise InstrumentError(source, _format_errors(exc)) from None


def load_instrument(path: str | os.PathLike[str]) -> InstrumentSpec:
    """Read and validate one instrument file; raises `InstrumentError` naming each problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InstrumentError(str(p), ["file not found"]) from None
    except UnicodeDecodeError:
        raise InstrumentError(str(p), ["file is not UTF-8"]) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InstrumentError(str(p), [f"invalid YAML: {exc}"]) from None
    return parse_instrument(data, source=str(p))


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
