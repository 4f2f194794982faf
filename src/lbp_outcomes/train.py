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

With ``executor=dask`` the CV tasks fan out over the cluster (connected before the MLflow
run opens, so an unreachable scheduler leaves no run behind); a target with at least
``executor.dask.distributed_min_rows`` patients trains its XGBoost/LightGBM across the
cluster instead, task by task from the driver. :func:`time_cv` times the CV alone (for
benchmarks: ``lbp-outcomes time-cv executor=dask executor.dask.n_workers=2``).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lbp_outcomes import clinical, intervals, paths, plots, selection, subgroups
from lbp_outcomes.atomic import Outputs
from lbp_outcomes.canonical import dump_pickle
from lbp_outcomes.config import Params, fold_limits
from lbp_outcomes.cv import FoldResult, TargetData, fold_table, oof_table, plan, run_task, summarise
from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.errors import UserError
from lbp_outcomes.executor import Executor
from lbp_outcomes.metrics import HIGHER_IS_BETTER, PRIMARY
from lbp_outcomes.models.families import can_distribute, check_family
from lbp_outcomes.models.preprocess import FeatureSpec
from lbp_outcomes.seeds import derive_seed
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

    try:
        fold_limits(params, len(frame), f"{len(frame)} patients")
    except ValueError as exc:
        raise UserError(f"{paths.FEATURES}/development.parquet: {exc}") from None
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
    # The cluster is reached first (a bad scheduler address fails before any MLflow run
    # exists); the parent run opens next, so the MLflow UI shows the pipeline RUNNING while
    # CV works, and an interrupted or failed run is closed KILLED or FAILED, never left open.
    with (
        Executor(params.executor) as executor,
        tempfile.TemporaryDirectory(prefix="lbp-train-") as tmp,
        tracker.pipeline_run("train"),
    ):
        return _train(
            params, root, tracker, executor, Path(tmp), frame, spec, families, datasets, skipped
        )


def cv_calls(
    params: Params,
    executor: Executor,
    spec: FeatureSpec,
    families: list[str],
    datasets: list[TargetData],
) -> list[tuple]:
    """``run_task`` arguments for every CV task and final refit of every target.

    A target with at least ``executor.dask.distributed_min_rows`` patients trains its
    XGBoost/LightGBM families across the cluster when the executor can
    (:attr:`Executor.distributes_boosting`); otherwise a note says why not.
    """
    dask = params.executor.dask
    calls = []
    for data in datasets:
        spread: frozenset[str] = frozenset()
        if params.executor.kind == "dask" and len(data.y) >= dask.distributed_min_rows:
            boosters = {f for f in families if can_distribute(params.model[f], data.task)}
            if boosters and executor.distributes_boosting:
                spread = frozenset(boosters)
                print(
                    f"{data.name}: {len(data.y)} patients: {', '.join(sorted(boosters))} "
                    f"train across the Dask cluster"
                )
            elif boosters:
                print(
                    f"note: {data.name}: {len(data.y)} patients, but distributed boosting "
                    "needs a cluster at executor.dask.address, or "
                    "executor.dask.local_distributed_boosting=true (xgboost.dask and "
                    "lightgbm.dask listen on every network interface during a fit); "
                    "training in memory"
                )
        tasks = plan(data, families, params.cv, params.seed, spread, dask.threads_per_worker)
        calls += [
            (task, data, params.model[task.family], spec, params.tuning, params.calibration)
            for task in tasks
        ]
    return calls


def run_cv(executor: Executor, calls: list[tuple], label: str, progress: bool = True) -> list:
    """Every CV task's FoldResult, in ``calls`` order: ordinary tasks fan out over the
    executor; distributed ones then run from the driver, one at a time, each spread over
    the whole cluster (a task never starts cluster work from inside a worker)."""
    in_driver = [i for i, call in enumerate(calls) if call[0].distributed]
    fanned_out = [i for i, call in enumerate(calls) if not call[0].distributed]
    results: list[Any] = [None] * len(calls)
    done = executor.map(run_task, [calls[i] for i in fanned_out], label=label, progress=progress)
    for i, result in zip(fanned_out, done, strict=True):
        results[i] = result
    if in_driver:
        done = executor.run_in_driver(
            run_task, [calls[i] for i in in_driver], f"{label}: distributed", progress=progress
        )
        for i, result in zip(in_driver, done, strict=True):
            results[i] = result
    return results


def time_cv(root: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Wall time of the train stage's cross-validation alone, for benchmarks.

    conf/ is composed with ``overrides`` (as ``dvc exp run -S`` would) and the CV tasks
    and final refits run on data/features/development.parquet (run the pipeline up to
    the features stage first). Nothing is written and nothing is tracked. Returns
    ``startup_seconds`` (cluster start or connection) and ``cv_seconds`` (the tasks).
    """
    from lbp_outcomes.config import compose, validate_params

    params = validate_params(compose(list(overrides), root), source=f"conf/ + {list(overrides)}")
    source = paths.cohort_file(root / paths.FEATURES, "development")
    if not source.is_file():
        raise UserError(f"{source}: not found; run the pipeline up to the features stage first")
    spec = FeatureSpec.from_config(params.data)
    datasets, _ = prepare_targets(pd.read_parquet(source), params.data, spec, params.cv.folds)
    families = list(params.model)
    started = time.perf_counter()
    with Executor(params.executor) as executor:
        ready = time.perf_counter()
        calls = cv_calls(params, executor, spec, families, datasets)
        run_cv(executor, calls, "CV", progress=False)
        done = time.perf_counter()
        workers = executor.n_workers
    return {
        "overrides": list(overrides),
        "executor": params.executor.kind,
        "workers": workers,
        "threads_per_worker": params.executor.dask.threads_per_worker
        if params.executor.kind == "dask"
        else 1,
        "tasks": len(calls),
        "startup_seconds": round(ready - started, 3),
        "cv_seconds": round(done - ready, 3),
    }


def _train(
    params: Params,
    root: Path,
    tracker: Tracker,
    executor: Executor,
    tmp: Path,
    frame: pd.DataFrame,
    spec: FeatureSpec,
    families: list[str],
    datasets: list[TargetData],
    skipped: dict[str, str],
) -> dict[str, Any]:
    cfg = params.data
    clock = _PhaseClock()
    calls = cv_calls(params, executor, spec, families, datasets)
    label = f"CV {len(datasets)} targets x {len(families)} families"
    results: list[FoldResult] = run_cv(executor, calls, label)
    clock.lap("cv")

    grouped: dict[tuple[str, str], list[FoldResult]] = defaultdict(list)
    for result in results:
        grouped[(result.task.target, result.task.family)].append(result)

    cv_metrics: dict[str, Any] = {}
    manifest: dict[str, Any] = {"features": spec.columns, "targets": {}}
    notes: dict[str, Any] = {"skipped_targets": skipped, "tuning": {}, "subsampled": {}}
    summaries: dict[str, dict[str, Any]] = {}
    for data in datasets:
        per_family = {f: summarise(grouped[(data.name, f)], data, params.cv) for f in families}
        champion = choose_champion(per_family, data.task)
        summaries[data.name] = per_family
        honest = selection.select(
            {f: grouped[(data.name, f)] for f in families}, data.task, params.cv
        )
        cv_metrics[data.name] = {
            "champion": champion,
            "n": len(data.y),
            **per_family,
            selection.KEY: honest.as_json(),
        }
        tracker.log_metrics(honest.metrics(data.name))  # on the parent run
        manifest["targets"][data.name] = {
            "task": data.task,
            "champion": champion,
            "n": len(data.y),
            "families": {
                f: {
                    "file": f"{paths.slug(data.name)}/{f}.joblib",
                    "params": _final(grouped[(data.name, f)]).params,
                    "distributed": _final(grouped[(data.name, f)]).task.distributed,
                }
                for f in families
            },
        }
        for f in families:
            tuning_notes = sorted({r.note for r in grouped[(data.name, f)] if r.note})
            if tuning_notes:
                notes["tuning"][f"{data.name}/{f}"] = tuning_notes
            sizes = {r.subsampled for r in grouped[(data.name, f)] if r.subsampled}
            if sizes:
                notes["subsampled"][f"{data.name}/{f}"] = max(sizes)
                print(
                    f"note: {data.name} / {f}: each fit used a random {max(sizes)} of the "
                    f"training patients (model.{f}.max_train_rows)"
                )

    conformal = _fit_conformal(params, executor, datasets, manifest, spec)
    clock.lap("conformal")

    folds = fold_table(results)
    oof = pd.concat(
        [oof_table([r for r in results if r.task.target == d.name], d) for d in datasets],
        ignore_index=True,
    )
    example = typical_patient(frame, spec)
    tracker.log_dataset(example, "development", rows=len(frame))

    labels = {f: params.model[f].label or f for f in families}
    figures = _figures(tmp, datasets, oof, cfg, manifest, labels, summaries)
    clinical_dir = tmp / "clinical"
    clinical.write(
        clinical.evaluate(
            clinical.cv_items(oof, datasets, frame, manifest),
            cfg,
            labels,
            "cross-validation (out-of-fold)",
            params.seed,
            subgroups.N_BOOT,
            params.cv.ci_level,
            clinical_dir,
        ),
        clinical_dir,
    )
    figures.update({png.name: png for png in sorted(clinical_dir.glob("*.png"))})
    clock.lap("tables and plots")
    with Outputs() as out:
        model_dir = out.directory(root / paths.MODELS)
        for (target, family), group in grouped.items():
            dest = model_dir / paths.slug(target) / f"{family}.joblib"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dump_pickle(_final(group).model, dest)  # byte-stable: DVC hashes it
        for target, model in conformal.items():
            intervals.save(model, model_dir / paths.slug(target) / intervals.FILE)
            manifest["targets"][target]["conformal"] = {
                "file": f"{paths.slug(target)}/{intervals.FILE}",
                "level": params.conformal.level,
                "method": "MAPIE cross-conformal (CV+)",
                "folds": params.conformal.folds,
            }
        (model_dir / "manifest.json").write_text(_json(manifest), encoding="utf-8")
        clock.lap("save models")
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
        clock.lap("mlflow")
        out.write_json(root / paths.METRICS / "cv.json", cv_metrics)
        cv_dir = out.directory(root / CV_DIR)  # replaced whole: no file of an older run stays
        folds.to_csv(cv_dir / "folds.csv", index=False)
        oof.to_parquet(cv_dir / "oof.parquet", index=False)
        (cv_dir / "notes.json").write_text(_json(notes), encoding="utf-8")
        for name in clinical.FILES:
            (cv_dir / name).write_bytes((clinical_dir / name).read_bytes())
        tracker.log_artifacts({"cv/clinical": clinical_dir})
        plot_dir = out.directory(root / PLOTS_DIR)
        for name, path in figures.items():
            (plot_dir / name).write_bytes(path.read_bytes())
        write_tracking_file(out, root, tracker, **logged)
        clock.lap("write outputs")
    print(f"train phases: {clock}")  # where the stage's time goes (read by bench/)
    return cv_metrics


class _PhaseClock:
    """Wall time of consecutive phases, printed as ``cv 140.2 s | conformal 5.1 s | ...``
    (on the terminal only: outputs must not depend on timing)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - self._last
        self._last = now

    def __str__(self) -> str:
        return " | ".join(f"{name} {seconds:.1f} s" for name, seconds in self.phases.items())


def _conformal_task(family, spec, tuned, X, y, cfg, seed):
    return intervals.fit(family, spec, tuned, X, y, cfg, seed)


def _fit_conformal(
    params: Params,
    executor: Executor,
    datasets: list[TargetData],
    manifest: dict[str, Any],
    spec: FeatureSpec,
) -> dict[str, Any]:
    """Cross-conformal interval models for every regression target's champion (in memory,
    one task per target, also on a big cohort)."""
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
    fitted = executor.map(_conformal_task, calls, label="conformal intervals")
    return dict(zip(names, fitted, strict=True))


def _final(group: list[FoldResult]) -> FoldResult:
    return next(r for r in group if r.task.is_final)


def _json(obj: Any) -> str:
    from lbp_outcomes.atomic import to_json_text

    return to_json_text(obj)


def _figures(
    folder: Path,
    datasets: list[TargetData],
    oof: pd.DataFrame,
    cfg: DataConfig,
    manifest: dict,
    labels: dict[str, str],
    summaries: dict[str, dict[str, Any]],
) -> dict[str, Path]:
    """PNG per target, plus the CSV behind each regression plot (for `dvc plots`).
    ``labels``: display name per family; ``summaries``: CV metrics per target and family."""
    out: dict[str, Path] = {}
    for data in datasets:
        part = oof[oof["target"] == data.name]
        label = cfg.label(data.name)
        unit = _unit(cfg, data.name)
        champion = manifest["targets"][data.name]["champion"]
        if data.task == "regression":
            title = f"{label}: out-of-fold predictions (mean over CV repeats)"
            r2 = {f: s["r2"]["mean"] for f, s in summaries[data.name].items() if "r2" in s}
            out[f"{paths.slug(data.name)}.png"] = plots.observed_vs_predicted(
                part,
                title,
                unit,
                folder / f"{paths.slug(data.name)}.png",
                families=list(labels),  # the config's order, as in the tables
                labels=labels,
                champion=champion,
                r2={f: v for f, v in r2.items() if v is not None},
            )
        else:
            curves = {
                f: plots.calibration_curve_data(g["observed"], g["predicted"])
                for f, g in part.groupby("family", sort=False)
            }
            title = f"{label}: calibration of out-of-fold predictions"
            out[f"{paths.slug(data.name)}.png"] = plots.calibration(
                curves, title, folder / f"{paths.slug(data.name)}.png", label, labels, champion
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
    # Training params only (the data config is logged once, on the parent run).
    shared = {
        "seed": str(params.seed),
        **flatten(config["cv"], "cv."),
        **flatten(config["tuning"], "tuning."),
    }
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
                    "distributed": str(final.task.distributed).lower(),
                },
                summary=flat_summary,
                folds=fold_values,
                artifacts=artifacts,
                model=final.model,
                input_example=example,
                seconds=sum(r.seconds for r in group),
                description=_child_description(data, family, champion, summary),
            )
            runs[data.name][family] = logged.get("run_id", "")
            if family == champion:
                label = params.model[family].label or family
                primary = PRIMARY[data.task]
                version = tracker.register(
                    data.name,
                    logged.get("model_uri", ""),
                    run_id=logged.get("run_id", ""),
                    description=_child_description(data, family, champion, summary),
                    tags={
                        "family": family,
                        "task": data.task,
                        "data_config": params.data.name,
                        **{
                            f"cv_{m}": f"{summary[m]['mean']:.4f}"
                            for m in summary
                            if summary[m].get("mean") is not None
                        },
                    },
                )
                registered[data.name] = version
                tracker.log_metrics({f"{data.name}.champion_{primary}": summary[primary]["mean"]})
                print(f"{data.name}: champion {label} ({primary} {summary[primary]['mean']:.3f})")
    tracker.share_view()
    return {"runs": dict(runs), "registered": registered}


def _child_description(
    data: TargetData, family: str, champion: str, summary: dict[str, Any]
) -> str:
    """One line for the MLflow run / model version: what it is and how well it did."""
    primary = PRIMARY[data.task]
    stats = summary.get(primary, {})
    mean, low, high = (stats.get(k) for k in ("mean", "ci_low", "ci_high"))
    score = "n/a" if mean is None else f"{mean:.3f}"
    if low is not None and high is not None:
        score += f" [{low:.3f}, {high:.3f}]"
    role = "champion" if family == champion else f"not the champion ({champion} is)"
    return (
        f"{family} for {data.name} ({data.task}, n = {len(data.y)}): cross-validated "
        f"{primary} {score}; {role}."
    )
