"""Hyperparameter tuning with Optuna on the data it is given (a training fold).

Nested CV: the outer loop (lbp_outcomes.cv) hands each training fold here; Optuna scores
candidates by an inner K-fold CV on that fold only, so the outer test fold never influences
the choice. The family's fixed ``params`` are the first trial, so a small budget can only
improve on them (on the inner CV). Deterministic: seeded sampler, sequential trials.
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
    """Best hyperparameter overrides for ``family`` on (X, y); {} if nothing to tune.

    ``threads`` / ``distributed`` as in :func:`make_pipeline`: a big cohort's boosters
    are tuned the way they are finally trained (inner folds fitted across the cluster).
    """
    space = family.space(task)
    if not tuning.enabled or not space:
        return {}
    import optuna
    from sklearn.model_selection import cross_val_score

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

    def objective(trial) -> float:
        overrides = {name: _suggest(trial, name, dim) for name, dim in space.items()}
        pipe = make_pipeline(family, task, spec, seed, threads, overrides, distributed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter from small inner folds
            scores = cross_val_score(pipe, X, y, cv=folds, scoring=metric, error_score=np.nan)
        score = float(np.mean(scores))
        return score if np.isfinite(score) else -1e12

    study.optimize(objective, n_trials=tuning.n_trials)
    best = study.best_trial
    return {name: _suggest(best, name, dim) for name, dim in space.items()}
