"""Acceptance tests of the synthetic LET cohort against the published statistics.

The published numbers are copied here from /work/shared/cohort-facts.md on purpose (not read
from the calibration JSON), so a bad recalibration cannot silently move the goalposts.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from lbp_outcomes.cohort import synthetic as let
from lbp_outcomes.derived import fit_type

# mean, SD, Q1, median, Q3, min, max (Table 2; ODI raw /50)
TABLE2 = {
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
ANGLES = ("ll_pre", "sba_pre", "ll_post")
PUBLISHED_FIT_TYPES = {"normal": 152, "low": 136, "high": 143}
MCIC = {"nrs": 0.803, "odi": 0.953}
DEFAULT_SEED, N = 42, 431
OTHER_SEEDS = (1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def cohorts() -> dict[int, pd.DataFrame]:
    return {seed: let.generate(N, seed) for seed in (DEFAULT_SEED, *OTHER_SEEDS)}


def _check_variable(frame: pd.DataFrame, name: str, factor: float) -> None:
    mean, sd, q1, q2, q3, lo, hi = TABLE2[name]
    x = frame[name].to_numpy(dtype=float)
    where = f"{name} (factor {factor:g})"
    assert x.mean() == pytest.approx(mean, abs=0.1 * sd * factor), f"{where}: mean"
    assert x.std(ddof=1) == pytest.approx(sd, rel=0.1 * factor), f"{where}: SD"
    tol = (1.5 if name in ANGLES else 1.0) * factor
    got = np.percentile(x, [25, 50, 75])
    for label, g, p in zip(("Q1", "median", "Q3"), got, (q1, q2, q3), strict=True):
        assert g == pytest.approx(p, abs=tol), f"{where}: {label} {g} vs published {p}"
    assert lo <= x.min() and x.max() <= hi, f"{where}: [{x.min()}, {x.max()}] outside [{lo}, {hi}]"


def _mcic(frame: pd.DataFrame) -> dict[str, float]:
    return {
        "nrs": float(((frame["nrs_pre"] - frame["nrs_post"]) >= 2).mean()),
        "odi": float(((frame["odi_pre"] - frame["odi_post"]) >= 6).mean()),
    }


# ----------------------------------------------------------------------------- API shape


def test_public_constants():
    assert let.COLUMNS[:2] == ("patient_id", "site")
    assert let.OUTCOMES == ("ll_post", "nrs_post", "odi_post")
    assert let.INPUTS == (
        "age", "bmi", "ll_pre", "sba_pre", "nrs_pre", "odi_pre",
        "frequency", "duration", "compliance",
    )  # fmt: skip
    assert set(let.COLUMNS) == {"patient_id", "site", *let.INPUTS, *let.OUTCOMES}


def test_frame_layout_and_ids(cohorts):
    frame = cohorts[DEFAULT_SEED]
    assert tuple(frame.columns) == let.COLUMNS
    assert len(frame) == N
    assert frame["patient_id"].is_unique
    assert frame["patient_id"].iloc[0] == "LET-A-000001"
    assert (frame["site"] == "clinic_a").all()
    assert frame[list(let.INPUTS + let.OUTCOMES)].notna().all().all()


def test_ids_never_collide_across_sites():
    dev = let.generate(50, 1)
    ext = let.generate(50, 2, site="clinic_b")
    assert ext["patient_id"].iloc[0] == "LET-B-000001"
    assert not set(dev["patient_id"]) & set(ext["patient_id"])


@pytest.mark.parametrize("name", ["nrs_pre", "odi_pre", "nrs_post", "odi_post", "frequency",
                                  "duration", "age", "compliance"])  # fmt: skip
def test_whole_numbers(cohorts, name):
    for frame in cohorts.values():
        x = frame[name].to_numpy(dtype=float)
        assert np.array_equal(x, np.round(x)), f"{name} has non-integer values"


@pytest.mark.parametrize("name", ["bmi", "ll_pre", "sba_pre", "ll_post"])
def test_one_decimal(cohorts, name):
    for frame in cohorts.values():
        x = frame[name].to_numpy(dtype=float)
        assert np.allclose(x * 10, np.round(x * 10), atol=1e-9), f"{name} has > 1 decimal"


# ----------------------------------------------------------------------------- Table 2


@pytest.mark.parametrize("name", list(TABLE2))
def test_table2_default_seed(cohorts, name):
    _check_variable(cohorts[DEFAULT_SEED], name, factor=1.0)


@pytest.mark.parametrize("seed", OTHER_SEEDS)
@pytest.mark.parametrize("name", list(TABLE2))
def test_table2_other_seeds_doubled_tolerance(cohorts, seed, name):
    _check_variable(cohorts[seed], name, factor=2.0)


@pytest.mark.parametrize("seed", (DEFAULT_SEED, *OTHER_SEEDS))
def test_mcic_shares(cohorts, seed):
    tol = 0.03 if seed == DEFAULT_SEED else 0.06
    got = _mcic(cohorts[seed])
    for key, published in MCIC.items():
        assert got[key] == pytest.approx(published, abs=tol), f"MCIC {key} at seed {seed}"


# ----------------------------------------------------------------------------- fit types


@pytest.mark.parametrize("seed", (DEFAULT_SEED, *OTHER_SEEDS))
def test_fit_type_counts_exact_at_431(cohorts, seed):
    frame = cohorts[seed]
    counts = fit_type(frame["ll_pre"], frame["sba_pre"]).value_counts().to_dict()
    assert counts == PUBLISHED_FIT_TYPES


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1000, {"normal": 353, "low": 315, "high": 332}),  # 352.67, 315.55, 331.79
        (100, {"normal": 35, "low": 32, "high": 33}),
        (431, PUBLISHED_FIT_TYPES),
        (7, {"normal": 3, "low": 2, "high": 2}),
    ],
)
def test_fit_type_counts_other_n(n, expected):
    # Largest remainder of n * (152, 136, 143) / 431.
    assert let.fit_type_counts(n) == expected
    for seed in (0, 11):
        frame = let.generate(n, seed)
        counts = fit_type(frame["ll_pre"], frame["sba_pre"]).value_counts().to_dict()
        assert {k: counts.get(k, 0) for k in expected} == expected, f"n={n}, seed={seed}"


def test_fit_type_rule_boundary_sba_15_is_high(cohorts):
    frame = pd.concat(cohorts.values())
    ft = fit_type(frame["ll_pre"], frame["sba_pre"])
    at15 = (frame["sba_pre"] == 15.0).to_numpy()
    assert at15.any()
    assert set(ft[at15]) <= {"normal", "high"}


# ----------------------------------------------------------------------------- determinism


def test_deterministic():
    a = let.generate(300, 7)
    b = let.generate(300, 7)
    pd.testing.assert_frame_equal(a, b)
    c = let.generate(300, 8)
    for name in (*let.INPUTS, *let.OUTCOMES):
        assert not np.array_equal(a[name], c[name]), f"{name} identical across seeds"


def test_invalid_arguments():
    with pytest.raises(ValueError):
        let.generate(0, 1)
    with pytest.raises(ValueError):
        let.generate(10, 1, case_mix=let.CaseMixShift(frequency={9: 1.0}))
    with pytest.raises(ValueError):
        let.generate(10, 1, outcome_shift=let.OutcomeShift(response_scale=0.0))


# ----------------------------------------------------------------------------- oracle


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return let.generate(200_000, 2024)


def test_conditional_mean_is_unbiased(big):
    pred = let.conditional_mean(big[list(let.INPUTS)])
    assert list(pred.columns) == list(let.OUTCOMES)
    assert pred.index.equals(big.index)
    for name in let.OUTCOMES:
        resid = big[name].to_numpy(dtype=float) - pred[name].to_numpy()
        se = resid.std() / np.sqrt(resid.size)
        assert abs(resid.mean()) < 4 * se, f"{name}: mean residual {resid.mean():.4f}"
        # E[y | x] is also uncorrelated with the residual (it is the best predictor).
        assert abs(np.corrcoef(resid, pred[name])[0, 1]) < 0.01, name


def test_conditional_mean_is_exact_for_single_patients():
    """Replicate five patients many times: the sample mean of their outcomes must match
    conditional_mean (rounding to the reported grid included)."""
    rng_rows = let.generate(5, 99)[list(let.INPUTS)]
    reps = 40_000
    x = rng_rows.loc[rng_rows.index.repeat(reps)].reset_index(drop=True)
    params = let.load_calibration()
    y = let._sample_outcomes(np.random.default_rng(3), x, params, None)
    expected = let.conditional_mean(rng_rows)
    for name in let.OUTCOMES:
        means = pd.Series(y[name]).groupby(np.repeat(np.arange(5), reps)).agg(["mean", "std"])
        se = means["std"].to_numpy() / np.sqrt(reps)
        diff = means["mean"].to_numpy() - expected[name].to_numpy()
        assert np.all(np.abs(diff) < 4.5 * se + 1e-9), f"{name}: {diff} (se {se})"


def test_oracle_r2_matches_calibration_metadata():
    recorded = let.load_calibration()["population"]["oracle_r2"]
    fresh = let.oracle_r2(n=200_000, seed=31337)
    for name in let.OUTCOMES:
        assert fresh[name] == pytest.approx(recorded[name], abs=0.01), name
        assert 0.5 < fresh[name] < 0.9


def test_oracle_above_reported_cross_validation():
    cal = let.load_calibration()
    cv = cal.get("report", {}).get("cv_r2")
    if not cv:
        pytest.skip("calibration report without model cross-validation")
    for name in let.OUTCOMES:
        assert cal["population"]["oracle_r2"][name] > cv[name]["gbm"], name
        assert cv[name]["gbm"] - cv[name]["enet"] >= 0.03, f"{name}: trees vs elastic net"


# ----------------------------------------------------------------------------- shifts


def test_unshifted_external_site_is_same_population():
    dev = let.generate(20_000, 100)
    ext = let.generate(20_000, 200, site="clinic_b")
    for name in (*let.INPUTS, *let.OUTCOMES):
        sd = dev[name].std()
        assert ext[name].mean() == pytest.approx(dev[name].mean(), abs=0.05 * sd), name


def test_case_mix_shift_moves_means():
    base = let.generate(20_000, 5)
    shift = let.CaseMixShift(age=6.0, bmi=1.5, compliance=-3.0, frequency={3: 0.6, 4: 0.3, 5: 0.1})
    ext = let.generate(20_000, 5, site="clinic_b", case_mix=shift)
    assert ext["age"].mean() - base["age"].mean() == pytest.approx(6.0, abs=0.3)
    assert ext["bmi"].mean() - base["bmi"].mean() == pytest.approx(1.5, abs=0.1)
    assert ext["compliance"].mean() - base["compliance"].mean() == pytest.approx(-3.0, abs=0.2)
    shares = ext["frequency"].value_counts(normalize=True)
    assert shares.to_dict() == pytest.approx({3: 0.6, 4: 0.3, 5: 0.1}, abs=0.02)
    # Valid ranges hold, and the pre-treatment spine / pain columns are unchanged.
    assert ext["age"].between(18, 90).all() and ext["compliance"].between(0, 100).all()
    for name in ("ll_pre", "sba_pre", "nrs_pre", "odi_pre", "duration"):
        assert np.array_equal(ext[name], base[name]), name


def test_case_mix_clips_to_valid_ranges():
    ext = let.generate(5_000, 6, case_mix=let.CaseMixShift(age=40.0, compliance=15.0, bmi=30))
    assert ext["age"].max() <= 90 and ext["compliance"].max() <= 100 and ext["bmi"].max() <= 60
    assert ext["age"].max() > 60  # shifted cohorts may leave the published range


def test_outcome_shift_weakens_response():
    base = let.generate(20_000, 9)
    weak = let.generate(20_000, 9, outcome_shift=let.OutcomeShift(response_scale=0.7))
    for name, pre in let.BASELINE.items():
        gain_base = (base[name] - base[pre]).mean()
        gain_weak = (weak[name] - weak[pre]).mean()
        assert gain_weak / gain_base == pytest.approx(0.7, abs=0.03), name
    lo, hi = let.VALID_RANGES["nrs_post"]
    assert weak["nrs_post"].between(lo, hi).all()
    assert _mcic(weak)["nrs"] < _mcic(base)["nrs"] - 0.02


def test_conditional_mean_reflects_outcome_shift():
    shift = let.OutcomeShift(response_scale=0.7)
    frame = let.generate(50_000, 12, outcome_shift=shift)
    x = frame[list(let.INPUTS)]
    shifted = let.conditional_mean(x, shift)
    plain = let.conditional_mean(x)
    for name, pre in let.BASELINE.items():
        resid = frame[name] - shifted[name]
        assert abs(resid.mean()) < 4 * resid.std() / np.sqrt(len(frame)), name
        ratio = (shifted[name] - x[pre]).mean() / (plain[name] - x[pre]).mean()
        assert ratio == pytest.approx(0.7, abs=0.03), name


def test_noise_shift_lowers_oracle():
    noisy = let.oracle_r2(n=50_000, seed=4, outcome_shift=let.OutcomeShift(noise_scale=1.5))
    plain = let.oracle_r2(n=50_000, seed=4)
    for name in let.OUTCOMES:
        assert noisy[name] < plain[name] - 0.05, name


# ----------------------------------------------------------------------------- scale


def test_generation_is_vectorised():
    start = time.perf_counter()
    let.generate(100_000, 3)
    assert time.perf_counter() - start < 5.0


@pytest.mark.slow
def test_one_million_patients():
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    frame = let.generate(1_000_000, 1)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(frame) == 1_000_000 and frame["patient_id"].is_unique
    assert elapsed < 15, f"{elapsed:.1f} s"
    assert peak < 1.5e9, f"peak {peak / 1e9:.2f} GB"
