"""A parser for the subset of lavaan model syntax that pvm supports.

Supported: ``=~`` (loadings), ``~`` (regressions; ``y ~ 1`` intercepts), ``~~`` (variances and
covariances), ``~1`` intercepts, ``:=`` defined parameters, ``==`` equality of two labels,
modifiers ``a*x`` (label), ``1*x`` / ``0.5*x`` (fixed value), ``NA*x`` (free), ``c(a, b)*x``
(one modifier per group), ``start(v)*x`` / ``v?x`` (start values, accepted and ignored),
comments (``#`` and ``!``), ``;`` separators and statements spread over several lines.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from app.stats.sem.errors import ModelError

_OPS = re.compile(r"=~|<~|~~|:=|==|~|<|>")
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass
class Modifier:
    """What a ``*`` prefix says about one parameter (per group when given as ``c()``).

    ``fixed`` is a value (None = not fixed), ``free`` is True for ``NA*``, ``label`` a name.
    """

    label: str | None = None
    fixed: float | None = None
    free: bool = False


@dataclass
class Formula:
    """One parameter statement: ``lhs op rhs`` with per-group modifiers.

    ``modifiers`` has one entry, or one per group when ``c(...)`` was used.
    """

    lhs: str
    op: str
    rhs: str
    modifiers: list[Modifier] = field(default_factory=lambda: [Modifier()])


@dataclass
class Definition:
    """A defined parameter ``name := expression``."""

    name: str
    expr: str


@dataclass
class Constraint:
    """An equality constraint ``lhs == rhs`` between two labels."""

    lhs: str
    rhs: str


@dataclass
class ParsedModel:
    formulas: list[Formula]
    definitions: list[Definition]
    constraints: list[Constraint]


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


@dataclass
class _Statement:
    """One statement's text and the (line, column) in the model text of each character."""

    text: str
    where: list[tuple[int, int]]

    def locate(self, token: str | None) -> tuple[int, int]:
        """Where ``token`` starts in the statement (its first character when not found)."""
        at = self.text.find(token) if token else -1
        return self.where[max(at, 0)]


def _statements(model: str) -> list[_Statement]:
    """Strip comments and join continuation lines into whole statements."""
    out: list[_Statement] = []
    for ln, raw in enumerate(model.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        line = re.split(r"[#!]", raw, maxsplit=1)[0]
        for m in re.finditer(r"[^;]+", line):
            piece = m.group(0).strip()
            if not piece:
                continue
            start = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
            where = [(ln, start + 1 + k) for k in range(len(piece))]
            continues = bool(out) and (
                re.search(r"(\+|\*|=~|~~|~|:=|==|,|\()$", out[-1].text) is not None
                or piece[0] in "+*,)"
                or _OPS.search(piece) is None
            )
            if continues:
                out[-1] = _Statement(out[-1].text + " " + piece, out[-1].where + where[:1] + where)
            else:
                out.append(_Statement(piece, where))
    return out


class _TokenError(ModelError):
    """A ModelError about ``token`` (its position is added by ``parse_model``)."""

    def __init__(self, message: str, token: str | None = None) -> None:
        super().__init__(message)
        self.token = token


def _value(token: str) -> Modifier:
    token = token.strip()
    if token in ("NA", "na"):
        return Modifier(free=True)
    if _NUMBER.match(token):
        return Modifier(fixed=float(token))
    if re.match(r"^start\(.*\)$", token):
        return Modifier()
    if _NAME.match(token):
        return Modifier(label=token)
    raise _TokenError(f"cannot read modifier {token!r}", token)


def _modifiers(tokens: list[str]) -> list[Modifier]:
    """Combine the ``*`` prefixes of one term (e.g. ``a*1*x``) into per-group modifiers."""
    per_group: list[Modifier] = [Modifier()]
    for tok in tokens:
        if tok.startswith("c(") and tok.endswith(")"):
            vals = [_value(v) for v in _split_top(tok[2:-1], ",")]
        else:
            vals = [_value(tok)]
        if len(per_group) == 1 and len(vals) > 1:
            per_group = [Modifier(**vars(per_group[0])) for _ in vals]
        if len(vals) == 1 and len(per_group) > 1:
            vals = vals * len(per_group)
        if len(vals) != len(per_group):
            raise ModelError("c() modifiers of one term must have the same length")
        for m, v in zip(per_group, vals, strict=True):
            if v.label is not None:
                m.label = v.label
            if v.fixed is not None:
                m.fixed, m.free = v.fixed, False
            if v.free:
                m.fixed, m.free = None, True
    return per_group


def _check_name(name: str, stmt: str) -> str:
    if not _NAME.match(name):
        raise _TokenError(f"invalid variable name {name!r} in: {stmt}", name)
    return name


def _statement(
    stmt: str,
    formulas: list[Formula],
    definitions: list[Definition],
    constraints: list[Constraint],
) -> None:
    """Parse one statement into ``formulas``, ``definitions`` or ``constraints``."""
    match = _OPS.search(stmt)
    if match is None:
        raise ModelError(f"no operator in: {stmt}")
    op = match.group(0)
    lhs_text, rhs_text = stmt[: match.start()].strip(), stmt[match.end() :].strip()
    if not lhs_text or not rhs_text:
        raise ModelError(f"incomplete statement: {stmt}")
    if op == ":=":
        definitions.append(Definition(_check_name(lhs_text, stmt), rhs_text))
        return
    if op == "==":
        constraints.append(Constraint(_check_name(lhs_text, stmt), _check_name(rhs_text, stmt)))
        return
    if op in ("<", ">", "<~"):
        raise _TokenError(f"operator {op!r} is not supported: {stmt}", op)
    if op == "~" and re.fullmatch(r"1", rhs_text):
        op, rhs_text = "~1", ""
    lhs_names = [_check_name(x, stmt) for x in _split_top(lhs_text, "+")]
    if op == "~1":
        for lhs in lhs_names:
            formulas.append(Formula(lhs, "~1", ""))
        return
    for term in _split_top(rhs_text, "+"):
        if not term:
            raise _TokenError(f"empty term in: {stmt}", "+")
        if "?" in term and "*" not in term:
            term = term.split("?", 1)[1].strip()
        tokens = _split_top(term, "*")
        name = tokens[-1]
        mods = _modifiers(tokens[:-1]) if len(tokens) > 1 else [Modifier()]
        this_op = op
        if op == "~" and name == "1":
            this_op, name = "~1", ""
        elif op in ("~", "~~") and _NUMBER.match(name):
            raise _TokenError(f"a number is not a variable: {stmt}", name)
        else:
            _check_name(name, stmt)
        for lhs in lhs_names:
            rhs = name if this_op != "~1" else ""
            formulas.append(Formula(lhs, this_op, rhs, [Modifier(**vars(m)) for m in mods]))


def parse_model(model: str) -> ParsedModel:
    """Parse lavaan model syntax.

    Parameters
    ----------
    model : str
        Model in lavaan syntax.

    Returns
    -------
    ParsedModel
        Formulas in syntax order (``y ~ 1`` becomes op ``~1``), definitions and constraints.

    Raises
    ------
    ModelError
        On anything that is not understood.
    """
    formulas: list[Formula] = []
    definitions: list[Definition] = []
    constraints: list[Constraint] = []
    for statement in _statements(model):
        try:
            _statement(statement.text, formulas, definitions, constraints)
        except _TokenError as exc:
            line, col = statement.locate(exc.token)
            raise ModelError(f"line {line}, column {col}: {exc}") from None
        except ModelError as exc:
            line, col = statement.locate(None)
            raise ModelError(f"line {line}, column {col}: {exc}") from None
    if not formulas:
        raise ModelError("the model has no parameters")
    for f in formulas:
        for m in f.modifiers:
            if m.fixed is not None and not math.isfinite(m.fixed):
                raise ModelError(f"fixed value must be finite: {f.lhs} {f.op} {f.rhs}")
    return ParsedModel(formulas, definitions, constraints)
