"""The parameter table: every parameter of every group, as lavaan's ``parTable()``.

Columns (one :class:`ParRow` per parameter):

``id`` (1-based), ``lhs``, ``op``, ``rhs``, ``group`` (1-based block number), ``user`` (1 =
written in the syntax, 0 = added by a lavaan default), ``free`` (0 = fixed, k > 0 = position
k-1 in the free-parameter vector; rows that are constrained equal share the same k), ``ustart``
(the fixed value; NaN for free rows), ``exo`` (1 = fixed to a sample statistic, lavaan's
``fixed.x``), ``label`` (user label or ""), ``plabel`` (".p<id>.").

Equality constraints are therefore a shared ``free`` number: shared labels (also across groups,
as in lavaan), ``a == b`` and ``group_equal`` all reduce to it.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from app.stats.sem.defined import compile_expr, names_in
from app.stats.sem.errors import ModelError
from app.stats.sem.syntax import (
    Constraint,
    Definition,
    Formula,
    Modifier,
    ParsedModel,
    parse_model,
)

GROUP_EQUAL = (
    "loadings",
    "intercepts",
    "means",
    "residuals",
    "residual.covariances",
    "lv.variances",
    "lv.covariances",
    "regressions",
)


@dataclass
class ParRow:
    id: int
    lhs: str
    op: str
    rhs: str
    group: int
    user: int
    free: int
    ustart: float
    exo: int = 0
    label: str = ""
    plabel: str = ""
    wants_free: bool = field(default=False, repr=False)  # NA* modifier


@dataclass
class VarNames:
    """Variable classes as lavaan's ``lav_partable_vnames``."""

    ov: list[str]  # observed variables in model order
    lv: list[str]  # latent variables (lhs of =~)
    ov_x: list[str]  # pure exogenous observed (fixed.x)
    lv_x: list[str]
    lvov_y: list[str]  # pure dependent lv and ov (auto.cov.y)


@dataclass
class ParTable:
    """All parameters of a (possibly multi-group) model.

    ``rows`` as described in the module docstring; ``npar`` = number of free parameters
    after equality constraints; ``groups`` the group labels (``[None]`` for one group).
    """

    rows: list[ParRow]
    names: VarNames
    groups: list[str | None]
    meanstructure: bool
    definitions: list[Definition]
    # share_labels=False: the labels written once that were made group-specific (group_label)
    unshared_labels: list[str] = field(default_factory=list)

    @property
    def npar(self) -> int:
        return max((r.free for r in self.rows), default=0)

    def free_rows(self) -> list[ParRow]:
        """The first row of each free parameter, in parameter order."""
        seen: dict[int, ParRow] = {}
        for r in self.rows:
            if r.free and r.free not in seen:
                seen[r.free] = r
        return [seen[k] for k in sorted(seen)]

    def label_index(self) -> dict[str, ParRow]:
        """Rows by user label (first occurrence) and by plabel."""
        out: dict[str, ParRow] = {}
        for r in self.rows:
            if r.label and r.label not in out:
                out[r.label] = r
            out[r.plabel] = r
        return out


def _var_names(formulas: list[Formula]) -> VarNames:
    lv = list(dict.fromkeys(f.lhs for f in formulas if f.op == "=~"))
    ind = list(dict.fromkeys(f.rhs for f in formulas if f.op == "=~"))
    eqs_y = list(dict.fromkeys(f.lhs for f in formulas if f.op == "~"))
    eqs_x = list(dict.fromkeys(f.rhs for f in formulas if f.op == "~"))
    seen: list[str] = []
    for f in formulas:
        for v in (f.lhs, f.rhs) if f.op != "=~" else (f.rhs,):
            if v and v not in lv and v not in seen:
                seen.append(v)
    ov_ind = [v for v in ind if v not in lv]
    ov = ov_ind + [v for v in seen if v not in ov_ind]
    ov_y = [v for v in eqs_y if v not in lv and v not in ov_ind]
    ov_x = [v for v in eqs_x if v not in lv and v not in ov_ind and v not in ov_y]
    lv_x = [v for v in lv if v not in ind and v not in eqs_y]
    lv_y = [v for v in lv if v in eqs_y and v not in ind and v not in eqs_x]
    pure_ov_y = [v for v in ov if v in eqs_y and v not in ind and v not in eqs_x]
    return VarNames(ov, lv, ov_x, lv_x, lv_y + pure_ov_y)


def _mod(f: Formula, g: int) -> Modifier:
    return f.modifiers[g] if len(f.modifiers) > 1 else f.modifiers[0]


def _key(lhs: str, op: str, rhs: str) -> tuple[str, str, str]:
    if op == "~~" and rhs < lhs:
        return (rhs, op, lhs)
    return (lhs, op, rhs)


def _eq_class(row: ParRow, names: VarNames) -> str | None:
    """Which ``group_equal`` keyword covers a row."""
    lv = set(names.lv)
    if row.op == "=~":
        return "loadings"
    if row.op == "~":
        return "regressions"
    if row.op == "~1":
        return "means" if row.lhs in lv else "intercepts"
    if row.op == "~~":
        latent = row.lhs in lv
        if row.lhs == row.rhs:
            return "lv.variances" if latent else "residuals"
        return "lv.covariances" if latent else "residual.covariances"
    return None


def build_partable(
    model: str,
    *,
    groups: Sequence[str | None] = (None,),
    meanstructure: bool = False,
    group_equal: Sequence[str] = (),
    share_labels: bool = True,
    group_partial: Sequence[str] = (),
    std_lv: bool = False,
) -> ParTable:
    """Parse lavaan syntax and add lavaan's ``sem()``/``cfa()`` defaults.

    Parameters
    ----------
    model : str
        lavaan model syntax.
    groups : sequence of str or None
        Group labels in lavaan's order (first appearance in the data); ``(None,)`` = one group.
    meanstructure : bool
        Add observed intercepts (free) and latent means (fixed 0).
    group_equal : sequence of str
        lavaan ``group.equal`` keywords (see ``GROUP_EQUAL``).
    share_labels : bool
        True (lavaan): a label written once (``a*x``) names the same parameter in every group,
        so the groups share it. False (an invariance sequence, whose levels must differ only
        by ``group_equal``): in a multi-group table each becomes one label per group
        (:func:`group_label`: ``a`` -> ``a__g1``, ``a__g2``, ...), and the ``==`` and ``:=``
        statements that use them are repeated per group (``ind := a*b`` -> ``ind__g1 :=
        a__g1*b__g1``, ...); ``unshared_labels`` lists them. Per-group labels (``c(a1, a2)*x``)
        are kept as written.
    group_partial : sequence of str
        lavaan ``group.partial``: parameters (``"REL1~1"``, ``"TAN=~TAN2"``, ``"x1~~x1"``;
        spaces ignored) left free across groups although ``group_equal`` covers them.
    std_lv : bool
        lavaan's ``std.lv``: every latent (residual) variance added by default is fixed to 1
        and first loadings stay free (no ``auto.fix.first``); with ``loadings`` in
        ``group_equal`` the latent variances of groups 2..G are free, as lavaan does.

    Returns
    -------
    ParTable
    """
    parsed = parse_model(model)
    unshared: list[str] = []
    if not share_labels and len(groups) > 1:
        parsed, unshared = _unshare_labels(parsed, len(groups))
    bad = [g for g in group_equal if g not in GROUP_EQUAL]
    if bad:
        raise ModelError(f"unknown group_equal value(s): {bad}")
    formulas = parsed.formulas
    ngroups = len(groups)
    for f in formulas:
        if len(f.modifiers) not in (1, ngroups):
            raise ModelError(f"c() modifier of {f.lhs} {f.op} {f.rhs} needs {ngroups} values")
    if any(f.op == "~1" for f in formulas) or {"intercepts", "means"} & set(group_equal):
        meanstructure = True
    names = _var_names(formulas)
    _check_formulas(formulas, names)
    rows: list[ParRow] = []
    for g in range(ngroups):
        _add_group_rows(rows, formulas, names, g, meanstructure)
    _auto_fix_first(rows, names, ngroups, std_lv)
    if std_lv:
        _fix_lv_variances(rows, names, free_later=ngroups > 1 and "loadings" in group_equal)
    _auto_fix_single(rows, formulas, names)
    if ngroups > 1 and "intercepts" in group_equal and "means" not in group_equal:
        _free_latent_means(rows, names)
    partial = {partial_key(p) for p in group_partial}
    unknown = sorted(partial - {k for r in rows for k in (row_key(r), _swapped(r))})
    if unknown:
        raise ModelError(f"group_partial names no parameter of the model: {', '.join(unknown)}")
    _number_free(rows, parsed.constraints, names, group_equal, partial)
    for r in rows:
        r.plabel = f".p{r.id}."
    return ParTable(rows, names, list(groups), meanstructure, parsed.definitions, unshared)


def _check_formulas(formulas: list[Formula], names: VarNames) -> None:
    """Reject a latent measured by itself, a self-regression, a name both latent and observed."""
    for f in formulas:
        if f.op == "=~" and f.lhs == f.rhs:
            raise ModelError(f"latent variable {f.lhs} can not be measured by itself")
        if f.op == "~" and f.lhs == f.rhs:
            raise ModelError(f"{f.lhs} can not be regressed on itself ({f.lhs} ~ {f.rhs})")
        if f.op == "=~" and f.lhs in names.ov:
            raise ModelError(f"{f.lhs} is both latent and observed")


def _new_row(
    rows: list[ParRow], lhs: str, op: str, rhs: str, g: int, user: int, mod: Modifier, exo: int
) -> ParRow:
    """A row numbered after ``rows``; free (-1, numbered later) unless fixed or exogenous."""
    fixed = mod.fixed
    return ParRow(
        id=len(rows) + 1,
        lhs=lhs,
        op=op,
        rhs=rhs,
        group=g + 1,
        user=user,
        free=0 if fixed is not None or exo else -1,
        ustart=fixed if fixed is not None else math.nan,
        exo=exo,
        label=mod.label or "",
        wants_free=mod.free,
    )


def _add_group_rows(
    rows: list[ParRow], formulas: list[Formula], names: VarNames, g: int, meanstructure: bool
) -> None:
    """Group ``g``'s (0-based) rows: the syntax's, then lavaan's defaults it did not write.

    Defaults: (residual) variances of every non-exogenous observed and every latent variable,
    covariances among exogenous latents and among pure dependent variables, the fixed.x
    (co)variances of exogenous observed variables and, with a mean structure, intercepts
    (free; fixed.x for exogenous ones) and latent means fixed at 0.
    """
    present: set[tuple[str, str, str]] = set()
    for f in formulas:
        k = _key(f.lhs, f.op, f.rhs)
        if k in present:
            raise ModelError(f"duplicate parameter: {f.lhs} {f.op} {f.rhs}")
        present.add(k)
        rows.append(_new_row(rows, f.lhs, f.op, f.rhs, g, 1, _mod(f, g), 0))

    def default(lhs: str, op: str, rhs: str, mod: Modifier | None = None, exo: int = 0) -> None:
        k = _key(lhs, op, rhs)
        if k not in present:
            present.add(k)
            rows.append(_new_row(rows, lhs, op, rhs, g, 0, mod or Modifier(), exo))

    ov_nox = [v for v in names.ov if v not in names.ov_x]
    for v in ov_nox + names.lv:
        default(v, "~~", v)
    for a, b in itertools.combinations(names.lv_x, 2):
        default(a, "~~", b)
    for a, b in itertools.combinations(names.lvov_y, 2):
        default(a, "~~", b)
    for i, a in enumerate(names.ov_x):
        for b in names.ov_x[i:]:
            default(a, "~~", b, exo=1)
    if meanstructure:
        for v in ov_nox:
            default(v, "~1", "")
        for v in names.ov_x:
            default(v, "~1", "", exo=1)
        for v in names.lv:
            default(v, "~1", "", Modifier(fixed=0.0))


def _auto_fix_first(rows: list[ParRow], names: VarNames, ngroups: int, std_lv: bool) -> None:
    """lavaan's auto.fix.first: the first loading of every latent is 1 unless the user fixed
    or freed it explicitly (or ``std_lv``)."""
    for g in range(1, ngroups + 1):
        for lvname in names.lv:
            first = next(r for r in rows if r.group == g and r.op == "=~" and r.lhs == lvname)
            if first.free == -1 and not first.wants_free and not std_lv:
                first.free, first.ustart = 0, 1.0


def _fix_lv_variances(rows: list[ParRow], names: VarNames, *, free_later: bool) -> None:
    """std.lv: default latent (residual) variances fixed at 1 (groups 2.. free if
    ``free_later``, lavaan's choice with equal loadings)."""
    lv_set = set(names.lv)
    for r in rows:
        lv_var = r.op == "~~" and r.lhs == r.rhs and r.lhs in lv_set and r.user == 0
        if lv_var and not (free_later and r.group > 1):
            r.free, r.ustart = 0, 1.0


def _auto_fix_single(rows: list[ParRow], formulas: list[Formula], names: VarNames) -> None:
    """lavaan's auto.fix.single: the residual variance of the only (observed) indicator of a
    latent variable is fixed to 0 unless the syntax mentions it."""
    lv_set = set(names.lv)
    for lvname in names.lv:
        inds = {f.rhs for f in formulas if f.op == "=~" and f.lhs == lvname}
        if len(inds) != 1 or next(iter(inds)) in lv_set:
            continue
        (ind,) = inds
        for r in rows:
            if r.op == "~~" and r.lhs == ind and r.rhs == ind and r.user == 0:
                r.free, r.ustart = 0, 0.0


def _free_latent_means(rows: list[ParRow], names: VarNames) -> None:
    """group.equal with intercepts: latent means are free in all groups but the first."""
    lv_set = set(names.lv)
    for r in rows:
        if r.op == "~1" and r.lhs in lv_set and r.group > 1 and r.user == 0:
            r.free, r.ustart = -1, math.nan


def group_label(label: str, group: int) -> str:
    """A label made specific to group ``group`` (1-based): ``a`` -> ``a__g2``."""
    return f"{label}__g{group}"


def _swapped(row: ParRow) -> str:
    return f"{row.rhs}{row.op}{row.lhs}" if row.op == "~~" else row_key(row)


def _unshare_labels(parsed: ParsedModel, ngroups: int) -> tuple[ParsedModel, list[str]]:
    """``parsed`` with each label written once for all groups made group-specific; the ``==``
    and ``:=`` statements that use them are repeated per group with the group's names."""
    shared: list[str] = []
    formulas: list[Formula] = []
    for f in parsed.formulas:
        mods = f.modifiers
        if len(mods) == 1 and mods[0].label:
            label = mods[0].label
            shared.append(label)
            mods = [replace(mods[0], label=group_label(label, g)) for g in range(1, ngroups + 1)]
        formulas.append(replace(f, modifiers=mods))
    renamed = set(shared)
    constraints: list[Constraint] = []
    for c in parsed.constraints:
        if {c.lhs, c.rhs} & renamed:
            constraints += [
                Constraint(_rename(c.lhs, renamed, g), _rename(c.rhs, renamed, g))
                for g in range(1, ngroups + 1)
            ]
        else:
            constraints.append(c)
    definitions: list[Definition] = []
    for d in parsed.definitions:  # in order: a definition may use an earlier, renamed one
        used = set(names_in(compile_expr(d.expr))) & renamed
        if not used:
            definitions.append(d)
            continue
        renamed.add(d.name)
        for g in range(1, ngroups + 1):
            expr = d.expr
            for name in used:
                expr = re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w.])", group_label(name, g), expr)
            definitions.append(Definition(group_label(d.name, g), expr))
    return ParsedModel(formulas, definitions, constraints), list(dict.fromkeys(shared))


def _rename(name: str, renamed: set[str], group: int) -> str:
    return group_label(name, group) if name in renamed else name


def partial_key(text: str) -> str:
    """A ``group.partial`` entry as compared with rows: spaces removed."""
    return "".join(text.split())


def row_key(row: ParRow) -> str:
    """A row as lavaan's ``group.partial`` names it (``REL1~1``, ``TAN=~TAN2``)."""
    return f"{row.lhs}{row.op}{row.rhs}"


def _number_free(
    rows: list[ParRow],
    constraints: list,
    names: VarNames,
    group_equal: Sequence[str],
    partial: set[str],
) -> None:
    """Give free rows their parameter numbers; equal rows share one number."""
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        while parent.get(i, i) != i:
            i = parent.get(i, i)
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    free = [r for r in rows if r.free == -1]
    by_label: dict[str, int] = {}
    for r in free:
        if r.label:
            if r.label in by_label:
                union(by_label[r.label], r.id)
            else:
                by_label[r.label] = r.id
    for c in constraints:
        if c.lhs not in by_label or c.rhs not in by_label:
            raise ModelError(f"constraint {c.lhs} == {c.rhs} names an unknown free parameter")
        union(by_label[c.lhs], by_label[c.rhs])
    if group_equal:
        first = {(r.lhs, r.op, r.rhs): r for r in free if r.group == 1}
        for r in free:
            ref = first.get((r.lhs, r.op, r.rhs))
            covered = ref is not None and _eq_class(r, names) in group_equal
            if r.group > 1 and covered and not {row_key(r), _swapped(r)} & partial:
                union(ref.id, r.id)  # type: ignore[union-attr]
    numbers: dict[int, int] = {}
    for r in free:
        root = find(r.id)
        if root not in numbers:
            numbers[root] = len(numbers) + 1
        r.free = numbers[root]
