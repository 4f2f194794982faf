"""Performance in subgroups (TRIPOD+AI item on fairness): by site and by the data config's
``subgroups`` columns (categorical levels, or numeric bands at declared cut points).

For each target's champion, within each group: n, events (binary), and a few metrics with
percentile bootstrap CIs over the group's patients (binary: AUROC, Brier score,
calibration-in-the-large on the log-odds scale, observed and mean predicted risk;
continuous: MAE, R², calibration-in-the-large). A group smaller than ``MIN_PATIENTS``, or a
binary group with fewer than ``MIN_EVENTS`` patients in its smaller outcome class, gets a
caution instead of numbers: its estimates would be noise.

Called by the train stage (out-of-fold predictions, each patient's averaged over the CV
repeats; the bootstrap then covers the patients, not the refitting) and by the external
stage (the final models' predictions).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes.dataconfig import DataConfig

MIN_PATIENTS = 30  # fewer patients in a group: caution, no numbers
MIN_EVENTS = 10  # binary: fewer patients in the group's smaller outcome class: caution
SHOWN = {
    "binary": ("auroc", "brier", "calibration_intercept"),
    "regression": ("mae", "r2", "calibration_in_the_large"),
}
MISSING = "(missing)"
N_BOOT = 500  # bootstrap replicates of the out-of-fold subgroup CIs (external: external.n_boot)


@dataclass
class GroupResult:
    """One group's performance; ``metrics``: {name: {estimate, ci_low, ci_high}}."""

    column: str
    label: str
    level: str
    n: int
    events: int | None = None
    observed: float | None = None  # binary: share with the outcome; continuous: mean
    predicted: float | None = None  # mean predicted probability or value
    caution: str | None = None
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)


def band_labels(cuts: list[float]) -> list[str]:
    """Labels of the bands cut at ``cuts``: ["< 50", "50 to < 65", "≥ 65"]."""
    text = [f"{c:g}" for c in cuts]
    middle = [f"{a} to < {b}" for a, b in zip(text, text[1:], strict=False)]
    return [f"< {text[0]}", *middle, f"≥ {text[-1]}"]


@dataclass(frozen=True)
class Grouping:
    """One way of splitting patients: ``values`` (shape (n,), text) takes one of ``levels``
    (in display order: bands as cut, categories sorted, missing last)."""

    column: str
    label: str
    levels: list[str]
    values: np.ndarray


def _text(values: pd.Series) -> np.ndarray:
    return values.astype("string").fillna(MISSING).astype(str).to_numpy()


def groupings(frame: pd.DataFrame, cfg: DataConfig) -> list[Grouping]:
    """The site column (when the config has one and it is in ``frame``) and every declared
    subgroup column, for the rows of ``frame``."""
    out: list[Grouping] = []
    named = []
    if cfg.site_column and cfg.site_column in frame.columns:
        named.append((cfg.site_column, "Site", None))
    # The column name: the report shows its display label (a relabel reruns only the report).
    named += [(name, name, sub.cuts) for name, sub in cfg.subgroups.items()]
    for name, label, cuts in named:
        if cuts is not None:
            labels = band_labels(cuts)
            edges = [-np.inf, *cuts, np.inf]
            values = _text(pd.cut(frame[name].astype(float), edges, right=False, labels=labels))
        else:
            values = _text(frame[name])
            labels = sorted(set(values) - {MISSING})
        present = set(values)
        levels = [v for v in labels if v in present] + ([MISSING] if MISSING in present else [])
        out.append(Grouping(name, label, levels, values))
    return out


def _caution(task: str, n: int, y: np.ndarray) -> str | None:
    if n < MIN_PATIENTS:
        return f"{n} patients (fewer than {MIN_PATIENTS}): too few to estimate performance"
    if task == "binary":
        smaller = int(min(y.sum(), n - y.sum()))
        if smaller < MIN_EVENTS:
            return (
                f"{smaller} patients in the smaller outcome class (fewer than {MIN_EVENTS}): "
                "too few to estimate discrimination or calibration"
            )
    return None


def evaluate(
    y: np.ndarray,
    pred: np.ndarray,
    task: str,
    groups: list[Grouping],
    n_boot: int,
    seed: int,
    level: float = 0.95,
) -> list[GroupResult]:
    """Every group's performance. ``y``, ``pred``: shape (n,), aligned by position with
    each grouping's ``values``."""
    from lbp_outcomes import metrics  # scikit-learn: not for the report, which reads SHOWN

    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    results = []
    for g, grouping in enumerate(groups):
        for k, value in enumerate(grouping.levels):
            rows = grouping.values == value
            n = int(rows.sum())
            yy, pp = y[rows], pred[rows]
            result = GroupResult(grouping.column, grouping.label, value, n)
            if task == "binary":
                result.events = int(yy.sum())
            result.observed = round(float(yy.mean()), 4)
            result.predicted = round(float(pp.mean()), 4)
            result.caution = _caution(task, n, yy)
            if result.caution is None:
                stats = metrics.bootstrap_ci(
                    yy, pp, task, n_boot, seed + 1000 * g + k, level, stratify=task == "binary"
                )
                result.metrics = {
                    m: {key: metrics.finite_or_none(v, 4) for key, v in stats[m].items()}
                    for m in SHOWN[task]
                }
            results.append(result)
    return results


def to_json(results: list[GroupResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]


def settings() -> dict[str, Any]:
    """The thresholds behind the cautions (written next to the results)."""
    return {"min_patients": MIN_PATIENTS, "min_events": MIN_EVENTS}
