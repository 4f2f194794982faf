"""Cross-fitted nuisances and doubly robust (AIPW) scores.

For every patient ``i`` and arm ``a`` the AIPW score
``psi[i, a] = mu_a(x_i) + 1{A_i = a} (Y_i - mu_a(x_i)) / e_a(x_i)`` has mean E[Y(a)]
whether the outcome model ``mu`` or the propensity ``e`` is right. Both are fitted on the
other folds only (patient-level K-fold, stratified by arm), so a patient's score never
uses his own outcome twice. Everything downstream (average effects, validation, policy
values) is a mean of these scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lbp_outcomes.config import FamilyConfig
from lbp_outcomes.effects.data import Arms
from lbp_outcomes.effects.settings import EffectsSettings, OverlapSettings
from lbp_outcomes.errors import UserError
from lbp_outcomes.seeds import derive_seed


@dataclass(frozen=True)
class Scores:
    """Cross-fitted quantities, each row a patient, each column an arm (0 = reference)."""

    psi: np.ndarray  # (n, K) AIPW scores, outcome units (binary: success probability)
    mu: np.ndarray  # (n, K) predicted outcome under each arm, from the other folds
    propensity: np.ndarray  # (n, K) P(arm | x) used in the scores
    fold: np.ndarray  # (n,) the fold each patient was held out in


def family(settings: EffectsSettings) -> tuple[str, FamilyConfig]:
    """(name, validated config) of the nuisance model family (``effects.nuisance``; the
    config is validated when params.yaml is read: lbp_outcomes.config.Params)."""
    name, spec = next(iter(settings.nuisance.items()))
    return name, FamilyConfig.model_validate(spec)


def make_folds(arm: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold index per patient (n,), K-fold stratified by arm, seeded."""
    from sklearn.model_selection import StratifiedKFold

    fold = np.empty(len(arm), dtype=int)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for i, (_, test) in enumerate(splitter.split(np.zeros(len(arm)), arm)):
        fold[test] = i
    return fold


def fit(family: FamilyConfig, kind: str, X: pd.DataFrame, y: np.ndarray, seed: int):
    """One outcome model of the project's family (its own preprocessing, fitted here);
    a constant when a binary outcome has one class only among these patients."""
    import warnings

    from sklearn.dummy import DummyRegressor

    from lbp_outcomes.models.families import make_pipeline
    from lbp_outcomes.models.preprocess import FeatureSpec

    if kind == "binary" and len(np.unique(y)) < 2:  # all successes (or none) here
        return DummyRegressor(strategy="constant", constant=float(y[0])).fit(X, y)
    model = make_pipeline(family, kind, FeatureSpec(numeric=list(X.columns)), seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LightGBM's "no further splits" chatter
        return model.fit(X, y)


def outcome_prediction(model, X: pd.DataFrame, kind: str) -> np.ndarray:
    """Predicted outcome (binary: success probability), shape (n,)."""
    from lbp_outcomes.models.families import predict

    if kind == "binary" and hasattr(model, "predict_proba"):
        return np.asarray(predict(model, X, kind), dtype=float)
    return np.asarray(model.predict(X), dtype=float)


def _fit_predict(family: FamilyConfig, kind: str, X, y, X_new, seed: int) -> np.ndarray:
    return outcome_prediction(fit(family, kind, X, y, seed), X_new, kind)


def propensities(
    X: pd.DataFrame,
    arm: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    arms: Arms,
    family: FamilyConfig,
    seed: int,
) -> np.ndarray:
    """P(arm | x) for the test patients (len(test), K): the known allocation, the arm
    shares among the training patients (randomised, not given), or a multi-class model of
    the family fitted on the training patients (observational)."""
    k = len(arms.values)
    if arms.randomized:
        if arms.probabilities is not None:
            shares = np.asarray(arms.probabilities, dtype=float)
        else:
            shares = np.bincount(arm[train], minlength=k) / len(train)
        return np.tile(shares, (len(test), 1))
    from lbp_outcomes.models.families import make_pipeline
    from lbp_outcomes.models.preprocess import FeatureSpec

    model = make_pipeline(family, "binary", FeatureSpec(numeric=list(X.columns)), seed)
    model.fit(X.iloc[train], arm[train])
    out = np.zeros((len(test), k))
    out[:, model.classes_] = model.predict_proba(X.iloc[test])
    return out


def check_overlap(e: np.ndarray, arms: Arms, where: str, settings: OverlapSettings) -> dict:
    """Overlap diagnostics; raises UserError (one line) when too many patients have an
    arm they had almost no chance to get (observational data only)."""
    low = e.min(axis=1) < settings.min_propensity
    diag = {
        "min_propensity": {v: float(e[:, i].min()) for i, v in enumerate(arms.values)},
        "share_below_threshold": float(low.mean()),
        "threshold": settings.min_propensity,
    }
    if not arms.randomized and low.mean() > settings.max_share:
        raise UserError(
            f"{where}: column {arms.column!r}: poor overlap: {low.sum()} of {len(e)} patients "
            f"({low.mean():.0%}) have an estimated probability below "
            f"{settings.min_propensity} of some arm (at most {settings.max_share:.0%} "
            "allowed, effects.overlap); compare fewer or more similar arms"
        )
    return diag


def dr_scores(
    X: pd.DataFrame,
    arm: np.ndarray,
    y: np.ndarray,
    kind: str,
    arms: Arms,
    family: FamilyConfig,
    fold: np.ndarray,
    seed: int,
    min_propensity: float,
) -> Scores:
    """AIPW scores from nuisances fitted on the other folds. ``X``: (n, p) encoded
    effect modifiers; ``arm``: (n,) arm index; ``y``: (n,) outcome, no missing values."""
    n, k = len(y), len(arms.values)
    mu, e = np.zeros((n, k)), np.zeros((n, k))
    for f in np.unique(fold):
        test, train = np.flatnonzero(fold == f), np.flatnonzero(fold != f)
        for a in range(k):
            rows = train[arm[train] == a]
            mu[test, a] = _fit_predict(
                family,
                kind,
                X.iloc[rows],
                y[rows],
                X.iloc[test],
                derive_seed(seed, "mu", int(f), a),
            )
        e[test] = propensities(X, arm, train, test, arms, family, derive_seed(seed, "e", int(f)))
    # Clipped so one patient with a tiny propensity cannot dominate a mean (observational).
    e_used = np.clip(e, min_propensity, 1.0) if not arms.randomized else e
    observed = arm[:, None] == np.arange(k)[None, :]
    psi = mu + observed * (y[:, None] - mu) / e_used
    return Scores(psi=psi, mu=mu, propensity=e, fold=fold)
