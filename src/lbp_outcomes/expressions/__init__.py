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

from typing import TYPE_CHECKING

from lbp_outcomes.expressions.grammar import (
    FUNCTIONS,
    Expression,
    ExpressionError,
    Kind,
    parse,
)

if TYPE_CHECKING:
    import pandas as pd


def evaluate(expr: Expression, frame: pd.DataFrame, date_formats=None) -> pd.Series:
    """See :func:`lbp_outcomes.expressions.evaluation.evaluate` (numpy and pandas are
    imported only when something is evaluated: validating a config stays light)."""
    from lbp_outcomes.expressions.evaluation import evaluate as run

    return run(expr, frame, date_formats)


__all__ = ["FUNCTIONS", "Expression", "ExpressionError", "Kind", "evaluate", "parse"]
