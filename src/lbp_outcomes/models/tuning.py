"""Hyperparameter tuning with Optuna on the data it is given (a training fold).

Nested CV: the outer loop (lbp_outcomes.cv) hands each training fold here; Optuna scores
candidates by an inner K-fold CV on that fold only, so the outer test fold never influences
the choice. The family's fixed ``params`` are the first trial, so a small budget can only
improve on them (on the inner CV). Deterministic: seeded sampler, sequential trials.

For binary outcomes :func:`tune_with_oof` also returns the chosen candidate's inner-CV
out-of-fold probabilities: every training row scored by a model that did not see it, which
is exactly what a recalibration map needs (lbp_outcomes.models.calibrated), at no extra fit.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes.config import FamilyConfig, SearchDim, TuningConfig
from lbp_outcomes.models.families import make_pipeline
from lbp_outcomes.models.preprocess import FeatureSpec


def _suggest(trial, name: str, dim: SearchDim) -> Any:
    if dim.type == "int":
        return trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log)
    if dim.type == "float":
        return trial.suggest_float(name, float(dim.low), float(dim.high), log=dim.log)
    # Optuna choices must be scalars; lists (e.g. MLP layer sizes) are chosen by index.
    labels = [str(c) for c in dim.choices or []]
    return (dim.choices or [])[labels.index(trial.suggest_categorical(name, labels))]


def _as_trial_value(value: Any, dim: SearchDim) -> Any:
    return str(value) if dim.type == "categorical" else value


def inner_splitter(task: str, folds: int, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    cls = StratifiedKFold if task == "binary" else KFold
    return cls(n_splits=folds, shuffle=True, random_state=seed)


def tune(
    family: FamilyConfig,
    task: str,
    spec: FeatureSpec,
    X: pd.DataFrame,
    y: np.ndarray,
    tuning: TuningConfig,
    seed: int,
    threads: int = 1,
    distributed: bool = False,
) -> dict[str, Any]:
    """Best hyperparameter overrides for ``family`` on (X, y); {} if nothing to tune."""
    return tune_with_oof(family, task, spec, X, y, tuning, seed, threads, distributed)[0]


def tune_with_oof(
    family: FamilyConfig,
    task: str,
    spec: FeatureSpec,
    X: pd.DataFrame,
    y: np.ndarray,
    tuning: TuningConfig,
    seed: int,
    threads: int = 1,
    distributed: bool = False,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Best hyperparameter overrides for ``family`` on (X, y) ({} if nothing to tune), and
    for a binary ``task`` the best candidate's inner-CV out-of-fold P(outcome = 1), shape
    (n_rows,) in the rows of ``X`` (None when nothing was tuned or it is not binary).

    ``threads`` / ``distributed`` as in :func:`make_pipeline`: a big cohort's boosters
    are tuned the way they are finally trained (inner folds fitted across the cluster).
    """
    space = family.space(task)
    if not tuning.enabled or not space:
        return {}, None
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metric = tuning.metric.regression if task == "regression" else tuning.metric.binary
    folds = inner_splitter(task, tuning.inner_folds, seed)
    sampler = (
        optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, tuning.n_trials))
        if tuning.sampler == "tpe"
        else optuna.samplers.RandomSampler(seed=seed)
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    defaults = {**dict(getattr(family, task)), **family.params}
    first = {n: _as_trial_value(defaults[n], d) for n, d in space.items() if n in defaults}
    if len(first) == len(space):
        study.enqueue_trial(first)

    oof: dict[int, np.ndarray | None] = {}

    def objective(trial) -> float:
        overrides = {name: _suggest(trial, name, dim) for name, dim in space.items()}
        pipe = make_pipeline(family, task, spec, seed, threads, overrides, distributed)
        scores, oof[trial.number] = _inner_cv(pipe, X, y, folds, metric, task == "binary")
        score = float(np.mean(scores))
        return score if np.isfinite(score) else -1e12

    study.optimize(objective, n_trials=tuning.n_trials)
    best = study.best_trial
    return {name: _suggest(best, name, dim) for name, dim in space.items()}, oof[best.number]


def _inner_cv(
    pipe, X: pd.DataFrame, y: np.ndarray, folds, metric: str, binary: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Inner-CV scores (as ``cross_val_score``) and, for a binary task, the out-of-fold
    P(outcome = 1) of the fold models (None if a fold failed to fit)."""
    from sklearn.model_selection import cross_validate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter from small inner folds
        res = cross_validate(
            pipe,
            X,
            y,
            cv=folds,
            scoring=metric,
            error_score=np.nan,
            return_estimator=binary,
            return_indices=binary,
        )
    scores = np.asarray(res["test_score"], dtype=float)
    if not binary or not np.all(np.isfinite(scores)):
        return scores, None
    prob = np.empty(len(y), dtype=float)
    for model, rows in zip(res["estimator"], res["indices"]["test"], strict=True):
        prob[rows] = model.predict_proba(X.iloc[rows])[:, 1]
    return scores, prob
