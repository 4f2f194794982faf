"""The post-training outputs on the pipeline's MLflow parent run, logged in one MLflow
session by the report stage, the pipeline's last (:func:`log_outputs`):

- external validation: reports/external/ and reports/plots/external/ as artifacts, each
  champion's external metrics as run metrics (``external.<target>.<metric>``) and as tags of
  its registered version (``ext_<metric>``);
- explanations: reports/shap/ as artifacts, the overlap with the reference's top predictors
  as metrics (``explain.<target>.overlap``, ``.group_overlap``);
- treatment effects: a child run per target (metrics, effects.json as its artifact).

Why here and not in each stage: starting MLflow (its import and the SQL store) costs a
process about 3.3 s; external, explain and effects compute without it, as pure functions of
their inputs, and one process logs what they wrote. Nothing is logged for an output that a
stage did not produce (no external cohort, no treatment block).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lbp_outcomes import catalog
from lbp_outcomes.catalog import ExternalMetrics
from lbp_outcomes.tracking.info import read_registered
from lbp_outcomes.tracking.runs import Tracker

EFFECTS_DIR = Path("reports/effects")  # the effects stage's folder (effects.stage.OUT_DIR)


def log_outputs(tracker: Tracker, root: Path) -> None:
    """Everything above that is under ``root`` (an output not there is skipped, as the
    report skips its section); the parent run is open."""
    if not tracker.enabled:
        return
    if (root / catalog.EXTERNAL_METRICS.path).is_file():
        external = catalog.EXTERNAL_METRICS.read(root)
        if external.available:
            folders = {"external": catalog.EXTERNAL_DIR, "plots/external": catalog.EXTERNAL_PLOTS}
            tracker.log_artifacts({sub: root / path for sub, path in folders.items()})
            tracker.log_metrics(external_metrics(external))
            _tag_champions(tracker, root, external)
    if (root / catalog.IMPORTANCE.path).is_file():
        tracker.log_artifacts({"shap": root / catalog.SHAP_DIR})
        tracker.log_metrics(explain_metrics(_json(root / catalog.IMPORTANCE.path)))
    effects_file = root / EFFECTS_DIR / "effects.json"
    if effects_file.is_file() and _json(effects_file).get("available"):
        _log_effects(tracker, _json(effects_file), effects_file)


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def external_metrics(report: ExternalMetrics) -> dict[str, float | None]:
    """Champion external metrics for the parent run (external.<target>.<metric>)."""
    flat: dict[str, float | None] = {}
    if not report.available or report.case_mix is None:
        return flat
    flat["external.membership_auroc"] = report.case_mix.membership_auroc.estimate
    for target, entry in report.targets.items():
        for metric, stats in entry.families.get(entry.champion, {}).items():
            flat[f"external.{target}.{metric}"] = stats.estimate
        if entry.interval is not None:
            flat[f"external.{target}.interval_coverage"] = entry.interval.coverage
    return flat


def _tag_champions(tracker: Tracker, root: Path, report: ExternalMetrics) -> None:
    """External estimates as tags of each champion's registered version (ext_<metric>)."""
    versions = read_registered(root)
    for target, entry in report.targets.items():
        fam = entry.families.get(entry.champion, {})
        tags = {f"ext_{m}": f"{s.estimate:.4f}" for m, s in fam.items() if s.estimate is not None}
        tracker.tag_version(target, versions.get(target), tags)


def explain_metrics(importance: dict[str, Any]) -> dict[str, float | None]:
    """Per target, how many of the reference's top predictors the ranking found."""
    return {
        f"explain.{target}.{key}": entry["reference"][key]
        for target, entry in importance.items()
        if "reference" in entry
        for key in ("overlap", "group_overlap")
    }


def effects_metrics(report: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per target, a flat set of MLflow metrics (no per-patient values)."""
    found = {}
    for target, entry in report.get("targets", {}).items():
        m: dict[str, float | None] = {"heterogeneity_p": entry["heterogeneity"]["p_value"]}
        for arm, e in entry["arms"].items():
            m[f"ate.{arm}"], m[f"ate_low.{arm}"] = e["dr"]["estimate"], e["dr"]["ci_low"]
            m[f"ate_high.{arm}"] = e["dr"]["ci_high"]
            m[f"difference.{arm}"] = e["difference"]["estimate"]
            m[f"blp_slope.{arm}"] = entry["validation"][arm]["blp"]["slope"]["estimate"]
            m[f"autoc.{arm}"] = entry["validation"][arm]["toc"]["autoc"]["estimate"]
        m["policy_gain_vs_best"] = entry["policy"]["gain_vs_best_single_arm"]["estimate"]
        m["policy_gain_vs_random"] = entry["policy"]["gain_vs_random"]["estimate"]
        if "truth" in entry:
            m["pehe"] = entry["truth"]["pehe"]["abs"]
            m["pehe_fraction"] = entry["truth"]["pehe"]["fraction"]
            m["policy_gain_fraction"] = entry["truth"]["policy"]["gain_fraction"]
            m["ate_covered_all"] = float(entry["truth"]["ate_covered_all"])
        found[target] = m
    return found


def _log_effects(tracker: Tracker, report: dict[str, Any], results_file: Path) -> None:
    """One child run per target (metrics, the effects table as an artifact)."""
    for target, metrics in effects_metrics(report).items():
        tracker.log_child(
            name=f"effects: {target}",
            params={
                "stage": "effects",
                "target": target,
                "learner": report["learner"],
                "folds": str(report["folds"]),
                "reference": report["reference"],
            },
            tags={"stage": "effects", "target": target},
            summary={f"effects.{k}": v for k, v in metrics.items()},
            folds={},
            artifacts={"effects": results_file},
            description=f"Treatment effects on {target} vs {report['reference']}",
        )
