"""Row-wise expressions in data configs: derived features, derived targets, inclusion criteria.

Data configs come from other teams, so an expression is data, never code. It is parsed
with :mod:`ast` (parsing runs nothing) and every node is checked against a whitelist before
any data is read: numbers, strings, declared column names (bare, or in backticks when the
name has spaces: ``\u0060Pain 0\u0060``), arithmetic ``+ - * / // % **``, comparisons
``< <= > >= == != in``, boolean ``and or not`` (also ``& | ~``) and the functions in
:data:`FUNCTIONS`. There is no attribute access, subscript, keyword argument, lambda,
comprehension, f-string, assignment or ``@``; a power's exponent must be a number literal of
at most :data:`MAX_EXPONENT`. Each sub-expression also has a static kind (number, flag,
text, date), so ``Arm + 1`` or ``log(surgery_date)`` are refused at validation too.

Evaluation walks the checked tree over whole columns with numpy, one value per row: a
result depends on its own row only (nothing is fitted), so computing it before the CV
split leaks nothing. Missing values propagate (a comparison with a missing value is
missing, ``and``/``or`` follow three-valued logic), and a division by zero gives a missing
value.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Kind = Literal["number", "flag", "text", "date"]
NUMERIC = ("number", "flag")  # flags are 0/1 numbers
MAX_LENGTH = 1000  # characters
MAX_NODES = 300
MAX_EXPONENT = 100
MAX_TEXT = 200  # characters in a string literal


class ExpressionError(ValueError):
    """An expression outside the grammar; the message says which part and why."""


@dataclass(frozen=True)
class Signature:
    """A whitelisted function: argument kinds and result kind (see :func:`_call_kind`)."""

    args: tuple[str, ...]  # "num", "any", "date", "flag", "branch" (number or text)
    result: str  # a Kind, or "branch": the kind of the branches
    variadic: bool = False  # the last argument repeats (min/max take two or more)
    doc: str = ""


FUNCTIONS: dict[str, Signature] = {
    "abs": Signature(("num",), "number", doc="absolute value"),
    "log": Signature(("num",), "number", doc="natural logarithm (missing for x <= 0)"),
    "exp": Signature(("num",), "number", doc="e to the power x"),
    "sqrt": Signature(("num",), "number", doc="square root (missing for x < 0)"),
    "min": Signature(("num", "num"), "number", variadic=True, doc="row-wise minimum"),
    "max": Signature(("num", "num"), "number", variadic=True, doc="row-wise maximum"),
    "clip": Signature(("num", "num", "num"), "number", doc="clip(x, low, high)"),
    "where": Signature(("flag", "branch", "branch"), "branch", doc="where(cond, a, b)"),
    "isnull": Signature(("any",), "flag", doc="1 where the value is missing, else 0"),
    "notnull": Signature(("any",), "flag", doc="1 where the value is present, else 0"),
    "days_between": Signature(
        ("date", "date"), "number", doc="days_between(start, end): end - start in days"
    ),
}

_ARITHMETIC: dict[type, Callable] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.mod,
    ast.Pow: np.power,
}
_ORDER: dict[type, Callable] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_EQUALITY: dict[type, Callable] = {ast.Eq: operator.eq, ast.NotEq: operator.ne}
_REFUSED = {
    ast.Attribute: "attribute access ('.') is not allowed",
    ast.Subscript: "subscripts ('[...]') are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.NamedExpr: "assignment (':=') is not allowed",
    ast.IfExp: "'a if c else b' is not allowed; write where(c, a, b)",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Set: "set literals are not allowed",
    ast.List: "lists are allowed only after 'in'",
    ast.Tuple: "lists are allowed only after 'in'",
}


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, tree, result kind and the columns it reads."""

    text: str
    tree: ast.expr
    kind: Kind
    columns: tuple[str, ...]
    aliases: Mapping[str, str]  # placeholder identifier -> backticked column name
    kinds: Mapping[ast.AST, str]  # every checked node's kind, for evaluation


# -- parsing and checking ---------------------------------------------------------------------
def parse(text: str, columns: Mapping[str, Kind]) -> Expression:
    """Parse and check ``text`` against the usable ``columns`` ({name: kind}).

    Raises :class:`ExpressionError` naming the offending part; runs nothing.
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty expression")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"longer than {MAX_LENGTH} characters")
    source, aliases = _substitute_backticks(text, columns)
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"not a valid expression ({getattr(exc, 'msg', exc)})") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExpressionError(f"more than {MAX_NODES} parts; split it into several derived columns")
    checker = _Checker(columns, aliases)
    kind = checker.kind(tree)
    return Expression(text, tree, kind, tuple(checker.used), aliases, checker.kinds)


def _substitute_backticks(text: str, columns: Mapping[str, Kind]) -> tuple[str, dict[str, str]]:
    """Replace each backticked column name by a placeholder identifier; refuse ``@``.

    Scans character by character so that quotes and backticks inside string literals are
    left alone.
    """
    out: list[str] = []
    aliases: dict[str, str] = {}
    i, quote = 0, ""
    while i < len(text):
        char = text[i]
        if quote:
            out.append(char)
            if char == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise ExpressionError("unclosed backtick")
            name = text[i + 1 : end]
            alias = next((a for a, n in aliases.items() if n == name), None)
            if alias is None:
                alias = f"_col{len(aliases)}"
                while alias in columns:
                    alias += "_"
                aliases[alias] = name
            out.append(f" {alias} ")
            i = end
        elif char == "@":
            raise ExpressionError("'@' is not allowed (expressions see the declared columns only)")
        else:
            out.append(char)
        i += 1
    return "".join(out), aliases


class _Checker:
    """Static check: every node whitelisted, every name a usable column; returns kinds."""

    def __init__(self, columns: Mapping[str, Kind], aliases: Mapping[str, str]) -> None:
        self.columns = columns
        self.aliases = aliases
        self.used: list[str] = []
        self.kinds: dict[ast.AST, str] = {}

    def kind(self, node: ast.AST) -> str:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            why = _REFUSED.get(type(node), f"'{type(node).__name__}' is not allowed")
            raise ExpressionError(why)
        self.kinds[node] = method(node)
        return self.kinds[node]

    def _Constant(self, node: ast.Constant) -> str:
        value = node.value
        if isinstance(value, bool):
            return "flag"
        if isinstance(value, int | float):
            return "number"
        if isinstance(value, str):
            if len(value) > MAX_TEXT:
                raise ExpressionError(f"a text literal longer than {MAX_TEXT} characters")
            return "text"
        raise ExpressionError(f"the literal {value!r} is not allowed (numbers and text only)")

    def _Name(self, node: ast.Name) -> str:
        name = self.aliases.get(node.id, node.id)
        if name.startswith("__"):
            raise ExpressionError(f"the name {name!r} is not allowed")
        if name in FUNCTIONS and name not in self.columns:
            raise ExpressionError(f"{name!r} is a function: call it, e.g. {name}(...)")
        if name not in self.columns:
            from lbp_outcomes.errors import did_you_mean

            usable = ", ".join(map(repr, self.columns)) or "none"
            raise ExpressionError(
                f"{name!r} is not a column usable here{did_you_mean(name, self.columns)} "
                f"(usable: {usable})"
            )
        if name not in self.used:
            self.used.append(name)
        return self.columns[name]

    def _UnaryOp(self, node: ast.UnaryOp) -> str:
        operand = self.kind(node.operand)
        self._require(operand, NUMERIC, "an arithmetic or logical operator")
        return "number" if isinstance(node.op, ast.UAdd | ast.USub) else "flag"

    def _BinOp(self, node: ast.BinOp) -> str:
        op = type(node.op)
        if op is ast.MatMult:
            raise ExpressionError("'@' is not allowed")
        if op not in _ARITHMETIC and op not in (ast.BitAnd, ast.BitOr):
            raise ExpressionError(f"the operator {type(node.op).__name__} is not allowed")
        if op is ast.Pow and not _small_literal(node.right):
            raise ExpressionError(
                f"the exponent of '**' must be a number literal between -{MAX_EXPONENT} "
                f"and {MAX_EXPONENT}"
            )
        for side in (node.left, node.right):
            self._require(self.kind(side), NUMERIC, "arithmetic", side)
        return "flag" if op in (ast.BitAnd, ast.BitOr) else "number"

    def _BoolOp(self, node: ast.BoolOp) -> str:
        for value in node.values:
            self._require(self.kind(value), NUMERIC, "'and'/'or'", value)
        return "flag"

    def _Compare(self, node: ast.Compare) -> str:
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            self._pair(left, op, right)
            left = right
        return "flag"

    def _pair(self, left: ast.expr, op: ast.cmpop, right: ast.expr) -> None:
        a = self.kind(left)
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(right, ast.List | ast.Tuple) or not all(
                isinstance(e, ast.Constant) and self._Constant(e) for e in right.elts
            ):
                raise ExpressionError("'in' takes a list of literals, e.g. x in [1, 2]")
            self._require(a, ("number", "flag", "text"), "'in'", left)
            return
        b = self.kind(right)
        if type(op) in _ORDER:
            if not (set((a, b)) <= set(NUMERIC) or a == b == "date"):
                raise ExpressionError(
                    f"'{ast.unparse(left)}' and '{ast.unparse(right)}' cannot be ordered "
                    f"({a} vs {b}; text compares with == != in only)"
                )
        elif type(op) in _EQUALITY:
            text_ok = "text" in (a, b) and {a, b} <= {"text", "number", "flag"}
            if not (set((a, b)) <= set(NUMERIC) or a == b or text_ok):
                raise ExpressionError(f"cannot compare {a} with {b}")
            if "text" in (a, b) and a != b and not _literal(left if b == "text" else right):
                raise ExpressionError("a text column compares with text or a literal only")
        else:
            raise ExpressionError(f"the comparison {type(op).__name__} is not allowed")

    def _Call(self, node: ast.Call) -> str:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            shown = ast.unparse(node.func)
            if type(node.func) in _REFUSED:
                raise ExpressionError(_REFUSED[type(node.func)] + f" ({shown[:60]})")
            raise ExpressionError(
                f"calling {shown[:60]!r} is not allowed (functions: {', '.join(FUNCTIONS)})"
            )
        if node.keywords:
            raise ExpressionError(f"{node.func.id}() takes no keyword arguments")
        sig = FUNCTIONS[node.func.id]
        kinds = [self.kind(arg) for arg in node.args]
        n = len(node.args)
        if n < len(sig.args) or (n > len(sig.args) and not sig.variadic):
            raise ExpressionError(
                f"{node.func.id}() takes {len(sig.args)}{' or more' if sig.variadic else ''} "
                f"arguments, got {n}"
            )
        wanted = list(sig.args) + [sig.args[-1]] * (n - len(sig.args))
        branches = []
        for arg, kind, want in zip(node.args, kinds, wanted, strict=True):
            allowed = {
                "num": NUMERIC,
                "flag": NUMERIC,
                "date": ("date",),
                "any": ("number", "flag", "text", "date"),
                "branch": ("number", "flag", "text"),
            }[want]
            self._require(kind, allowed, f"{node.func.id}()", arg)
            if want == "branch":
                branches.append(kind)
        if sig.result != "branch":
            return sig.result
        if "text" in branches and set(branches) != {"text"}:
            raise ExpressionError(f"{node.func.id}(): both branches must be numbers, or both text")
        return branches[0] if len(set(branches)) == 1 else "number"

    def _require(
        self, kind: str, allowed: tuple[str, ...], where: str, node: ast.AST | None = None
    ) -> None:
        if kind not in allowed:
            shown = f" '{ast.unparse(node)}'" if node is not None else ""
            hint = " (use days_between(start, end))" if kind == "date" else ""
            raise ExpressionError(f"{where} cannot take the {kind} value{shown}{hint}")


def _literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant)


def _small_literal(node: ast.AST) -> bool:
    """A number literal (optionally negated) with absolute value <= MAX_EXPONENT."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        node = node.operand
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
        and abs(node.value) <= MAX_EXPONENT
    )


# -- evaluation --------------------------------------------------------------------------------
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
            result = np.asarray(_EQUALITY[type(op)](a, b), dtype=bool)
        else:
            compare = (_ORDER | _EQUALITY)[type(op)]
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
