"""Data config -> pandera schemas: the one place where column rules live.

Validation runs in two passes because a value that is not a number cannot be
range-checked:

1. :func:`type_schema` coerces numeric columns to float. A value that cannot be read as a
   number (text in a numeric column) is always an error.
2. :func:`value_schema` checks ranges, whole numbers, allowed categories and unique,
   present patient ids on the typed frame.

:func:`failures` turns pandera's failure cases into :class:`Failure` records (column, rule,
rows, example values) that the cleaning stage either reports as an error or, where the
config allows (``on_out_of_range: drop``), turns into counted exclusions. The same schemas
validate new patients in ``lbp-outcomes predict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa

from lbp_outcomes.categories import WHOLE, as_text  # noqa: F401  (re-exported)
from lbp_outcomes.dataconfig import Column, DataConfig, Feature, Target


@dataclass(frozen=True)
class Failure:
    """One rule broken by some rows. ``rows`` are the frame's index labels (row numbers)."""

    column: str
    rule: str  # "type", "range", "integer", "category", "duplicate_id", "missing_id"
    description: str  # e.g. "outside [0, 10]"
    rows: list[int] = field(default_factory=list)
    values: list[object] = field(default_factory=list)

    @property
    def droppable_by(self) -> str | None:
        """Which config policy may turn this failure into an exclusion (None = never)."""
        return "on_out_of_range" if self.rule in {"range", "integer", "category"} else None


def numeric_columns(cfg: DataConfig) -> dict[str, Column]:
    """Numeric features, regression targets (derived ones too) and other numeric columns."""
    cols: dict[str, Column] = {n: f for n, f in cfg.features.items() if f.type == "numeric"}
    cols.update({n: t for n, t in cfg.targets.items() if t.kind == "regression"})
    cols.update({n: c for n, c in cfg.columns.items() if c.type == "numeric"})
    return cols


def categorical_columns(cfg: DataConfig) -> dict[str, Feature | Target]:
    """Categorical/ordinal features and other columns, binary targets read from the file."""
    cols: dict[str, Feature | Target] = {
        n: f for n, f in cfg.features.items() if f.type != "numeric"
    }
    cols.update({n: t for n, t in cfg.targets.items() if t.kind == "binary" and t.expr is None})
    cols.update({n: c for n, c in cfg.columns.items() if c.type in ("categorical", "ordinal")})
    return cols


def category_levels(spec: Feature | Target) -> list[str]:
    """Allowed values as the text the cleaning stage compares them as."""
    levels = spec.levels if isinstance(spec, Target) else spec.values
    return [as_text(v) for v in levels or []]


def type_schema(cfg: DataConfig, columns: list[str] | None = None) -> pa.DataFrameSchema:
    """Pass 1: numeric columns must be readable as numbers (coerced to float64)."""
    wanted = (
        set(columns)
        if columns is not None
        else set(cfg.read_targets) | {n for n in numeric_columns(cfg) if n not in cfg.targets}
    )  # derived targets do not exist yet
    return pa.DataFrameSchema(
        {
            name: pa.Column(float, coerce=True, nullable=True)
            for name in numeric_columns(cfg)
            if name in wanted
        },
        strict=False,
    )


def _range_check(spec: Column) -> list[pa.Check]:
    checks = []
    if spec.range is not None:
        lo, hi = spec.range
        checks.append(pa.Check.in_range(lo, hi, error=f"range:outside [{lo:g}, {hi:g}]"))
    if spec.integer:
        checks.append(
            pa.Check(
                lambda s: s.isna() | (s % 1 == 0),
                element_wise=False,
                error="integer:not a whole number",
            )
        )
    return checks


def value_schema(
    cfg: DataConfig, columns: list[str] | None = None, with_id: bool = True
) -> pa.DataFrameSchema:
    """Pass 2: ranges, whole numbers, allowed categories, unique patient ids."""
    wanted = set(columns) if columns is not None else None
    spec: dict[str, pa.Column] = {}
    if with_id and cfg.id_column:
        spec[cfg.id_column] = pa.Column(str, nullable=False, unique=True, coerce=True)
    for name, col in numeric_columns(cfg).items():
        if wanted is None or name in wanted:
            spec[name] = pa.Column(float, nullable=True, checks=_range_check(col))
    for name, col in categorical_columns(cfg).items():
        if wanted is None or name in wanted:
            levels = category_levels(col)
            spec[name] = pa.Column(
                object,
                nullable=True,
                coerce=False,
                checks=pa.Check.isin(levels, error=f"category:not one of {levels}"),
            )
    return pa.DataFrameSchema(spec, strict=False)


def to_text(series: pd.Series) -> pd.Series:
    """Category column as canonical text (object dtype, missing stays missing)."""
    out = series.map(lambda v: None if _is_missing(v) else as_text(v))
    return out.astype(object)


# YAML 1.1 (PyYAML, OmegaConf) reads unquoted yes/no/on/off as booleans, so a config that
# says `values: [no, yes]` holds [False, True]; the file still says "no" and "yes".
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


def category_text(series: pd.Series, spec: Feature | Target) -> pd.Series:
    """:func:`to_text`, reading yes/no-style words as the booleans the config holds."""
    levels = spec.levels if isinstance(spec, Target) else spec.values or []
    out = to_text(series)
    if any(isinstance(v, bool) for v in levels):
        lowered = out.map(lambda v: v.lower() if isinstance(v, str) else v)
        out = lowered.map(lambda v: "true" if v in _TRUE else "false" if v in _FALSE else v)
        out = out.where(lowered.isin(_TRUE | _FALSE), to_text(series)).astype(object)
    return out


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def validate(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Failure]]:
    """Validate lazily; return the (coerced) frame and every failure found."""
    try:
        return schema.validate(frame, lazy=True), []
    except pa.errors.SchemaErrors as exc:
        return frame, failures(exc.failure_cases, frame)


def failures(cases: pd.DataFrame, frame: pd.DataFrame) -> list[Failure]:
    """Group pandera failure cases into one :class:`Failure` per column and rule (pandera
    may report one bad value under several checks, e.g. coerce_dtype and dtype)."""
    cases = cases[cases["index"].notna()].copy()
    if cases.empty:
        return []
    classified = cases["check"].astype(str).map(_classify)
    cases["rule"] = [rule for rule, _ in classified]
    cases["description"] = [description for _, description in classified]
    cases["row"] = cases["index"].astype(int)
    cases = cases.drop_duplicates(["column", "rule", "row"]).sort_values("row", kind="stable")
    out = []
    for (column, rule), group in cases.groupby(["column", "rule"], sort=False):
        out.append(
            Failure(
                column=str(column),
                rule=str(rule),
                description=str(group["description"].iloc[0]),
                rows=group["row"].tolist(),
                values=[] if rule == "missing_id" else group["failure_case"].tolist(),
            )
        )
    return out


def _classify(check: str) -> tuple[str, str]:
    if check.startswith("coerce_dtype") or check.startswith("dtype"):
        return "type", "is not a number"
    if check == "field_uniqueness":
        return "duplicate_id", "duplicate patient id"
    if check == "not_nullable":
        return "missing_id", "missing patient id"
    if ":" in check:
        rule, description = check.split(":", 1)
        return rule, description
    return "other", check
