"""Defined parameters (``name := expression``): safe evaluation and the delta method."""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping

import numpy as np

from app.stats.sem.errors import ModelError

_FUNCS: dict[str, Callable[..., float]] = {
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "abs": abs,
}
_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


_ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Call,
    ast.operator,
    ast.unaryop,
)


MAX_EXPR_CHARS = 2_000
MAX_EXPR_DEPTH = 64  # nesting of operations; evaluation recurses this deep


def compile_expr(expr: str) -> ast.Expression:
    """Parse an R arithmetic expression (``^`` is power) into a Python AST, or raise.

    Long or deeply nested expressions are refused (ModelError) before Python's parser and
    the recursive evaluation could run out of stack (RecursionError, MemoryError)."""
    if len(expr) > MAX_EXPR_CHARS:
        raise ModelError(
            f"defined parameter expression longer than {MAX_EXPR_CHARS} characters: "
            f"{expr[:40]!r}..."
        )
    try:
        tree = ast.parse(expr.replace("^", "**"), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ModelError(f"cannot read defined parameter expression {expr[:200]!r}") from exc
    if _depth(tree) > MAX_EXPR_DEPTH:
        raise ModelError(
            f"defined parameter expression nested more than {MAX_EXPR_DEPTH} levels deep: "
            f"{expr[:40]!r}..."
        )
    for node in ast.walk(tree):
        ok = isinstance(node, _ALLOWED)
        if not ok or (isinstance(node, ast.Call) and getattr(node.func, "id", None) not in _FUNCS):
            raise ModelError(f"unsupported expression in defined parameter: {expr!r}")
    return tree


def _depth(tree: ast.AST) -> int:
    """Nesting depth of ``tree``, walked without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return deepest


def names_in(tree: ast.Expression) -> list[str]:
    """Variable names used in an expression (function names excluded)."""
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in calls]


def evaluate(tree: ast.Expression, env: Mapping[str, float]) -> float:
    """Evaluate a compiled expression with parameter values ``env``."""

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)):
                raise ModelError("only numbers are allowed as constants")
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(env[node.id])
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            return float(_BINOPS[type(node.op)](ev(node.left), ev(node.right)))
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            return float(_FUNCS[node.func.id](*[ev(a) for a in node.args]))
        raise ModelError("unsupported expression")  # pragma: no cover

    return ev(tree)


def delta_method(
    fun: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, vcov: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Values and delta-method covariance of ``fun(theta)``.

    Parameters
    ----------
    fun : callable, (npar,) -> (k,)
    theta : ndarray, shape (npar,)
    vcov : ndarray, shape (npar, npar)

    Returns
    -------
    values : ndarray, shape (k,)
    cov : ndarray, shape (k, k)
    """
    val = fun(theta)
    J = np.zeros((val.size, theta.size))
    for j in range(theta.size):
        h = 1e-6 * max(1.0, abs(theta[j]))
        e = np.zeros_like(theta)
        e[j] = h
        J[:, j] = (fun(theta + e) - fun(theta - e)) / (2 * h)
    return val, J @ vcov @ J.T
