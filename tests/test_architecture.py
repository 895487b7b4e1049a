"""The house rules of DESIGN.md that a machine can check: no import cycles in app/ (imports
inside functions, under TYPE_CHECKING and through importlib count), no private name of another
module imported or reached through a module object (``m._x``, ``app.m._x``), and a scientific core (app/stats) that imports no web, database or other app package."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
WEB_AND_DB = ("fastapi", "starlette", "sqlalchemy", "jinja2", "celery", "redis", "uvicorn")


def _modules() -> dict[str, Path]:
    out = {}
    for path in APP.rglob("*.py"):
        parts = path.relative_to(APP.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path, source: str | None = None) -> list[tuple[str, str | None]]:
    """(module, imported name or None) for every import in the file, at any depth."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: list[tuple[str, str | None]] = []
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [(module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, None))
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for module, imported in _imports(name, path):
            target = f"{module}.{imported}" if f"{module}.{imported}" in MODULES else module
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_deferred_relative_and_importlib_imports() -> None:
    # imports inside functions, under TYPE_CHECKING, relative and through importlib all count
    path = MODULES["app.stats.sem.fit"]
    found = _imports(
        "app.stats.sem.fit",
        path,
        "import importlib\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from app.stats.sem.summary import summarize\n"
        "def f():\n"
        "    from . import robust\n"
        "    from ..efa import efa\n"
        "    importlib.import_module('app.stats.sem.bootstrap')\n",
    )
    assert ("app.stats.sem.summary", "summarize") in found
    assert ("app.stats.sem", "robust") in found
    assert ("app.stats.efa", "efa") in found
    assert ("app.stats.sem.bootstrap", None) in found


def test_no_import_cycles_in_app() -> None:
    assert _cycles(_graph()) == []


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` of a chain of attribute accesses on a name, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _private_uses(name: str, path: Path, source: str | None = None) -> list[str]:
    """Private names of another app module that the file imports (``from m import _x``) or
    reaches through a module it imported (``import app.m as m; m._x``, ``app.m._x``)."""
    found = [
        f"{name} imports {module}.{imported}"
        for module, imported in _imports(name, path, source)
        if (module == "app" or module.startswith("app."))
        and module != name
        and imported is not None
        and _is_private(imported)
    ]
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    aliases: dict[str, str] = {}  # local name -> app module it is bound to
    for module, imported in _imports(name, path, source):
        if imported is not None and f"{module}.{imported}" in MODULES:
            aliases[imported] = f"{module}.{imported}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in MODULES:
                    aliases[alias.asname] = alias.name
                elif alias.name.split(".")[0] == "app":
                    aliases["app"] = "app"
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.asname and alias.name in aliases:
                    aliases[alias.asname] = aliases.pop(alias.name)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
            continue
        owner = _dotted(node.value)
        if owner is None:
            continue
        head, _, rest = owner.partition(".")
        if head not in aliases:
            continue
        module = aliases[head] + (f".{rest}" if rest else "")
        if module in MODULES and module != name:
            found.append(f"{name} uses {module}.{node.attr}")
    return found


def test_the_private_name_checker_finds_imports_and_attribute_uses() -> None:
    here = MODULES["app.fits.cli"]
    uses = _private_uses(
        "app.fits.cli",
        here,
        "from app.cli import _session\n"
        "import app.cli as c\n"
        "from app import cli as c2\n"
        "import app.cli\n"
        "def f(self):\n"
        "    c._a(); c2._b(); app.cli._c(); c.__name__; self._d; c.public()\n",
    )
    assert uses == [
        "app.fits.cli imports app.cli._session",
        "app.fits.cli uses app.cli._a",
        "app.fits.cli uses app.cli._b",
        "app.fits.cli uses app.cli._c",
    ]
    # a module's own private names and its own attributes are its business
    assert _private_uses("app.cli", MODULES["app.cli"], "import app.cli as me\nme._x\n") == []


def test_no_private_name_is_imported_from_another_module() -> None:
    private = [use for name, path in MODULES.items() for use in _private_uses(name, path)]
    assert private == []


def test_the_scientific_core_imports_no_web_database_or_app_layer() -> None:
    bad = [
        f"{name} imports {module}"
        for name, path in MODULES.items()
        if name.startswith("app.stats")
        for module, _ in _imports(name, path)
        if module.split(".")[0] in WEB_AND_DB
        or (module.startswith("app.") and not module.startswith("app.stats"))
    ]
    assert bad == []


def test_outside_the_engine_only_its_public_api_is_used() -> None:
    """Code outside app/stats/sem imports ``app.stats.sem`` itself, never its modules."""
    deep = [
        f"{name} imports {module}"
        for name, path in MODULES.items()
        if not name.startswith("app.stats.sem")
        for module, _ in _imports(name, path)
        if module.startswith("app.stats.sem.")
    ]
    assert deep == []
