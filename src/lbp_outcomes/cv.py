"""Repeated K-fold cross-validation with nested tuning, as independent tasks.

One task = one (target, family, repeat, fold): tune on the training fold (inner CV), fit the
tuned pipeline on the training fold, predict the test fold. One more task per (target,
family) tunes and fits the final model on the whole development cohort. Tasks are pure
functions of their inputs, so they run in any order on any executor and give the same
numbers. Splits are patient-level: cleaning guarantees one row per patient.

A *distributed* task (a big cohort's XGBoost or LightGBM on a Dask cluster) trains its
booster across the cluster itself, so it is run from the driver, one at a time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes import metrics
from lbp_outcomes.config import CalibrationConfig, CVConfig, FamilyConfig, TuningConfig
from lbp_outcomes.models.calibrated import calibrate
from lbp_outcomes.models.distributed import in_memory
from lbp_outcomes.models.families import make_pipeline, predict
from lbp_outcomes.models.preprocess import FeatureSpec
from lbp_outcomes.models.tuning import tune
from lbp_outcomes.seeds import derive_seed

FINAL = -1  # repeat/fold number of the final refit on the whole cohort


@dataclass(frozen=True)
class TargetData:
    """One target's modelling data: rows with the target observed."""

    name: str
    task: str  # "regression" | "binary"
    X: pd.DataFrame  # (n_patients, n_features) model inputs
    y: np.ndarray  # (n_patients,) float; binary as 0.0/1.0


@dataclass(frozen=True)
class FoldTask:
    target: str
    family: str
    repeat: int
    fold: int
    train: np.ndarray  # row positions into TargetData.X
    test: np.ndarray | None  # None for the final refit
    seed: int
    distributed: bool = False  # train the booster across the Dask cluster (from the driver)
    threads: int = 1  # estimator threads (per worker when distributed)
    inner: bool = False  # keep the inner CV even when nothing is tuned (to choose a family)

    @property
    def is_final(self) -> bool:
        return self.test is None


@dataclass
class FoldResult:
    task: FoldTask
    params: dict[str, Any]
    predictions: np.ndarray | None = None
    scores: dict[str, float] = field(default_factory=dict)
    model: Any = None  # the fitted pipeline (final refit only)
    seconds: float = 0.0
    note: str = ""
    subsampled: int | None = None  # patients the fit used, when capped (max_train_rows)
    inner_score: float | None = None  # mean inner-CV score of the tuned params (tuning.metric)
    inner_rows: np.ndarray | None = None  # (m,) positions into TargetData.X the fit used
    inner_oof: np.ndarray | None = None  # (m,) inner out-of-fold predictions for inner_rows


def capped_rows(rows: np.ndarray, cap: int | None, seed: int) -> tuple[np.ndarray, int | None]:
    """``rows`` itself, or a seeded random ``cap`` of them (kept in order) when there are
    more; the second value is the sample size when one was drawn, else None."""
    if cap is None or len(rows) <= cap:
        return rows, None
    rng = np.random.default_rng(derive_seed(seed, "max_train_rows"))
    return np.sort(rng.choice(rows, size=cap, replace=False)), cap


def outer_splits(
    data: TargetData, cv: CVConfig, seed: int
) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """(repeat, fold, train positions, test positions) for repeated (stratified) K-fold."""
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    split_seed = derive_seed(seed, data.name, "outer")
    if data.task == "binary":
        splitter = RepeatedStratifiedKFold(
            n_splits=cv.folds, n_repeats=cv.repeats, random_state=split_seed
        )
    else:
        splitter = RepeatedKFold(n_splits=cv.folds, n_repeats=cv.repeats, random_state=split_seed)
    return [
        (i // cv.folds, i % cv.folds, train, test)
        for i, (train, test) in enumerate(splitter.split(data.X, data.y))
    ]


def plan(
    data: TargetData,
    families: list[str],
    cv: CVConfig,
    seed: int,
    distributed: frozenset[str] = frozenset(),
    threads: int = 1,
) -> list[FoldTask]:
    """Every task for one target: all outer folds for each family, then the final refits.

    The same splits serve every family, so family comparisons are paired. With more than
    one family every task keeps its inner CV (``FoldTask.inner``), so a family can be
    chosen inside each outer training fold (:mod:`lbp_outcomes.selection`). Families in
    ``distributed`` train across the Dask cluster in every task (folds and final refit
    alike, so the CV estimates the model that is saved), with ``threads`` per worker.
    """
    splits = outer_splits(data, cv, seed)
    everything = np.arange(len(data.y))
    tasks = []
    for family in families:
        for repeat, fold, train, test in splits:
            tasks.append(
                FoldTask(
                    data.name,
                    family,
                    repeat,
                    fold,
                    train,
                    test,
                    derive_seed(seed, data.name, family, repeat, fold),
                    *_how(family, distributed, threads),
                    inner=len(families) > 1,
                )
            )
        tasks.append(
            FoldTask(
                data.name,
                family,
                FINAL,
                FINAL,
                everything,
                None,
                derive_seed(seed, data.name, family, "final"),
                *_how(family, distributed, threads),
                inner=len(families) > 1,
            )
        )
    return tasks


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _how(family: str, distributed: frozenset[str], threads: int) -> tuple[bool, int]:
    return (True, threads) if family in distributed else (False, 1)


def run_task(
    task: FoldTask,
    data: TargetData,
    family: FamilyConfig,
    spec: FeatureSpec,
    tuning: TuningConfig,
    calibration: CalibrationConfig | None = None,
) -> FoldResult:
    """Tune on the training rows, fit, and predict the test rows (or keep the final model).

    Binary models are recalibrated on the training rows (``calibration``; see
    :mod:`lbp_outcomes.models.calibrated`): tuning chooses the hyperparameters, then the
    tuned estimator is fitted and calibrated inside the same training rows.
    """
    import time

    started = time.perf_counter()
    train, subsampled = capped_rows(task.train, family.max_train_rows, task.seed)
    X_train, y_train = data.X.iloc[train], data.y[train]
    note = ""
    effective = tuning
    if data.task == "binary" and tuning.enabled:
        minority = int(min(np.sum(y_train == 0), np.sum(y_train == 1)))
        if minority < tuning.inner_folds:
            # Too few events to stratify the inner folds: keep the fixed hyperparameters.
            effective = tuning.model_copy(update={"enabled": False})
            note = f"tuning skipped: {minority} minority cases < {tuning.inner_folds} inner folds"
    how = {"threads": task.threads, "distributed": task.distributed}
    tuned = tune(
        family, data.task, spec, X_train, y_train, effective, task.seed, inner=task.inner, **how
    )
    params = tuned.params
    pipe = make_pipeline(family, data.task, spec, task.seed, overrides=params, **how)
    if data.task == "binary" and calibration is not None and calibration.enabled:
        if task.distributed:
            # A booster trained across the cluster is fitted once, from the driver.
            note = _join(note, "calibration skipped: distributed boosting")
        else:
            seed = derive_seed(task.seed, "calibration")
            pipe, why = calibrate(pipe, calibration, y_train, seed)
            note = _join(note, why)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. lbfgs/saga convergence notes on tiny folds
        pipe.fit(X_train, y_train)
    pipe = in_memory(pipe)  # a distributed booster is kept (and saved) as a plain one
    result = FoldResult(task, params, note=note, subsampled=subsampled)
    result.inner_score, result.inner_oof = tuned.inner_score, tuned.oof
    result.inner_rows = train if tuned.oof is not None else None
    if task.is_final:
        result.model = pipe
    else:
        pred = predict(pipe, data.X.iloc[task.test], data.task)
        result.predictions = pred
        result.scores = metrics.task_metrics(data.task)(data.y[task.test], pred)
    result.seconds = time.perf_counter() - started
    return result


# -- aggregation ---------------------------------------------------------------------------
def summarise(results: list[FoldResult], data: TargetData, cv: CVConfig) -> dict[str, Any]:
    """Mean, SD and corrected CI of every metric over the outer folds, plus fold values."""
    folds = sorted(
        (r for r in results if not r.task.is_final), key=lambda r: (r.task.repeat, r.task.fold)
    )
    names = list(folds[0].scores) if folds else []
    summary: dict[str, Any] = {}
    for name in names:
        values = [r.scores[name] for r in folds]
        stats = metrics.cv_summary(values, test_fraction=1 / cv.folds, level=cv.ci_level)
        summary[name] = {k: metrics.finite_or_none(v) for k, v in stats.items()}
    return summary


def fold_table(results: list[FoldResult]) -> pd.DataFrame:
    """Long table: target, family, repeat, fold, n_test, metric, value."""
    rows = []
    for r in results:
        if r.task.is_final:
            continue
        for name, value in r.scores.items():
            rows.append(
                (
                    r.task.target,
                    r.task.family,
                    r.task.repeat,
                    r.task.fold,
                    len(r.task.test),
                    name,
                    value,
                )
            )
    return pd.DataFrame(
        rows, columns=["target", "family", "repeat", "fold", "n_test", "metric", "value"]
    )


def oof_table(results: list[FoldResult], data: TargetData) -> pd.DataFrame:
    """Out-of-fold predictions: target, family, repeat, fold, row, observed, predicted.

    ``row`` is the position in the target's modelling data (not a patient id).
    """
    parts = []
    for r in results:
        if r.task.is_final:
            continue
        parts.append(
            pd.DataFrame(
                {
                    "target": r.task.target,
                    "family": r.task.family,
                    "repeat": r.task.repeat,
                    "fold": r.task.fold,
                    "row": r.task.test,
                    "observed": data.y[r.task.test],
                    "predicted": r.predictions,
                }
            )
        )
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(["family", "repeat", "row"], kind="stable").reset_index(drop=True)
