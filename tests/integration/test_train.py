"""Cross-validated training: every family x target, determinism, no leakage, MLflow."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from conftest import pipeline_params, small_config, toy_cohort, write_params
from lbp_outcomes.cli import main

FAST = ["cv.folds=3", "cv.repeats=1", "tuning.n_trials=2", "tuning.inner_folds=2"]
FAMILIES = {"random_forest", "xgboost", "lightgbm", "mlp", "linear"}


def train(project, frame, overrides=FAST, tracking=False, data=None):
    project.root.joinpath("data/source").mkdir(parents=True, exist_ok=True)
    frame.to_csv(project.root / "data/source/small.csv", index=False)
    write_params(project, pipeline_params(data or small_config(), overrides, tracking))
    for stage in ("cohort", "clean", "features", "train"):
        assert main(["-C", str(project.root), stage]) == 0, stage
    return json.loads((project.root / "reports/metrics/cv.json").read_text())


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
        without_timing(p.root / "reports/metrics/cv.json") for p in (project, first_project)
    )
    assert again == first


def without_timing(path):
    """cv.json minus the one timing value it carries (``<target>.selected.seconds``, wall
    time for the bench); everything else must repeat exactly."""
    cv = json.loads(path.read_text())
    for entry in cv.values():
        assert entry["selected"].pop("seconds") > 0
    return json.dumps(cv, sort_keys=True)


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


def test_shuffled_target_control_finds_nothing(project):
    """With the outcomes permuted there is nothing to learn: CV R2 must not exceed 0.02 for
    any family. Leakage (fitting scalers, imputers or tuning on the test fold) would show
    up here as spurious skill."""
    cv = train(project, toy_cohort(n=150, seed=5, shuffle_targets=True))
    for family in FAMILIES:
        assert cv["pain_post"][family]["r2"]["mean"] <= 0.02, family
        assert cv["responder"][family]["auroc"]["mean"] <= 0.62, family


def test_too_few_events_skips_the_target_and_says_why(project, capsys):
    frame = toy_cohort(n=60, seed=2)
    frame["responder"] = "no"
    frame.loc[:1, "responder"] = "yes"  # 2 events < 3 folds
    cv = train(project, frame, overrides=[*FAST, "model=linear"])
    assert set(cv) == {"pain_post"}
    out = capsys.readouterr().out
    assert "target 'responder' skipped" in out and "too few for 3 stratified folds" in out


def test_cohort_too_small_for_the_folds_is_a_clear_error(project, capsys):
    project.root.joinpath("data/source").mkdir(parents=True, exist_ok=True)
    toy_cohort(n=8).to_csv(project.root / "data/source/small.csv", index=False)
    write_params(project, pipeline_params(small_config(), ["cv.folds=5", "model=linear"]))
    for stage in ("cohort", "clean", "features"):
        assert main(["-C", str(project.root), stage]) == 0
    capsys.readouterr()
    assert main(["-C", str(project.root), "train"]) == 2
    err = capsys.readouterr().err
    assert "cv.folds=5 is too many for 8 patients" in err
    assert not (project.root / "models").exists()


def test_max_train_rows_caps_each_fit_and_says_so(project, capsys):
    """A family capped by max_train_rows fits every fold, tuning and final refit on a seeded
    sample of that size; its test folds stay whole, and notes.json and the terminal say so."""
    from lbp_outcomes.cv import capped_rows

    cv = train(
        project,
        toy_cohort(n=150, seed=3),
        overrides=[*FAST, "model=[random_forest,linear]", "model.random_forest.max_train_rows=60"],
    )
    notes = json.loads((project.root / "reports/cv/notes.json").read_text())
    assert notes["subsampled"] == {"pain_post/random_forest": 60, "responder/random_forest": 60}
    assert "each fit used a random 60 of the training patients" in capsys.readouterr().out
    oof = pd.read_parquet(project.root / "reports/cv/oof.parquet")
    forest = oof[(oof.target == "pain_post") & (oof.family == "random_forest")]
    assert forest["row"].nunique() == cv["pain_post"]["n"]  # every patient still predicted
    import joblib
    import numpy as np

    final = joblib.load(project.root / "models/pain_post/random_forest.joblib")
    # bootstrap draws as many rows as the fit was given: the sample, not all 150
    assert final[-1].estimators_[0].tree_.weighted_n_node_samples[0] == 60
    rows, size = capped_rows(np.arange(150), 60, seed=1)
    assert size == 60 and len(set(rows)) == 60 and list(rows) == sorted(rows)
    assert list(rows) == list(capped_rows(np.arange(150), 60, seed=1)[0])  # seeded
    assert capped_rows(np.arange(50), 60, seed=1)[1] is None
