"""Validation of per-patient effects on held-out folds, from AIPW scores.

Every function takes out-of-fold predicted effects ``tau`` (n,) or (n, K-1) and the
cross-fitted AIPW scores ``psi`` (n, K), so nothing is judged on patients it was fitted
on. ``better`` ("higher"/"lower") turns effects into benefits (positive = good).

- :func:`blp_test`: regress the DR effect score on the centred prediction (best linear
  predictor, Chernozhukov et al.); a slope > 0 means the predictions carry real
  heterogeneity (one-sided test), a slope near 1 means they are calibrated.
- :func:`groups`: observed (DR) vs predicted effect by predicted-benefit group (GATES).
- :func:`toc`: TOC/Qini curves with bootstrap CIs (Yadlowsky et al.).
- :func:`policy`: the value of the learned rule vs the best single arm and random
  assignment, doubly robust.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lbp_outcomes.effects.estimate import Estimate

GRID = np.round(np.arange(0.1, 1.0001, 0.1), 2)  # treated fractions for TOC/Qini


def sign(better: str) -> float:
    return 1.0 if better == "higher" else -1.0


@dataclass(frozen=True)
class Blp:
    slope: Estimate  # calibration slope of the predicted effects (1 = calibrated)
    intercept: Estimate  # the average effect
    p_value: float  # one-sided, H0: slope <= 0 (no heterogeneity detected)


def blp_test(score: np.ndarray, tau: np.ndarray, level: float) -> Blp:
    """OLS of ``score`` (n,) (psi_a - psi_ref) on [1, tau - mean(tau)], HC3 errors."""
    import statsmodels.api as sm
    from scipy import stats

    centred = tau - tau.mean()
    if np.ptp(centred) < 1e-12:  # constant predictions: nothing to test
        mean = Estimate.mean(score, level)
        return Blp(Estimate(0.0, 0.0, 0.0, 0.0), mean, 1.0)
    fit = sm.OLS(score, sm.add_constant(centred)).fit(cov_type="HC3")
    b, se = np.asarray(fit.params), np.asarray(fit.bse)
    p = float(1 - stats.norm.cdf(b[1] / se[1]))
    return Blp(Estimate.normal(b[1], se[1], level), Estimate.normal(b[0], se[0], level), p)


def heterogeneity(blps: list[Blp], level: float) -> dict:
    """Any arm's slope > 0, Bonferroni over arms: {"p_value", "found"}."""
    p = min(1.0, min(b.p_value for b in blps) * len(blps))
    return {"p_value": p, "found": bool(p < level), "level": level}


def groups(score: np.ndarray, tau: np.ndarray, n_groups: int, level: float) -> list[dict]:
    """Patients in ``n_groups`` equal groups by predicted effect (lowest first): mean
    predicted and observed (DR) effect with CI, per group."""
    order = np.argsort(tau, kind="stable")
    found = []
    for g, rows in enumerate(np.array_split(order, n_groups)):
        found.append(
            {
                "group": g + 1,
                "n": int(len(rows)),
                "predicted": float(tau[rows].mean()),
                "observed": asdict(Estimate.mean(score[rows], level)),
            }
        )
    return found


def _toc_curve(benefit: np.ndarray, priority: np.ndarray) -> np.ndarray:
    order = np.argsort(-priority, kind="stable")
    cum = np.cumsum(benefit[order])
    n = len(benefit)
    tops = np.maximum(1, np.ceil(GRID * n).astype(int))
    return cum[tops - 1] / tops - benefit.mean()


def toc(
    score: np.ndarray, tau: np.ndarray, better: str, n_boot: int, level: float, seed: int
) -> dict:
    """TOC(q): mean benefit among the q share predicted to benefit most, minus the mean
    benefit of all; Qini(q) = q TOC(q); AUTOC = mean TOC over the grid. CIs: percentile
    bootstrap over patients (predictions held fixed)."""
    s = sign(better)
    benefit, priority = s * score, s * tau
    curve = _toc_curve(benefit, priority)
    rng = np.random.default_rng(seed)
    boots = np.array(
        [
            _toc_curve(benefit[idx], priority[idx])
            for idx in (rng.integers(0, len(score), len(score)) for _ in range(n_boot))
        ]
    )
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2], axis=0)
    autoc = boots.mean(axis=1)
    return {
        "fraction": GRID.tolist(),
        "toc": curve.tolist(),
        "toc_low": lo.tolist(),
        "toc_high": hi.tolist(),
        "qini": (GRID * curve).tolist(),
        "qini_low": (GRID * lo).tolist(),
        "qini_high": (GRID * hi).tolist(),
        "autoc": {
            "estimate": float(curve.mean()),
            "ci_low": float(np.quantile(autoc, (1 - level) / 2)),
            "ci_high": float(np.quantile(autoc, (1 + level) / 2)),
        },
    }


def recommend(tau: np.ndarray, better: str) -> np.ndarray:
    """Arm index per patient (n,) with the best predicted outcome (0 = reference, when no
    arm is predicted better than it). ``tau``: (n, K-1)."""
    gains = np.hstack([np.zeros((len(tau), 1)), sign(better) * tau])
    return np.argmax(gains, axis=1)


def best_single(psi: np.ndarray, fold: np.ndarray, better: str) -> np.ndarray:
    """Per patient, the best-on-average arm as chosen from the *other* folds' scores (so
    the comparator is chosen as honestly as the learned rule): (n,) arm index."""
    best = np.empty(len(psi), dtype=int)
    for f in np.unique(fold):
        best[fold == f] = np.argmax(sign(better) * psi[fold != f].mean(axis=0))
    return best


def policy(psi: np.ndarray, tau: np.ndarray, fold: np.ndarray, better: str, level: float) -> dict:
    """Doubly robust values (mean outcome if everyone followed the rule) of the learned
    rule, the best single arm and random assignment, and the learned rule's gains
    (benefit units: positive = better) with CIs from the paired per-patient scores."""
    n, k = psi.shape
    rule = recommend(tau, better)
    best = best_single(psi, fold, better)
    rows = np.arange(n)
    v_rule, v_best, v_random = psi[rows, rule], psi[rows, best], psi.mean(axis=1)
    s = sign(better)
    return {
        "value": {
            "learned": asdict(Estimate.mean(v_rule, level)),
            "best_single_arm": asdict(Estimate.mean(v_best, level)),
            "random": asdict(Estimate.mean(v_random, level)),
        },
        "gain_vs_best_single_arm": asdict(Estimate.mean(s * (v_rule - v_best), level)),
        "gain_vs_random": asdict(Estimate.mean(s * (v_rule - v_random), level)),
        "share": np.bincount(rule, minlength=k).astype(float).__truediv__(n).tolist(),
        "rule": rule,
    }
