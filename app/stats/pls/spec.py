"""PLS path models in lavaan-style text: ``=~`` reflective, ``<~`` formative (mode B), ``~``
structural paths. Modifiers (``a*x``), ``~~``, ``:=`` and constraints have no meaning in PLS
and are refused with the reason."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.stats.sem import ModelError

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_OPS = ("=~", "<~", "~~", ":=", "==", "~")


@dataclass(frozen=True)
class Construct:
    """One construct: its items, and whether it is ``reflective`` (``=~``) or a mode-B
    composite (``<~``)."""

    name: str
    items: tuple[str, ...]
    reflective: bool


@dataclass(frozen=True)
class PlsSpec:
    """A parsed PLS path model. ``paths`` are ``(source, target)`` pairs in syntax order;
    ``constructs`` in order of first definition."""

    constructs: tuple[Construct, ...]
    paths: tuple[tuple[str, str], ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.constructs]

    @property
    def items(self) -> list[str]:
        return [i for c in self.constructs for i in c.items]

    def construct(self, name: str) -> Construct:
        return next(c for c in self.constructs if c.name == name)

    def antecedents(self, target: str) -> list[str]:
        return [s for s, t in self.paths if t == target]

    @property
    def endogenous(self) -> list[str]:
        """Constructs with at least one antecedent, in construct order."""
        targets = {t for _, t in self.paths}
        return [c for c in self.names if c in targets]


def _terms(side: str, statement: str) -> list[str]:
    names = [t.strip() for t in side.split("+")]
    for name in names:
        if "*" in name:
            raise ModelError(f"modifiers (a*x) have no meaning in a PLS model: {statement}")
        if not _NAME.match(name):
            raise ModelError(f"not a variable name: {name!r} in {statement}")
    return names


def parse_pls(model: str) -> PlsSpec:
    """Read a PLS path model; raises ModelError naming the statement that cannot be used."""
    blocks: dict[str, tuple[list[str], bool]] = {}
    paths: list[tuple[str, str]] = []
    for raw in re.split(r"[\n;]", model or ""):
        statement = raw.split("#", 1)[0].strip()
        if not statement:
            continue
        op = next((o for o in _OPS if o in statement), None)
        if op is None:
            raise ModelError(f"cannot read {statement!r} (use =~, <~ or ~)")
        if op in ("~~", ":=", "=="):
            raise ModelError(f"{op} has no meaning in a PLS path model: {statement}")
        lhs, rhs = (s.strip() for s in statement.split(op, 1))
        left, right = _terms(lhs, statement), _terms(rhs, statement)
        if op in ("=~", "<~"):
            if len(left) != 1:
                raise ModelError(f"one construct per measurement statement: {statement}")
            name = left[0]
            items, reflective = blocks.get(name, ([], op == "=~"))
            if items and reflective != (op == "=~"):
                raise ModelError(f"{name} is measured both by =~ and <~")
            items.extend(i for i in right if i not in items)
            blocks[name] = (items, op == "=~")
        else:
            paths += [(x, y) for y in left for x in right]
    if not blocks:
        raise ModelError("the model defines no construct (=~ or <~)")
    for name, (items, _) in blocks.items():
        if name in items:
            raise ModelError(f"{name} can not be measured by itself")
    owners: dict[str, str] = {}
    for name, (items, _) in blocks.items():
        for item in items:
            if item in blocks:
                raise ModelError(
                    f"{item} is a construct, not an item (higher-order models are not supported)"
                )
            if item in owners:
                raise ModelError(f"item {item} measures both {owners[item]} and {name}")
            owners[item] = name
    for source, target in paths:
        for end in (source, target):
            if end not in blocks:
                raise ModelError(f"{end} in a path is not a construct")
        if source == target:
            raise ModelError(f"a path from {source} to itself")
    if len(set(paths)) != len(paths):
        raise ModelError("a path is given twice")
    if not paths:
        raise ModelError("the model has no structural path (~)")
    _check_acyclic(list(blocks), paths)
    constructs = tuple(Construct(n, tuple(i), r) for n, (i, r) in blocks.items())
    return PlsSpec(constructs, tuple(paths))


def _check_acyclic(names: list[str], paths: list[tuple[str, str]]) -> None:
    remaining = set(names)
    edges = set(paths)
    while remaining:
        sources = {n for n in remaining if not any(t == n and s in remaining for s, t in edges)}
        if not sources:
            raise ModelError(
                "the structural model has a feedback loop; PLS needs a recursive model"
            )
        remaining -= sources
