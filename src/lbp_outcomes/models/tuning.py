"""Hyperparameter tuning with Optuna on the data it is given (a training fold).

Nested CV: the outer loop (lbp_outcomes.cv) hands each training fold here; Optuna scores
candidates by an inner K-fold CV on that fold only, so the outer test fold never influences
the choice. The family's fixed ``params`` are the first trial, so a small budget can only
improve on them (on the inner CV). Deterministic: seeded sampler, sequential trials.

The inner CV of the chosen hyperparameters is kept (:class:`Tuned`): its mean score lets
:mod:`lbp_outcomes.selection` choose a family inside each outer training fold, and its
out-of-fold predictions let :mod:`lbp_outcomes.models.ensemble` weight the families, both
without a single extra fit.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes.config import FamilyConfig, SearchDim, TuningConfig
from lbp_outcomes.models.families import make_pipeline, predict
from lbp_outcomes.models.preprocess import FeatureSpec


@dataclass(frozen=True)
class Tuned:
    """The tuning outcome on one training set of n rows.

    ``params``: hyperparameter overrides ({} when nothing was tuned). ``inner_score``: mean
    inner-CV score (``tuning.metric``: R2 or ROC AUC) of those hyperparameters, None when no
    inner CV ran. ``oof``: shape (n,), their inner out-of-fold predictions (outcome units,
    or P(outcome = 1)); NaN where a fit failed; None when no inner CV ran.
    """

    params: dict[str, Any]
    inner_score: float | None = None
    oof: np.ndarray | None = None


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
    inner: bool = False,
) -> Tuned:
    """Best hyperparameter overrides for ``family`` on (X, y), with their inner CV.

    ``threads`` / ``distributed`` as in :func:`make_pipeline`: a big cohort's boosters
    are tuned the way they are finally trained (inner folds fitted across the cluster).
    ``inner``: when nothing is tuned (tuning off, or no search space), still run the inner
    CV of the fixed hyperparameters (for choosing between families); otherwise skip it.
    """
    space = family.space(task)
    metric = tuning.metric.regression if task == "regression" else tuning.metric.binary
    folds = inner_splitter(task, tuning.inner_folds, seed)
    if not tuning.enabled or not space:
        if not inner:
            return Tuned({})
        pipe = make_pipeline(family, task, spec, seed, threads, None, distributed)
        return Tuned({}, *inner_cv(pipe, X, y, task, folds, metric))
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
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

    oofs: dict[int, tuple[float, np.ndarray]] = {}

    def objective(trial) -> float:
        overrides = {name: _suggest(trial, name, dim) for name, dim in space.items()}
        pipe = make_pipeline(family, task, spec, seed, threads, overrides, distributed)
        score, oof = inner_cv(pipe, X, y, task, folds, metric)
        oofs[trial.number] = (score, oof)
        return score if math.isfinite(score) else -1e12

    study.optimize(objective, n_trials=tuning.n_trials)
    best = study.best_trial
    params = {name: _suggest(best, name, dim) for name, dim in space.items()}
    return Tuned(params, *oofs[best.number])


def inner_cv(pipe, X: pd.DataFrame, y: np.ndarray, task: str, folds, metric: str):
    """(mean score over the inner folds, out-of-fold predictions of shape (n,)).

    The same numbers as ``cross_val_score(pipe, X, y, cv=folds, scoring=metric,
    error_score=np.nan)`` (a fold whose fit fails scores NaN, and so does the mean), plus
    the predictions each fold's model makes for its held-out rows.
    """
    from sklearn.base import clone
    from sklearn.metrics import get_scorer

    scorer = get_scorer(metric)
    oof = np.full(len(y), np.nan)
    scores = []
    for train, test in folds.split(X, y):
        model = clone(pipe)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence chatter from small inner folds
                model.fit(X.iloc[train], y[train])
        except Exception:  # as cross_val_score's error_score=nan: a failed fit scores NaN
            scores.append(math.nan)
            continue
        scores.append(float(scorer(model, X.iloc[test], y[test])))
        oof[test] = predict(model, X.iloc[test], task)
    return float(np.mean(scores)), oof
