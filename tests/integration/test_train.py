"""Cross-validated training: every family x target, outputs, determinism (the controls and
edge cases are in test_train_controls.py, so that xdist runs the two files side by side)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from conftest import ALL_FAMILIES as FAMILIES
from conftest import toy_cohort
from conftest import train_toy as train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import Project

    project = Project(tmp_path_factory.mktemp("train") / "proj")
    return project, train(project, toy_cohort())


def test_every_family_and_target_has_finite_metrics(trained):
    project, cv = trained
    assert set(cv) == {"pain_post", "responder"}
    for target, metric_names in {
        "pain_post": ["r2", "mae", "rmse"],
        "responder": [
            "auroc",
            "auprc",
            "brier",
            "log_loss",
            "calibration_slope",
            "calibration_intercept",
        ],
    }.items():
        assert set(cv[target]) - {"champion", "n", "selected"} == FAMILIES
        assert cv[target]["champion"] in FAMILIES
        for family in FAMILIES:
            for name in metric_names:
                stats = cv[target][family][name]
                assert all(math.isfinite(stats[k]) for k in ("mean", "sd", "ci_low", "ci_high")), (
                    target,
                    family,
                    name,
                )
                assert stats["ci_low"] <= stats["mean"] <= stats["ci_high"]
    # the toy signal is strong: tree ensembles find it
    assert cv["pain_post"]["random_forest"]["r2"]["mean"] > 0.5
    assert cv["responder"]["xgboost"]["auroc"]["mean"] > 0.7


def test_outputs_final_models_folds_and_oof(trained):
    project, cv = trained
    root = project.root
    manifest = json.loads((root / "models/manifest.json").read_text())
    for target in ("pain_post", "responder"):
        for family in FAMILIES:
            assert (root / "models" / target / f"{family}.joblib").is_file()
        assert manifest["targets"][target]["champion"] == cv[target]["champion"]
    folds = pd.read_csv(root / "reports/cv/folds.csv")
    assert len(folds[(folds.target == "pain_post") & (folds.metric == "r2")]) == 3 * len(FAMILIES)
    oof = pd.read_parquet(root / "reports/cv/oof.parquet")
    # every patient with the outcome is predicted exactly once per family and repeat
    counts = oof[oof.target == "pain_post"].groupby(["family", "repeat"])["row"].nunique()
    assert (counts == cv["pain_post"]["n"]).all()
    assert "pid" not in oof.columns
    assert (root / "reports/plots/cv/pain_post.png").stat().st_size > 10_000


def test_second_run_from_clean_state_gives_identical_cv_json(trained, tmp_path):
    from conftest import Project

    first_project, _ = trained
    project = Project(tmp_path / "again")
    train(project, toy_cohort())
    assert (project.root / "reports/cv/folds.csv").read_bytes() == (
        first_project.root / "reports/cv/folds.csv"
    ).read_bytes()
    again, first = (
        (p.root / "reports/metrics/cv.json").read_bytes() for p in (project, first_project)
    )
    assert again == first  # byte-stable: the CV's wall time is in tracking.json, not here
    timing = json.loads((project.root / "reports/tracking.json").read_text())["cv_seconds"]
    assert timing and all(seconds > 0 for seconds in timing.values())
    assert all("seconds" not in entry["selected"] for entry in json.loads(again).values())


def test_selected_is_the_inner_best_family_scored_on_each_outer_fold(trained):
    """The honest estimate: per outer fold, the family tuning's inner CV ranked first, and
    that family's own score on the fold (reports/cv/folds.csv)."""
    project, cv = trained
    folds = pd.read_csv(project.root / "reports/cv/folds.csv")
    for target, metric in (("pain_post", "r2"), ("responder", "auroc")):
        chosen = cv[target]["selected"]
        assert chosen["metric"] == metric
        assert len(chosen["folds"]) == len(chosen["families"]) == 3
        assert set(chosen["families"]) <= FAMILIES
        for fold, (family, value) in enumerate(
            zip(chosen["families"], chosen["folds"], strict=True)
        ):
            row = folds[
                (folds.target == target)
                & (folds.family == family)
                & (folds.fold == fold)
                & (folds.metric == metric)
            ]
            assert row["value"].item() == pytest.approx(value, abs=1e-6)
        assert chosen["mean"] == pytest.approx(sum(chosen["folds"]) / 3, abs=1e-6)
        assert chosen["ci"][0] <= chosen["mean"] <= chosen["ci"][1]
