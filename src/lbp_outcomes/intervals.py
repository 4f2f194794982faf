"""Conformal prediction intervals for regression champions (MAPIE, cross-conformal CV+).

Calibrated in the train stage on the development cohort: the champion family, with its
final tuned hyperparameters, is refitted on K folds and the out-of-fold absolute residuals
give the conformity scores (Barber et al. 2021, "jackknife+ after cross-validation").
The interval for a new patient has nominal coverage ``level`` (default 90%) when new
patients are exchangeable with the development cohort; the external stage measures the
coverage actually reached in another clinic.

Saved as skops (a restricted format, not pickle): :func:`load` accepts only the estimator
types this project produces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lbp_outcomes.config import ConformalConfig, FamilyConfig
from lbp_outcomes.models.families import make_pipeline
from lbp_outcomes.models.preprocess import FeatureSpec
from lbp_outcomes.seeds import derive_seed

FILE = "conformal.skops"
# Type prefixes a saved interval model may contain (checked before loading).
TRUSTED_PREFIXES = (
    "sklearn.",
    "mapie.",
    "xgboost.",
    "lightgbm.",
    "catboost.",
    "lbp_outcomes.models.ensemble.",  # the weighted ensemble family (its members: above)
    "numpy.",
    "collections.",
    "builtins.",
)


def fit(
    family: FamilyConfig,
    spec: FeatureSpec,
    params: dict,
    X: pd.DataFrame,
    y: np.ndarray,
    cfg: ConformalConfig,
    seed: int,
    pipe=None,
):
    """A fitted MAPIE CrossConformalRegressor around the champion's pipeline.

    ``seed`` is the champion's final-fit seed, so MAPIE's full-data model is the champion
    itself and intervals are built around the champion's own point predictions. ``pipe``:
    the unfitted pipeline to use instead of the family's (an ensemble: its members carry
    their own hyperparameters and seeds).
    """
    import warnings

    from mapie.regression import CrossConformalRegressor
    from sklearn.model_selection import KFold

    from lbp_outcomes.cv import capped_rows

    rows, _ = capped_rows(np.arange(len(y)), family.max_train_rows, seed)
    X, y = X.iloc[rows], y[rows]
    if pipe is None:  # else an unfitted pipeline built elsewhere (an ensemble champion)
        pipe = make_pipeline(family, "regression", spec, seed, threads=1, overrides=params)
    model = CrossConformalRegressor(
        pipe,
        confidence_level=cfg.level,
        method="plus",
        cv=KFold(n_splits=cfg.folds, shuffle=True, random_state=derive_seed(seed, "conformal")),
        n_jobs=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit_conformalize(X, y)
    return model


def predict_interval(model, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper), each shape (n_patients,), at the level the model was calibrated for."""
    _, bounds = model.predict_interval(X, aggregate_point_predictions=None)
    return bounds[:, 0, 0], bounds[:, 1, 0]


def save(model, path: Path) -> None:
    import skops.io as sio

    from lbp_outcomes.canonical import canonical_skops, scrub

    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(scrub(model), path)
    canonical_skops(path)  # skops names objects by id() and stamps the clock: byte-stable


def load(path: Path):
    """Load a saved interval model, refusing any type outside TRUSTED_PREFIXES."""
    import skops.io as sio

    from lbp_outcomes.errors import UserError

    untrusted = sio.get_untrusted_types(file=path)
    foreign = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if foreign:
        raise UserError(f"{path}: refusing to load unexpected types {foreign}")
    return sio.load(path, trusted=untrusted)
