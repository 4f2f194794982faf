"""Expression grammar: parse a data-config expression and check it against a whitelist.

Parsing uses :mod:`ast` and runs nothing. See :mod:`lbp_outcomes.expressions` for the rules.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

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

ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
ORDER: dict[type, Callable] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
EQUALITY: dict[type, Callable] = {ast.Eq: operator.eq, ast.NotEq: operator.ne}
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
        if op not in ARITHMETIC and op not in (ast.BitAnd, ast.BitOr):
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
        if type(op) in ORDER:
            if not (set((a, b)) <= set(NUMERIC) or a == b == "date"):
                raise ExpressionError(
                    f"'{ast.unparse(left)}' and '{ast.unparse(right)}' cannot be ordered "
                    f"({a} vs {b}; text compares with == != in only)"
                )
        elif type(op) in EQUALITY:
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
