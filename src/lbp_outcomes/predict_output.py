"""How ``lbp-outcomes predict`` presents its results to a clinician (and to a script).

:func:`present` turns raw model output (float arrays straight from the pipelines) into
what is shown: intervals and points clipped to the outcome's declared range, numbers
rounded to what the scale supports, headers with labels and units, the model behind each
column (family, registry version, the data it was trained on) and, on standard error, the
models' discrimination and calibration from the pipeline's metrics files.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes import catalog
from lbp_outcomes.dataconfig import DataConfig

#: Probabilities get this many decimals, more (up to MAX_PROBABILITY_DIGITS) where fewer
#: would print an honest 0.9996 as "1.000", a certainty no model has.
PROBABILITY_DIGITS = 3
MAX_PROBABILITY_DIGITS = 6


@dataclass(frozen=True)
class Performance:
    """One metric of a champion: estimate with its CI, where it was measured."""

    where: str  # "CV" (out-of-fold, development cohort) or "external"
    metric: str  # key in the metrics files, e.g. "auroc", "calibration_slope"
    estimate: float | None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class ModelInfo:
    """The registered champion that produced one outcome's columns."""

    family: str  # code name, e.g. "random_forest"
    family_label: str  # display name, e.g. "Random forest"
    registered_name: str
    version: str
    missing_values: str  # how this pipeline fills a missing input
    performance: list[Performance] = field(default_factory=list)

    @property
    def short(self) -> str:
        return f"{self.family_label}, registry v{self.version}"


@dataclass(frozen=True)
class Outcome:
    """One predicted target: how it is named, bounded and rounded."""

    target: str
    kind: str  # "regression" or "binary"
    label: str  # with its unit, e.g. "Pain after treatment (NRS 0-10)"
    unit: str
    bounds: tuple[float, float] | None  # the declared range (regression)
    digits: int  # decimals of a point prediction
    model: ModelInfo


def outcome(target: str, cfg: DataConfig, model: ModelInfo) -> Outcome:
    kind = cfg.target_kind(target)
    spec = cfg.targets.get(target)
    bounds = tuple(float(v) for v in spec.range) if spec is not None and spec.range else None
    return Outcome(
        target, kind, cfg.label(target), cfg.unit(target), bounds, _digits(bounds), model
    )


def _digits(bounds: tuple[float, float] | None) -> int:
    """One decimal on scales 10 units wide or wider (NRS 0-10, ODI 0-50, degrees), two on
    narrower ones: finer digits than that are noise, not information."""
    if bounds is None:
        return 2
    return 1 if bounds[1] - bounds[0] >= 10 else 2


def probability(value: float) -> float:
    """``value`` rounded to PROBABILITY_DIGITS decimals, or more if that would print 0 or 1
    for a probability that is not exactly 0 or 1; closer to 0 or 1 than
    MAX_PROBABILITY_DIGITS resolve, it stays one step inside (0.999999, not 1.0)."""
    if not math.isfinite(value) or value in (0.0, 1.0):
        return value
    for digits in range(PROBABILITY_DIGITS, MAX_PROBABILITY_DIGITS + 1):
        shown = round(value, digits)
        if 0 < shown < 1:
            return shown
    step = 10.0**-MAX_PROBABILITY_DIGITS
    return round(min(max(value, step), 1 - step), MAX_PROBABILITY_DIGITS)


@dataclass
class Presented:
    """The rounded, clipped result: ``table`` has one row per patient and code-named
    columns; ``columns`` maps each to its CSV header (label, unit, what)."""

    table: pd.DataFrame
    columns: dict[str, str]
    outcomes: list[Outcome]
    trained_on: dict[str, Any]
    level: float | None
    id_column: str | None = None


def present(
    raw: pd.DataFrame,
    ids: pd.Series | None,
    id_column: str | None,
    imputed: list[list[str]],
    outcomes: list[Outcome],
    trained_on: dict[str, Any],
    level: float | None,
) -> Presented:
    """Clip and round ``raw`` (columns ``<t>``, ``<t>_lower``, ``<t>_upper``,
    ``<t>_probability``; one row per patient) for display."""
    table = pd.DataFrame({"row": np.arange(1, len(raw) + 1)})
    columns = {"row": "row"}
    if ids is not None and id_column:
        table[id_column] = ids.astype(str).to_numpy()
        columns[id_column] = id_column
    table["imputed"] = ["; ".join(cols) for cols in imputed]
    columns["imputed"] = "missing in the input, imputed by the model"
    share = f"{level:.0%}" if level else ""
    for out in outcomes:
        t = out.target
        if out.kind == "binary":
            values = raw[f"{t}_probability"].astype(float)
            table[f"{t}_probability"] = [probability(v) for v in values]
            columns[f"{t}_probability"] = f"{out.label}: probability"
        else:
            for suffix, what in (("", "predicted"), ("_lower", f"{share} interval lower"),
                                 ("_upper", f"{share} interval upper")):  # fmt: skip
                if f"{t}{suffix}" not in raw:
                    continue
                values = raw[f"{t}{suffix}"].to_numpy(dtype=float)
                if out.bounds is not None:  # the scale ends where the config says it does
                    values = np.clip(values, *out.bounds)
                table[f"{t}{suffix}"] = np.round(values, out.digits)
                columns[f"{t}{suffix}"] = f"{out.label}: {what}"
        table[f"{t}_model"] = out.model.short
        columns[f"{t}_model"] = f"{out.label}: model"
    table["trained_on"] = trained_on["text"]
    columns["trained_on"] = "trained on"
    shown_id = id_column if ids is not None else None
    return Presented(table, columns, outcomes, trained_on, level, shown_id)


#: How each preprocessing recipe fills a missing input (lbp_outcomes.models.preprocess).
MISSING_VALUES = {
    "dense": "training median (numbers) or most frequent value (categories), fitted imputer",
    "trees": "missing-value branches learned in training (trees split on missingness)",
}


def performance(root: Path, target: str, family: str, kind: str) -> list[Performance]:
    """The champion's discrimination and calibration, read from the metrics files the train
    stage (reports/metrics/cv.json) and the external stage (external.json) wrote; nothing
    where a file is absent or unreadable. Binary calibration-in-the-large is the calibration
    intercept on the log-odds scale (slope fixed at 1)."""
    wanted = {
        "regression": ["r2", "calibration_in_the_large", "calibration_slope"],
        "binary": ["auroc", "calibration_intercept", "calibration_slope"],
    }[kind]
    cv = catalog.CV_METRICS.read_optional(root) or {}
    external = catalog.EXTERNAL_METRICS.read_optional(root)
    cv_entry = cv.get(target)
    ext_entry = external.targets.get(target) if external is not None else None
    out: list[Performance] = []
    for where, stats in (
        ("CV", cv_entry.families.get(family, {}) if cv_entry else {}),
        ("external", ext_entry.families.get(family, {}) if ext_entry else {}),
    ):
        for name in wanted:
            value = stats.get(name)
            if value is not None:
                estimate = value.mean if where == "CV" else value.estimate
                out.append(Performance(where, name, estimate, value.ci_low, value.ci_high))
    return out


# -- writers ----------------------------------------------------------------------------------
def to_csv(result: Presented) -> str:
    """CSV with labelled headers (labels and units; one header row, so any reader works)."""
    return result.table.rename(columns=result.columns).to_csv(index=False)


def to_json(result: Presented) -> str:
    """``{"trained_on", "models", "columns", "patients"}``; every number as in the CSV."""
    models = {}
    for out in result.outcomes:
        models[out.target] = {
            "label": out.label,
            "unit": out.unit,
            "kind": out.kind,
            "range": list(out.bounds) if out.bounds else None,
            **{k: v for k, v in asdict(out.model).items() if k != "performance"},
            "performance": [asdict(p) for p in out.model.performance],
        }
    patients = []
    for record in result.table.to_dict(orient="records"):
        item: dict[str, Any] = {"row": int(record["row"])}
        if result.id_column:
            item[result.id_column] = record[result.id_column]
        item["imputed"] = [c for c in str(record["imputed"]).split("; ") if c]
        item["outcomes"] = {
            out.target: _outcome_entry(out, record, result) for out in result.outcomes
        }
        patients.append(item)
    payload = {
        "trained_on": result.trained_on,
        "models": models,
        "columns": dict(result.columns),
        "patients": patients,
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def _outcome_entry(out: Outcome, record: dict[str, Any], result: Presented) -> dict[str, Any]:
    t = out.target
    entry: dict[str, Any] = {"label": out.label, "unit": out.unit}
    if out.kind == "binary":
        entry["probability"] = _num(record[f"{t}_probability"])
    else:
        entry["prediction"] = _num(record[t])
        if f"{t}_lower" in record:
            entry.update(
                lower=_num(record[f"{t}_lower"]),
                upper=_num(record[f"{t}_upper"]),
                level=result.level,
            )
    entry["model"] = out.model.short
    return entry


def _num(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


# -- terminal summary -------------------------------------------------------------------------
def summary_lines(result: Presented) -> list[str]:
    """What standard error shows next to the table: each model, its discrimination and
    calibration (CV and external), and a warning for a synthetic training cohort."""
    lines = []
    if result.trained_on.get("synthetic"):
        lines.append(
            "WARNING: the models were trained on a SYNTHETIC cohort (data config "
            f"{result.trained_on['data_config']}): these predictions demonstrate the pipeline "
            "and are not for clinical use."
        )
    for out in result.outcomes:
        lines.append(f"{out.label}: {out.model.short} ({out.model.registered_name})")
        if out.kind == "binary":
            certain = int(result.table[f"{out.target}_probability"].isin([0.0, 1.0]).sum())
            if certain:
                lines.append(
                    f"  warning: probability exactly 0 or 1 for {certain} of "
                    f"{len(result.table)} patients: the model is saturated, not certain "
                    "(see its calibration slope)"
                )
        for where in ("CV", "external"):
            stats = [p for p in out.model.performance if p.where == where]
            if stats:
                lines.append(f"  {where}: " + "; ".join(_stat_text(p) for p in stats))
    return lines


_NAMES = {
    "r2": "R²",
    "mae": "MAE",
    "auroc": "AUROC",
    "brier": "Brier",
    "calibration_in_the_large": "calibration-in-the-large",
    "calibration_intercept": "calibration-in-the-large (log-odds)",
    "calibration_slope": "calibration slope",
}


def _stat_text(p: Performance) -> str:
    """ "AUROC 0.971 [0.960, 0.980]", printed as the report prints it (never rounded onto 1
    or 0 when the value is not 1 or 0)."""
    from lbp_outcomes.metricinfo import METRICS, Metric
    from lbp_outcomes.report.document import interval

    spec = METRICS.get(p.metric, Metric(p.metric, 3))
    shown = interval(p.estimate, p.ci_low, p.ci_high, spec.digits, spec.bounds, spec.landmarks)
    return f"{_NAMES.get(p.metric, p.metric)} {shown}"
