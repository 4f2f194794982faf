"""Training controls and edge cases: a shuffled-target control (no leakage), too few
events, a cohort too small for the folds, capped training rows."""

from __future__ import annotations

import json

import pandas as pd

from conftest import TRAIN_FAST as FAST
from conftest import pipeline_params, small_config, toy_cohort, write_params
from conftest import train_toy as train
from lbp_outcomes.cli import main

# The control's families: both kinds of preprocessing (linear: dense, impute + one-hot +
# scale; xgboost: trees, tuned) and the ensemble, weighted on their inner out-of-fold
# predictions (a leak there would be its own). Every family goes through the same folds,
# tuning and preprocessing code, so the other four add fitting time, not coverage.
CONTROL = ("linear", "xgboost", "ensemble")


def test_shuffled_target_control_finds_nothing(project):
    """With the outcomes permuted there is nothing to learn: CV R2 must not exceed 0.02 for
    any family. Leakage (fitting scalers, imputers or tuning on the test fold) would show
    up here as spurious skill."""
    shuffled = toy_cohort(n=150, seed=5, shuffle_targets=True)
    cv = train(project, shuffled, overrides=[*FAST, f"model=[{','.join(CONTROL)}]"])
    assert set(cv["pain_post"]) - {"champion", "n", "selected"} == set(CONTROL)
    for family in CONTROL:
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
