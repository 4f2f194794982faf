"""Probabilities that mean what they say: in-fold recalibration and clipping.

A binary pipeline's estimator is wrapped in :class:`RecalibratedClassifier`
(conf/calibration/): the estimator is fitted once on all training rows, and a monotone map
of its score is fitted on *out-of-fold* scores of the same training rows, i.e. scores from
models that did not see the row. Those come free from nested tuning: the inner CV that
chose the hyperparameters already scored every training row out of fold
(:class:`lbp_outcomes.models.tuning.Tuned`); without an inner CV, a ``folds``-part
stratified CV on the training rows supplies them. It all happens on the training rows of
one CV fold (or on the whole development cohort for the saved model), so the CV estimates
exactly the calibrated model that is saved, and no test row is ever seen.

The map (``method``):

- ``logistic`` (default): logistic recalibration (Cox 1958), logit P = a + b * logit(score),
  fitted by maximum likelihood. Unlike scikit-learn's Platt scaling it works on the logit of
  the score (the scale on which calibration slopes are measured) and does not shrink the
  0/1 targets towards 1/2 (Platt's prior correction), which with 4% non-responders made the
  probabilities too modest (external slopes 1.27-1.30 with ``CalibratedClassifierCV``).
- ``isotonic``: monotone steps (needs more patients than a few hundred).

Why calibrate rather than only choose champions on a proper scoring rule: choosing cannot
fix a family whose probabilities saturate (a random forest of pure leaves gives exactly 1.0
to most patients when 96% respond), while every later stage, ``predict`` included, reads
the saved model's probabilities.

Reported probabilities are also clipped to [PROB_EPS, 1 - PROB_EPS] (:func:`clip`): a
cohort of hundreds of patients cannot support a risk below 1 in 1000 or above 999 in 1000,
and a probability of exactly 0 or 1 would make log loss and the logit infinite.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline

from lbp_outcomes.config import CalibrationConfig

PROB_EPS = 1e-3  # reported probabilities lie in [0.001, 0.999]
SCORE_EPS = 1e-4  # scores are clipped to [1e-4, 1 - 1e-4] before the logit (|logit| <= 9.2)
RIDGE = 1e-3  # tiny L2 penalty on the slope: finite even if out-of-fold scores separate


def clip(prob: np.ndarray) -> np.ndarray:
    """Probabilities clipped to [PROB_EPS, 1 - PROB_EPS]; shape unchanged."""
    return np.clip(np.asarray(prob, dtype=float), PROB_EPS, 1 - PROB_EPS)


def score_logit(prob: np.ndarray) -> np.ndarray:
    """logit of a classifier's P(outcome = 1), clipped to [SCORE_EPS, 1 - SCORE_EPS]."""
    p = np.clip(np.asarray(prob, dtype=float), SCORE_EPS, 1 - SCORE_EPS)
    return np.log(p / (1 - p))


class RecalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A binary classifier fitted on all rows plus a monotone recalibration of its score
    fitted on out-of-fold scores of the same rows (scikit-learn estimator conventions).

    ``fit(X, y, oof_proba=None)``: ``oof_proba`` (n_rows,) are out-of-fold P(outcome = 1)
    for the rows of X (e.g. from the tuning's inner CV); when None they are computed here
    by ``cv``-fold stratified CV seeded with ``random_state``. After fitting:
    ``estimator_`` (the fitted model), ``intercept_`` and ``slope_`` (logistic map:
    logit P = intercept_ + slope_ * logit(score)) or ``isotonic_`` (isotonic map).
    """

    def __init__(self, estimator=None, method="logistic", cv=3, random_state=None):
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y, oof_proba=None):
        y = np.asarray(y, dtype=float)
        if oof_proba is None:
            oof_proba = self._oof(X, y)
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        score = score_logit(oof_proba)
        if self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            self.isotonic_ = IsotonicRegression(
                y_min=PROB_EPS, y_max=1 - PROB_EPS, out_of_bounds="clip"
            ).fit(score, y)
        else:
            self.intercept_, self.slope_ = logistic_map(score, y)
        return self

    def _oof(self, X, y: np.ndarray) -> np.ndarray:
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        splits = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        prob = cross_val_predict(clone(self.estimator), X, y, cv=splits, method="predict_proba")
        return prob[:, 1]

    def base_score(self, X) -> np.ndarray:
        """The fitted model's own P(outcome = 1) before recalibration, shape (n_rows,)."""
        return self.estimator_.predict_proba(X)[:, 1]

    def predict_proba(self, X) -> np.ndarray:
        """(n_rows, 2) recalibrated probabilities of class 0 and class 1."""
        score = score_logit(self.base_score(X))
        if self.method == "isotonic":
            p1 = self.isotonic_.predict(score)
        else:
            p1 = expit(self.intercept_ + self.slope_ * score)
        return np.column_stack([1 - p1, p1])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


def logistic_map(score: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) maximising the likelihood of logit P(y = 1) = a + b * score, with a tiny
    ridge (RIDGE) on b only; Newton-Raphson on two parameters."""
    design = np.column_stack([np.ones(len(y)), score])
    penalty = np.diag([0.0, RIDGE])
    beta = np.zeros(2)
    for _ in range(100):
        p = expit(design @ beta)
        grad = design.T @ (y - p) - penalty @ beta
        hess = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hess + 1e-12 * np.eye(2), grad)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def calibrate(
    pipe: Pipeline, cfg: CalibrationConfig, y_train: np.ndarray, seed: int
) -> tuple[Pipeline, str]:
    """``pipe`` with its last step wrapped for in-fold recalibration, and a note (empty, or
    why the pipeline is returned unchanged).

    Only the estimator is wrapped, not the preprocessing: the preprocessing is fitted
    without the outcome (imputation, encoding, scaling), so sharing it leaks nothing, and
    the pipeline keeps its (prep, model) shape. Fit it with ``model__oof_proba=...`` to
    reuse out-of-fold scores. ``y_train``: the training rows' outcomes (0/1), to check the
    out-of-fold parts can each hold both classes.
    """
    if not cfg.enabled:
        return pipe, ""
    y = np.asarray(y_train)
    minority = int(min(np.sum(y == 0), np.sum(y == 1)))
    if minority < cfg.folds:
        return pipe, (
            f"calibration skipped: {minority} minority cases < {cfg.folds} calibration folds"
        )
    name, estimator = pipe.steps[-1]
    wrapped = RecalibratedClassifier(estimator, cfg.method, cfg.folds, seed)
    return Pipeline([*pipe.steps[:-1], (name, wrapped)]), ""


def base_estimator(estimator):
    """The fitted model inside a recalibrated wrapper, else the estimator itself: for code
    that needs the model family's own type (e.g. choosing a SHAP explainer)."""
    if isinstance(estimator, RecalibratedClassifier) and hasattr(estimator, "estimator_"):
        return estimator.estimator_
    return estimator
