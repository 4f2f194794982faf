"""Expression evaluation: walk a checked tree over whole columns with numpy.

Values: float arrays or scalars (number, flag: 0/1 with NaN for missing), object arrays or
str (text, None for missing), datetime64 arrays (date, NaT for missing).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes.expressions.grammar import EQUALITY, ORDER, Expression

_ARITHMETIC: dict[type, Any] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.mod,
    ast.Pow: np.power,
}


def evaluate(
    expr: Expression, frame: pd.DataFrame, date_formats: Mapping[str, str] | None = None
) -> pd.Series:
    """Evaluate over ``frame`` (one row per patient). Returns a Series on ``frame.index``:
    float (flags as 0.0/1.0, missing as NaN) or object text (missing as None).

    Date columns that are not already datetimes are parsed with ``date_formats[name]``
    (unreadable dates become missing; the cleaning stage reports them before this runs).
    """
    with np.errstate(all="ignore"):
        value = _Evaluator(frame, expr, date_formats or {}).value(expr.tree)
    n = len(frame)
    if expr.kind == "text":
        out = np.empty(n, dtype=object)
        out[:] = value
        return pd.Series(out, index=frame.index, dtype=object)
    array = np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()
    array[~np.isfinite(array)] = np.nan  # x / 0, log(0), overflow: missing, not infinite
    return pd.Series(array, index=frame.index, dtype=float)


class _Evaluator:
    """Values: float arrays or scalars (number, flag), object arrays or str (text),
    datetime64 arrays (date)."""

    def __init__(self, frame: pd.DataFrame, expr: Expression, formats: Mapping[str, str]):
        self.frame = frame
        self.expr = expr
        self.formats = formats

    def value(self, node: ast.AST):
        return getattr(self, f"_{type(node).__name__}")(node)

    def kind(self, node: ast.AST) -> str:
        return self.expr.kinds[node]

    def _Constant(self, node: ast.Constant):
        return node.value if isinstance(node.value, str) else float(node.value)

    def _Name(self, node: ast.Name):
        column = self.frame[self.expr.aliases.get(node.id, node.id)]
        kind = self.kind(node)
        if kind == "text":
            return _as_text(column.to_numpy(dtype=object))
        if kind != "date":
            return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        if not pd.api.types.is_datetime64_any_dtype(column):
            fmt = self.formats.get(str(column.name), "ISO8601")
            column = pd.to_datetime(column, format=fmt, errors="coerce")
        return column.to_numpy(dtype="datetime64[ns]")

    def _UnaryOp(self, node: ast.UnaryOp):
        x = np.asarray(self.value(node.operand), dtype=float)
        if isinstance(node.op, ast.USub):
            return -x
        if isinstance(node.op, ast.UAdd):
            return x
        return np.where(np.isnan(x), np.nan, (x == 0).astype(float))  # not / ~

    def _BinOp(self, node: ast.BinOp):
        a = np.asarray(self.value(node.left), dtype=float)
        b = np.asarray(self.value(node.right), dtype=float)
        if isinstance(node.op, ast.BitAnd):
            return _and(a, b)
        if isinstance(node.op, ast.BitOr):
            return _or(a, b)
        return _ARITHMETIC[type(node.op)](a, b)

    def _BoolOp(self, node: ast.BoolOp):
        combine = _and if isinstance(node.op, ast.And) else _or
        values = [np.asarray(self.value(v), dtype=float) for v in node.values]
        out = values[0]
        for v in values[1:]:
            out = combine(out, v)
        return out

    def _Compare(self, node: ast.Compare):
        out = np.asarray(1.0)
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            out = _and(out, self._pair(left, op, right))
            left = right
        return out

    def _pair(self, left: ast.expr, op: ast.cmpop, right: ast.expr):
        a = self.value(left)
        if isinstance(op, ast.In | ast.NotIn):
            options = [e.value for e in right.elts]  # type: ignore[attr-defined]
            if self.kind(left) == "text":
                hit = np.isin(np.asarray(a, dtype=object), [_text(v) for v in options])
            else:
                hit = np.isin(np.asarray(a, dtype=float), [float(v) for v in options])
            hit = hit if isinstance(op, ast.In) else ~hit
            return np.where(_missing_mask(a), np.nan, hit.astype(float))
        b = self.value(right)
        if "text" in (self.kind(left), self.kind(right)):
            a, b = _as_text(a), _as_text(b)
            result = np.asarray(EQUALITY[type(op)](a, b), dtype=bool)
        else:
            compare = (ORDER | EQUALITY)[type(op)]
            result = np.asarray(compare(a, b), dtype=bool)
        missing = _missing_mask(a) | _missing_mask(b)
        return np.where(missing, np.nan, result.astype(float))

    def _Call(self, node: ast.Call):
        name = node.func.id  # type: ignore[attr-defined]
        args = [self.value(a) for a in node.args]
        if name in ("isnull", "notnull"):
            missing = _missing_mask(args[0]).astype(float)
            return missing if name == "isnull" else 1.0 - missing
        if name == "days_between":
            start, end = (np.asarray(a, dtype="datetime64[ns]") for a in args)
            return (end - start) / np.timedelta64(1, "D")
        if name == "where":
            cond = np.asarray(args[0], dtype=float)
            if self.kind(node.args[1]) == "text" or self.kind(node.args[2]) == "text":
                picked = np.where(cond != 0, _as_text(args[1]), _as_text(args[2]))
                return np.where(np.isnan(cond), None, picked)
            picked = np.where(cond != 0, args[1], args[2])
            return np.where(np.isnan(cond), np.nan, picked)
        nums = [np.asarray(a, dtype=float) for a in args]
        if name == "min":
            return np.minimum.reduce(np.broadcast_arrays(*nums))
        if name == "max":
            return np.maximum.reduce(np.broadcast_arrays(*nums))
        if name == "clip":
            return np.minimum(np.maximum(nums[0], nums[1]), nums[2])
        return {"abs": np.abs, "log": np.log, "exp": np.exp, "sqrt": np.sqrt}[name](nums[0])


def _and(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Three-valued AND over 0/1/NaN: false wins, then missing."""
    false = (a == 0) | (b == 0)
    return np.where(false, 0.0, np.where(np.isnan(a) | np.isnan(b), np.nan, 1.0))


def _or(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Three-valued OR over 0/1/NaN: true wins, then missing."""
    true = (~np.isnan(a) & (a != 0)) | (~np.isnan(b) & (b != 0))
    return np.where(true, 1.0, np.where(np.isnan(a) | np.isnan(b), np.nan, 0.0))


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _missing_mask(value) -> np.ndarray:
    return np.asarray(pd.isna(value), dtype=bool)


def _text(value: object) -> str:
    """Canonical text, as the cleaning stage writes categories: 1, 1.0 and "1" read "1"."""
    from lbp_outcomes.schema import as_text

    return as_text(value)


def _as_text(value):
    if isinstance(value, np.ndarray):
        return np.array([None if _missing(v) else _text(v) for v in value], dtype=object)
    return None if _missing(value) else _text(value)
