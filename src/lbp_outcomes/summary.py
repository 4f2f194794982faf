"""Summary stage: the headline numbers of a run, as the pipeline's one DVC metrics file.

Inputs: reports/metrics/cv.json (train stage) and reports/metrics/external.json (external
stage), the full detail (every family, every metric, CIs), which stay ordinary outputs.
Output: reports/metrics/summary.json, a few values per target, small enough for
``dvc exp show`` and ``dvc metrics diff`` in a 120-column terminal::

    {"<target>": {"champion": "xgboost", "metric": "r2", "n": 431,
                  "sel": 0.70, "sel_lo": 0.65, "sel_hi": 0.75,
                  "cv": 0.71, "cv_lo": 0.66, "cv_hi": 0.76,
                  "ext": 0.65, "ext_slope": 0.93, "ext_cover": 0.89},
     "external": {"n": 250, "membership_auroc": 0.62}}

``sel`` is the headline: the honest, selection-included CV estimate of the primary metric
(the family chosen inside each outer training fold, :mod:`lbp_outcomes.selection`), with its
CI (``sel_lo``/``sel_hi``). ``cv`` is the champion's cross-validated mean of the primary ``metric`` (R2 for
regression, AUROC for binary targets) with its CI (``cv_lo``/``cv_hi``); ``ext`` and
``ext_slope`` (calibration slope) are the champion's estimates in the external cohort;
``ext_cover`` is the empirical coverage of the regression champion's prediction interval.
Short keys on purpose: ``<target>.cv`` is a narrow column in ``dvc exp show``.
Keys a run cannot fill (no external cohort, a skipped target) are left out, never guessed.
The per-family numbers stay one ``--json`` away: ``dvc metrics show --json
reports/metrics/cv.json reports/metrics/external.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lbp_outcomes import catalog
from lbp_outcomes.atomic import Outputs
from lbp_outcomes.catalog import ExternalMetrics, ExternalTarget, TargetCV
from lbp_outcomes.errors import UserError
from lbp_outcomes.metricinfo import PRIMARY

DIGITS = 4  # rounding of every value: below the run-to-run noise of any CV estimate


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def primary_metric(entry: TargetCV) -> str:
    """The primary metric of a target (R2 for regression, AUROC for binary targets)."""
    task = entry.task
    if task is None:
        found = sorted({m for stats in entry.families.values() for m in stats})
        raise UserError(
            f"{catalog.CV_METRICS.path}: no primary metric ({', '.join(PRIMARY.values())}) "
            f"in {found}"
        )
    return PRIMARY[task]


def target_summary(cv_entry: TargetCV, ext_entry: ExternalTarget | None) -> dict[str, Any]:
    """Headline numbers of one target from its cv.json and external.json entries."""
    champion = cv_entry.champion
    metric = primary_metric(cv_entry)
    cv = cv_entry.families[champion][metric]
    out: dict[str, Any] = {
        "champion": champion,
        "metric": metric,
        "n": cv_entry.n,
    }
    selected = cv_entry.selected
    if selected is not None and selected.metric == metric:  # the headline leads
        out["sel"] = _round(selected.mean)
        out["sel_lo"], out["sel_hi"] = (_round(v) for v in selected.ci)
    out.update(cv=_round(cv.mean), cv_lo=_round(cv.ci_low), cv_hi=_round(cv.ci_high))
    ext = ext_entry.families.get(champion) if ext_entry is not None else None
    if ext:
        out["ext"] = _round(ext[metric].estimate) if metric in ext else None
        slope = ext.get("calibration_slope")
        out["ext_slope"] = _round(slope.estimate) if slope is not None else None
    interval = ext_entry.interval if ext_entry is not None else None
    if interval is not None and interval.coverage is not None:
        out["ext_cover"] = _round(interval.coverage)
    return {k: v for k, v in out.items() if v is not None}


def summarise(cv: dict[str, TargetCV], external: ExternalMetrics) -> dict[str, Any]:
    """The whole summary: one entry per cross-validated target, then the external cohort."""
    ext_targets = external.targets if external.available else {}
    out: dict[str, Any] = {
        target: target_summary(entry, ext_targets.get(target)) for target, entry in cv.items()
    }
    if external.available and external.case_mix is not None:
        auroc = external.case_mix.membership_auroc.estimate
        out["external"] = {"n": external.n, "membership_auroc": _round(auroc)}
    return out


def run(params: Any, root: Path) -> dict[str, Any]:
    summary = summarise(catalog.CV_METRICS.read(root), catalog.EXTERNAL_METRICS.read(root))
    with Outputs() as out:
        catalog.SUMMARY.write(out, root, summary)
    return summary
