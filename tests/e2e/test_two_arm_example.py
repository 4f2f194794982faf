"""The two-arm trial export example (conf/data/example_two_arm.yaml) end to end through
`dvc exp run`, as a user runs it: no id column, derived targets (change score, threshold,
relative responder), an inclusion criterion in the cleaning flow, numeric centre codes with
centre 3 held out, and a feature derived from two dates. Small settings: one model family,
no tuning, one CV repeat."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from conftest import PIPELINE_FAST, PipelineRun, copy_repo, sh

TARGETS = {"pain_change": "r2", "pain_persisting": "auroc", "rmdq_responder": "auroc"}


@pytest.fixture(scope="module")
def two_arm(tmp_path_factory) -> PipelineRun:
    root = copy_repo(tmp_path_factory.mktemp("two_arm") / "repo")
    overrides = ["data=example_two_arm", "model=linear", *PIPELINE_FAST]
    done = sh(root, "dvc", "exp", "run", *[a for o in overrides for a in ("-S", o)])
    return PipelineRun(root, done.stdout + done.stderr)


@pytest.mark.e2e
def test_two_arm_trial_export_runs_end_to_end(two_arm):
    run = two_arm
    for stage in ("cohort", "clean", "features", "train", "external", "explain", "report"):
        assert f"Running stage '{stage}'" in run.output, stage
    assert "Data and pipelines are up to date" in sh(run.root, "dvc", "status").stdout

    flow = run.json("reports/cleaning.json")
    dev = flow["development"]
    assert dev["id"] == "row number"
    assert dev["excluded"]['not included: eligible (eligible == "yes")'] > 0
    assert dev["excluded"]["not included: adult (age >= 18)"] == 0  # listed, excluded none
    assert dev["rows_in"] - dev["excluded_total"] == dev["rows_out"]
    assert "No id column" in run.text("reports/cleaning.md")

    raw_ext = pd.read_parquet(run.root / "data/raw/external.parquet")
    assert set(raw_ext["centre"].astype(str)) == {"3"}
    features = pd.read_parquet(run.root / "data/features/development.parquet")
    assert len(features) == dev["rows_out"]
    assert features["days_since_onset"].notna().mean() > 0.9
    assert features["days_since_onset"].min() >= 0
    assert not {"randomisation_date", "onset_date", "pain_12w", "rmdq_12w"} & set(features)
    assert set(features["pain_persisting"].dropna()) == {0.0, 1.0}

    cv = run.json("reports/metrics/cv.json")
    assert sorted(cv) == sorted(TARGETS)
    for target, metric in TARGETS.items():
        assert math.isfinite(cv[target]["linear"][metric]["mean"]), target
        assert cv[target]["n"] == dev["targets_available"][target]
    external = run.json("reports/metrics/external.json")
    assert external["available"] and external["n"] == flow["external"]["rows_out"]


@pytest.mark.e2e
def test_two_arm_champions_predict_from_dates_given_as_text(two_arm, tmp_path):
    """predict needs the features and the dates the derived interval reads, as exported."""
    frame = pd.read_csv(two_arm.root / "data/examples/two_arm_trial.csv", dtype=str)
    frame = frame[(frame["centre"] == "3") & frame["onset_date"].notna()].head(3)
    patients = tmp_path / "patients.csv"
    frame.drop(columns=["pain_12w", "rmdq_12w"]).to_csv(patients, index=False)
    out = tmp_path / "predictions.csv"
    sh(two_arm.root, "lbp-outcomes", "predict", "--input", str(patients), "--output", str(out))
    predictions = pd.read_csv(out)
    assert len(predictions) == 3
    # CSV headers carry each target's label (and unit): one column per label and quantity
    (change,) = [
        c
        for c in predictions
        if c.startswith("Change in pain at 12 weeks") and c.endswith(": predicted")
    ]
    (responder,) = [
        c
        for c in predictions
        if c.startswith("Roland-Morris improved by 50 %") and c.endswith(": probability")
    ]
    assert predictions[change].notna().all()
    assert predictions[responder].between(0, 1).all()
