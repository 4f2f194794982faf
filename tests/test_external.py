"""External validation: recalibration, case-mix diagnostics, and the stage end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import Project, pipeline_params, small_config, toy_cohort, write_params
from lbp_outcomes.cli import main
from lbp_outcomes.external import recalibrate, standardised_differences, updating
from lbp_outcomes.models.preprocess import FeatureSpec


def test_regression_recalibration_recovers_a_miscalibrated_model():
    rng = np.random.default_rng(0)
    pred = rng.normal(10, 3, 2000)
    y = 4 + 0.5 * pred + rng.normal(0, 0.5, 2000)  # true slope 0.5, intercept 4
    out = updating("regression", y, pred, fit_fraction=0.5, repeats=20, seed=1)
    assert out["original"]["calibration_slope"] == pytest.approx(0.5, abs=0.03)
    assert out["intercept_slope"]["calibration_slope"] == pytest.approx(1.0, abs=0.05)
    assert out["intercept_slope"]["calibration_in_the_large"] == pytest.approx(0.0, abs=0.05)
    # an intercept update fixes the mean but not the slope
    assert out["intercept"]["calibration_in_the_large"] == pytest.approx(0.0, abs=0.05)
    assert out["intercept"]["calibration_slope"] == pytest.approx(0.5, abs=0.03)
    assert out["intercept_slope"]["r2"] > out["original"]["r2"]
    # by hand: the shift is the mean residual
    shift = recalibrate("regression", np.array([1.0, 2.0]), np.array([2.0, 4.0]), "intercept")
    assert shift(np.array([0.0])) == pytest.approx([1.5])


def test_logistic_recalibration_recovers_an_overconfident_model():
    rng = np.random.default_rng(1)
    z = rng.normal(size=4000)
    y = (rng.random(z.size) < 1 / (1 + np.exp(-(z - 1)))).astype(float)  # true risk lower
    overconfident = 1 / (1 + np.exp(-2 * z))
    out = updating("binary", y, overconfident, fit_fraction=0.5, repeats=10, seed=2)
    assert out["original"]["calibration_slope"] == pytest.approx(0.5, abs=0.06)
    assert out["intercept_slope"]["calibration_slope"] == pytest.approx(1.0, abs=0.1)
    assert abs(out["intercept_slope"]["calibration_intercept"]) < 0.1
    assert out["intercept_slope"]["brier"] < out["original"]["brier"]
    # recalibration is monotone: discrimination is unchanged
    assert out["intercept_slope"]["auroc"] == pytest.approx(out["original"]["auroc"], abs=1e-9)


def test_standardised_mean_difference_by_hand():
    spec = FeatureSpec(numeric=["x"], categorical={"c": ["a", "b"]})
    dev = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "a", "b"]})
    ext = pd.DataFrame({"x": [2.0, 3.0, 4.0], "c": ["a", "b", "b"]})
    smd = standardised_differences(dev, ext, spec)
    assert smd["x"] == pytest.approx(1.0)  # mean +1, pooled SD 1
    # share of "b": 1/3 -> 2/3; pooled SD sqrt(2/9) -> SMD (1/3)/sqrt(2/9) = 0.7071
    assert abs(smd["c"]) == pytest.approx(0.7071, abs=1e-4)


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    project = Project(tmp_path_factory.mktemp("external") / "proj")
    frame = toy_cohort(n=240, seed=4)
    project.root.joinpath("data/source").mkdir(parents=True)
    frame.to_csv(project.root / "data/source/small.csv", index=False)
    data = small_config(**{"source.external_sites": ["B"]})
    write_params(
        project,
        pipeline_params(
            data,
            [
                "cv.folds=3",
                "cv.repeats=1",
                "tuning=none",
                "model=[xgboost,linear]",
                "external.n_boot=100",
            ],
        ),
    )
    for stage in ("cohort", "clean", "features", "train", "external"):
        assert main(["-C", str(project.root), stage]) == 0, stage
    return project, json.loads((project.root / "reports/metrics/external.json").read_text())


def test_external_json_has_every_family_and_metric_with_cis(validated):
    _, report = validated
    assert report["available"] is True
    for target, names in {
        "pain_post": [
            "r2",
            "mae",
            "rmse",
            "calibration_in_the_large",
            "calibration_slope",
            "calibration_intercept",
        ],
        "responder": [
            "auroc",
            "auprc",
            "brier",
            "log_loss",
            "calibration_slope",
            "calibration_intercept",
        ],
    }.items():
        entry = report["targets"][target]
        assert set(entry["families"]) == {"xgboost", "linear"}
        for family in entry["families"].values():
            for name in names:
                stats = family[name]
                assert stats["ci_low"] <= stats["estimate"] <= stats["ci_high"], (target, name)
        assert set(entry["recalibration"]) >= {"original", "intercept", "intercept_slope"}
    interval = report["targets"]["pain_post"]["interval"]
    assert interval["level"] == 0.9 and 0.7 <= interval["coverage"] <= 1.0
    # sites are assigned at random in the toy cohort: the cohorts are indistinguishable
    assert 0.35 <= report["case_mix"]["membership_auroc"]["estimate"] <= 0.65
    assert set(report["case_mix"]["smd"]) == {"age", "bmi", "sex", "grade"}


def test_external_plots_and_predictions_without_ids(validated):
    project, _ = validated
    root = project.root
    for name in ("pain_post.png", "responder.png", "case_mix.png"):
        assert (root / "reports/plots/external" / name).stat().st_size > 5_000
    preds = pd.read_parquet(root / "reports/external/predictions.parquet")
    assert "pid" not in preds.columns and set(preds["family"]) == {"xgboost", "linear"}


def test_no_external_cohort_is_reported_not_an_error(project, capsys):
    project.root.joinpath("data/source").mkdir(parents=True)
    toy_cohort(n=60).to_csv(project.root / "data/source/small.csv", index=False)
    write_params(
        project,
        pipeline_params(
            small_config(), ["cv.folds=3", "cv.repeats=1", "tuning=none", "model=linear"]
        ),
    )
    for stage in ("cohort", "clean", "features", "train", "external"):
        assert main(["-C", str(project.root), stage]) == 0, stage
    report = json.loads((project.root / "reports/metrics/external.json").read_text())
    assert report == {"available": False, "reason": "the data config defines no external cohort"}
    assert "no external cohort" in capsys.readouterr().out
    assert (project.root / "reports/plots/external").is_dir()
