"""Cleaning stage: validate each raw cohort against its data config and write typed Parquet.

Inputs: data/raw/{development,external}.parquet and data/raw/manifest.json (cohort stage).
Outputs: data/clean/{cohort}.parquet, reports/cleaning.json (CONSORT-style flow per
cohort: rows in, rows excluded per reason, rows out, missing values per column),
reports/cleaning.md (the same, for people) and reports/cleaning_exclusions.csv (which source
rows were excluded and why; kept local, never sent to MLflow).

Rules (see :mod:`lbp_outcomes.schema`): numeric columns must hold numbers; unit conversions
declared in the config are applied; values outside the declared range, non-whole numbers in
integer columns and unknown categories stop cleaning, unless the column says
``on_out_of_range: drop``, in which case the row is excluded and counted (at most
``cleaning.max_dropped_fraction`` of a cohort); patient ids must be present and unique; rows
with no target at all are excluded. Rows with a missing feature are kept (imputation happens
inside the CV folds), and rows missing some targets are kept for the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes import expressions, paths, schema, treatment
from lbp_outcomes.atomic import Outputs
from lbp_outcomes.cohort.ingest import ROW
from lbp_outcomes.config import Params
from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.errors import UserError, plural, rows_text
from lbp_outcomes.expressions import scopes

NO_TARGET = "no outcome recorded (every target missing)"
INCLUDE = "not included"  # reason prefix for rows failing an inclusion criterion
ROW_ID = "row number"  # how patients are identified without an id_column


@dataclass
class CleanResult:
    """A cleaned cohort and its flow. ``frame`` holds id, site, features, targets."""

    frame: pd.DataFrame
    report: dict[str, Any]
    exclusions: list[tuple[int, str]] = field(default_factory=list)  # (source row, reason)


def clean_cohort(raw: pd.DataFrame, cfg: DataConfig, shown: str) -> CleanResult:
    """Validate and type one raw cohort. ``shown`` names its source file in messages.

    ``raw`` has one row per patient and the ``_row`` column (1-based source row numbers),
    which is how errors point into the file. Order: types, units and dates; inclusion
    criteria (rows not eligible leave before their values are judged); derived targets;
    ranges and categories; rows with no outcome.
    """
    frame = raw.set_index(ROW, drop=True)
    frame.index.name = None
    rows_in = len(frame)

    frame = _normalise(frame, cfg)
    if cfg.treatment is not None:  # every row, excluded ones too: the file is wrong otherwise
        treatment.unknown_arms(frame[cfg.treatment.column], cfg.treatment, shown)
    typed, fails = schema.validate(schema.type_schema(cfg), frame)
    _raise_fatal(fails, cfg, shown)
    typed = _parse_dates(_convert_units(typed, cfg), cfg, shown)

    reasons = pd.Series(pd.NA, index=typed.index, dtype=object)
    for name, text in cfg.include.items():
        met = expressions.evaluate(expressions.parse(text, scopes.include_scope(cfg)), typed)
        reasons[(met != 1) & reasons.isna()] = f"{INCLUDE}: {name} ({text})"
    eligible = typed.loc[reasons.isna()].copy()
    if eligible.empty:
        raise UserError(f"{shown}: no row meets the inclusion criteria (include: {cfg.include})")
    eligible = _derived_targets(eligible, cfg)

    _, fails = schema.validate(schema.value_schema(cfg), eligible)
    _raise_fatal(fails, cfg, shown)
    for failure in fails:  # only droppable failures are left
        why = f"{failure.column}: {failure.description}"
        unset = reasons.loc[failure.rows].isna()
        reasons.loc[unset[unset].index] = why
    dropped_invalid = len(eligible) - int(reasons.loc[eligible.index].isna().sum())
    limit = cfg.cleaning.max_dropped_fraction
    if dropped_invalid > limit * len(eligible):
        worst = max(fails, key=lambda f: len(f.rows))
        raise UserError(
            f"{shown}: {dropped_invalid} of {len(eligible)} rows "
            f"({dropped_invalid / len(eligible):.0%}) have "
            f"invalid values, more than cleaning.max_dropped_fraction={limit:g} allows to drop; "
            f"column {worst.column!r}: {plural(len(worst.rows), 'value')} {worst.description} "
            f"({rows_text(worst.rows, worst.values)})"
        )

    typed = _binary_targets(eligible, cfg).reindex(typed.index)
    targets = list(cfg.targets)
    no_target = typed[targets].isna().all(axis=1) & reasons.isna()
    reasons[no_target] = NO_TARGET

    keep = reasons.isna()
    clean = typed.loc[keep, _output_columns(cfg)].copy()
    if cfg.id_column:
        clean[cfg.id_column] = clean[cfg.id_column].astype(str)
    clean = clean.reset_index(drop=True)

    excluded = reasons[~keep]
    report = {
        "source": shown,
        "id": cfg.id_column or ROW_ID,
        "rows_in": rows_in,
        "excluded": _flow(excluded, cfg),
        "excluded_total": int((~keep).sum()),
        "rows_out": len(clean),
        "missing": {c: int(clean[c].isna().sum()) for c in _output_columns(cfg)},
        "targets_available": {t: int(clean[t].notna().sum()) for t in targets},
    }
    exclusions = [(int(r), str(why)) for r, why in excluded.items()]
    return CleanResult(clean, report, exclusions)


def _flow(excluded: pd.Series, cfg: DataConfig) -> dict[str, int]:
    """Rows excluded per reason, in CONSORT order: each inclusion criterion (also when it
    excludes nobody), then invalid values, then rows with no outcome."""
    counts = excluded.value_counts(sort=False)
    flow = {f"{INCLUDE}: {n} ({text})": 0 for n, text in cfg.include.items()}
    flow |= {str(k): int(v) for k, v in counts.items() if str(k).startswith(INCLUDE)}
    flow |= {str(k): int(v) for k, v in counts.items() if k not in flow and k != NO_TARGET}
    if NO_TARGET in counts:
        flow[NO_TARGET] = int(counts[NO_TARGET])
    return flow


def _parse_dates(frame: pd.DataFrame, cfg: DataConfig, shown: str) -> pd.DataFrame:
    """Date columns as datetimes, read with their declared ``format``; a date that does not
    fit the format is an error naming the rows."""
    for name, fmt in cfg.date_formats.items():
        text = schema.to_text(frame[name])
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        bad = parsed.isna() & text.notna()
        if bad.any():
            rows = list(frame.index[bad])
            raise UserError(
                f"{shown}: column {name!r}: {plural(len(rows), 'value')} not a date in format "
                f"{fmt!r} ({rows_text(rows, list(text[bad]))}); set columns.{name}.format"
            )
        frame[name] = parsed
    return frame


def _derived_targets(frame: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    """Targets with ``expr``, in config order: a number (regression) or 1.0/0.0 (binary),
    missing where an input is missing. Row by row: nothing is fitted."""
    for name, spec in cfg.targets.items():
        if spec.expr is not None:
            expr = expressions.parse(spec.expr, scopes.target_scope(cfg, name))
            frame[name] = expressions.evaluate(expr, frame)
    return frame


def _normalise(frame: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    """Text cells as the config means them: trimmed, decimal comma read, categories canonical."""
    out = frame.copy()
    decimal = cfg.source.csv.decimal
    for name in schema.numeric_columns(cfg):
        if name not in out.columns:  # a derived target, computed later
            continue
        col = out[name]
        if not pd.api.types.is_numeric_dtype(col):
            text = col.astype("string").str.strip()
            if decimal != ".":
                text = text.str.replace(decimal, ".", regex=False)
            out[name] = text.astype(object).where(text.notna() & (text != ""), np.nan)
    for name, spec in schema.categorical_columns(cfg).items():
        out[name] = schema.category_text(out[name], spec)
    if cfg.id_column:
        out[cfg.id_column] = schema.to_text(out[cfg.id_column])
    if cfg.site_column:
        out[cfg.site_column] = schema.to_text(out[cfg.site_column])
    if cfg.treatment is not None:
        out[cfg.treatment.column] = schema.to_text(out[cfg.treatment.column])
    return out


def _convert_units(frame: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    for name, spec in schema.numeric_columns(cfg).items():
        if spec.convert is not None:
            frame[name] = frame[name] * spec.convert.factor + spec.convert.offset
    return frame


def _raise_fatal(fails: list[schema.Failure], cfg: DataConfig, shown: str) -> None:
    """Raise for the first failure the config does not allow to drop (in column order)."""
    specs = schema.numeric_columns(cfg) | schema.categorical_columns(cfg)
    order = {name: i for i, name in enumerate([cfg.id_column or ROW_ID, *specs])}
    fatal = [
        f for f in fails if f.droppable_by is None or specs[f.column].on_out_of_range != "drop"
    ]
    if not fatal:
        return
    f = min(fatal, key=lambda f: (order.get(f.column, len(order)), f.rows[0]))
    n = len(f.rows)
    if f.rule == "type":
        what = f"{plural(n, 'value')} {'are' if n > 1 else 'is'} not a number"
    elif f.rule in {"duplicate_id", "missing_id"}:
        what = f.description + ("s" if f.rule == "duplicate_id" and n > 1 else "")
    else:
        what = f"{plural(n, 'value')} {f.description}"
    hint = ""
    if f.droppable_by:
        hint = (
            f"; fix the file, or set on_out_of_range: drop for {f.column!r} in "
            f"conf/data/{cfg.name}.yaml to exclude such rows"
        )
    raise UserError(f"{shown}: column {f.column!r}: {what} ({rows_text(f.rows, f.values)}){hint}")


def _binary_targets(frame: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    """Binary targets as 1.0 (the configured positive value), 0.0, or NaN."""
    for name, spec in cfg.targets.items():
        if spec.kind == "binary" and spec.expr is None:
            positive = schema.as_text(spec.positive)
            col = frame[name]
            frame[name] = np.where(col.isna(), np.nan, (col == positive).astype(float))
    return frame


def _output_columns(cfg: DataConfig) -> list[str]:
    """id (if any), site, treatment arm, features, targets, then the other columns (for
    expressions)."""
    ids = [cfg.id_column] if cfg.id_column else []
    site = [cfg.site_column] if cfg.site_column else []
    arm = [cfg.treatment.column] if cfg.treatment else []
    return [*ids, *site, *arm, *cfg.features, *cfg.targets, *cfg.columns]


# -- reports ------------------------------------------------------------------------------
def flow_markdown(reports: dict[str, dict[str, Any]], cfg: DataConfig) -> str:
    """The cleaning flow as Markdown, one section per cohort."""
    lines = [f"# Cleaning report: {cfg.name}", ""]
    for cohort, rep in reports.items():
        lines += [f"## {cohort.capitalize()} cohort", "", f"Source: `{rep['source']}`", ""]
        if rep.get("id") == ROW_ID:
            lines += [
                "No id column: each row is one patient, known by its row number in the "
                "source file (`source_row` in cleaning_exclusions.csv).",
                "",
            ]
        lines.append(f"- Rows in: **{rep['rows_in']}**")
        if rep["excluded"]:
            lines.append(f"- Excluded: **{rep['excluded_total']}**")
            lines += [f"  - {why}: {n}" for why, n in rep["excluded"].items()]
        else:
            lines.append("- Excluded: none")
        lines.append(f"- Rows out: **{rep['rows_out']}**")
        lines += ["", "| column | missing | % |", "|---|---:|---:|"]
        for column, n in rep["missing"].items():
            share = 100 * n / rep["rows_out"] if rep["rows_out"] else 0.0
            lines.append(f"| {column} | {n} | {share:.1f} |")
        lines.append("")
    return "\n".join(lines)


# -- stage entry point ----------------------------------------------------------------------
def run(params: Params, root: Path) -> dict[str, dict[str, Any]]:
    cfg = params.data
    raw_dir = root / paths.RAW
    manifest = json.loads((raw_dir / paths.MANIFEST).read_text(encoding="utf-8"))
    results: dict[str, CleanResult] = {}
    for cohort, info in manifest["cohorts"].items():
        raw = pd.read_parquet(paths.cohort_file(raw_dir, cohort))
        results[cohort] = clean_cohort(raw, cfg, info["source"])
    if cfg.treatment is not None:  # before anything is written
        dev = results["development"].frame
        shown = manifest["cohorts"]["development"]["source"]
        treatment.arm_counts(dev[cfg.treatment.column], cfg.treatment, shown)

    reports = {cohort: res.report for cohort, res in results.items()}
    exclusions = pd.DataFrame(
        [(c, info_row, why) for c, res in results.items() for info_row, why in res.exclusions],
        columns=["cohort", "source_row", "reason"],
    )
    with Outputs() as out:
        folder = out.directory(root / paths.CLEAN)
        for cohort, res in results.items():
            res.frame.to_parquet(paths.cohort_file(folder, cohort), index=False)
        out.write_json(root / paths.REPORTS / "cleaning.json", reports)
        out.write_text(root / paths.REPORTS / "cleaning.md", flow_markdown(reports, cfg))
        out.write_with(
            root / paths.REPORTS / "cleaning_exclusions.csv",
            lambda p: exclusions.to_csv(p, index=False),
        )
    return reports
