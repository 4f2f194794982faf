#!/usr/bin/env python
"""Calibrate the synthetic LET cohort to the published statistics and report the result.

Rebuilds ``src/lbp_outcomes/cohort/let_calibration.json`` from the numbers published in the
2026 Scientific Reports LET study (/work/shared/cohort-facts.md, Table 2) plus the documented
modelling choices below, then checks the generator against them:

1. Input marginals: a piecewise-linear quantile function per continuous input, pinned at the
   published min, quartiles and max, with the tail knots fitted so the *rounded* distribution
   has the published mean and SD; a pmf for the few-valued inputs (NRS pre, frequency,
   duration) fitted to mean, SD and quartiles.
2. LL pre given SBA and fit type: the shape of the below-band position and the share of
   mismatched patients above the band are fitted to the LL pre row of Table 2.
3. Outcomes: the target marginal of each outcome is fitted like the inputs; the outcome model's
   structure (``STRUCTURE``) is fixed here; per outcome the noise SD is solved so the
   population oracle R2 equals ``ORACLE_TARGET``, cut points map the latent to the target
   marginal (quantile mapping), and one shape constant per outcome is solved for the MCIC
   rate (NRS: the moderate-pain gain; ODI: the slope on ODI pre).
4. Report: the default-seed cohort (seed 42, n = 431) against Table 2, five more seeds, fit-type
   counts, MCIC shares, oracle R2, and cross-validated R2 (5-fold x 3 repeats) of a tuned
   LightGBM (Optuna inside each training fold), a Random Forest and an ElasticNet.

Usage::

    .venv/bin/python scripts/calibrate_let_cohort.py            # calibrate + full report
    .venv/bin/python scripts/calibrate_let_cohort.py --report   # report on the current JSON
    .venv/bin/python scripts/calibrate_let_cohort.py --no-ml    # skip the model CV (fast)

Deterministic: every random draw comes from a seeded numpy Generator; CV splits, Optuna
samplers and models are seeded; worker processes get fixed seeds, so ``--jobs`` changes the
speed, not the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize
from scipy.special import ndtr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lbp_outcomes.cohort import synthetic as let  # noqa: E402

# ----------------------------------------------------------------------------- published

#: Table 2 of the paper: mean, SD, Q1, median, Q3, min, max (ODI as raw score /50).
TABLE2: dict[str, tuple[float, ...]] = {
    "ll_pre": (11.5, 5.5, 8, 11, 14.5, 0, 24),
    "sba_pre": (14.5, 4.5, 11, 14, 18, 5, 25),
    "odi_pre": (16.6, 4.2, 13, 16, 20, 8, 25),
    "nrs_pre": (7.3, 1.1, 6, 8, 8, 4, 9),
    "frequency": (4.1, 1.2, 3, 4, 5, 3, 6),
    "duration": (7.6, 2.1, 6, 8, 10, 4, 10),
    "age": (37.5, 8.1, 33, 39, 44, 19, 60),
    "bmi": (24.7, 4.8, 20, 24, 29, 17, 39),
    "compliance": (92.4, 6.1, 89, 90, 99, 70, 100),
    "ll_post": (23.6, 4.7, 20, 24, 25, 12, 34),
    "nrs_post": (3.31, 0.9, 3, 3, 3, 0, 5),
    "odi_post": (5.2, 3.0, 3, 5, 7, 0, 10),
}
FIT_TYPE_COUNTS = {"normal": 152, "low": 136, "high": 143}
MCIC_PUBLISHED = {"nrs": 0.803, "odi": 0.953}  # NRS: >= 2 points; ODI: >= 6 raw (12 %)
R2_PUBLISHED = {"ll_post": 0.728, "nrs_post": 0.648, "odi_post": 0.631}
DEFAULT_SEED, DEFAULT_N, OTHER_SEEDS = 42, 431, (1, 2, 3, 4, 5)

# ----------------------------------------------------------------------------- choices

#: How each variable is represented: ("quantile", decimals) or ("pmf", None).
MARGINAL_KIND: dict[str, tuple[str, int | None]] = {
    "age": ("quantile", 0),
    "bmi": ("quantile", 1),
    "sba_pre": ("quantile", 1),
    "odi_pre": ("quantile", 0),
    "compliance": ("quantile", 0),
    "nrs_pre": ("pmf", None),
    "frequency": ("pmf", None),
    "duration": ("pmf", None),
    "ll_post": ("quantile", 1),
    "odi_post": ("quantile", 0),
    "nrs_post": ("pmf", None),
}

#: Gaussian-copula variables; ``ll_position`` ranks LL pre within what SBA and fit type allow.
COPULA_VARIABLES = [
    "age",
    "bmi",
    "sba_pre",
    "ll_position",
    "nrs_pre",
    "odi_pre",
    "frequency",
    "duration",
    "compliance",
]

#: Copula correlations (normal scores); every pair not listed is 0. One line of rationale each.
CORRELATIONS: list[tuple[str, str, float, str]] = [
    ("age", "bmi", 0.30, "adult BMI rises with age"),
    ("age", "ll_position", -0.10, "lordosis declines slightly with age"),
    ("bmi", "sba_pre", 0.15, "higher BMI goes with more anterior pelvic tilt / sacral slope"),
    ("bmi", "ll_position", 0.10, "higher BMI goes with slightly more lordosis"),
    ("nrs_pre", "odi_pre", 0.45, "pain and disability correlate moderately at baseline"),
    ("age", "odi_pre", 0.10, "older patients report slightly more disability"),
    ("bmi", "odi_pre", 0.15, "obesity adds disability"),
    ("bmi", "nrs_pre", 0.05, "weak BMI-pain association"),
    ("odi_pre", "duration", 0.20, "more disabled patients get longer care plans"),
    ("nrs_pre", "frequency", 0.15, "more pain, more sessions per week prescribed"),
    ("frequency", "compliance", -0.20, "a heavier weekly schedule is harder to keep"),
    ("age", "compliance", 0.15, "older patients adhere better"),
    ("nrs_pre", "compliance", 0.10, "more pain motivates attendance"),
    ("bmi", "compliance", -0.10, "slightly lower adherence with obesity"),
]

#: Share of mismatched (low/high) patients whose LL lies above the +-20 % band is fitted
#: (one value shared by both groups); the rest are hypolordotic, the clinic's indication.
LL_PRE_MAX = 24.0

#: Outcome model structure (see ``synthetic._locations``); effects in the outcome's units.
#: ``pre_slope`` of ODI is solved for the ODI MCIC rate (see ``MCIC_RULE``);
#: intercepts only matter relative to the NRS moderate branch (quantile mapping absorbs them).
STRUCTURE: dict[str, Any] = {
    "compliance_threshold": 88.0,  # missing more than ~12 % of sessions
    "bmi_threshold": 30.0,  # obesity
    "frequency_threshold": 5.0,  # 5-6 sessions/week vs 3-4
    "ll_center": 11.5,
    "ll_post": {
        "intercept": 24.0,
        "pre_slope": 0.45,
        "pre_center": 11.5,
        # normal, low, high: balanced spines gain most; low-SBA mismatches least
        "fit_type": [1.0, -1.0, 0.5],
        # LL pre matters less for high-SBA mismatches (their target follows SBA) and more
        # for low-SBA mismatches: the fit-type x LL pre interaction
        "fit_ll_slope": [0.0, 0.15, -0.25],
        "low_compliance": -3.5,
        "obese": -2.5,
        "high_frequency": 1.5,
    },
    "nrs_post": {
        "intercept": 2.9,  # residual pain level of severe-pain patients
        "pre_slope": 0.15,
        "pre_center": 8.0,
        "fit_type": [-0.15, 0.0, 0.15],
        "fit_ll_slope": [0.0, 0.0, 0.0],
        "low_compliance": 0.6,
        "obese": 0.4,
        "high_frequency": -0.2,
        "moderate_below": 7.0,  # NRS pre 4-6 ("moderate pain")
        "moderate_gain": 1.0,  # moderate-pain patients improve by about 1 point
        "moderate_effects": 0.5,
    },
    "odi_post": {
        "intercept": 5.0,
        "pre_slope": 0.45,  # solved for the MCIC rate
        "pre_center": 16.6,
        "fit_type": [-0.8, 0.0, 1.0],
        "fit_ll_slope": [0.0, 0.0, 0.0],
        "low_compliance": 3.0,
        "obese": 2.0,
        "high_frequency": -1.0,
    },
}

#: Population oracle R2 per outcome: set so that a tuned GBM reaches about the published R2
#: at the default seed while the oracle stays only a little above it.
ORACLE_TARGET = {"ll_post": 0.79, "nrs_post": 0.74, "odi_post": 0.67}

N_CAL = 600_000  # calibration sample for marginals of LL pre and the outcome cut points
N_MOM = 150_000  # subsample for exact conditional moments (oracle R2, MCIC rates)
CAL_SEED = 20260101

# ----------------------------------------------------------------------------- marginals

_SEGMENTS = [
    np.array([0.0, 0.01, 0.04, 0.10, 0.25]),
    np.array([0.25, 0.375, 0.5]),
    np.array([0.5, 0.625, 0.75]),
    np.array([0.75, 0.90, 0.96, 0.99, 1.0]),
]


def _knots(theta: np.ndarray, stats: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Quantile knots pinned at min, quartiles and max; ``theta`` are softmax logits of the
    gaps inside each quartile segment."""
    _, _, q1, q2, q3, lo, hi = stats
    bounds = [(lo, q1), (q1, q2), (q2, q3), (q3, hi)]
    ps, vs, k = [], [], 0
    for seg, (a, b) in zip(_SEGMENTS, bounds, strict=True):
        g = len(seg) - 1
        w = np.exp(np.concatenate([[0.0], theta[k : k + g - 1]]))
        k += g - 1
        v = a + (b - a) * np.concatenate([[0.0], np.cumsum(w / w.sum())])
        ps.append(seg if not ps else seg[1:])
        vs.append(v if not vs else v[1:])
    return np.concatenate(ps), np.concatenate(vs)


def _moments(values: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    m = float(values @ probs)
    return m, float(np.sqrt(((values - m) ** 2) @ probs))


def fit_quantile_marginal(
    name: str, decimals: int, smooth: float = 0.02, margin: float = 0.03
) -> dict[str, Any]:
    """Tail/interior knots so the rounded distribution has the published mean and SD, with
    the smoothest density (penalised jumps of log density between segments). For whole-number
    variables the reported quartiles must also hold with ``margin`` probability to spare, so
    sampling noise at n = 431 does not tip a quartile to the neighbouring integer."""
    stats = TABLE2[name]
    n_theta = sum(len(s) - 2 for s in _SEGMENTS)

    def loss(theta: np.ndarray) -> float:
        p, v = _knots(theta, stats)
        spec = {"kind": "quantile", "p": p, "v": v, "decimals": decimals}
        grid, probs = let.marginal_pmf(spec)
        m, sd = _moments(grid, probs)
        dens = np.diff(p) / np.maximum(np.diff(v), 1e-9)
        out = (
            100 * ((m - stats[0]) / stats[1]) ** 2
            + 100 * ((sd - stats[1]) / stats[1]) ** 2
            + smooth * np.sum(np.diff(np.log(dens)) ** 2)
        )
        if decimals == 0:
            out += _quartile_penalty(grid, np.cumsum(probs), stats, margin)
        return out

    best = None
    for start in range(5):
        theta0 = np.random.default_rng(start).normal(0, 0.3, n_theta)
        res = minimize(loss, theta0, method="Nelder-Mead", options={"maxiter": 20000})
        res = minimize(loss, res.x, method="Powell")
        if best is None or res.fun < best.fun:
            best = res
    p, v = _knots(best.x, stats)
    return {"kind": "quantile", "p": _r(p, 6), "v": _r(v, 4), "decimals": decimals}


def fit_pmf(name: str, margin: float = 0.04, entropy: float = 0.002) -> dict[str, Any]:
    """A pmf on the integers min..max with the published mean and SD whose quartiles sit at
    the published values with ``margin`` probability to spare (robust to sampling), and
    otherwise as spread out (max entropy) as possible."""
    m0, s0, q1, q2, q3, lo, hi = TABLE2[name]
    grid = np.arange(lo, hi + 1, dtype=float)

    def unpack(theta: np.ndarray) -> np.ndarray:
        w = np.exp(np.concatenate([[0.0], theta]))
        return w / w.sum()

    def loss(theta: np.ndarray) -> float:
        p = unpack(theta)
        c = np.cumsum(p)
        m, sd = _moments(grid, p)
        out = 100 * ((m - m0) / s0) ** 2 + 100 * ((sd - s0) / s0) ** 2
        out += _quartile_penalty(grid, c, TABLE2[name], margin)
        return out + entropy * float(np.sum(p * np.log(p + 1e-12)))

    best = None
    for start in range(6):
        theta0 = np.random.default_rng(start).normal(0, 0.5, len(grid) - 1)
        res = minimize(loss, theta0, method="Nelder-Mead", options={"maxiter": 40000})
        res = minimize(loss, res.x, method="Powell")
        if best is None or res.fun < best.fun:
            best = res
    return {"kind": "pmf", "values": grid.tolist(), "probs": _r(unpack(best.x), 6)}


def _quartile_penalty(
    grid: np.ndarray, cdf: np.ndarray, stats: tuple[float, ...], margin: float
) -> float:
    """Zero when P(X < q) <= level - margin and P(X <= q) >= level + margin per quartile."""
    out = 0.0
    for q, level in zip(stats[2:5], (0.25, 0.5, 0.75), strict=True):
        i = int(np.searchsorted(grid, q - 1e-9))
        below = cdf[i - 1] if i > 0 else 0.0
        out += 50 * max(0.0, below - (level - margin)) ** 2
        out += 50 * max(0.0, (level + margin) - cdf[i]) ** 2
    return out


def _r(a: np.ndarray, digits: int) -> list[float]:
    return [round(float(x), digits) for x in a]


def correlation_matrix() -> list[list[float]]:
    r = np.eye(len(COPULA_VARIABLES))
    for a, b, rho, _ in CORRELATIONS:
        i, j = COPULA_VARIABLES.index(a), COPULA_VARIABLES.index(b)
        r[i, j] = r[j, i] = rho
    if np.linalg.eigvalsh(r).min() <= 0:
        raise ValueError("copula correlation matrix is not positive definite")
    return r.tolist()


# ----------------------------------------------------------------------------- LL pre


def calibrate_ll_pre(params: dict[str, Any]) -> dict[str, Any]:
    """Kumaraswamy shape (a, b) of the below-band position and the above-band share, fitted
    to the LL pre row of Table 2 on a large sample (common random numbers)."""
    rng = np.random.default_rng(CAL_SEED)
    names = params["copula"]["variables"]
    chol = np.linalg.cholesky(np.asarray(params["copula"]["correlation"]))
    n = N_CAL // 2
    u = let._stratified_uniforms(rng, rng.standard_normal((n, len(names))) @ chol.T)
    sba = let.marginal_quantile(u[:, names.index("sba_pre")], params["marginals"]["sba_pre"])
    codes, sba10 = let._assign_fit_types(
        np.random.default_rng(CAL_SEED + 1),
        np.rint(sba * 10).astype(np.int64),
        let.fit_type_counts(n, params),
    )
    pos = u[:, names.index("ll_position")]
    target = TABLE2["ll_pre"]

    def cfg(theta: np.ndarray) -> dict[str, Any]:
        p_above = float(1 / (1 + np.exp(-theta[2])))
        return {
            "max": LL_PRE_MAX,
            "kumaraswamy_a": float(np.exp(theta[0])),
            "kumaraswamy_b": float(np.exp(theta[1])),
            "p_above_low": p_above,
            "p_above_high": p_above,
        }

    def stats(theta: np.ndarray) -> np.ndarray:
        ll = let._ll_pre_tenths(pos, sba10, codes, {"ll_pre": cfg(theta)}) / 10
        return np.array([ll.mean(), ll.std(), *np.percentile(ll, [25, 50, 75])])

    def loss(theta: np.ndarray) -> float:
        s = stats(theta)
        t = np.asarray(target[:5])
        return float(
            100 * ((s[0] - t[0]) / t[1]) ** 2
            + 100 * ((s[1] - t[1]) / t[1]) ** 2
            + 0.5 * np.sum(((s[2:] - t[2:]) / 1.5) ** 2)
        )

    best = None
    for x0 in ([1.0, 0.7, -2.0], [1.3, 0.6, -1.5], [0.5, 0.2, -3.0]):
        res = minimize(loss, x0, method="Nelder-Mead", options={"maxiter": 3000})
        if best is None or res.fun < best.fun:
            best = res
    out = cfg(best.x)
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


# ----------------------------------------------------------------------------- outcomes


class OutcomeCalibrator:
    """Common-random-number machinery for one outcome: cut points by quantile mapping,
    exact population oracle R2 and MCIC rate from the conditional pmf."""

    def __init__(self, name: str, x: pd.DataFrame, eps: np.ndarray, target: dict[str, Any]):
        self.name = name
        self.x = x
        self.x_mom = x.iloc[:N_MOM]
        self.eps = eps
        self.levels, pmf = let.marginal_pmf(target)
        self.cum = np.cumsum(pmf)[:-1]
        self.pre = x[let.BASELINE[name]].to_numpy(dtype=float)[:N_MOM]

    def spec(self, params: dict[str, Any], sigma: float) -> dict[str, Any]:
        mu = let._locations(self.x, params)[self.name]
        cuts = np.quantile(mu + sigma * self.eps, self.cum)
        # Quantile mapping of an (almost) atom-free latent gives strictly increasing cuts;
        # guard anyway so searchsorted stays well defined.
        cuts = np.maximum.accumulate(cuts + np.arange(cuts.size) * 1e-12)
        return {
            "start": float(self.levels[0]),
            "n_levels": int(self.levels.size),
            "decimals": let.DECIMALS[self.name],
            "sigma": float(sigma),
            "cutpoints": [float(c) for c in cuts],
        }

    def level_probs(self, params: dict[str, Any], spec: dict[str, Any]) -> np.ndarray:
        mu = let._locations(self.x_mom, params)[self.name]
        cuts = np.asarray(spec["cutpoints"])
        above = ndtr((mu[:, None] - cuts[None, :]) / spec["sigma"])
        n = above.shape[0]
        return np.hstack([np.ones((n, 1)), above]) - np.hstack([above, np.zeros((n, 1))])

    def oracle_and_mcic(
        self, params: dict[str, Any], spec: dict[str, Any], min_improvement: float
    ) -> tuple[float, float]:
        probs = self.level_probs(params, spec)
        m = probs @ self.levels
        v = probs @ self.levels**2 - m**2
        r2 = float(np.var(m) / (np.var(m) + np.mean(v)))
        # P(pre - y >= min_improvement | x), averaged over x
        ok = (self.pre[:, None] - self.levels[None, :]) >= min_improvement - 1e-9
        return r2, float(np.mean(np.sum(probs * ok, axis=1)))

    def solve_sigma(
        self, params: dict[str, Any], target_r2: float, min_improvement: float
    ) -> tuple[dict[str, Any], float, float]:
        def gap(log_sigma: float) -> float:
            spec = self.spec(params, float(np.exp(log_sigma)))
            return self.oracle_and_mcic(params, spec, min_improvement)[0] - target_r2

        mu_sd = float(np.std(let._locations(self.x_mom, params)[self.name]))
        lo, hi = np.log(mu_sd * 0.05), np.log(mu_sd * 3.0)
        log_sigma = brentq(gap, lo, hi, xtol=1e-4)
        spec = self.spec(params, float(np.exp(log_sigma)))
        r2, share = self.oracle_and_mcic(params, spec, min_improvement)
        return spec, r2, share


#: MCIC definition per outcome: (key, minimum improvement, constant solved for the rate or None).
#: NRS needs no solving: with the moderate-pain branch the population rate is 80.8 %, and it
#: barely moves with ``moderate_gain`` (0-1 points) because quantile mapping already sends
#: most moderate-pain patients to 4-5; 1 point is kept as the interpretable choice.
MCIC_RULE = {"nrs_post": ("nrs", 2.0, None), "odi_post": ("odi", 6.0, "pre_slope")}


def calibrate_outcomes(params: dict[str, Any], targets: dict[str, dict[str, Any]]) -> None:
    """Fill ``params['outcomes']`` (noise SD, cut points) and the solved shape constants."""
    rng = np.random.default_rng(CAL_SEED + 2)
    x = let._sample_inputs(rng, np.random.default_rng(CAL_SEED + 3), N_CAL, params, None)
    eps = np.random.default_rng(CAL_SEED + 4).standard_normal((len(let.OUTCOMES), N_CAL))
    params["outcomes"] = {}
    params["population"] = {"oracle_r2": {}, "mcic_share": {}}
    for j, name in enumerate(let.OUTCOMES):
        cal = OutcomeCalibrator(name, x, eps[j], targets[name])
        if name in MCIC_RULE and MCIC_RULE[name][2] is not None:
            key, min_imp, knob = MCIC_RULE[name]

            def share_gap(value: float, cal=cal, name=name, key=key, knob=knob) -> float:
                params["outcome_model"][name][knob] = value
                _, _, share = cal.solve_sigma(params, ORACLE_TARGET[name], MCIC_RULE[name][1])
                return share - MCIC_PUBLISHED[key]

            value = brentq(share_gap, 0.05, 1.0, xtol=1e-4)
            params["outcome_model"][name][knob] = round(value, 5)
            spec, r2, share = cal.solve_sigma(params, ORACLE_TARGET[name], min_imp)
            params["population"]["mcic_share"][key] = round(share, 4)
        elif name in MCIC_RULE:
            key, min_imp, _ = MCIC_RULE[name]
            spec, r2, share = cal.solve_sigma(params, ORACLE_TARGET[name], min_imp)
            params["population"]["mcic_share"][key] = round(share, 4)
        else:
            spec, r2, _ = cal.solve_sigma(params, ORACLE_TARGET[name], 0.0)
        params["outcomes"][name] = spec
        params["population"]["oracle_r2"][name] = round(r2, 4)


# ----------------------------------------------------------------------------- calibrate


def calibrate() -> dict[str, Any]:
    t0 = time.perf_counter()
    params: dict[str, Any] = {
        "about": (
            "Calibrated constants of the synthetic LET cohort (lbp_outcomes.cohort.synthetic). "
            "Generated by scripts/calibrate_let_cohort.py; do not edit by hand. "
            "See docs/synthetic_cohort.md."
        ),
        "fit_type_reference_counts": FIT_TYPE_COUNTS,
        "copula": {
            "variables": COPULA_VARIABLES,
            "correlation": correlation_matrix(),
            "rationale": {f"{a}~{b}": why for a, b, _, why in CORRELATIONS},
        },
        "marginals": {},
        "outcome_model": json.loads(json.dumps(STRUCTURE)),
    }
    targets = {}
    for name, (kind, decimals) in MARGINAL_KIND.items():
        if kind == "quantile":
            # Outcomes are not stratified (their noise is i.i.d.), so their whole-number
            # quartiles get a wider margin (2.5 sampling SEs at n = 431) than the inputs'.
            spec = fit_quantile_marginal(
                name, decimals, margin=0.05 if name in let.OUTCOMES else 0.03
            )
        else:
            # NRS post: a slightly smaller margin leaves room for some 4s (Q3 stays 3).
            spec = fit_pmf(name, margin=0.03 if name == "nrs_post" else 0.04)
        if name in let.OUTCOMES:
            targets[name] = spec
        else:
            params["marginals"][name] = spec
    params["outcome_targets"] = targets
    print(f"marginals fitted ({time.perf_counter() - t0:.0f} s)", flush=True)
    params["ll_pre"] = calibrate_ll_pre(params)
    print(f"LL pre fitted: {params['ll_pre']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    calibrate_outcomes(params, targets)
    print(f"outcomes calibrated ({time.perf_counter() - t0:.0f} s)", flush=True)
    return params


# ----------------------------------------------------------------------------- report


def describe(frame: pd.DataFrame) -> pd.DataFrame:
    rows = {}
    for name in TABLE2:
        x = frame[name].to_numpy(dtype=float)
        q1, q2, q3 = np.percentile(x, [25, 50, 75])
        rows[name] = [x.mean(), x.std(ddof=1), q1, q2, q3, x.min(), x.max()]
    return pd.DataFrame(rows, index=["mean", "sd", "q1", "median", "q3", "min", "max"]).T


def check_table2(frame: pd.DataFrame, factor: float = 1.0) -> list[str]:
    """Acceptance checks of the brief; returns the failures (empty = all pass)."""
    fails = []
    got = describe(frame)
    for name, (m, sd, q1, q2, q3, lo, hi) in TABLE2.items():
        g = got.loc[name]
        if abs(g["mean"] - m) > 0.1 * sd * factor:
            fails.append(f"{name} mean {g['mean']:.2f} vs {m}")
        if abs(g["sd"] - sd) > 0.1 * sd * factor:
            fails.append(f"{name} sd {g['sd']:.2f} vs {sd}")
        tol = (1.5 if name in ("ll_pre", "sba_pre", "ll_post") else 1.0) * factor
        for key, q in (("q1", q1), ("median", q2), ("q3", q3)):
            if abs(g[key] - q) > tol:
                fails.append(f"{name} {key} {g[key]:.2f} vs {q}")
        if g["min"] < lo or g["max"] > hi:
            fails.append(f"{name} range [{g['min']}, {g['max']}] vs [{lo}, {hi}]")
    shares = mcic_shares(frame)
    for key, pub in MCIC_PUBLISHED.items():
        if abs(shares[key] - pub) > 0.03 * factor:
            fails.append(f"MCIC {key} {shares[key]:.3f} vs {pub}")
    return fails


def mcic_shares(frame: pd.DataFrame) -> dict[str, float]:
    return {
        "nrs": float(((frame["nrs_pre"] - frame["nrs_post"]) >= 2).mean()),
        "odi": float(((frame["odi_pre"] - frame["odi_post"]) >= 6).mean()),
    }


def model_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The 9 inputs + fit type (one-hot) + LL/SBA ratio + LL - SBA + total sessions + dose."""
    from lbp_outcomes.derived import fit_type

    f = frame[list(let.INPUTS)].astype(float).reset_index(drop=True)
    ft = fit_type(frame["ll_pre"], frame["sba_pre"]).to_numpy()
    for name in let.FIT_TYPES:
        f[f"fit_{name}"] = (ft == name).astype(float)
    f["ll_sba_ratio"] = f["ll_pre"] / f["sba_pre"]
    f["ll_sba_diff"] = f["ll_pre"] - f["sba_pre"]
    f["total_sessions"] = f["frequency"] * f["duration"]
    f["delivered_dose"] = f["total_sessions"] * f["compliance"] / 100
    return f


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def _tuned_lgbm(x: np.ndarray, y: np.ndarray, seed: int, trials: int):
    import lightgbm as lgb
    import optuna
    from sklearn.model_selection import KFold

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    inner = list(KFold(3, shuffle=True, random_state=seed).split(x))

    def make(p: dict[str, Any]):
        return lgb.LGBMRegressor(
            **p, subsample_freq=1, n_jobs=1, random_state=seed, verbose=-1, deterministic=True
        )

    def objective(trial) -> float:
        p = {
            "n_estimators": trial.suggest_int("n_estimators", 100, 1500, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.1, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 2, 8),
            "min_child_samples": trial.suggest_int("min_child_samples", 3, 40, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        }
        scores = []
        for tr, va in inner:
            scores.append(_r2(y[va], make(p).fit(x[tr], y[tr]).predict(x[va])))
        return float(np.mean(scores))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return make(study.best_params).fit(x, y)


def _tuned_rf(x: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.model_selection import GridSearchCV, KFold

    grid = {"min_samples_leaf": [1, 3, 8], "max_features": [0.33, 0.66]}
    rf = RandomForestRegressor(n_estimators=300, random_state=seed, n_jobs=1)
    search = GridSearchCV(rf, grid, cv=KFold(3, shuffle=True, random_state=seed), scoring="r2")
    return search.fit(x, y).best_estimator_


def _tuned_enet(x: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.linear_model import ElasticNetCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    enet = ElasticNetCV(
        l1_ratio=[0.05, 0.2, 0.5, 0.8, 0.95, 1.0],
        alphas=60,
        cv=KFold(5, shuffle=True, random_state=seed),
        max_iter=20000,
    )
    return make_pipeline(StandardScaler(), enet).fit(x, y)


def _one_fold(x, ys, tr, te, fold, trials) -> dict[str, dict[str, float]]:
    warnings.filterwarnings("ignore")
    out: dict[str, dict[str, float]] = {}
    for name, y in ys.items():
        seed = 1000 * fold + let.OUTCOMES.index(name)
        out[name] = {
            "gbm": _r2(y[te], _tuned_lgbm(x[tr], y[tr], seed, trials).predict(x[te])),
            "rf": _r2(y[te], _tuned_rf(x[tr], y[tr], seed).predict(x[te])),
            "enet": _r2(y[te], _tuned_enet(x[tr], y[tr], seed).predict(x[te])),
        }
    return out


def cross_validate(frame: pd.DataFrame, trials: int, jobs: int) -> dict[str, dict[str, float]]:
    """Mean R2 over 5-fold CV repeated 3 times (the same splits for every model)."""
    from joblib import Parallel, delayed
    from sklearn.model_selection import RepeatedKFold

    x = model_features(frame).to_numpy()
    ys = {name: frame[name].to_numpy(dtype=float) for name in let.OUTCOMES}
    splits = list(RepeatedKFold(n_splits=5, n_repeats=3, random_state=DEFAULT_SEED).split(x))
    folds = Parallel(n_jobs=jobs)(
        delayed(_one_fold)(x, ys, tr, te, i, trials) for i, (tr, te) in enumerate(splits)
    )
    return {
        name: {m: float(np.mean([f[name][m] for f in folds])) for m in ("gbm", "rf", "enet")}
        for name in let.OUTCOMES
    }


def report(params: dict[str, Any], ml: bool, trials: int, jobs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    frame = let._generate(DEFAULT_N, DEFAULT_SEED, "clinic_a", "LET", None, None, params)
    table = describe(frame)
    print(f"\n== Table 2: published / generated (seed {DEFAULT_SEED}, n = {DEFAULT_N}) ==")
    print(f"{'variable':11s}" + "".join(f"{c:>16s}" for c in table.columns))
    for name, row in table.iterrows():
        cells = [f"{p:g} / {g:.2f}".rjust(16) for p, g in zip(TABLE2[name], row, strict=True)]
        print(f"{name:11s}" + "".join(cells))
    out["default_seed_table"] = {k: _r(v, 3) for k, v in table.T.to_dict("list").items()}

    from lbp_outcomes.derived import fit_type

    counts = fit_type(frame["ll_pre"], frame["sba_pre"]).value_counts().to_dict()
    print(f"\nfit types: {counts} (published {FIT_TYPE_COUNTS})")
    shares = mcic_shares(frame)
    print(
        f"MCIC shares: NRS {shares['nrs']:.3f} (published 0.803), ODI {shares['odi']:.3f} "
        f"(published 0.953); population {params['population']['mcic_share']}"
    )
    out["default_seed_mcic"] = {k: round(v, 4) for k, v in shares.items()}
    fails = check_table2(frame)
    print(f"default-seed checks: {fails if fails else 'all pass'}")
    for seed in OTHER_SEEDS:
        other = let._generate(DEFAULT_N, seed, "clinic_a", "LET", None, None, params)
        f = check_table2(other, factor=2.0)
        print(f"seed {seed} (doubled tolerances): {f if f else 'all pass'}")
        fails += [f"seed {seed}: {x}" for x in f]
    out["acceptance_failures"] = fails

    t0 = time.perf_counter()
    fresh = let._oracle_r2(400_000, 777, None, None, params)
    print(
        f"\noracle R2: population {params['population']['oracle_r2']}; fresh sample "
        f"(n = 400k) { {k: round(v, 4) for k, v in fresh.items()} } "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    pred = let._conditional_mean(frame[list(let.INPUTS)], None, params)
    insample = {
        n: round(_r2(frame[n].to_numpy(float), pred[n].to_numpy()), 4) for n in let.OUTCOMES
    }
    print(f"oracle R2 within the default-seed cohort: {insample}")
    out["default_seed_oracle_r2"] = insample

    if ml:
        t0 = time.perf_counter()
        cv = cross_validate(frame, trials, jobs)
        print(
            f"\n== CV R2, 5-fold x 3, default-seed cohort ({time.perf_counter() - t0:.0f} s; "
            f"LightGBM tuned by Optuna with {trials} trials in each training fold) =="
        )
        print(
            f"{'outcome':10s} {'published':>9s} {'oracle':>7s} {'GBM':>7s} {'RF':>7s} "
            f"{'ENet':>7s} {'GBM/oracle':>10s} {'GBM-ENet':>8s}"
        )
        for name in let.OUTCOMES:
            o = params["population"]["oracle_r2"][name]
            c = cv[name]
            print(
                f"{name:10s} {R2_PUBLISHED[name]:9.3f} {o:7.3f} {c['gbm']:7.3f} "
                f"{c['rf']:7.3f} {c['enet']:7.3f} {c['gbm'] / o:10.3f} "
                f"{c['gbm'] - c['enet']:8.3f}"
            )
        out["cv_r2"] = {k: {m: round(v, 4) for m, v in d.items()} for k, d in cv.items()}
        out["cv_settings"] = {"folds": 5, "repeats": 3, "optuna_trials": trials, "inner_folds": 3}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--report", action="store_true", help="report on the current JSON only")
    ap.add_argument("--no-ml", action="store_true", help="skip the model cross-validation")
    ap.add_argument("--trials", type=int, default=30, help="Optuna trials per training fold")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for the CV folds")
    ap.add_argument("--out", type=Path, default=let.CALIBRATION_FILE)
    args = ap.parse_args(argv)

    if args.report:
        params = json.loads(args.out.read_text(encoding="utf-8"))
    else:
        params = calibrate()
        params["report"] = {}  # a new calibration invalidates every earlier result
    rep = report(params, not args.no_ml, args.trials, args.jobs)
    params["report"].update(rep)
    args.out.write_text(json.dumps(params, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    if rep["acceptance_failures"]:
        print("ACCEPTANCE CHECKS FAILED (see above)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
