"""Performance metrics for regression and binary outcomes, and their confidence intervals.

Regression: R2, MAE, RMSE (outcome units), calibration-in-the-large (mean observed minus
mean predicted) and calibration slope/intercept (observed regressed on predicted; a slope
of 1 and intercept of 0 is perfect calibration).
Binary: AUROC, AUPRC, Brier score, log loss (mean negative log-likelihood, natural log;
both proper scoring rules), calibration slope (logistic regression of the outcome on
the logit of the predicted probability) and calibration intercept (calibration-in-the-large:
the intercept of that model with the slope fixed at 1). All inputs are 1-D arrays of equal
length; probabilities are P(outcome = 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats
from scipy.special import expit
from sklearn import metrics as skm

from lbp_outcomes.metricinfo import HIGHER_IS_BETTER, PRIMARY  # noqa: F401  (re-exported)

# Metric names, labels and directions: lbp_outcomes.metricinfo (metrics.yaml), one table.

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


def finite_or_none(value: float | None, digits: int = 6) -> float | None:
    """JSON has no NaN: undefined statistics (e.g. the SD of one fold) become null."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


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
        p = expit(eta)  # no overflow for the large |eta| of near-separated folds
        w = np.clip(p * (1 - p), 1e-12, None)
        grad = design.T @ (y - p)
        hess = design.T @ (design * w[:, None])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return np.full(design.shape[1], math.nan)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            return beta
    # No convergence: (quasi-)separation, e.g. a test fold whose few non-events the model
    # ranks perfectly. The estimate runs off to infinity; report it as undefined, not as a
    # huge number that would swamp the mean over folds.
    return np.full(design.shape[1], math.nan)


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
        "log_loss": float(skm.log_loss(y, np.clip(prob, _EPS, 1 - _EPS), labels=[0.0, 1.0])),
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


def regression_batch(Y: np.ndarray, P: np.ndarray) -> dict[str, np.ndarray]:
    """Regression metrics and calibration for many resamples at once.

    ``Y``, ``P``: (n_resamples, n_patients). Same definitions as :func:`regression_metrics`
    and :func:`regression_calibration`; returns arrays of shape (n_resamples,).
    """
    resid = Y - P
    ybar, pbar = Y.mean(axis=1), P.mean(axis=1)
    ss_res = np.sum(resid**2, axis=1)
    ss_tot = np.sum((Y - ybar[:, None]) ** 2, axis=1)
    pc = P - pbar[:, None]
    var_p = np.sum(pc**2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(var_p > 0, np.sum(pc * (Y - ybar[:, None]), axis=1) / var_p, np.nan)
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.nan)
    return {
        "r2": r2,
        "mae": np.mean(np.abs(resid), axis=1),
        "rmse": np.sqrt(ss_res / Y.shape[1]),
        "calibration_in_the_large": ybar - pbar,
        "calibration_slope": slope,
        "calibration_intercept": ybar - slope * pbar,
    }


def _logistic_batch(Y: np.ndarray, LP: np.ndarray, with_slope: bool) -> np.ndarray:
    """Newton-Raphson for many resamples: logit P(y) = a + b*LP (or a + LP as offset).

    Returns (n_resamples, 2) [a, b] with b = 1 for the offset model; NaN where undefined.
    """
    B, n = Y.shape
    k = 2 if with_slope else 1
    beta = np.zeros((B, k))
    X = np.stack([np.ones_like(LP), LP], axis=2) if with_slope else np.ones((B, n, 1))
    offset = np.zeros_like(LP) if with_slope else LP
    ok = np.ones(B, bool)
    for _ in range(60):
        eta = np.einsum("bnk,bk->bn", X, beta) + offset
        p = expit(eta)  # no overflow for the large |eta| of near-separated folds
        w = np.clip(p * (1 - p), 1e-12, None)
        grad = np.einsum("bnk,bn->bk", X, Y - p)
        hess = np.einsum("bnk,bn,bnl->bkl", X, w, X)
        det_ok = np.abs(np.linalg.det(hess)) > 1e-12
        ok &= det_ok
        hess[~det_ok] = np.eye(k)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        beta = beta + step
        converged = np.max(np.abs(step), axis=1) < 1e-10
        if converged.all():
            break
    else:
        ok &= converged  # as in _logistic_fit: no convergence means separation, undefined
    beta[~ok] = np.nan
    return beta if with_slope else np.column_stack([beta[:, 0], np.ones(B)])


def _average_precision_batch(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """sklearn's ``average_precision_score`` for every row at once, shape (n_resamples,).

    AP = sum over distinct thresholds (highest first) of (recall gain) x precision; equally,
    the mean over positives of the precision at the threshold of the positive's own score
    (tied scores share one threshold: the precision at the end of their group).
    """
    order = np.argsort(-P, axis=1, kind="stable")
    p = np.take_along_axis(P, order, axis=1)
    y = np.take_along_axis(Y, order, axis=1)
    tp = np.cumsum(y, axis=1)
    precision = tp / np.arange(1, y.shape[1] + 1)
    n = y.shape[1]
    last = np.ones_like(p, dtype=bool)  # last position of each group of tied scores
    last[:, :-1] = p[:, :-1] != p[:, 1:]
    end = np.where(last, np.arange(n), n)
    end = np.minimum.accumulate(end[:, ::-1], axis=1)[:, ::-1]  # each position's group end
    at_threshold = np.take_along_axis(precision, end, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(y * at_threshold, axis=1) / tp[:, -1]


def _log_loss_batch(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Mean negative log-likelihood per row, shape (n_resamples,) (as sklearn's log_loss,
    probabilities clipped to [1e-6, 1 - 1e-6] like :func:`logit`)."""
    P = np.clip(P, _EPS, 1 - _EPS)
    return -np.mean(Y * np.log(P) + (1 - Y) * np.log(1 - P), axis=1)


def binary_batch(Y: np.ndarray, P: np.ndarray) -> dict[str, np.ndarray]:
    """Binary metrics for many resamples at once (same definitions as
    :func:`binary_metrics`); arrays of shape (n_resamples,). Resamples with one class only
    give NaN for the rank and calibration metrics."""
    n_pos = Y.sum(axis=1)
    n_neg = Y.shape[1] - n_pos
    both = (n_pos > 0) & (n_neg > 0)
    ranks = stats.rankdata(P, axis=1)  # average ranks for ties, as the AUROC needs
    with np.errstate(divide="ignore", invalid="ignore"):
        auroc = (np.sum(ranks * Y, axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    auprc = np.where(both, _average_precision_batch(Y, P), np.nan)
    LP = logit(P)
    intercept = _logistic_batch(Y, LP, with_slope=False)[:, 0]
    slope = _logistic_batch(Y, LP, with_slope=True)[:, 1]
    nan = np.where(both, 1.0, np.nan)
    return {
        "auroc": auroc * nan,
        "auprc": auprc,
        "brier": np.mean((P - Y) ** 2, axis=1),
        "log_loss": _log_loss_batch(Y, P),
        "calibration_slope": slope * nan,
        "calibration_intercept": intercept * nan,
    }


def bootstrap_ci(
    y: np.ndarray,
    pred: np.ndarray,
    task: str,
    n_boot: int,
    seed: int,
    level: float = 0.95,
    stratify: bool = False,
) -> dict[str, dict[str, float]]:
    """Point estimate and percentile bootstrap CI of every metric of ``task``.

    Resamples patients with replacement (within each outcome class when ``stratify``, so
    every replicate has both classes). Returns ``{name: {estimate, ci_low, ci_high}}``;
    point estimates use the exact single-sample functions above.
    """
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    rng = np.random.default_rng(seed)
    point = task_metrics(task)(y, pred)
    batch = regression_batch if task == "regression" else binary_batch
    if task == "regression":
        point = {**point, **regression_calibration(y, pred)}
    groups = [np.flatnonzero(y == v) for v in np.unique(y)] if stratify else [np.arange(len(y))]
    draws: dict[str, list[np.ndarray]] = {name: [] for name in point}
    for start in range(0, n_boot, 200):  # blocks bound memory: 200 x n values at a time
        size = min(200, n_boot - start)
        idx = np.concatenate(
            [rng.choice(g, size=(size, len(g)), replace=True) for g in groups], axis=1
        )
        for name, values in batch(y[idx], pred[idx]).items():
            draws[name].append(values)
    alpha = (1 - level) / 2
    out = {}
    for name, value in point.items():
        sample = np.concatenate(draws[name])
        sample = sample[np.isfinite(sample)]
        low, high = np.quantile(sample, [alpha, 1 - alpha]) if len(sample) else (math.nan, math.nan)
        out[name] = {"estimate": float(value), "ci_low": float(low), "ci_high": float(high)}
    return out
