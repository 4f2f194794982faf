"""Expressions in data configs: the whitelist holds against escapes, and evaluation is
row-wise with missing values propagated (unit tier: no files, no stages)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lbp_outcomes.expressions import ExpressionError, evaluate, parse

COLUMNS = {
    "age": "number",
    "pain_bl": "number",
    "pain_12w": "number",
    "Pain 0": "number",
    "arm": "text",
    "site": "text",
    "start": "date",
    "end": "date",
}

ESCAPES = [
    ("@pd.io.common.os.system('touch /tmp/x')", "'@' is not allowed"),
    ("@pd.core.frame.com.builtins.__import__('os').system('id')", "'@' is not allowed"),
    ("age @ age", "'@' is not allowed"),
    ("__import__('os').system('id')", "not allowed"),
    ("age.__class__", "attribute access"),
    ("age.to_csv('/tmp/x')", "attribute access"),
    ("(1).__class__.__bases__[0].__subclasses__()", "attribute access"),
    ("().__class__", "attribute access"),
    ("age.__class__.__mro__", "attribute access"),
    ("open('/etc/passwd')", "'open' is not allowed"),
    ("eval('1')", "'eval' is not allowed"),
    ("getattr(age, 'x')", "'getattr' is not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("(lambda x: x)(age)", "lambda is not allowed"),
    ("[x for x in age]", "comprehensions are not allowed"),
    ("sum(x for x in age)", "not allowed"),
    ("f'{age}'", "f-strings are not allowed"),
    ("(x := age)", "assignment"),
    ("10 ** 10 ** 10", "exponent of '**' must be a number literal"),
    ("age ** 1000", "exponent of '**' must be a number literal"),
    ("age ** age", "exponent of '**' must be a number literal"),
    ("age[0]", "subscripts"),
    ("globals()", "not allowed"),
    ("log(age, base=2)", "takes no keyword arguments"),
    ("max(*age)", "unpacking"),
    ("patient_name == 'x'", "'patient_name' is not a column usable here"),
    ("os", "'os' is not a column usable here"),
    ("pd", "'pd' is not a column usable here"),
    ("age if age > 1 else 0", "write where(c, a, b)"),
    ("{'a': 1}", "dict literals"),
    ("age; import os", "not a valid expression"),
    ("import os", "not a valid expression"),
    ("b'x' == arm", "is not allowed"),
    ("'x' * 1000000000", "arithmetic cannot take the text value"),
    ("1" + "+1" * 200, "more than 300 parts"),
    ("(" * 300 + "1" + ")" * 300, "not a valid expression"),
    ("a" * 1001, "longer than 1000"),
    ("`__class__`", "not allowed"),
]


@pytest.mark.parametrize("text,fragment", ESCAPES)
def test_escapes_are_refused_before_anything_runs(text, fragment):
    with pytest.raises(ExpressionError) as err:
        parse(text, COLUMNS)
    assert fragment in str(err.value), str(err.value)


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("arm + 1", "arithmetic cannot take the text value 'arm'"),
        ("log(start)", "use days_between"),
        ("start - end", "use days_between"),
        ("arm < 'b'", "cannot be ordered"),
        ("arm == age", "a text column compares with text or a literal only"),
        ("days_between(age, end)", "days_between() cannot take the number value"),
        ("where(age > 1, 'a', 2)", "both branches"),
        ("clip(age, 0)", "takes 3 arguments, got 2"),
        ("age in age", "'in' takes a list of literals"),
        ("log", "is a function: call it"),
    ],
)
def test_kinds_are_checked_statically(text, fragment):
    with pytest.raises(ExpressionError) as err:
        parse(text, COLUMNS)
    assert fragment in str(err.value), str(err.value)


FRAME = pd.DataFrame(
    {
        "age": [30.0, 45.0, np.nan, 60.0],
        "pain_bl": [6.0, 4.0, 8.0, 0.0],
        "pain_12w": [3.0, 4.0, 1.0, np.nan],
        "Pain 0": [1.0, 2.0, 3.0, 4.0],
        "arm": ["exercise", None, "education", "exercise"],
        "site": ["1", "2", "3", "1"],
        "start": pd.to_datetime(["2021-01-01", "2021-01-10", None, "2021-03-01"]),
        "end": pd.to_datetime(["2021-01-31", "2021-01-10", "2021-02-01", "2021-02-28"]),
    }
)


def values(text: str) -> list:
    out = evaluate(parse(text, COLUMNS), FRAME)
    return [None if pd.isna(v) else v for v in out]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("pain_12w - pain_bl", [-3.0, 0.0, -7.0, None]),  # change score
        ("pain_12w > 2", [1.0, 1.0, 0.0, None]),  # threshold: missing stays missing
        ("pain_12w <= 0.5 * pain_bl", [1.0, 0.0, 1.0, None]),  # >= 50 % improvement
        ("pain_12w / pain_bl", [0.5, 1.0, 0.125, None]),
        ("pain_bl / (pain_bl - pain_bl)", [None, None, None, None]),  # x / 0: missing
        ("`Pain 0` * 2 + 1", [3.0, 5.0, 7.0, 9.0]),
        ("arm == 'exercise'", [1.0, None, 0.0, 1.0]),
        ("site == 1", [1.0, 0.0, 0.0, 1.0]),  # numeric site codes compare as text
        ("site in [1, 3]", [1.0, 0.0, 1.0, 1.0]),
        ("site not in ['1']", [0.0, 1.0, 1.0, 0.0]),
        ("age >= 40 and pain_bl > 1", [0.0, 1.0, None, 0.0]),
        ("age >= 40 or pain_bl > 1", [1.0, 1.0, 1.0, 1.0]),  # true wins over missing
        ("not (age > 40)", [1.0, 0.0, None, 0.0]),
        ("(age > 40) & ~(pain_bl > 5)", [0.0, 1.0, 0.0, 1.0]),  # false wins over missing
        ("18 <= age < 50", [1.0, 1.0, None, 0.0]),
        ("days_between(start, end)", [30.0, 0.0, None, -1.0]),
        ("start < end", [1.0, 0.0, None, 0.0]),
        ("isnull(age) + notnull(arm)", [1.0, 0.0, 2.0, 1.0]),
        ("abs(pain_12w - pain_bl)", [3.0, 0.0, 7.0, None]),
        ("log(pain_bl)", [np.log(6), np.log(4), np.log(8), None]),  # log(0): missing
        ("sqrt(pain_bl - 5)", [1.0, None, np.sqrt(3), None]),
        ("min(pain_bl, pain_12w, 3.5)", [3.0, 3.5, 1.0, None]),
        ("max(pain_bl, 5)", [6.0, 5.0, 8.0, 5.0]),
        ("clip(pain_bl, 1, 5)", [5.0, 4.0, 5.0, 1.0]),
        ("where(isnull(pain_12w), pain_bl, pain_12w)", [3.0, 4.0, 1.0, 0.0]),
        ("where(age > 40, 'older', 'younger')", ["younger", "older", None, "older"]),
        ("pain_bl ** 2", [36.0, 16.0, 64.0, 0.0]),
        ("1e308 * 10", [None] * 4),  # overflow: missing, not infinite
        ("2", [2.0] * 4),
    ],
)
def test_evaluation_is_row_wise_and_propagates_missing(text, expected):
    got = values(text)
    for g, e in zip(got, expected, strict=True):
        if isinstance(e, float):
            assert g == pytest.approx(e), (text, got)
        else:
            assert g == e, (text, got)


def test_dates_given_as_text_are_parsed_with_their_format():
    frame = pd.DataFrame({"start": ["01/02/2021", ""], "end": ["03/02/2021", "01/01/2021"]})
    expr = parse("days_between(start, end)", COLUMNS)
    out = evaluate(expr, frame, {"start": "%d/%m/%Y", "end": "%d/%m/%Y"})
    assert out.iloc[0] == 2.0 and np.isnan(out.iloc[1])


def test_result_and_used_columns():
    expr = parse("where(`Pain 0` > 2, pain_bl, age)", COLUMNS)
    assert expr.kind == "number"
    assert expr.columns == ("Pain 0", "pain_bl", "age")
    assert parse("arm == 'a`b'", COLUMNS).kind == "flag"  # a backtick inside a string
    assert parse("where(age > 1, age < 5, False)", COLUMNS).kind == "flag"
    assert parse("where(age > 1, age, False)", COLUMNS).kind == "number"
    assert parse("where(age > 1, arm, 'none')", COLUMNS).kind == "text"
