"""Performance metrics for regression and binary outcomes, and their confidence intervals.

Regression: R2, MAE, RMSE (outcome units), calibration-in-the-large (mean observed minus
mean predicted) and calibration slope/intercept (observed regressed on predicted; a slope
of 1 and intercept of 0 is perfect calibration).
Binary: AUROC, AUPRC, Brier score, calibration slope (logistic regression of the outcome on
the logit of the predicted probability) and calibration intercept (calibration-in-the-large:
the intercept of that model with the slope fixed at 1). All inputs are 1-D arrays of equal
length; probabilities are P(outcome = 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm

REGRESSION = ("r2", "mae", "rmse")
BINARY = ("auroc", "auprc", "brier", "calibration_slope", "calibration_intercept")
# Which direction is better, for choosing champions and for report wording.
HIGHER_IS_BETTER = {
    "r2": True,
    "mae": False,
    "rmse": False,
    "auroc": True,
    "auprc": True,
    "brier": False,
}
PRIMARY = {"regression": "r2", "binary": "auroc"}

_EPS = 1e-6


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    return {
        "r2": float(skm.r2_score(y, pred)),
        "mae": float(skm.mean_absolute_error(y, pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
    }


def regression_calibration(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Calibration of a regression model: OLS of observed on predicted, plus CITL."""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    if np.ptp(pred) == 0:
        slope, intercept = math.nan, math.nan
    else:
        slope, intercept = np.polyfit(pred, y, 1)
    return {
        "calibration_in_the_large": float(y.mean() - pred.mean()),
        "calibration_slope": float(slope),
        "calibration_intercept": float(intercept),
    }


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _logistic_fit(y: np.ndarray, x: np.ndarray | None, offset: np.ndarray) -> np.ndarray:
    """Unpenalised logistic regression by Newton-Raphson: logit P(y=1) = a [+ b x] + offset.

    Returns [a] or [a, b]. Small and exact; a penalised library fit would bias the slope.
    """
    design = np.ones((len(y), 1)) if x is None else np.column_stack([np.ones(len(y)), x])
    beta = np.zeros(design.shape[1])
    for _ in range(100):
        eta = design @ beta + offset
        p = 1 / (1 + np.exp(-eta))
        w = np.clip(p * (1 - p), 1e-12, None)
        grad = design.T @ (y - p)
        hess = design.T @ (design * w[:, None])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return np.full(design.shape[1], math.nan)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def binary_calibration(y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """Calibration slope and intercept (CITL) on the logit scale; ideal values 1 and 0."""
    y = np.asarray(y, float)
    lp = logit(prob)
    if y.min() == y.max():
        return {"calibration_slope": math.nan, "calibration_intercept": math.nan}
    intercept = _logistic_fit(y, None, offset=lp)[0]
    slope = _logistic_fit(y, lp, offset=np.zeros_like(lp))[1]
    return {"calibration_slope": float(slope), "calibration_intercept": float(intercept)}


def binary_metrics(y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    y, prob = np.asarray(y, float), np.asarray(prob, float)
    both = y.min() != y.max()
    return {
        "auroc": float(skm.roc_auc_score(y, prob)) if both else math.nan,
        "auprc": float(skm.average_precision_score(y, prob)) if both else math.nan,
        "brier": float(skm.brier_score_loss(y, prob)),
        **binary_calibration(y, prob),
    }


def task_metrics(task: str) -> Callable[[np.ndarray, np.ndarray], dict[str, float]]:
    return regression_metrics if task == "regression" else binary_metrics


# -- confidence intervals ---------------------------------------------------------------
def cv_summary(
    scores: Sequence[float], test_fraction: float, level: float = 0.95
) -> dict[str, float]:
    """Mean, SD and CI of repeated-CV fold scores.

    The CI is the Nadeau-Bengio corrected resampled t-interval: the variance of the mean of
    k fold scores is inflated from s^2/k to s^2 (1/k + n_test/n_train) because overlapping
    training sets make fold scores correlated; a naive t-interval is too narrow.
    ``test_fraction`` is n_test / n (1 / folds).
    """
    values = np.asarray([s for s in scores if np.isfinite(s)], float)
    k = len(values)
    if k == 0:
        return {"mean": math.nan, "sd": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    mean = float(values.mean())
    if k == 1:
        return {"mean": mean, "sd": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    sd = float(values.std(ddof=1))
    ratio = test_fraction / (1 - test_fraction)
    half = stats.t.ppf(0.5 + level / 2, df=k - 1) * sd * math.sqrt(1 / k + ratio)
    return {"mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half}


def bootstrap_ci(
    y: np.ndarray,
    pred: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], dict[str, float]],
    n_boot: int,
    seed: int,
    level: float = 0.95,
    stratify: bool = False,
) -> dict[str, dict[str, float]]:
    """Point estimate and percentile bootstrap CI of every metric ``metric`` returns.

    Resamples patients with replacement (within each outcome class when ``stratify``, so
    every replicate has both classes). Returns ``{name: {estimate, ci_low, ci_high}}``.
    """
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    rng = np.random.default_rng(seed)
    point = metric(y, pred)
    groups = [np.flatnonzero(y == v) for v in np.unique(y)] if stratify else [np.arange(len(y))]
    draws: dict[str, list[float]] = {name: [] for name in point}
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        for name, value in metric(y[idx], pred[idx]).items():
            draws[name].append(value)
    alpha = (1 - level) / 2
    out = {}
    for name, value in point.items():
        sample = np.asarray(draws[name], float)
        sample = sample[np.isfinite(sample)]
        low, high = np.quantile(sample, [alpha, 1 - alpha]) if len(sample) else (math.nan, math.nan)
        out[name] = {"estimate": float(value), "ci_low": float(low), "ci_high": float(high)}
    return out
