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

import json
from pathlib import Path
from typing import Any

from lbp_outcomes import paths
from lbp_outcomes.atomic import Outputs
from lbp_outcomes.errors import UserError

CV_FILE = paths.METRICS / "cv.json"
EXTERNAL_FILE = paths.METRICS / "external.json"
SUMMARY_FILE = paths.METRICS / "summary.json"

# The primary metric of a target is the first of these its CV summary carries: R2 for
# regression, AUROC for binary targets (lbp_outcomes.metrics.PRIMARY; not imported here,
# so the stage starts without scikit-learn).
PRIMARY_ORDER = ("r2", "auroc")
DIGITS = 4  # rounding of every value: below the run-to-run noise of any CV estimate


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def primary_metric(stats: dict[str, Any]) -> str:
    """The primary metric's name in one family's CV summary (``{metric: {mean, ...}}``)."""
    for name in PRIMARY_ORDER:
        if name in stats:
            return name
    raise UserError(f"{CV_FILE}: no primary metric ({', '.join(PRIMARY_ORDER)}) in {list(stats)}")


def target_summary(cv_entry: dict[str, Any], ext_entry: dict[str, Any] | None) -> dict[str, Any]:
    """Headline numbers of one target from its cv.json and external.json entries."""
    champion = cv_entry["champion"]
    stats = cv_entry[champion]
    metric = primary_metric(stats)
    out: dict[str, Any] = {"champion": champion, "metric": metric, "n": cv_entry.get("n")}
    selected = cv_entry.get("selected") or {}
    if selected.get("metric") == metric:
        out["sel"] = _round(selected.get("mean"))
        out["sel_lo"], out["sel_hi"] = (_round(v) for v in selected.get("ci") or [None, None])
    cv = stats[metric]
    out["cv"] = _round(cv.get("mean"))
    out["cv_lo"] = _round(cv.get("ci_low"))
    out["cv_hi"] = _round(cv.get("ci_high"))
    ext = (ext_entry or {}).get("families", {}).get(champion)
    if ext:
        out["ext"] = _round(ext.get(metric, {}).get("estimate"))
        out["ext_slope"] = _round(ext.get("calibration_slope", {}).get("estimate"))
    interval = (ext_entry or {}).get("interval")
    if interval and interval.get("coverage") is not None:
        out["ext_cover"] = _round(interval["coverage"])
    return {k: v for k, v in out.items() if v is not None}


def summarise(cv: dict[str, Any], external: dict[str, Any]) -> dict[str, Any]:
    """The whole summary: one entry per cross-validated target, then the external cohort."""
    ext_targets = external.get("targets", {}) if external.get("available") else {}
    out: dict[str, Any] = {
        target: target_summary(entry, ext_targets.get(target)) for target, entry in cv.items()
    }
    if external.get("available"):
        auroc = external.get("case_mix", {}).get("membership_auroc", {}).get("estimate")
        out["external"] = {"n": external.get("n"), "membership_auroc": _round(auroc)}
    return out


def _read(root: Path, rel: Path, stage: str) -> dict[str, Any]:
    path = root / rel
    if not path.is_file():
        raise UserError(f"{rel}: not found; run the {stage} stage first")
    return json.loads(path.read_text(encoding="utf-8"))


def run(params: Any, root: Path) -> dict[str, Any]:
    summary = summarise(_read(root, CV_FILE, "train"), _read(root, EXTERNAL_FILE, "external"))
    with Outputs() as out:
        out.write_json(root / SUMMARY_FILE, summary)
    return summary
