"""The house rules of DESIGN.md that a machine can check: no import cycles in app/ (imports
inside functions and through importlib count), no private name imported from another module,
and a scientific core (app/stats) that imports no web, database or other app package."""

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


def _imports(name: str, path: Path) -> list[tuple[str, str | None]]:
    """(module, imported name or None) for every import in the file, at any depth."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
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


def test_no_import_cycles_in_app() -> None:
    assert _cycles(_graph()) == []


def test_no_private_name_is_imported_from_another_module() -> None:
    private = [
        f"{name} imports {module}.{imported}"
        for name, path in MODULES.items()
        for module, imported in _imports(name, path)
        if module.startswith("app")
        and module != name
        and imported is not None
        and imported.startswith("_")
        and not imported.startswith("__")
    ]
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
