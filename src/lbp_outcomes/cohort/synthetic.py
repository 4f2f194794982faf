"""Synthetic lumbar extension traction (LET) cohort calibrated to the published statistics.

The 2026 Scientific Reports LET study (431 chronic low back pain patients) published
descriptive statistics (Table 2), fit-type counts, MCIC rates and model R2s, but not its
patient-level data. This module generates patients whose marginals, fit-type counts and MCIC
rates reproduce those numbers and whose outcomes follow an explicit, documented model, so
that the pipeline runs out of the box and every score can be compared with a known ceiling
(:func:`oracle_r2`). The model and each assumption are documented in docs/synthetic_cohort.md;
the calibrated constants live in ``let_calibration.json`` next to this file and are rebuilt by
``scripts/calibrate_let_cohort.py``.

Generation, in order (all vectorised; one :class:`numpy.random.Generator` from ``seed``):

1. Inputs. A Gaussian copula over age, BMI, SBA, a lordosis position score, NRS pre, ODI pre,
   frequency, duration and compliance gives correlated normal scores. Each column is turned
   into stratified uniforms (Latin hypercube: the i-th smallest score gets a uniform draw from
   ``[(i-1)/n, i/n)``) and mapped through that variable's calibrated marginal, so a cohort of
   431 reproduces Table 2 closely at every seed while keeping the copula's rank dependence.
2. Fit type. Exactly the published proportions (largest-remainder rounding): ``low`` patients
   are drawn among those with SBA < 15, ``high`` among SBA >= 15, the rest are ``normal``.
   LL pre is then drawn on the 0.1-degree grid inside (normal) or outside (low/high) the
   +-20 % band around SBA, so :func:`lbp_outcomes.derived.fit_type` recovers the assignment.
3. Outcomes. Each outcome has a location ``mu(x)`` that depends on the observed inputs only
   (see :func:`_locations`), a latent ``mu(x) + sigma * eps`` with independent standard
   normal ``eps``, and calibrated cut points that map the latent to the outcome's grid of
   reported values (0.1 degree, whole NRS/ODI points). This is an ordered-probit model, so
   ``E[y | x]`` is an exact finite sum (:func:`conditional_mean`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from lbp_outcomes.derived import fit_type

COLUMNS: tuple[str, ...] = (
    "patient_id",
    "site",
    "age",
    "bmi",
    "ll_pre",
    "sba_pre",
    "nrs_pre",
    "odi_pre",
    "frequency",
    "duration",
    "compliance",
    "ll_post",
    "nrs_post",
    "odi_post",
)
OUTCOMES: tuple[str, ...] = ("ll_post", "nrs_post", "odi_post")
INPUTS: tuple[str, ...] = tuple(c for c in COLUMNS[2:] if c not in OUTCOMES)

#: Each outcome's own pre-treatment value: the treatment response is ``post - pre``.
BASELINE: dict[str, str] = {"ll_post": "ll_pre", "nrs_post": "nrs_pre", "odi_post": "odi_pre"}

#: Fit types in code order (0, 1, 2), as in :data:`lbp_outcomes.derived.FIT_TYPES`.
FIT_TYPES: tuple[str, ...] = ("normal", "low", "high")

#: Plausible ranges (those of conf/data/let_synthetic.yaml) that shifted cohorts are clipped to.
VALID_RANGES: dict[str, tuple[float, float]] = {
    "age": (18.0, 90.0),
    "bmi": (12.0, 60.0),
    "compliance": (0.0, 100.0),
    "frequency": (1.0, 7.0),
    "ll_post": (-30.0, 90.0),
    "nrs_post": (0.0, 10.0),
    "odi_post": (0.0, 50.0),
}

#: Decimals each column is reported with (whole years, whole percent, 0.1 degree, ...).
DECIMALS: dict[str, int] = {
    "age": 0,
    "bmi": 1,
    "ll_pre": 1,
    "sba_pre": 1,
    "nrs_pre": 0,
    "odi_pre": 0,
    "frequency": 0,
    "duration": 0,
    "compliance": 0,
    "ll_post": 1,
    "nrs_post": 0,
    "odi_post": 0,
}

CALIBRATION_FILE = Path(__file__).with_name("let_calibration.json")

# Rows per block when evaluating an (n x levels) probability matrix: bounds peak memory.
_BLOCK = 16_384


@dataclass(frozen=True)
class CaseMixShift:
    """External clinic case mix; all defaults mean no shift.

    The copula scores stay the same, so a shifted cohort keeps the development cohort's
    dependence structure (an older patient is still likely heavier, and so on).
    """

    age: float = 0.0  # years added to every age (then rounded, clipped to 18-90)
    bmi: float = 0.0  # kg/m2 added (clipped to 12-60)
    compliance: float = 0.0  # percentage points added (clipped to 0-100)
    # The clinic's protocol: pmf over sessions/week (1-7), e.g. {3: 0.6, 4: 0.3, 5: 0.1};
    # replaces the calibrated pmf. Weights are normalised to sum to 1.
    frequency: dict[int, float] | None = None


@dataclass(frozen=True)
class OutcomeShift:
    """A different outcome model at the external clinic; the defaults mean no shift.

    ``response_scale`` multiplies each patient's treatment response on the reported scale:
    ``post' = pre + response_scale * (post - pre)``, clipped to :data:`VALID_RANGES` and
    rounded to the outcome's grid without bias (stochastic rounding), so 0.7 makes the mean
    improvement exactly 30 % smaller. ``noise_scale`` multiplies
    the outcome noise SD (a less homogeneous or less reliably measured clinic): predictions
    keep their meaning but explain less.
    """

    response_scale: float = 1.0
    noise_scale: float = 1.0


# --------------------------------------------------------------------------- calibration


@lru_cache(maxsize=1)
def _default_params() -> dict[str, Any]:
    return json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))


def load_calibration() -> dict[str, Any]:
    """The calibrated constants (a copy of ``let_calibration.json``)."""
    return json.loads(json.dumps(_default_params()))


# --------------------------------------------------------------------------- marginals


def marginal_quantile(u: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Map uniforms ``u`` (shape (n,)) to values of one calibrated marginal.

    ``spec`` is either ``{"kind": "quantile", "p": [...], "v": [...], "decimals": d}`` (a
    piecewise-linear quantile function through knots, then rounded to ``d`` decimals) or
    ``{"kind": "pmf", "values": [...], "probs": [...]}`` (a discrete distribution).
    """
    if spec["kind"] == "pmf":
        cdf = np.cumsum(spec["probs"])
        cdf /= cdf[-1]
        idx = np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)
        return np.asarray(spec["values"], dtype=float)[idx]
    return np.round(np.interp(u, spec["p"], spec["v"]), spec["decimals"])


def marginal_pmf(spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Exact distribution ``(values, probs)`` of :func:`marginal_quantile` on its grid."""
    if spec["kind"] == "pmf":
        probs = np.asarray(spec["probs"], dtype=float)
        return np.asarray(spec["values"], dtype=float), probs / probs.sum()
    p, v, d = np.asarray(spec["p"]), np.asarray(spec["v"]), spec["decimals"]
    step = 10.0**-d
    grid = np.round(np.arange(v[0], v[-1] + step / 2, step), d)
    # Value g is reported for latent values in [g - step/2, g + step/2); the knots' ends
    # coincide with the grid's ends, so the outer half-cells are empty.
    edges = np.concatenate([[v[0] - step], grid[:-1] + step / 2, [v[-1] + step]])
    return grid, np.diff(np.interp(edges, v, p))


def _largest_remainder(n: int, shares: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``n`` closest to ``n * shares`` (Hamilton's method)."""
    raw = n * np.asarray(shares, dtype=float) / np.sum(shares)
    counts = np.floor(raw).astype(np.int64)
    left = n - counts.sum()
    # Stable sort: ties go to the earlier category, so counts are reproducible.
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:left]] += 1
    return counts


def fit_type_counts(n: int, params: dict[str, Any] | None = None) -> dict[str, int]:
    """Exact fit-type counts for a cohort of ``n``: the published 152/136/143 proportions
    with largest-remainder rounding."""
    params = params or _default_params()
    ref = params["fit_type_reference_counts"]
    counts = _largest_remainder(n, np.array([ref[f] for f in FIT_TYPES]))
    return dict(zip(FIT_TYPES, (int(c) for c in counts), strict=True))


def _stratified_uniforms(rng: np.random.Generator, z: np.ndarray) -> np.ndarray:
    """Latin-hypercube uniforms with the rank order of ``z`` (shape (n, k)), column-wise.

    Each row's value is exactly U(0, 1) (its rank is uniform, the jitter is uniform within
    the stratum), so marginals are exact in distribution and nearly exact in every sample.
    """
    n, k = z.shape
    u = np.empty_like(z)
    for j in range(k):  # loop over the handful of columns, not over patients
        order = np.argsort(z[:, j])  # continuous scores: no ties, so the order is unique
        u[order, j] = (np.arange(n) + rng.random(n)) / n
    return u


def _ll_pre_tenths(
    pos: np.ndarray,
    sba10: np.ndarray,
    ftype: np.ndarray,
    params: dict[str, Any],
) -> np.ndarray:
    """LL pre in tenths of a degree, given SBA (tenths) and the assigned fit type.

    ``pos`` in (0, 1) is the lordosis position score (from the copula): higher means more
    lordosis within what the fit type allows. Normal: uniform on the grid strictly inside
    the +-20 % band. Low/high: below the band (hypolordosis, the clinic's indication) with a
    Kumaraswamy-shaped position, or above the band (up to 24 degrees) with a small probability.
    The exact band edges (|LL - SBA| == 0.2 SBA) are never drawn, so floating-point rounding
    cannot move a patient across the rule's boundary.
    """
    cfg = params["ll_pre"]
    ll_max10 = int(round(cfg["max"] * 10))
    s = sba10.astype(np.int64)
    # Integer band limits: normal needs 5|t - s| < s; outside needs 5|t - s| > s.
    inner_lo = (4 * s) // 5 + 1
    inner_hi = np.minimum((6 * s - 1) // 5, ll_max10)
    below_hi = (4 * s - 1) // 5
    above_lo = (6 * s) // 5 + 1

    out = np.empty_like(s)
    normal = ftype == 0
    width = inner_hi - inner_lo + 1
    out[normal] = inner_lo[normal] + np.minimum(
        (pos[normal] * width[normal]).astype(np.int64), width[normal] - 1
    )

    mis = ~normal
    p_above = np.where(ftype == 1, cfg["p_above_low"], cfg["p_above_high"])
    can_above = above_lo <= ll_max10
    p_above = np.where(can_above, p_above, 0.0)
    above = mis & (pos > 1.0 - p_above)
    below = mis & ~above
    # Position within the chosen side, rescaled to (0, 1) so LL stays monotone in `pos`.
    w = np.where(above, (pos - (1.0 - p_above)) / np.maximum(p_above, 1e-12), 0.0)
    a_w = np.clip(w, 0.0, 1.0 - 1e-12)
    a_width = ll_max10 - above_lo + 1
    out[above] = above_lo[above] + (a_w[above] * a_width[above]).astype(np.int64)

    b_u = np.clip(pos / np.maximum(1.0 - p_above, 1e-12), 0.0, 1.0 - 1e-12)
    a, b = cfg["kumaraswamy_a"], cfg["kumaraswamy_b"]
    frac = (1.0 - (1.0 - b_u) ** (1.0 / b)) ** (1.0 / a)
    out[below] = np.minimum((frac[below] * (below_hi[below] + 1)).astype(np.int64), below_hi[below])
    return out


def _assign_fit_types(
    rng: np.random.Generator, sba10: np.ndarray, counts: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Fit-type codes with exact counts; returns (codes, sba10) with SBA possibly nudged.

    ``low`` is drawn uniformly among SBA < 15, ``high`` among SBA >= 15. If a tiny cohort has
    too few patients on one side, the ones closest to 15 degrees are moved across (SBA set to
    14.9 or 15.0); for n >= 30 this essentially never happens (stratified SBA).
    """
    n = sba10.size
    sba10 = sba10.copy()
    n_low, n_high = counts["low"], counts["high"]
    under = sba10 < 150
    if under.sum() < n_low:
        cand = np.flatnonzero(~under)
        move = cand[np.argsort(sba10[cand], kind="stable")[: n_low - under.sum()]]
        sba10[move] = 149
    elif (~under).sum() < n_high:
        cand = np.flatnonzero(under)
        move = cand[np.argsort(-sba10[cand], kind="stable")[: n_high - (~under).sum()]]
        sba10[move] = 150
    under = sba10 < 150
    key = rng.random(n)
    codes = np.zeros(n, dtype=np.int64)
    for group, code, k in ((under, 1, n_low), (~under, 2, n_high)):
        idx = np.flatnonzero(group)
        chosen = idx[np.argsort(key[idx], kind="stable")[:k]]
        codes[chosen] = code
    return codes, sba10


def _sample_inputs(
    rng: np.random.Generator,
    rng_fit: np.random.Generator,
    n: int,
    params: dict[str, Any],
    case_mix: CaseMixShift | None,
) -> pd.DataFrame:
    """The nine pre-treatment inputs (columns :data:`INPUTS`), shape (n, 9)."""
    cop = params["copula"]
    names = cop["variables"]
    chol = np.linalg.cholesky(np.asarray(cop["correlation"], dtype=float))
    z = rng.standard_normal((n, len(names))) @ chol.T
    u = _stratified_uniforms(rng, z)
    del z
    col = {name: u[:, j] for j, name in enumerate(names)}
    marg = params["marginals"]
    out: dict[str, np.ndarray] = {}
    for name in ("age", "bmi", "nrs_pre", "odi_pre", "frequency", "duration", "compliance"):
        out[name] = marginal_quantile(col[name], marg[name])
    sba10 = np.rint(marginal_quantile(col["sba_pre"], marg["sba_pre"]) * 10).astype(np.int64)
    codes, sba10 = _assign_fit_types(rng_fit, sba10, fit_type_counts(n, params))
    ll10 = _ll_pre_tenths(col["ll_position"], sba10, codes, params)
    out["sba_pre"] = sba10 / 10.0
    out["ll_pre"] = ll10 / 10.0

    if case_mix is not None:
        lo, hi = VALID_RANGES["age"]
        out["age"] = np.clip(np.round(out["age"] + case_mix.age), lo, hi)
        lo, hi = VALID_RANGES["bmi"]
        out["bmi"] = np.clip(np.round(out["bmi"] + case_mix.bmi, 1), lo, hi)
        lo, hi = VALID_RANGES["compliance"]
        out["compliance"] = np.clip(np.round(out["compliance"] + case_mix.compliance), lo, hi)
        if case_mix.frequency is not None:
            out["frequency"] = marginal_quantile(col["frequency"], _frequency_spec(case_mix))
    return pd.DataFrame({c: out[c] for c in INPUTS})


def sample_inputs(
    rng: np.random.Generator,
    rng_fit: np.random.Generator,
    n: int,
    case_mix: CaseMixShift | None = None,
) -> pd.DataFrame:
    """The nine calibrated LET inputs (columns :data:`INPUTS`) of ``n`` patients, drawn
    from ``rng`` (copula, marginals) and ``rng_fit`` (fit types); for other generators
    built on the LET cohort (:mod:`lbp_outcomes.cohort.trial`)."""
    return _sample_inputs(rng, rng_fit, n, _default_params(), case_mix)


def _frequency_spec(case_mix: CaseMixShift) -> dict[str, Any]:
    pmf = {int(k): float(v) for k, v in case_mix.frequency.items()}
    lo, hi = VALID_RANGES["frequency"]
    if not pmf or any(k < lo or k > hi for k in pmf) or any(w < 0 for w in pmf.values()):
        raise ValueError(f"frequency pmf needs sessions/week in 1-7 and weights >= 0: {pmf}")
    if sum(pmf.values()) <= 0:
        raise ValueError("frequency pmf weights sum to zero")
    values = sorted(pmf)
    return {"kind": "pmf", "values": values, "probs": [pmf[k] for k in values]}


# --------------------------------------------------------------------------- outcome model


def _locations(x: pd.DataFrame, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Latent location ``mu(x)`` of each outcome (shape (n,) each), in the outcome's units.

    Every outcome is additive in a few effects (constants in ``outcome_model``):

    ``mu = intercept + pre_slope * (pre - pre_center) + fit_type[ft] + fit_ll_slope[ft] *
    (ll_pre - ll_center) + low_compliance * [compliance < c_thr] + obese * [bmi > b_thr] +
    high_frequency * [frequency >= f_thr]``

    where ``pre`` is the outcome's own baseline. The step effects are the paper's SHAP top
    five (fit type, compliance, frequency, LL pre, BMI); ``fit_ll_slope`` lets the LL pre
    effect differ by fit type (an interaction). NRS additionally has a moderate-pain branch:
    patients with NRS pre below ``moderate_below`` get ``mu = nrs_pre - moderate_gain +
    moderate_effects * (step effects)`` instead (Table 2 with the 80.3 % MCIC rate requires
    low-baseline patients to improve little; see docs/synthetic_cohort.md).
    """
    om = params["outcome_model"]
    ft = _fit_codes(x)
    ll_pre = x["ll_pre"].to_numpy(dtype=float)
    steps = {
        "low_compliance": x["compliance"].to_numpy(dtype=float) < om["compliance_threshold"],
        "obese": x["bmi"].to_numpy(dtype=float) > om["bmi_threshold"],
        "high_frequency": x["frequency"].to_numpy(dtype=float) >= om["frequency_threshold"],
    }
    out = {}
    for name in OUTCOMES:
        c = om[name]
        pre = x[BASELINE[name]].to_numpy(dtype=float)
        effects = np.asarray(c["fit_type"], dtype=float)[ft] + np.asarray(
            c["fit_ll_slope"], dtype=float
        )[ft] * (ll_pre - om["ll_center"])
        for key, on in steps.items():
            effects = effects + c[key] * on
        mu = c["intercept"] + c["pre_slope"] * (pre - c["pre_center"]) + effects
        if "moderate_below" in c:
            moderate = pre < c["moderate_below"]
            mu = np.where(moderate, pre - c["moderate_gain"] + c["moderate_effects"] * effects, mu)
        out[name] = mu
    return out


def _fit_codes(x: pd.DataFrame) -> np.ndarray:
    ft = fit_type(x["ll_pre"], x["sba_pre"]).to_numpy()
    codes = np.full(ft.shape, -1, dtype=np.int64)
    for code, name in enumerate(FIT_TYPES):
        codes[ft == name] = code
    if (codes < 0).any():
        raise ValueError("ll_pre and sba_pre must be present to derive the fit type")
    return codes


def _levels(spec: dict[str, Any]) -> np.ndarray:
    d = spec["decimals"]
    return np.round(spec["start"] + np.arange(spec["n_levels"]) * 10.0**-d, d)


def _shifted_values(
    levels: np.ndarray, pre: np.ndarray, outcome: str, shift: OutcomeShift | None
) -> np.ndarray | None:
    """Expected reported value for each (patient, unshifted level) under a response shift,
    shape (n, levels); None when there is no response shift.

    The scaled value ``pre + response_scale * (level - pre)`` is clipped to the valid range
    and then rounded to the reporting grid *stochastically* (up with probability equal to
    the fractional part), so its expectation is the clipped scaled value itself: the mean
    response is exactly ``response_scale`` times the unshifted one (before clipping), with no
    rounding bias (deterministic rounding would turn a 0.7-point gain into 1 point).
    """
    if shift is None or shift.response_scale == 1.0:
        return None
    lo, hi = VALID_RANGES[outcome]
    return np.clip(pre[:, None] + shift.response_scale * (levels[None, :] - pre[:, None]), lo, hi)


def _stochastic_round(value: np.ndarray, decimals: int, u: np.ndarray) -> np.ndarray:
    """Round ``value`` to ``decimals`` up with probability equal to the remainder (``u`` are
    U(0, 1) draws), so ``E[result] == value``."""
    scaled = np.round(value * 10**decimals, 9)  # remove representation error first
    return np.floor(scaled + u) / 10**decimals


def conditional_mean(
    inputs: pd.DataFrame, outcome_shift: OutcomeShift | None = None
) -> pd.DataFrame:
    """Exact ``E[outcome | inputs]`` for every outcome; columns :data:`OUTCOMES`, same index.

    ``inputs`` needs the columns :data:`INPUTS` (others are ignored). The expectation is the
    finite sum over the outcome's reported values (``levels``), with the ordered-probit
    probabilities ``P(y = level | x)``, so rounding, the outcome's range and any response
    shift are accounted for exactly. Memory is bounded by evaluating blocks of rows.
    """
    return _conditional_mean(inputs, outcome_shift, _default_params())


def _conditional_mean(
    inputs: pd.DataFrame, outcome_shift: OutcomeShift | None, params: dict[str, Any]
) -> pd.DataFrame:
    missing = [c for c in INPUTS if c not in inputs.columns]
    if missing:
        raise KeyError(f"conditional_mean needs the input columns {missing}")
    mu = _locations(inputs, params)
    noise = 1.0 if outcome_shift is None else outcome_shift.noise_scale
    out = {}
    for name in OUTCOMES:
        spec = params["outcomes"][name]
        levels = _levels(spec)
        cuts = np.asarray(spec["cutpoints"], dtype=float)
        sigma = spec["sigma"] * noise
        pre = inputs[BASELINE[name]].to_numpy(dtype=float)
        m = mu[name]
        res = np.empty(m.size)
        for start in range(0, m.size, _BLOCK):
            sl = slice(start, start + _BLOCK)
            # P(latent > cut_k) for the k-th boundary; level k has P(>cut_k) - P(>cut_{k+1}).
            above = ndtr((m[sl, None] - cuts[None, :]) / sigma)
            values = _shifted_values(levels, pre[sl], name, outcome_shift)
            if values is None:
                res[sl] = levels[0] + above @ np.diff(levels)
            else:
                ones = np.ones((above.shape[0], 1))
                zeros = np.zeros((above.shape[0], 1))
                probs = np.hstack([ones, above]) - np.hstack([above, zeros])
                res[sl] = np.einsum("ij,ij->i", probs, values)
        out[name] = res
    return pd.DataFrame(out, index=inputs.index)


def _sample_outcomes(
    rng: np.random.Generator,
    x: pd.DataFrame,
    params: dict[str, Any],
    outcome_shift: OutcomeShift | None,
) -> dict[str, np.ndarray]:
    mu = _locations(x, params)
    noise = 1.0 if outcome_shift is None else outcome_shift.noise_scale
    eps = rng.standard_normal((len(OUTCOMES), len(x)))  # one independent row per outcome
    # Drawn after eps, so a response shift leaves the outcome noise itself unchanged.
    shifted = outcome_shift is not None and outcome_shift.response_scale != 1.0
    rounding = rng.random((len(OUTCOMES), len(x))) if shifted else None
    out = {}
    for j, name in enumerate(OUTCOMES):
        spec = params["outcomes"][name]
        levels = _levels(spec)
        cuts = np.asarray(spec["cutpoints"], dtype=float)
        latent = mu[name] + spec["sigma"] * noise * eps[j]
        y = levels[np.searchsorted(cuts, latent, side="left")]
        if outcome_shift is not None and outcome_shift.response_scale != 1.0:
            pre = x[BASELINE[name]].to_numpy(dtype=float)
            lo, hi = VALID_RANGES[name]
            scaled = np.clip(pre + outcome_shift.response_scale * (y - pre), lo, hi)
            y = _stochastic_round(scaled, DECIMALS[name], rounding[j])
        out[name] = y
    return out


# --------------------------------------------------------------------------- public API


def _site_tag(site: str) -> str:
    tag = site.removeprefix("clinic_").removeprefix("clinic-")
    return tag.upper() if tag else "SITE"


def generate(
    n: int,
    seed: int,
    *,
    site: str = "clinic_a",
    id_prefix: str = "LET",
    case_mix: CaseMixShift | None = None,
    outcome_shift: OutcomeShift | None = None,
) -> pd.DataFrame:
    """Generate ``n`` synthetic LET patients; one row each, columns exactly :data:`COLUMNS`.

    ``patient_id`` is ``f"{id_prefix}-{SITE}-{i:06d}"`` (``SITE`` from ``site``, e.g. ``A``
    for ``clinic_a``), so cohorts of different sites never share an id. Units: age years,
    BMI kg/m2 (0.1), LL and SBA degrees (0.1), NRS 0-10 and ODI raw /50 whole points,
    frequency sessions/week, duration weeks, compliance whole percent. The same arguments
    always give the same frame (one numpy Generator seeded from ``seed``).
    """
    return _generate(n, seed, site, id_prefix, case_mix, outcome_shift, _default_params())


def _generate(
    n: int,
    seed: int,
    site: str,
    id_prefix: str,
    case_mix: CaseMixShift | None,
    outcome_shift: OutcomeShift | None,
    params: dict[str, Any],
) -> pd.DataFrame:
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    if outcome_shift is not None and not (
        outcome_shift.response_scale > 0 and outcome_shift.noise_scale > 0
    ):
        raise ValueError("response_scale and noise_scale must be > 0")
    # Independent streams per component: a case-mix shift or a different outcome model
    # leaves the other components' draws unchanged (paired comparisons across settings).
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    x = _sample_inputs(streams[0], streams[1], n, params, case_mix)
    y = _sample_outcomes(streams[2], x, params, outcome_shift)
    width = max(6, len(str(n)))
    numbers = np.strings.zfill(np.arange(1, n + 1).astype(np.dtypes.StringDType()), width)
    ids = np.strings.add(f"{id_prefix}-{_site_tag(site)}-", numbers)
    data: dict[str, Any] = {"patient_id": pd.Series(ids, dtype="str"), "site": site}
    data.update({name: x[name].to_numpy() for name in INPUTS})
    data.update(y)
    frame = pd.DataFrame(data, columns=list(COLUMNS))
    frame["site"] = frame["site"].astype("str")
    # Whole-number columns as integers (NRS, ODI, sessions, weeks, years, percent).
    for name, d in DECIMALS.items():
        if d == 0:
            frame[name] = frame[name].astype(np.int64)
    return frame


def oracle_r2(
    n: int = 200_000,
    seed: int = 12345,
    *,
    case_mix: CaseMixShift | None = None,
    outcome_shift: OutcomeShift | None = None,
) -> dict[str, float]:
    """R2 of :func:`conditional_mean` as a predictor of each outcome on a fresh sample of
    ``n`` patients: the ceiling no model trained on the inputs can beat (up to sampling
    error of about 0.002 at the default n)."""
    return _oracle_r2(n, seed, case_mix, outcome_shift, _default_params())


def _oracle_r2(n, seed, case_mix, outcome_shift, params) -> dict[str, float]:
    frame = _generate(n, seed, "oracle", "ORACLE", case_mix, outcome_shift, params)
    pred = _conditional_mean(frame[list(INPUTS)], outcome_shift, params)
    scores = {}
    for name in OUTCOMES:
        y = frame[name].to_numpy(dtype=float)
        resid = y - pred[name].to_numpy()
        scores[name] = float(1.0 - resid @ resid / np.sum((y - y.mean()) ** 2))
    return scores
