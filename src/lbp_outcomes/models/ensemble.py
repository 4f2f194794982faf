"""A weighted ensemble of the tuned families (greedy Caruana selection, with replacement).

Caruana et al. (2004, "Ensemble selection from libraries of models", ICML): start from an
empty ensemble and, ``rounds`` times, add (with replacement) the member whose addition gives
the best score of the averaged out-of-fold predictions; a member's weight is the share of
rounds it was added in. The weights of the best round are kept, so the blend scores at least
as well as the best single member on the predictions it was chosen on. AutoGluon's
``WeightedEnsemble`` uses the same rule.

Cross-validation (:func:`lbp_outcomes.ensembling.assemble`) fits nothing new: in each outer training fold, tuning
already ran an inner CV per family and kept its out-of-fold predictions
(:class:`lbp_outcomes.models.tuning.Tuned`), and each family's tuned pipeline was fitted on
the training fold and predicted the test fold. The weights are chosen on the former, applied
to the latter. Everything is inside the training fold; the test fold is only predicted.
The blend's inner score, which selection compares with each family's inner score, is
cross-fitted (:func:`crossfit_score`): scored on parts of the inner predictions whose weights
were chosen on the other parts, never on the rows that chose them.
The saved model (final refit) is the same construction on the whole development cohort:
each family's final pipeline, weighted by Caruana on the final tuning's inner predictions.

:class:`EnsembleRegressor` / :class:`EnsembleClassifier` are scikit-learn estimators over
*whole member pipelines* (each with its own preprocessing): ``fit(X, y)`` fits every member
with weight > 0 (learning the weights first by an inner K-fold CV when ``weights`` is None),
``predict`` / ``predict_proba`` average the members' outputs with the weights. Binary members
are the families' calibrated pipelines, so the blend averages calibrated probabilities.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.metaestimators import _BaseComposition  # VotingRegressor's base
from sklearn.utils.validation import check_is_fitted

ROUNDS = 25  # Caruana rounds: weights in steps of 1/25

# Tuning metrics (conf/tuning/, higher is better) as f(y, prediction).
SCORES = {
    "r2": lambda y, p: _metrics().r2_score(y, p),
    "neg_mean_absolute_error": lambda y, p: -_metrics().mean_absolute_error(y, p),
    "neg_root_mean_squared_error": lambda y, p: -_metrics().root_mean_squared_error(y, p),
    "roc_auc": lambda y, p: _metrics().roc_auc_score(y, p),
    "average_precision": lambda y, p: _metrics().average_precision_score(y, p),
    "neg_brier_score": lambda y, p: -_metrics().brier_score_loss(y, p),
    "neg_log_loss": lambda y, p: -_metrics().log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)),
}


def _metrics():
    import sklearn.metrics

    return sklearn.metrics


def caruana_weights(P: np.ndarray, y: np.ndarray, metric: str, rounds: int = ROUNDS):
    """(weights of shape (m,) summing to 1, the blend's score) for the columns of ``P``.

    ``P``: (n, m) out-of-fold predictions of m members for n rows; ``y``: (n,) outcomes;
    ``metric``: a tuning metric name (higher is better). Ties go to the earlier member.
    """
    score = SCORES[metric]
    n, m = P.shape
    counts, total = np.zeros(m), np.zeros(n)
    best_counts, best_score = None, -math.inf
    for step in range(1, rounds + 1):
        trials = [score(y, (total + P[:, j]) / step) for j in range(m)]
        j = int(np.argmax(trials))  # first of equal maxima
        counts[j] += 1
        total += P[:, j]
        if trials[j] > best_score:
            best_counts, best_score = counts.copy(), trials[j]
    if best_counts is None:  # every blend scored NaN: weigh the members equally
        return np.full(m, 1 / m), math.nan
    return best_counts / best_counts.sum(), float(best_score)


def crossfit_score(P: np.ndarray, y: np.ndarray, metric: str, rounds: int, splits) -> float:
    """The honest score of Caruana selection on ``P`` ((n, m) out-of-fold predictions,
    ``y`` (n,)): for each part k of ``splits`` ((fit rows, score rows) positions, e.g.
    ``KFold.split(P, y)``), weights chosen on the other parts score the blend on part k;
    the mean over parts. Raises ValueError where the metric does (e.g. AUROC of one class).

    The in-sample score of :func:`caruana_weights` is the best of ``rounds`` blends on the
    very rows it reports, so it is optimistic; this one, like a family's inner score, is
    the mean over parts of a score on rows that chose nothing. Pure arithmetic: no refits.
    """
    score = SCORES[metric]
    values = []
    for fit, held in splits:
        weights, _ = caruana_weights(P[fit], y[fit], metric, rounds)
        values.append(float(score(y[held], P[held] @ weights)))
    return float(np.mean(values)) if values else math.nan


class _Ensemble(_BaseComposition):
    """Shared logic; see the module docstring.

    ``members``: list of (family, unfitted estimator or Pipeline) taking the raw input frame;
    ``weights``: one per member (summing to 1), or None to learn them in :meth:`fit` by
    Caruana selection on an inner ``inner_folds``-fold CV scored with ``metric``.
    """

    def __init__(
        self,
        members: list[tuple[str, Any]] | None = None,
        weights: list[float] | None = None,
        rounds: int = ROUNDS,
        inner_folds: int = 3,
        metric: str | None = None,
        random_state: int = 0,
    ) -> None:
        self.members = members
        self.weights = weights
        self.rounds = rounds
        self.inner_folds = inner_folds
        self.metric = metric
        self.random_state = random_state

    def fit(self, X, y) -> _Ensemble:
        if not self.members:
            raise ValueError("an ensemble needs members")
        y = np.asarray(y, dtype=float)
        weights = self.weights if self.weights is not None else self._learn_weights(X, y)
        if len(weights) != len(self.members):
            raise ValueError(f"{len(weights)} weights for {len(self.members)} members")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter of small member fits
            self._set_fitted(
                [
                    (name, clone(est).fit(X, y))
                    for (name, est), w in zip(self.members, weights, strict=True)
                    if w > 0
                ],
                [w for w in weights if w > 0],
            )
        return self

    def _set_fitted(self, fitted: list[tuple[str, Any]], weights: list[float]) -> None:
        self.members_ = fitted
        self.weights_ = np.asarray(weights, dtype=float) / float(np.sum(weights))
        if isinstance(self, ClassifierMixin):
            self.classes_ = np.asarray(fitted[0][1].classes_)

    def _learn_weights(self, X, y) -> list[float]:
        from lbp_outcomes.models.families import predict
        from lbp_outcomes.models.tuning import inner_splitter

        task = "binary" if isinstance(self, ClassifierMixin) else "regression"
        metric = self.metric or ("roc_auc" if task == "binary" else "r2")
        folds = inner_splitter(task, self.inner_folds, self.random_state)
        P = np.full((len(y), len(self.members)), np.nan)
        for train, test in folds.split(X, y):
            for j, (_, est) in enumerate(self.members):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = clone(est).fit(X.iloc[train], y[train])
                P[test, j] = predict(model, X.iloc[test], task)
        return caruana_weights(P, y, metric, self.rounds)[0].tolist()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """As scikit-learn's VotingRegressor: with ``deep``, each member by its family name
        and its own parameters as ``<family>__<param>`` (so code that looks at a model's
        structure, such as the skops types MLflow must trust, sees the members' types)."""
        if not deep or not self.members:
            return super().get_params(deep=False)
        return self._get_params("members", deep=True)

    def set_params(self, **params: Any) -> _Ensemble:
        if not self.members:
            return super().set_params(**params)
        self._set_params("members", **params)
        return self

    @property
    def weight_by_member(self) -> dict[str, float]:
        """{family: weight} of the fitted members (weight > 0)."""
        check_is_fitted(self, "members_")
        names = [name for name, _ in self.members_]
        return dict(zip(names, self.weights_.tolist(), strict=True))


class EnsembleRegressor(RegressorMixin, _Ensemble):
    """Weighted mean of the members' predictions: ``predict(X)`` -> (n_patients,)."""

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "members_")
        parts = [
            w * np.asarray(m.predict(X), dtype=float)
            for (_, m), w in zip(self.members_, self.weights_, strict=True)
        ]
        return np.sum(parts, axis=0)


class EnsembleClassifier(ClassifierMixin, _Ensemble):
    """Weighted mean of the members' probabilities: ``predict_proba(X)`` -> (n_patients, 2)."""

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "members_")
        parts = [
            w * np.asarray(m.predict_proba(X), dtype=float)
            for (_, m), w in zip(self.members_, self.weights_, strict=True)
        ]
        return np.sum(parts, axis=0)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def is_ensemble(estimator_or_family: Any) -> bool:
    """Whether a fitted estimator, or a family config (by its estimator class), is this
    module's ensemble."""
    target = getattr(estimator_or_family, "regression", None)
    if isinstance(target, dict):
        return str(target.get("_target_", "")).startswith(__name__ + ".")
    return isinstance(estimator_or_family, _Ensemble)


def pipeline(model: _Ensemble) -> Pipeline:
    """The ensemble in the project's Pipeline([prep, model]) shape. Its members preprocess
    the inputs themselves, so ``prep`` passes the input frame through unchanged."""
    identity = FunctionTransformer(feature_names_out="one-to-one")
    return Pipeline([("prep", identity), ("model", model)])


def from_fitted(
    task: str, fitted: dict[str, Any], weights: dict[str, float], X, **params: Any
) -> Pipeline:
    """The fitted ensemble Pipeline from already fitted member pipelines (``{family:
    pipeline}``) and their weights (``{family: weight}``); members of weight 0 are left out.
    ``members`` holds unfitted clones, so ``clone`` + ``fit`` refits the same ensemble.
    ``X``: the training frame (its columns name the pipeline's inputs)."""
    cls = EnsembleClassifier if task == "binary" else EnsembleRegressor
    names = [f for f in weights if weights[f] > 0]
    model = cls(
        members=[(f, clone(fitted[f])) for f in names],
        weights=[weights[f] for f in names],
        **params,
    )
    model._set_fitted([(f, fitted[f]) for f in names], [weights[f] for f in names])
    whole = pipeline(model)
    whole[0].fit(X)  # the pass-through step learns the input column names only
    return whole


def members(families: list[str], configs: dict[str, Any]) -> list[str]:
    """The families that are fitted (every one but an ensemble), in config order; an
    ensemble needs at least one of them (UserError naming its config file otherwise)."""
    from lbp_outcomes.errors import UserError

    fitted = [f for f in families if not is_ensemble(configs[f])]
    if len(fitted) < len(families) and not fitted:
        names = ", ".join(f for f in families if f not in fitted)
        raise UserError(f"conf/model/{names}.yaml: an ensemble needs other families in `model`")
    return fitted
