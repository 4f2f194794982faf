"""The synthetic multi-arm trial (lbp_outcomes.cohort.trial) and its truths: calibration to
the published effects, the null setting, the documented effect modifiers, consistency of
observed and potential outcomes, and determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from lbp_outcomes.cohort import trial, truth
from lbp_outcomes.derived import fit_type

ARMS = trial.model()["arms"]
REF = trial.model()["reference"]
SITES = ["s1", "s2", "s3"]


@pytest.fixture(scope="module")
def het() -> trial.Trial:
    return trial.generate(600, 5, sites=SITES)


@pytest.fixture(scope="module")
def null_population() -> dict:
    x = trial.patients(trial.model()["calibration"]["seed"], 20_000, None)
    return truth.summarise(trial.truth_columns(x, False, None), ARMS, REF)


def test_calibrated_success_rates_in_the_calibration_population():
    # docs/treatment.md: usual physiotherapy 40 % success, individualised exercise 38 % and
    # with CBT 84 % higher (0.552, 0.736), the other two arms by their mean NRS shift.
    cal = trial.model()["calibration"]
    x = trial.patients(cal["seed"], cal["n"], None)
    summary = truth.summarise(trial.truth_columns(x, False, None), ARMS, REF)
    rates = summary["nrs_mcic"]["mean"]
    assert rates[REF] == pytest.approx(0.40, abs=1e-6)
    assert rates["indiv_exercise"] == pytest.approx(0.40 * 1.38, abs=1e-6)
    assert rates["indiv_exercise_cbt"] == pytest.approx(0.40 * 1.84, abs=1e-6)
    ate = summary["nrs_post"]["ate"]
    assert ate["let_traction"] == pytest.approx(-0.3, abs=2e-6)
    assert ate["sensorimotor"] == pytest.approx(-0.5, abs=2e-6)


def test_null_setting_has_constant_effects_on_the_scores(null_population):
    shift = trial.calibration().shift
    for arm in ARMS[1:]:
        assert null_population["nrs_post"]["ate"][arm] == pytest.approx(-shift[arm], abs=2e-6)
        assert null_population["odi_post"]["ate"][arm] == pytest.approx(-1.5 * shift[arm], abs=2e-6)
        assert null_population["nrs_post"]["effect_sd"][arm] < 2e-6
        assert null_population["odi_post"]["effect_sd"][arm] < 2e-6
    # a threshold of a shifted score: success differences vary, but only a little
    assert 0 < null_population["nrs_mcic"]["effect_sd"]["indiv_exercise_cbt"] < 0.1
    # with the same shift for everyone, the best single arm is optimal for everyone
    assert null_population["nrs_post"]["optimal_value"] == pytest.approx(
        null_population["nrs_post"]["best_single_arm_value"], abs=2e-6
    )


def test_heterogeneous_setting_keeps_the_average_effects(null_population):
    x = trial.patients(trial.model()["calibration"]["seed"], 20_000, None)
    summary = truth.summarise(trial.truth_columns(x, True, None), ARMS, REF)
    for arm in ARMS[1:]:
        assert summary["nrs_post"]["ate"][arm] == pytest.approx(
            null_population["nrs_post"]["ate"][arm], abs=0.01
        )
        assert summary["nrs_post"]["effect_sd"][arm] >= 0.0
    assert summary["nrs_post"]["effect_sd"]["sensorimotor"] < 2e-6  # no modifier (RESOLVE)
    assert summary["nrs_post"]["effect_sd"]["let_traction"] > 0.3
    # personalisation is worth something here: a quarter point of pain on average, with
    # traction the best arm for about a fifth of patients (docs/treatment.md, section 5)
    gain = summary["nrs_post"]["best_single_arm_value"] - summary["nrs_post"]["optimal_value"]
    assert 0.15 < gain < 0.35
    assert 0.15 < summary["nrs_post"]["optimal_share"]["let_traction"] < 0.3


def test_documented_modifiers_have_their_sign():
    x = trial.patients(3, 20_000, None)
    means = trial.expected_scores(x, True)["nrs"]
    let_effect = pd.Series(means["let_traction"] - means[REF])
    by_fit = let_effect.groupby(fit_type(x["ll_pre"], x["sba_pre"]).to_numpy()).mean()
    assert by_fit["low"] < by_fit["normal"] < by_fit["high"]  # hypolordotic gain most
    cbt_effect = means["indiv_exercise_cbt"] - means[REF]
    assert np.corrcoef(cbt_effect, x["distress"])[0, 1] < -0.9  # distressed gain most
    ex_effect = means["indiv_exercise"] - means[REF]
    assert np.corrcoef(ex_effect, x["fabq_pa"])[0, 1] < -0.9


def test_observed_outcomes_are_the_potential_outcomes_of_the_allocated_arm(het):
    frame, potential = het.frame, het.potential
    assert list(potential["patient_id"]) == list(frame["patient_id"])
    for target in ("nrs_post", "odi_post"):
        picked = [potential.at[i, f"{target}@{arm}"] for i, arm in enumerate(frame["arm"])]
        assert np.array_equal(frame[target].to_numpy(), np.asarray(picked))
    improved = frame["nrs_pre"] - frame["nrs_post"] >= 2
    picked = [potential.at[i, f"nrs_mcic@{arm}"] for i, arm in enumerate(frame["arm"])]
    assert np.array_equal(improved.to_numpy(dtype=float), np.asarray(picked))
    # the shared noise orders each patient's potential outcomes like their expectations
    assert (potential["nrs_post@indiv_exercise_cbt"] <= potential[f"nrs_post@{REF}"]).mean() > 0.95


def test_sample_truths_are_the_means_of_the_expected_outcomes(het):
    pop = truth.population_truths(het.expected, True, None)
    sample = pop.targets["nrs_post"].sample
    diff = het.expected["nrs_post@sensorimotor"] - het.expected[f"nrs_post@{REF}"]
    assert sample.ate["sensorimotor"] == pytest.approx(diff.mean(), abs=1e-6)
    realised = het.potential["nrs_post@sensorimotor"] - het.potential[f"nrs_post@{REF}"]
    assert realised.mean() == pytest.approx(diff.mean(), abs=0.2)  # 600 patients
    assert pop.targets["nrs_mcic"].better == "higher"
    assert sum(sample.optimal_share.values()) == pytest.approx(1.0, abs=1e-5)


def test_randomisation_is_balanced_within_site(het):
    counts = het.frame.groupby(["site", "arm"]).size().unstack()
    assert set(counts.columns) == set(ARMS) and set(counts.index) == set(SITES)
    assert (counts.max(axis=1) - counts.min(axis=1)).max() <= 2  # blocks of 10


def test_same_seed_same_trial_other_seed_other_trial(het):
    again = trial.generate(600, 5, sites=SITES)
    pd.testing.assert_frame_equal(het.frame, again.frame)
    pd.testing.assert_frame_equal(het.potential, again.potential)
    other = trial.generate(600, 6, sites=SITES)
    assert not het.frame[["arm", "nrs_post"]].equals(other.frame[["arm", "nrs_post"]])


def test_mcic_thresholds_match_the_data_config():
    cfg = yaml.safe_load((REPO / "conf/data/let_trial.yaml").read_text())
    for score in trial.model()["scores"].values():
        mcic = cfg["mcic"][score["mcic"]]
        assert mcic["min_improvement"] == score["min_improvement"]
        assert (mcic["baseline"], mcic["outcome"]) == (score["pre"], score["post"])
    assert [a["value"] for a in cfg["treatment"]["arms"]] == ARMS
    assert cfg["treatment"]["reference"] == REF
