"""Tables computed from the cohort files: Table 1 (tableone) and published-vs-generated
descriptives.

Patient ids never enter these tables: only the data config's features, derived features,
targets and MCIC targets are read from the frames, and only as summary statistics.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.report import prose
from lbp_outcomes.report.document import DASH, Table, num

# Above this absolute skewness a numeric column is summarised by median [Q1, Q3]
# (a common rule of thumb; integer scores are summarised that way regardless).
SKEW_LIMIT = 1.0


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """tableone warns about its own deprecations and pandas internals; not the reader's
    business, and the pytest run treats some warnings as errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def binary_levels(cfg: DataConfig, column: str) -> dict[float, str]:
    """How a binary target's 0/1 reads in a table: its configured values, or for an MCIC
    target "not reached" / "reached"."""
    if column in cfg.mcic:
        return {0.0: "not reached", 1.0: "reached"}
    spec = cfg.targets[column]
    levels = [str(v) for v in spec.levels]
    positive = str(spec.positive)
    negative = next((v for v in levels if v != positive), "no")
    return {0.0: negative, 1.0: positive}


def table_columns(cfg: DataConfig, frame: pd.DataFrame) -> list[str]:
    """Predictors (declared, then derived), then outcomes: never the id or site column."""
    wanted = [*cfg.features, *cfg.derived, *cfg.targets, *cfg.mcic]
    hidden = {cfg.id_column, cfg.site_column}
    return [c for c in wanted if c in frame.columns and c not in hidden]


def _kind(cfg: DataConfig, column: str) -> str:
    """Whether Table 1 treats ``column`` as "categorical" or "numeric"."""
    if column in cfg.mcic:
        return "categorical"
    spec = (cfg.features | cfg.derived).get(column)
    if spec is not None:
        return "numeric" if spec.type == "numeric" else "categorical"
    return "categorical" if cfg.targets[column].kind == "binary" else "numeric"


def _levels(cfg: DataConfig, column: str) -> list[str] | None:
    if column in cfg.mcic or (column in cfg.targets and cfg.targets[column].kind == "binary"):
        return list(binary_levels(cfg, column).values())
    spec = (cfg.features | cfg.derived).get(column)
    return [str(v) for v in spec.values] if spec is not None and spec.values else None


def _integer(cfg: DataConfig, column: str) -> bool:
    spec = (cfg.features | cfg.targets).get(column)
    return bool(spec is not None and getattr(spec, "integer", False))


@dataclass(frozen=True)
class Spec:
    """How Table 1 summarises each column (from the data config and the development data)."""

    columns: list[str]
    categorical: list[str]
    numeric: list[str]
    nonnormal: list[str]  # numeric columns shown as median [Q1, Q3]
    labels: dict[str, str]  # column -> its unique display label
    decimals: dict[str, int]
    order: dict[str, list[str]]  # categorical column -> its levels in display order

    @classmethod
    def of(cls, cfg: DataConfig, columns: list[str], cohorts: dict[str, pd.DataFrame]) -> Spec:
        development = cohorts["Development"]
        categorical = [c for c in columns if _kind(cfg, c) == "categorical"]
        numeric = [c for c in columns if c not in categorical]

        def skewed(column: str) -> bool:
            return abs(float(development[column].skew(skipna=True) or 0.0)) > SKEW_LIMIT

        return cls(
            columns=columns,
            categorical=categorical,
            numeric=numeric,
            nonnormal=[c for c in numeric if _integer(cfg, c) or skewed(c)],
            labels=_unique_labels(cfg, columns),
            decimals={c: _decimals(cfg, c, [f[c] for f in cohorts.values()]) for c in numeric},
            order={c: levels for c in categorical if (levels := _levels(cfg, c))},
        )


def characteristics(
    cfg: DataConfig, development: pd.DataFrame, external: pd.DataFrame | None
) -> Table:
    """Table 1: every predictor and outcome by cohort (development vs external).

    Numeric columns: mean (SD), or median [Q1, Q3] for integer scales and skewed columns;
    categorical: n (%) of patients with a value. Missing: count per cohort. SMD: the
    standardised mean difference between the cohorts as tableone computes it.
    """
    columns = table_columns(cfg, development)
    cohorts = {"Development": development}
    if external is not None:
        columns = [c for c in columns if c in external.columns]
        cohorts["External"] = external
    spec = Spec.of(cfg, columns, cohorts)
    table = _tableone(spec, _stacked(cfg, spec, cohorts), grouped=len(cohorts) > 1)
    smd_col = next((c for c in table.columns if str(c).startswith("SMD")), None)
    missing = {
        spec.labels[c]: " / ".join(str(int(frame[c].isna().sum())) for frame in cohorts.values())
        for c in columns
    }
    group_cols = list(cohorts) if len(cohorts) > 1 else ["Overall"]
    rows, classes = _rows(table, spec.labels, group_cols, smd_col, missing)
    header = prose.blocks(
        "tables/characteristics_header",
        cohorts=[(name, len(frame)) for name, frame in cohorts.items()],
        smd=smd_col is not None,
    )
    wording = cfg.prediction
    caption = prose.text(
        "tables/characteristics_caption",
        when=wording.predictors_known,
        measured=wording.outcomes_measured,
        grouped=len(cohorts) > 1,
    )
    notes = prose.blocks(
        "tables/characteristics_notes", skew_limit=SKEW_LIMIT, smd=smd_col is not None
    )
    return Table(caption, header, rows, notes=notes, classes=classes)


def _stacked(cfg: DataConfig, spec: Spec, cohorts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The cohorts one under the other (``_cohort`` names each), categories as text."""
    parts = []
    for name, frame in cohorts.items():
        part = frame[spec.columns].copy()
        for column in spec.categorical:
            if column in cfg.mcic or column in cfg.targets:  # binary: 0/1 -> its level names
                part[column] = part[column].map(binary_levels(cfg, column)).astype(object)
            else:
                part[column] = part[column].astype(object)
            part[column] = [str(v) if pd.notna(v) else None for v in part[column]]
        part["_cohort"] = name
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _tableone(spec: Spec, data: pd.DataFrame, grouped: bool) -> pd.DataFrame:
    """tableone's summary, one row per (variable, level), columns flattened."""
    from tableone import TableOne

    with _quiet():
        t1 = TableOne(
            data,
            columns=spec.columns,
            categorical=spec.categorical,
            continuous=spec.numeric,
            nonnormal=spec.nonnormal,
            groupby="_cohort" if grouped else None,
            smd=grouped,
            missing=False,
            overall=not grouped,
            include_null=False,
            order=spec.order,
            rename=spec.labels,
            decimals={**spec.decimals, **dict.fromkeys(spec.categorical, 1)},
        )
        table = t1.tableone.copy()
    table.columns = [c[-1] if isinstance(c, tuple) else c for c in table.columns]
    return table


def _rows(
    table: pd.DataFrame,
    labels: dict[str, str],
    group_cols: list[str],
    smd_col: Any,
    missing: dict[str, str],
) -> tuple[list[list[str]], list[str]]:
    """Table 1's rows and their classes: a numeric variable is one row; a categorical one is
    a heading row (with its missing count and SMD), then one row per level."""
    rows: list[list[str]] = []
    classes: list[str] = []
    seen: set[str] = set()
    for (variable, level), values in table.iterrows():
        variable, level = str(variable), str(level)
        if variable == "n":
            continue  # the n per cohort is in the header
        smd = [_smd_text(values.get(smd_col))] if smd_col else []
        cells = [_cell(values.get(col)) for col in group_cols]
        name = variable.replace("[Q1,Q3]", "[Q1, Q3]")
        lost = missing.get(_base(variable, labels), "")
        if level == "":
            rows.append([name, *cells, lost, *smd])
            classes.append("")
            continue
        if name not in seen:
            seen.add(name)
            rows.append([name, *[""] * len(cells), lost, *smd])
            classes.append("group")
        rows.append([level, *cells, "", *([""] if smd_col else [])])
        classes.append("level")
    return rows, classes


def _unique_labels(cfg: DataConfig, columns: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    used: set[str] = set()
    for column in columns:
        label = cfg.label(column)
        if label in used:
            label = f"{label} [{column}]"
        used.add(label)
        labels[column] = label
    return labels


def _base(variable: str, labels: dict[str, str]) -> str:
    """The column label inside tableone's row name ("Age (years), median [Q1,Q3]")."""
    for label in sorted(labels.values(), key=len, reverse=True):
        if variable == label or variable.startswith(label + ", "):
            return label
    return variable


def _decimals(cfg: DataConfig, column: str, series: list[pd.Series]) -> int:
    """Whole-number scores whose quartiles are whole: no decimals ("8 [6, 10]"); a small
    spread (ratios): two, so it is not rounded away; otherwise one."""
    values = pd.concat([pd.to_numeric(s, errors="coerce") for s in series]).dropna()
    if values.empty:
        return 1
    if _integer(cfg, column):
        quartiles = np.concatenate(
            [s.dropna().quantile([0.25, 0.5, 0.75]).to_numpy() for s in series]
        )
        if np.allclose(quartiles, np.round(quartiles)):
            return 0
    return 2 if float(values.std() or 0) < 1 else 1


def _cell(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    if not text or text.lower() == "nan":
        return DASH
    return re.sub(r",(?=\S)", ", ", text)  # "39.0 [33.0,44.0]" -> "39.0 [33.0, 44.0]"


def _smd_text(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    if text.startswith("<"):  # tableone writes "<0.001" for a negligible difference
        return "<0.01"
    try:
        number = float(text)
    except ValueError:
        return ""
    return num(abs(number), 2) if np.isfinite(number) else ""


def describe(values: pd.Series) -> dict[str, float]:
    """The paper's Table 2 statistics for one column."""
    x = pd.to_numeric(values, errors="coerce").dropna()
    if x.empty:
        return {}
    return {
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)) if len(x) > 1 else float("nan"),
        "q1": float(x.quantile(0.25)),
        "median": float(x.median()),
        "q3": float(x.quantile(0.75)),
        "min": float(x.min()),
        "max": float(x.max()),
    }
