"""Average effects (AIPW and the plain randomised difference) and the per-patient model.

The per-patient model is the DR-learner (Kennedy 2023): the cross-fitted AIPW effect
scores of every arm (:mod:`.nuisance`, the project's model family as nuisance learner) are
regressed on the effect modifiers by a linear model per arm (``effects.final: linear``,
:mod:`.linear`, robust CIs) or one honest multi-output generalized random forest
(``forest``: EconML ``grf.RegressionForest``, the final stage of EconML's
``ForestDRLearner``, intervals from the bootstrap of little bags), so every patient's
effect comes with an interval. One forest for
all arms (not one per arm, as ForestDRLearner fits) and nuisances fitted once per fold
keep the stage to seconds per target. EconML is imported here only (~2 s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from lbp_outcomes.effects.data import Arms, Medians
from lbp_outcomes.effects.settings import EffectsSettings


@dataclass(frozen=True)
class Estimate:
    """A number with its CI (outcome units; binary outcomes: probability)."""

    estimate: float
    ci_low: float
    ci_high: float
    se: float

    @classmethod
    def mean(cls, values: np.ndarray, level: float) -> Estimate:
        """Mean of per-patient values with a normal-approximation CI."""
        se = float(np.std(values, ddof=1) / np.sqrt(len(values)))
        return cls.normal(float(np.mean(values)), se, level)

    @classmethod
    def normal(cls, estimate: float, se: float, level: float) -> Estimate:
        z = float(stats.norm.ppf(0.5 + level / 2))
        estimate, se = float(estimate), float(se)
        return cls(estimate, estimate - z * se, estimate + z * se, se)

    def covers(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high


@dataclass(frozen=True)
class ArmEffect:
    """One arm vs the reference, for one target."""

    arm: str
    n: int
    dr: Estimate  # AIPW (doubly robust) average effect
    difference: Estimate  # plain difference of arm means (randomised comparison)


def average_effects(
    psi: np.ndarray, arm: np.ndarray, y: np.ndarray, arms: Arms, level: float
) -> list[ArmEffect]:
    """Per non-reference arm: mean of psi[:, a] - psi[:, 0] (AIPW) and the difference of
    observed means with a Welch standard error. ``psi``: (n, K) AIPW scores."""
    ref = y[arm == 0]
    found = []
    for a in range(1, len(arms.values)):
        here = y[arm == a]
        se = np.sqrt(here.var(ddof=1) / len(here) + ref.var(ddof=1) / len(ref))
        found.append(
            ArmEffect(
                arm=arms.values[a],
                n=int(len(here)),
                dr=Estimate.mean(psi[:, a] - psi[:, 0], level),
                difference=Estimate.normal(float(here.mean() - ref.mean()), float(se), level),
            )
        )
    return found


@dataclass
class CateModel:
    """The DR-learner's final stage: one honest multi-output generalized random forest
    (EconML ``grf.RegressionForest``) of the DR effect scores psi_a - psi_ref of every
    non-reference arm on the effect modifiers, with the imputation it was fitted with."""

    forest: object
    medians: Medians

    def effects(self, X: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Effect of each non-reference arm vs the reference: (tau, low, high), each
        (n, K-1), outcome units (binary: difference in success probability); the
        interval is the forest's bootstrap-of-little-bags confidence interval."""
        Xi = self.medians.apply(np.asarray(X, float))
        tau = np.asarray(self.forest.predict(Xi)).reshape(len(Xi), -1)
        low, high = self.forest.predict_interval(Xi, alpha=1 - level)
        return tau, np.asarray(low).reshape(tau.shape), np.asarray(high).reshape(tau.shape)


def fit_cate(X: np.ndarray, pseudo: np.ndarray, settings: EffectsSettings, seed: int) -> CateModel:
    """Forest (or linear model, ``effects.final``) of ``pseudo`` (n, K-1) DR effect scores
    on ``X`` (n, p)."""
    from econml.grf import RegressionForest

    medians = Medians.fit(np.asarray(X, float))
    if settings.final == "linear":
        from lbp_outcomes.effects.linear import LinearFinal

        return CateModel(LinearFinal().fit(medians.apply(np.asarray(X, float)), pseudo), medians)
    forest = RegressionForest(
        n_estimators=settings.forest.n_estimators,
        min_samples_leaf=settings.forest.min_samples_leaf,
        max_depth=settings.forest.max_depth,
        honest=True,
        inference=True,  # bootstrap of little bags: per-patient intervals
        n_jobs=1,
        random_state=seed,
    )
    forest.fit(medians.apply(np.asarray(X, float)), pseudo)
    return CateModel(forest, medians)


def pseudo_outcomes(psi: np.ndarray) -> np.ndarray:
    """DR effect scores of arms 1..K-1 vs the reference: (n, K-1)."""
    return psi[:, 1:] - psi[:, [0]]


def out_of_fold_effects(
    X: pd.DataFrame,
    arm: np.ndarray,
    y: np.ndarray,
    kind: str,
    arms: Arms,
    settings: EffectsSettings,
    fold: np.ndarray,
    seed: int,
):
    """Every patient's effects from a model that never saw his fold's outcomes: for each
    fold f, AIPW scores of the other folds are cross-fitted among those folds only, and
    the forest fitted on them predicts fold f. Returns (tau, low, high), each (n, K-1):
    what validation and the truth comparison use."""
    from lbp_outcomes.effects import nuisance
    from lbp_outcomes.effects.nuisance import dr_scores
    from lbp_outcomes.seeds import derive_seed

    _, family = nuisance.family(settings)
    n, k1 = len(y), len(arms.values) - 1
    tau, low, high = (np.zeros((n, k1)) for _ in range(3))
    for f in np.unique(fold):
        test, train = np.flatnonzero(fold == f), np.flatnonzero(fold != f)
        inner = dr_scores(
            X.iloc[train],
            arm[train],
            y[train],
            kind,
            arms,
            family,
            fold[train],
            derive_seed(seed, "inner", int(f)),
            settings.overlap.min_propensity,
        )
        model = fit_cate(
            X.iloc[train].to_numpy(float),
            pseudo_outcomes(inner.psi),
            settings,
            derive_seed(seed, "cate", int(f)),
        )
        tau[test], low[test], high[test] = model.effects(
            X.iloc[test].to_numpy(float), settings.ci_level
        )
    return tau, low, high
