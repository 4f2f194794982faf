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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lbp_outcomes import (
    catalog,
    clinical,
    ensembling,
    intervals,
    paths,
    plots,
    selection,
    subgroups,
)
from lbp_outcomes.atomic import Outputs
from lbp_outcomes.canonical import dump_pickle
from lbp_outcomes.catalog import (
    ConformalModel,
    CVNotes,
    FamilyModel,
    Manifest,
    ManifestTarget,
    TargetCV,
)
from lbp_outcomes.config import Params, fold_limits
from lbp_outcomes.cv import FoldResult, TargetData, fold_table, oof_table, plan, run_task, summarise
from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.errors import UserError
from lbp_outcomes.executor import Executor, apply
from lbp_outcomes.metricinfo import HIGHER_IS_BETTER, PRIMARY
from lbp_outcomes.models import ensemble
from lbp_outcomes.models.families import can_distribute, check_family
from lbp_outcomes.models.preprocess import FeatureSpec
from lbp_outcomes.seeds import derive_seed
from lbp_outcomes.tracking import Tracker, log_train, write_tracking_file
from lbp_outcomes.train_result import TrainResult


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
        fitted = ensemble.members(families, params.model)  # the ensemble fits nothing itself
        tasks = plan(
            data,
            fitted,
            params.cv,
            params.seed,
            spread,
            dask.threads_per_worker,
            inner=len(fitted) < len(families),  # an ensemble weighs inner predictions
        )
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
    """Compute, draw, then write and log: the stage's effects all consume one TrainResult."""
    clock = _PhaseClock()
    result = fit(params, executor, frame, spec, families, datasets, skipped, clock)
    tracker.log_dataset(result.example, "development", rows=result.rows)
    drawn = _draw(executor, tmp, result, params, frame)  # on the pool, while models save
    with Outputs() as out:
        model_dir = save_models(out, root, result)
        clock.lap("save models")
        figures, clinical_dir = drawn()
        clock.lap("tables and plots")
        logged = log_train(tracker, result, figures, model_dir)
        clock.lap("mlflow")
        save_tables(out, root, result, figures, clinical_dir)
        tracker.log_artifacts({"cv/clinical": clinical_dir})
        write_tracking_file(out, root, tracker, cv_seconds=result.cv_seconds, **logged)
        clock.lap("write outputs")
    print(f"train phases: {clock}")  # where the stage's time goes (read by bench/)
    return catalog.CV_METRICS.dump(result.cv)


def fit(
    params: Params,
    executor: Executor,
    frame: pd.DataFrame,
    spec: FeatureSpec,
    families: list[str],
    datasets: list[TargetData],
    skipped: dict[str, str],
    clock: _PhaseClock | None = None,
) -> TrainResult:
    """The stage's computation: CV of every family on every target, champions, final refits
    and conformal interval models. Writes nothing and logs nothing."""
    clock = clock or _PhaseClock()
    calls = cv_calls(params, executor, spec, families, datasets)
    label = f"CV {len(datasets)} targets x {len(families)} families"
    results: list[FoldResult] = run_cv(executor, calls, label)
    results += ensembling.assemble_all(params, datasets, results)
    clock.lap("cv")

    grouped: dict[tuple[str, str], list[FoldResult]] = defaultdict(list)
    for result in results:
        grouped[(result.task.target, result.task.family)].append(result)

    cv: dict[str, TargetCV] = {}
    cv_seconds: dict[str, float] = {}
    targets: dict[str, ManifestTarget] = {}
    notes = CVNotes(skipped_targets=skipped, tuning={}, subsampled={})
    for data in datasets:
        per_family = {f: summarise(grouped[(data.name, f)], data, params.cv) for f in families}
        champion = choose_champion(per_family, data.task)
        honest = selection.select(
            {f: grouped[(data.name, f)] for f in families}, data.task, params.cv
        )
        cv[data.name] = TargetCV(
            champion=champion,
            n=len(data.y),
            families=per_family,
            selected=honest.contract(),
        )
        cv_seconds[data.name] = honest.seconds
        targets[data.name] = ManifestTarget(
            task=data.task,
            champion=champion,
            n=len(data.y),
            families={
                f: FamilyModel(
                    file=f"{paths.slug(data.name)}/{f}.joblib",
                    params=_final(grouped[(data.name, f)]).params,
                    distributed=_final(grouped[(data.name, f)]).task.distributed,
                )
                for f in families
            },
        )
        _note(notes, data.name, families, grouped)
    manifest = Manifest(features=spec.columns, targets=targets)

    conformal = _fit_conformal(params, executor, datasets, manifest, spec, grouped)
    for target in conformal:
        manifest.targets[target].conformal = ConformalModel(
            file=f"{paths.slug(target)}/{intervals.FILE}",
            level=params.conformal.level,
            method="MAPIE cross-conformal (CV+)",
            folds=params.conformal.folds,
        )
    clock.lap("conformal")
    oof = pd.concat(
        [oof_table([r for r in results if r.task.target == d.name], d) for d in datasets],
        ignore_index=True,
    )
    return TrainResult(
        datasets=datasets,
        # families go by key: display names are the report's (`display.families`), so
        # that a relabel does not retrain
        labels={f: f for f in families},
        grouped=dict(grouped),
        cv=cv,
        manifest=manifest,
        notes=notes,
        conformal=conformal,
        folds=fold_table(results),
        oof=oof,
        example=typical_patient(frame, spec),
        rows=len(frame),
        cv_seconds=cv_seconds,
    )


def _note(
    notes: CVNotes,
    target: str,
    families: list[str],
    grouped: dict[tuple[str, str], list[FoldResult]],
) -> None:
    """Record ``target``'s tuning notes and subsampled training sizes in ``notes``."""
    for f in families:
        tuning_notes = sorted({r.note for r in grouped[(target, f)] if r.note})
        if tuning_notes:
            notes.tuning[f"{target}/{f}"] = tuning_notes
        sizes = {r.subsampled for r in grouped[(target, f)] if r.subsampled}
        if sizes:
            notes.subsampled[f"{target}/{f}"] = max(sizes)
            print(
                f"note: {target} / {f}: each fit used a random {max(sizes)} of the "
                f"training patients (model.{f}.max_train_rows)"
            )


def _draw(
    executor: Executor, folder: Path, result: TrainResult, params: Params, frame: pd.DataFrame
) -> Callable[[], tuple[dict[str, Path], Path]]:
    """Start each target's figure and clinical-usefulness tables as tasks on the stage's
    pool (independent, seeded by target: the bytes do not depend on where they ran); the
    returned function waits for them, writes them into ``folder`` and returns ({PNG file
    name: path}, the folder of the clinical tables)."""
    champions = {t: entry.champion for t, entry in result.manifest.targets.items()}
    items = clinical.cv_items(result.oof, result.datasets, frame, champions)
    settings = clinical.Settings(
        params.data,
        result.labels,
        "cross-validation (out-of-fold)",
        params.seed,
        subgroups.N_BOOT,
        params.cv.ci_level,
    )
    drawings = [_figure_args(result, data) for data in result.datasets]
    tasks = [(_figure, args) for args in drawings]
    tasks += [(clinical.one, (item, settings)) for item in items]
    pending = executor.start(apply, tasks, "figures and clinical tables")

    def written() -> tuple[dict[str, Path], Path]:
        done = pending()
        figures: dict[str, Path] = {}
        for name, png in done[: len(drawings)]:
            figures[name] = folder / name
            figures[name].write_bytes(png)
        clinical_dir = folder / "clinical"
        clinical_dir.mkdir()
        targets = [item.target for item in items]
        clinical.write(clinical.collect(targets, done[len(drawings) :], clinical_dir), clinical_dir)
        figures.update({png.name: png for png in sorted(clinical_dir.glob("*.png"))})
        return figures, clinical_dir

    return written


def save_models(out: Outputs, root: Path, result: TrainResult) -> Path:
    """models/: every final pipeline, the interval models and the manifest (staged in
    ``out``); returns the staged folder."""
    model_dir = out.directory(root / paths.MODELS)
    for (target, family), _group in result.grouped.items():
        dest = model_dir / result.manifest.targets[target].families[family].file
        dest.parent.mkdir(parents=True, exist_ok=True)
        dump_pickle(result.final(target, family).model, dest)  # byte-stable: DVC hashes it
    for target, model in result.conformal.items():
        conformal = result.manifest.targets[target].conformal
        assert conformal is not None  # set by fit() for every conformal model
        intervals.save(model, model_dir / conformal.file)
    catalog.MANIFEST.save(model_dir / catalog.MANIFEST.path.name, result.manifest)
    return model_dir


def save_tables(
    out: Outputs, root: Path, result: TrainResult, figures: dict[str, Path], clinical_dir: Path
) -> None:
    """cv.json, reports/cv/ (folds, out-of-fold predictions, notes, clinical tables) and
    reports/plots/cv/, staged in ``out``."""
    catalog.CV_METRICS.write(out, root, result.cv)
    cv_dir = out.directory(root / catalog.CV_DIR)  # replaced whole: no file of an older run stays
    result.folds.to_csv(cv_dir / "folds.csv", index=False)
    result.oof.to_parquet(cv_dir / "oof.parquet", index=False)
    catalog.CV_NOTES.save(cv_dir / catalog.CV_NOTES.path.name, result.notes)
    for name in clinical.FILES:
        (cv_dir / name).write_bytes((clinical_dir / name).read_bytes())
    plot_dir = out.directory(root / catalog.CV_PLOTS)
    for name, path in figures.items():
        (plot_dir / name).write_bytes(path.read_bytes())


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


def _conformal_task(family, spec, tuned, X, y, cfg, seed, pipe=None):
    return intervals.fit(family, spec, tuned, X, y, cfg, seed, pipe)


def _fit_conformal(
    params: Params,
    executor: Executor,
    datasets: list[TargetData],
    manifest: Manifest,
    spec: FeatureSpec,
    grouped: dict[tuple[str, str], list[FoldResult]],
) -> dict[str, Any]:
    """Cross-conformal interval models for every regression target's champion (in memory,
    one task per target, also on a big cohort). An ensemble champion is refitted as saved:
    its members with their final hyperparameters and seeds, and its final weights."""
    if not params.conformal.enabled:
        return {}
    from sklearn.base import clone

    calls, names = [], []
    for data in datasets:
        if data.task != "regression":
            continue
        champion = manifest.targets[data.name].champion
        tuned = manifest.targets[data.name].families[champion].params
        # The champion's own final-fit seed: MAPIE's full-data model is then the champion.
        seed = derive_seed(params.seed, data.name, champion, "final")
        pipe = None
        if ensemble.is_ensemble(params.model[champion]):
            pipe = clone(_final(grouped[(data.name, champion)]).model)
        calls.append(
            (params.model[champion], spec, tuned, data.X, data.y, params.conformal, seed, pipe)
        )
        names.append(data.name)
    fitted = executor.map(_conformal_task, calls, label="conformal intervals")
    return dict(zip(names, fitted, strict=True))


def _final(group: list[FoldResult]) -> FoldResult:
    return next(r for r in group if r.task.is_final)


def _figure_args(result: TrainResult, data: TargetData) -> tuple:
    """:func:`_figure`'s arguments for one target."""
    part = result.oof[result.oof["target"] == data.name]
    stats = result.cv[data.name].families
    r2 = {f: s["r2"].mean for f, s in stats.items() if "r2" in s and s["r2"].mean is not None}
    return data.name, data.task, part, r2, result.labels, result.champion(data.name)


def _figure(
    target: str,
    task: str,
    part: pd.DataFrame,
    r2: dict[str, float],
    labels: dict[str, str],
    champion: str,
) -> tuple[str, bytes]:
    """One target's PNG (observed vs predicted, or calibration curves of every family) as
    (file name, bytes). Targets go by name: display labels and units are the report's (data
    config `display:`), so that a relabel does not retrain."""
    with tempfile.TemporaryDirectory(prefix="lbp-figure-") as tmp:
        png = Path(tmp) / f"{paths.slug(target)}.png"
        if task == "regression":
            title = f"{target}: out-of-fold predictions (mean over CV repeats)"
            plots.observed_vs_predicted(
                part,
                title,
                "",  # no unit: display text is the report's
                png,
                families=list(labels),  # the config's order, as in the tables
                labels=labels,
                champion=champion,
                r2=r2,
            )
        else:
            curves = {
                f: plots.calibration_curve_data(g["observed"], g["predicted"])
                for f, g in part.groupby("family", sort=False)
            }
            title = f"{target}: calibration of out-of-fold predictions"
            plots.calibration(curves, title, png, target, labels, champion)
        return png.name, png.read_bytes()
