"""Training stage: repeated K-fold CV of every model family on every target, final refits,
champions, MLflow.

Inputs: data/features/development.parquet (features stage) and params (model, cv, tuning,
executor, tracking). Outputs:

- models/<target>/<family>.joblib: each family's final pipeline, tuned and fitted on the
  whole development cohort; models/manifest.json: tasks, tuned params, champions.
- reports/metrics/cv.json (DVC metrics): per target and family, every metric's mean, SD
  and 95% CI over the outer folds; the champion family per target.
- reports/cv/folds.csv (per-fold values), reports/cv/oof.parquet (out-of-fold predictions,
  by row position, no ids), reports/cv/notes.json (targets skipped and why, tuning notes).
- reports/plots/cv/<target>.png: observed vs predicted, or calibration curves (DVC plots).
- reports/tracking.json: the MLflow parent run later stages log under.
"""

from __future__ import annotations

import math
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from lbp_outcomes import intervals, paths, plots
from lbp_outcomes.atomic import Outputs
from lbp_outcomes.config import Params
from lbp_outcomes.cv import FoldResult, TargetData, fold_table, oof_table, plan, run_task, summarise
from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.errors import UserError
from lbp_outcomes.executor import run_tasks
from lbp_outcomes.metrics import HIGHER_IS_BETTER, PRIMARY
from lbp_outcomes.models.families import check_family, derive_seed
from lbp_outcomes.models.preprocess import FeatureSpec
from lbp_outcomes.tracking import Tracker, flatten, write_tracking_file

CV_DIR = paths.REPORTS / "cv"
PLOTS_DIR = paths.PLOTS / "cv"


def prepare_targets(
    frame: pd.DataFrame, cfg: DataConfig, spec: FeatureSpec, folds: int
) -> tuple[list[TargetData], dict[str, str]]:
    """One TargetData per target that can be cross-validated; the others with the reason."""
    usable, skipped = [], {}
    for target in cfg.all_targets:
        task = cfg.target_kind(target)
        rows = frame[target].notna().to_numpy()
        y = frame.loc[rows, target].to_numpy(dtype=float)
        if len(y) < 2 * folds:
            skipped[target] = f"{len(y)} patients with this outcome: fewer than 2 x {folds} folds"
            continue
        if task == "binary":
            events = int(y.sum())
            minority = min(events, len(y) - events)
            if minority < folds:
                skipped[target] = (
                    f"{minority} patients in the smaller outcome class: too few for "
                    f"{folds} stratified folds (lower cv.folds or drop the target)"
                )
                continue
        X = frame.loc[rows, spec.columns].reset_index(drop=True)
        usable.append(TargetData(target, task, X, y))
    return usable, skipped


def typical_patient(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """A made-up input row for MLflow's input example: medians and most frequent categories
    (no real patient's values leave the project)."""
    row: dict[str, Any] = {}
    for name in spec.numeric:
        value = frame[name].median()
        row[name] = float(value) if pd.notna(value) else 0.0
    for name in [*spec.categorical, *spec.ordinal]:
        counts = frame[name].dropna().astype(str).value_counts()
        row[name] = str(counts.index[0]) if len(counts) else None
    return pd.DataFrame([row], columns=spec.columns)


def choose_champion(summaries: dict[str, dict[str, Any]], task: str) -> str:
    """Best family by the primary metric's CV mean (R2 or AUROC); ties go to config order."""
    primary = PRIMARY[task]
    sign = 1 if HIGHER_IS_BETTER[primary] else -1

    def score(family: str) -> float:
        mean = summaries[family].get(primary, {}).get("mean")
        return -math.inf if mean is None else sign * mean

    return max(summaries, key=score)


def run(params: Params, root: Path) -> dict[str, Any]:
    cfg = params.data
    spec = FeatureSpec.from_config(cfg)
    frame = pd.read_parquet(paths.cohort_file(root / paths.FEATURES, "development"))
    families = list(params.model)

    if len(frame) < 2 * params.cv.folds:
        raise UserError(
            f"{paths.FEATURES}/development.parquet: {len(frame)} patients are too few for "
            f"cv.folds={params.cv.folds} (need at least {2 * params.cv.folds})"
        )
    datasets, skipped = prepare_targets(frame, cfg, spec, params.cv.folds)
    if not datasets:
        reasons = "; ".join(f"{t}: {why}" for t, why in skipped.items())
        raise UserError(f"no target can be cross-validated: {reasons}")
    for task in sorted({d.task for d in datasets}):
        for name in families:
            check_family(name, params.model[name], task)
    for target, why in skipped.items():
        print(f"warning: target {target!r} skipped: {why}")

    tracker = Tracker(params, root)
    # The parent run opens first, so the MLflow UI shows the pipeline RUNNING while CV
    # works, and an interrupted or failed run is closed KILLED or FAILED, never left open.
    with tempfile.TemporaryDirectory(prefix="lbp-train-") as tmp, tracker.pipeline_run("train"):
        return _train(params, root, tracker, Path(tmp), frame, spec, families, datasets, skipped)


def _train(
    params: Params,
    root: Path,
    tracker: Tracker,
    tmp: Path,
    frame: pd.DataFrame,
    spec: FeatureSpec,
    families: list[str],
    datasets: list[TargetData],
    skipped: dict[str, str],
) -> dict[str, Any]:
    cfg = params.data
    calls = [
        (task, data, params.model[task.family], spec, params.tuning)
        for data in datasets
        for task in plan(data, families, params.cv, params.seed)
    ]
    label = f"CV {len(datasets)} targets x {len(families)} families"
    results: list[FoldResult] = run_tasks(run_task, calls, params.executor, label=label)

    grouped: dict[tuple[str, str], list[FoldResult]] = defaultdict(list)
    for result in results:
        grouped[(result.task.target, result.task.family)].append(result)

    cv_metrics: dict[str, Any] = {}
    manifest: dict[str, Any] = {"features": spec.columns, "targets": {}}
    notes: dict[str, Any] = {"skipped_targets": skipped, "tuning": {}}
    summaries: dict[str, dict[str, Any]] = {}
    for data in datasets:
        per_family = {f: summarise(grouped[(data.name, f)], data, params.cv) for f in families}
        champion = choose_champion(per_family, data.task)
        summaries[data.name] = per_family
        cv_metrics[data.name] = {"champion": champion, "n": len(data.y), **per_family}
        manifest["targets"][data.name] = {
            "task": data.task,
            "champion": champion,
            "n": len(data.y),
            "families": {
                f: {
                    "file": f"{paths.slug(data.name)}/{f}.joblib",
                    "params": _final(grouped[(data.name, f)]).params,
                }
                for f in families
            },
        }
        for f in families:
            tuning_notes = sorted({r.note for r in grouped[(data.name, f)] if r.note})
            if tuning_notes:
                notes["tuning"][f"{data.name}/{f}"] = tuning_notes

    conformal = _fit_conformal(params, datasets, manifest, spec)

    folds = fold_table(results)
    oof = pd.concat(
        [oof_table([r for r in results if r.task.target == d.name], d) for d in datasets],
        ignore_index=True,
    )
    example = typical_patient(frame, spec)

    figures = _figures(tmp, datasets, oof, cfg, manifest)
    with Outputs() as out:
        model_dir = out.directory(root / paths.MODELS)
        for (target, family), group in grouped.items():
            dest = model_dir / paths.slug(target) / f"{family}.joblib"
            dest.parent.mkdir(parents=True, exist_ok=True)
            joblib.dump(_final(group).model, dest)
        for target, model in conformal.items():
            intervals.save(model, model_dir / paths.slug(target) / intervals.FILE)
            manifest["targets"][target]["conformal"] = {
                "file": f"{paths.slug(target)}/{intervals.FILE}",
                "level": params.conformal.level,
                "method": "MAPIE cross-conformal (CV+)",
                "folds": params.conformal.folds,
            }
        (model_dir / "manifest.json").write_text(_json(manifest), encoding="utf-8")
        logged = _log_runs(
            tracker,
            params,
            datasets,
            grouped,
            summaries,
            manifest,
            folds,
            oof,
            figures,
            example,
            tmp,
            model_dir,
        )
        out.write_json(root / paths.METRICS / "cv.json", cv_metrics)
        out.write_with(root / CV_DIR / "folds.csv", lambda p: folds.to_csv(p, index=False))
        out.write_with(root / CV_DIR / "oof.parquet", lambda p: oof.to_parquet(p, index=False))
        out.write_json(root / CV_DIR / "notes.json", notes)
        plot_dir = out.directory(root / PLOTS_DIR)
        for name, path in figures.items():
            (plot_dir / name).write_bytes(path.read_bytes())
        write_tracking_file(out, root, tracker, **logged)
    return cv_metrics


def _conformal_task(family, spec, tuned, X, y, cfg, seed):
    return intervals.fit(family, spec, tuned, X, y, cfg, seed)


def _fit_conformal(
    params: Params, datasets: list[TargetData], manifest: dict[str, Any], spec: FeatureSpec
) -> dict[str, Any]:
    """Cross-conformal interval models for every regression target's champion."""
    if not params.conformal.enabled:
        return {}
    calls, names = [], []
    for data in datasets:
        if data.task != "regression":
            continue
        champion = manifest["targets"][data.name]["champion"]
        tuned = manifest["targets"][data.name]["families"][champion]["params"]
        # The champion's own final-fit seed: MAPIE's full-data model is then the champion.
        seed = derive_seed(params.seed, data.name, champion, "final")
        calls.append((params.model[champion], spec, tuned, data.X, data.y, params.conformal, seed))
        names.append(data.name)
    fitted = run_tasks(_conformal_task, calls, params.executor, label="conformal intervals")
    return dict(zip(names, fitted, strict=True))


def _final(group: list[FoldResult]) -> FoldResult:
    return next(r for r in group if r.task.is_final)


def _json(obj: Any) -> str:
    from lbp_outcomes.atomic import to_json_text

    return to_json_text(obj)


def _figures(
    folder: Path, datasets: list[TargetData], oof: pd.DataFrame, cfg: DataConfig, manifest: dict
) -> dict[str, Path]:
    """PNG per target, plus the CSV behind each regression plot (for `dvc plots`)."""
    out: dict[str, Path] = {}
    for data in datasets:
        part = oof[oof["target"] == data.name]
        label = cfg.label(data.name)
        unit = _unit(cfg, data.name)
        if data.task == "regression":
            title = f"{label}: out-of-fold predictions (mean over CV repeats)"
            out[f"{paths.slug(data.name)}.png"] = plots.observed_vs_predicted(
                part, title, unit, folder / f"{paths.slug(data.name)}.png"
            )
        else:
            curves = {
                f: plots.calibration_curve_data(g["observed"], g["predicted"])
                for f, g in part.groupby("family", sort=False)
            }
            title = f"{label}: calibration of out-of-fold predictions"
            out[f"{paths.slug(data.name)}.png"] = plots.calibration(
                curves, title, folder / f"{paths.slug(data.name)}.png", label
            )
    return out


def _unit(cfg: DataConfig, target: str) -> str:
    spec = cfg.targets.get(target)
    return f"({spec.unit})" if spec is not None and spec.unit else ""


def _log_runs(
    tracker: Tracker,
    params: Params,
    datasets: list[TargetData],
    grouped: dict[tuple[str, str], list[FoldResult]],
    summaries: dict[str, dict[str, Any]],
    manifest: dict[str, Any],
    folds: pd.DataFrame,
    oof: pd.DataFrame,
    figures: dict[str, Path],
    example: pd.DataFrame,
    tmp: Path,
    model_dir: Path,
) -> dict[str, Any]:
    """A child run per target x family; the champions registered; parent-run summaries.
    Returns the run ids and registered versions (for reports/tracking.json)."""
    runs: dict[str, dict[str, str]] = defaultdict(dict)
    registered: dict[str, str | None] = {}
    if not tracker.enabled:
        return {"runs": runs, "registered": registered}
    config = params.model_dump(mode="json")
    shared = {k: v for k, v in flatten(config).items() if not k.startswith("model.")}
    for data in datasets:
        champion = manifest["targets"][data.name]["champion"]
        for family, summary in summaries[data.name].items():
            group = grouped[(data.name, family)]
            final = _final(group)
            pair = tmp / f"{data.name}__{family}"
            pair.mkdir()
            oof[(oof["target"] == data.name) & (oof["family"] == family)].drop(
                columns="target"
            ).to_csv(pair / "oof_predictions.csv", index=False)
            fold_part = folds[(folds["target"] == data.name) & (folds["family"] == family)]
            fold_part.to_csv(pair / "fold_metrics.csv", index=False)
            flat_summary = {f"{m}_{k}": v for m, stats in summary.items() for k, v in stats.items()}
            fold_values = {
                f"{m}_fold": fold_part[fold_part["metric"] == m]
                .sort_values(["repeat", "fold"])["value"]
                .tolist()
                for m in summary
            }
            run_params = {
                **shared,
                **flatten(config["model"][family], f"model.{family}."),
                "target": data.name,
                "family": family,
                "task": data.task,
                **{f"final.{k}": str(v) for k, v in final.params.items()},
            }
            artifacts = {
                "cv": pair / "oof_predictions.csv",
                "": pair / "fold_metrics.csv",
                "plots": figures[f"{paths.slug(data.name)}.png"],
            }
            interval_file = model_dir / paths.slug(data.name) / intervals.FILE
            if family == champion and interval_file.exists():
                artifacts["conformal"] = interval_file
            logged = tracker.log_child(
                name=f"{data.name} | {family}",
                params=run_params,
                tags={
                    "target": data.name,
                    "family": family,
                    "task": data.task,
                    "champion": str(family == champion).lower(),
                },
                summary=flat_summary,
                folds=fold_values,
                artifacts=artifacts,
                model=final.model,
                input_example=example,
            )
            runs[data.name][family] = logged.get("run_id", "")
            if family == champion:
                label = params.model[family].label or family
                version = tracker.register(
                    data.name,
                    logged.get("model_uri", ""),
                    description=f"Champion model for {data.name} ({params.data.name})",
                )
                registered[data.name] = version
                primary = PRIMARY[data.task]
                tracker.log_metrics({f"{data.name}.champion_{primary}": summary[primary]["mean"]})
                print(f"{data.name}: champion {label} ({primary} {summary[primary]['mean']:.3f})")
    return {"runs": dict(runs), "registered": registered}
