"""Probabilities that mean what they say: in-fold recalibration and clipping.

A binary pipeline's estimator is wrapped in scikit-learn's ``CalibratedClassifierCV``
(conf/calibration/): the training rows are split in ``folds`` stratified parts, the
estimator is fitted on all but one part and its score mapped to a probability by a model
fitted on the part it did not see (Platt's logistic model, or isotonic steps); the final
probability is the mean over the parts. It all happens on the training rows of one CV fold
(or on the whole development cohort for the saved model), so the CV estimates exactly the
calibrated model that is saved, and no test row is ever seen.

Why calibrate rather than only choose champions on a proper scoring rule: choosing cannot
fix a family whose probabilities saturate (a random forest of pure leaves gives exactly 1.0
to most patients when 96% respond), while every later stage, ``predict`` included, reads
the saved model's probabilities. Platt scaling keeps each probability strictly inside (0, 1).

Reported probabilities are also clipped to [PROB_EPS, 1 - PROB_EPS] (:func:`clip`): a
cohort of hundreds of patients cannot support a risk below 1 in 1000 or above 999 in 1000,
and a probability of exactly 0 or 1 would make log loss and the logit infinite.
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from lbp_outcomes.config import CalibrationConfig

PROB_EPS = 1e-3  # reported probabilities lie in [0.001, 0.999]


def clip(prob: np.ndarray) -> np.ndarray:
    """Probabilities clipped to [PROB_EPS, 1 - PROB_EPS]; shape unchanged."""
    return np.clip(np.asarray(prob, dtype=float), PROB_EPS, 1 - PROB_EPS)


def calibrate(
    pipe: Pipeline, cfg: CalibrationConfig, y_train: np.ndarray, seed: int
) -> tuple[Pipeline, str]:
    """``pipe`` with its last step wrapped for in-fold calibration, and a note (empty, or
    why the pipeline is returned unchanged).

    Only the estimator is wrapped, not the preprocessing: the preprocessing is fitted
    without the outcome (imputation, encoding, scaling), so sharing it between the
    calibration parts leaks nothing, and the pipeline keeps its (prep, model) shape.
    ``y_train``: the training rows' outcomes (0/1), to check each part has both classes.
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
    splits = StratifiedKFold(n_splits=cfg.folds, shuffle=True, random_state=seed)
    wrapped = CalibratedClassifierCV(estimator, method=cfg.method, cv=splits, ensemble=True)
    return Pipeline([*pipe.steps[:-1], (name, wrapped)]), ""


def base_estimator(estimator):
    """The fitted estimator inside a calibrated wrapper (the first part's), else itself:
    for code that needs the model family's own type (e.g. choosing a SHAP explainer)."""
    if isinstance(estimator, CalibratedClassifierCV) and hasattr(
        estimator, "calibrated_classifiers_"
    ):
        return estimator.calibrated_classifiers_[0].estimator
    return estimator
