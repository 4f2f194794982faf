"""Synthetic multi-arm trial: chronic low back pain patients randomised to five treatments.

Built on the LET generator (:mod:`lbp_outcomes.cohort.synthetic`): the same baseline LET
inputs (copula, fit types, LL/SBA, NRS and ODI before treatment, age, BMI), plus baseline
features that modify the response to some treatments (fear-avoidance beliefs, distress, a
STarT Back-like risk group, symptom duration). Patients at several sites are randomised in
permuted blocks within each site to the arms in ``let_trial_model.json``.

Outcome model (docs/treatment.md, section 5): under arm ``a`` a patient's expected pain
after treatment is ``m_a(x) = m_ref(x) - s_a(x)`` NRS points, where ``m_ref(x) =
nrs_pre * (1 - r(x))`` (the reference arm: ``r`` is the expected fraction of pain lost, at
most ``max_fraction``) and ``s_a(x) = d_a + modifier_a(x)`` is the arm's extra pain
reduction (``modifier_a`` has mean 0 in the calibration population; 0 in the null
setting). The reported score is ``Binomial(max, m_a / max)``: its expectation is exactly
``m_a``, so a constant shift is a constant effect on the reported scale. The patient's
noise is one uniform per score shared by every arm (quantile coupling), so the potential
outcomes under all arms are ordered like their expectations. ODI follows the same model
with ``odi_per_nrs_point`` ODI points per NRS point of shift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, ndtr
from scipy.stats import binom

from lbp_outcomes.cohort import synthetic
from lbp_outcomes.derived import fit_type

MODEL_FILE = Path(__file__).with_name("let_trial_model.json")
BASELINE_COLUMNS = ("age", "bmi", "ll_pre", "sba_pre", "nrs_pre", "odi_pre")
NEW_COLUMNS = ("fabq_pa", "distress", "startback", "symptom_months")
OUTCOMES = ("nrs_post", "odi_post")


@lru_cache(maxsize=1)
def model() -> dict[str, Any]:
    """The trial's constants (``let_trial_model.json``)."""
    return json.loads(MODEL_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Trial:
    """One generated cohort. ``frame``: observed data, one row per patient (id, site, arm,
    baseline features, outcomes). ``potential``/``expected``: per patient (same order), the
    id then ``<target>@<arm>`` for targets nrs_post, odi_post, nrs_mcic, odi_mcic: realised
    outcome under that arm / its expectation given the baseline (MCIC: probability)."""

    frame: pd.DataFrame
    potential: pd.DataFrame
    expected: pd.DataFrame


# -- baseline -------------------------------------------------------------------------------
def _baseline(rng: np.random.Generator, x: pd.DataFrame) -> pd.DataFrame:
    """The four response-modifying features, correlated with baseline pain (shape (n, 4))."""
    b = model()["baseline"]
    n = len(x)
    z_nrs = (x["nrs_pre"].to_numpy(dtype=float) - b["nrs_center"]) / b["nrs_sd"]
    e = rng.standard_normal((4, n))
    d, f, m, s = b["distress"], b["fabq_pa"], b["symptom_months"], b["startback"]
    z_d = d["nrs_loading"] * z_nrs + np.sqrt(1 - d["nrs_loading"] ** 2) * e[0]
    z_f = f["distress_loading"] * z_d + f["nrs_loading"] * z_nrs + 0.85 * e[1]
    risk = (
        s["fabq_loading"] * z_f
        + s["distress_loading"] * z_d
        + s["nrs_loading"] * z_nrs
        + s["noise_sd"] * e[3]
    )
    group = np.where(risk < s["low_below"], 0, np.where(risk > s["high_above"], 2, 1))
    months = m["min"] + np.rint(np.exp(np.log(m["median"]) + m["log_sd"] * e[2]))
    return pd.DataFrame(
        {
            "fabq_pa": np.clip(np.rint(f["mean"] + f["sd"] * z_f), 0, f["max"]).astype(np.int64),
            "distress": np.clip(np.rint(d["mean"] + d["sd"] * z_d), 0, d["max"]).astype(np.int64),
            "startback": np.asarray(s["levels"], dtype=object)[group],
            "symptom_months": np.minimum(months, m["max"]).astype(np.int64),
        },
        index=x.index,
    )


def patients(
    seed: int | np.random.SeedSequence, n: int, case_mix: synthetic.CaseMixShift | None
) -> pd.DataFrame:
    """Baseline LET inputs (of the LET generator) plus the new features, shape (n, 10)."""
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    rng_x, rng_fit, rng_b = (np.random.default_rng(s) for s in seq.spawn(3))
    x = synthetic.sample_inputs(rng_x, rng_fit, n, case_mix)[list(BASELINE_COLUMNS)]
    return pd.concat([x, _baseline(rng_b, x)], axis=1)


# -- outcome model --------------------------------------------------------------------------
def _z(frame: pd.DataFrame, name: str) -> np.ndarray:
    spec = model()["baseline"][name]
    return (frame[name].to_numpy(dtype=float) - spec["mean"]) / spec["sd"]


def _prognosis(x: pd.DataFrame, intercept: float) -> np.ndarray:
    """Expected fraction of baseline pain lost under the reference arm, shape (n,)."""
    return _fraction(intercept + _linear_predictor(x))


def _fraction(lp: np.ndarray) -> np.ndarray:
    return model()["prognosis"]["max_fraction"] * expit(lp)


def _linear_predictor(x: pd.DataFrame) -> np.ndarray:
    """The prognostic score of :func:`_prognosis` without its intercept, shape (n,)."""
    p, b = model()["prognosis"], model()["baseline"]
    return (
        p["nrs_pre"] * (x["nrs_pre"].to_numpy(dtype=float) - b["nrs_center"]) / b["nrs_sd"]
        + p["distress"] * _z(x, "distress")
        + p["fabq_pa"] * _z(x, "fabq_pa")
        + p["log_symptom_months"] * np.log(x["symptom_months"].to_numpy(dtype=float) / 18.0)
        + x["startback"].map(p["startback"]).to_numpy(dtype=float)
        + p["age_per_decade"] * (x["age"].to_numpy(dtype=float) - p["age_center"]) / 10.0
    )


def _raw_modifiers(x: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each arm's effect modification in NRS points of extra pain reduction (uncentred)."""
    mods = model()["modifiers"]
    n = len(x)
    out = {arm: np.zeros(n) for arm in model()["arms"] if arm != model()["reference"]}
    let = mods["let_traction"]
    ft = fit_type(x["ll_pre"], x["sba_pre"])
    out["let_traction"] = ft.map(let["fit_type"]).to_numpy(dtype=float)
    if let["obese_from_let_model"]:  # the LET outcome model: obese patients gain less pain
        om = synthetic.load_calibration()["outcome_model"]
        obese = x["bmi"].to_numpy(dtype=float) > om["bmi_threshold"]
        out["let_traction"] = out["let_traction"] - om["nrs_post"]["obese"] * obese
    out["indiv_exercise"] = mods["indiv_exercise"]["fabq_pa_per_sd"] * _z(x, "fabq_pa")
    out["indiv_exercise_cbt"] = mods["indiv_exercise_cbt"]["distress_per_sd"] * _z(x, "distress")
    return out


@dataclass(frozen=True)
class Calibration:
    """Solved constants: the prognosis intercept, each arm's mean shift (NRS points) and
    each modifier's mean in the calibration population (subtracted to centre it)."""

    intercept: float
    shift: dict[str, float]
    modifier_mean: dict[str, float]


def _success(pre: np.ndarray, mean: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """P(pre - Y >= min_improvement) for Y ~ Binomial(max, mean / max), shape (n,)."""
    p = np.clip(mean / spec["max"], 0.0, 1.0)
    return binom.cdf(pre - spec["min_improvement"], spec["max"], p)


@lru_cache(maxsize=1)
def calibration() -> Calibration:
    """Solve the reference success rate and the arms' success rates (docs/treatment.md)."""
    cal = model()["calibration"]
    x = patients(cal["seed"], cal["n"], None)
    pre = x["nrs_pre"].to_numpy(dtype=float)
    nrs = model()["scores"]["nrs"]

    def rate(ref: np.ndarray, shift: float) -> float:
        return float(_success(pre, ref - shift, nrs).mean())

    lp = _linear_predictor(x)

    def reference(intercept: float) -> np.ndarray:
        return pre * (1 - _fraction(intercept + lp))

    target = cal["reference_success"]
    c0 = brentq(lambda c: rate(reference(c), 0.0) - target, -10, 10, xtol=1e-10)
    ref = reference(c0)
    shift = {arm: float(v) for arm, v in cal["nrs_shift"].items()}
    for arm, target in cal["success"].items():
        shift[arm] = brentq(lambda d, t=target: rate(ref, d) - t, -5, 5, xtol=1e-10)
    means = {arm: float(m.mean()) for arm, m in _raw_modifiers(x).items()}
    return Calibration(float(c0), shift, means)


def expected_scores(x: pd.DataFrame, heterogeneity: bool) -> dict[str, dict[str, np.ndarray]]:
    """``{score: {arm: E[post | x, arm]}}`` for score nrs/odi, shape (n,) each."""
    cal, m = calibration(), model()
    base = 1 - _prognosis(x, cal.intercept)
    raw = _raw_modifiers(x)
    out: dict[str, dict[str, np.ndarray]] = {}
    for score, spec in m["scores"].items():
        scale = 1.0 if score == "nrs" else m["odi_per_nrs_point"]
        ref = x[spec["pre"]].to_numpy(dtype=float) * base
        out[score] = {}
        for arm in m["arms"]:
            shift = np.zeros(len(x))
            if arm != m["reference"]:
                shift = shift + cal.shift[arm]
                if heterogeneity:
                    shift = shift + raw[arm] - cal.modifier_mean[arm]
            out[score][arm] = np.clip(ref - scale * shift, 0.0, spec["max"])
    return out


def truth_columns(x: pd.DataFrame, heterogeneity: bool, u: np.ndarray | None) -> pd.DataFrame:
    """``<target>@<arm>`` for every target and arm: expectations when ``u`` is None, else the
    outcomes realised with the patient's uniforms ``u`` (shape (2, n): nrs, odi)."""
    columns: dict[str, np.ndarray] = {}
    means = expected_scores(x, heterogeneity)
    for j, (score, spec) in enumerate(model()["scores"].items()):
        pre = x[spec["pre"]].to_numpy(dtype=float)
        for arm, mean in means[score].items():
            if u is None:
                columns[f"{spec['post']}@{arm}"] = mean
                columns[f"{spec['mcic']}@{arm}"] = _success(pre, mean, spec)
            else:
                y = binom.ppf(u[j], spec["max"], mean / spec["max"])
                columns[f"{spec['post']}@{arm}"] = y
                columns[f"{spec['mcic']}@{arm}"] = (pre - y >= spec["min_improvement"]) * 1.0
    order = [f"{t}@{a}" for t in target_names() for a in model()["arms"]]
    return pd.DataFrame(columns, index=x.index)[order]


def target_names() -> list[str]:
    scores = model()["scores"].values()
    return [s["post"] for s in scores] + [s["mcic"] for s in scores]


# -- assignment and the public generator ------------------------------------------------------
def _randomise(rng: np.random.Generator, sites: np.ndarray, n_sites: int) -> np.ndarray:
    """Arm index per patient: permuted blocks of ``block_size`` within each site."""
    arms = len(model()["arms"])
    block = model()["block_size"]
    out = np.empty(sites.size, dtype=np.int64)
    for s in range(n_sites):
        idx = np.flatnonzero(sites == s)
        blocks = -(-idx.size // block)
        seq = rng.permuted(np.tile(np.arange(block) % arms, (blocks, 1)), axis=1)
        out[idx] = seq.ravel()[: idx.size]
    return out


def generate(
    n: int,
    seed: int,
    *,
    sites: list[str],
    heterogeneity: bool = True,
    id_prefix: str = "TRIAL",
    case_mix: synthetic.CaseMixShift | None = None,
) -> Trial:
    """Generate ``n`` trial patients at ``sites``; the same arguments give the same
    :class:`Trial`. Units as the LET generator, plus FABQ physical activity 0-24,
    distress 0-42 (HADS-like total), symptom duration in whole months."""
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not sites:
        raise ValueError("give at least one site")
    seq_x, seq_assign, seq_noise = np.random.SeedSequence(seed).spawn(3)
    x = patients(seq_x, int(n), case_mix)
    rng = np.random.default_rng(seq_assign)
    site_idx = rng.integers(0, len(sites), size=len(x))
    arm_idx = _randomise(rng, site_idx, len(sites))
    z = np.random.default_rng(seq_noise).standard_normal((2, len(x)))
    rho = model()["noise_correlation"]
    u = ndtr(np.vstack([z[0], rho * z[0] + np.sqrt(1 - rho**2) * z[1]]))
    potential = truth_columns(x, heterogeneity, u)
    expected = truth_columns(x, heterogeneity, None)
    arms = np.asarray(model()["arms"], dtype=object)[arm_idx]
    ids = [f"{id_prefix}-{i:06d}" for i in range(1, len(x) + 1)]
    frame = pd.DataFrame({"patient_id": ids, "site": np.asarray(sites, dtype=object)[site_idx]})
    frame["arm"] = arms
    frame = pd.concat([frame, x.reset_index(drop=True)], axis=1)
    for score in model()["scores"].values():
        under = [potential[f"{score['post']}@{a}"].to_numpy() for a in model()["arms"]]
        observed = np.choose(arm_idx, under)
        frame[score["post"]] = observed.astype(np.int64)
    for name in ("site", "arm", "startback", "patient_id"):
        frame[name] = frame[name].astype("str")
    potential.insert(0, "patient_id", frame["patient_id"].to_numpy())
    expected.insert(0, "patient_id", frame["patient_id"].to_numpy())
    return Trial(frame, potential.reset_index(drop=True), expected.reset_index(drop=True))
