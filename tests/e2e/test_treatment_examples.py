"""Cohorts with a `treatment` block end to end through `dvc exp run` (docs/treatment.md):
the two-arm trial export example (numeric arm codes, 2:1 allocation, a binary outcome) and a
small version of the synthetic five-arm trial (let_trial, with its truth files). The arm
column reaches data/features but no prognostic model uses it. Small settings: one model
family, no tuning, one CV repeat."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from conftest import PIPELINE_FAST, PipelineRun, copy_repo, sh

STAGES = ("cohort", "clean", "features", "train", "external", "explain", "report")


def pipeline(tmp_path_factory, name: str, *extra: str) -> PipelineRun:
    root = copy_repo(tmp_path_factory.mktemp(name) / "repo")
    overrides = [f"data={name}", "model=linear", *PIPELINE_FAST, *extra]
    done = sh(root, "dvc", "exp", "run", *[a for o in overrides for a in ("-S", o)])
    return PipelineRun(root, done.stdout + done.stderr)


@pytest.fixture(scope="module")
def two_arm(tmp_path_factory) -> PipelineRun:
    return pipeline(tmp_path_factory, "example_treatment_trial")


@pytest.fixture(scope="module")
def let_trial(tmp_path_factory) -> PipelineRun:
    small = ["data.source.synthetic.n=400", "data.source.synthetic.external.n=150"]
    return pipeline(tmp_path_factory, "let_trial", *small)


def model_inputs(run: PipelineRun) -> set[str]:
    """The prognostic models' input columns (models/manifest.json)."""
    return set(run.json("models/manifest.json")["features"])


@pytest.mark.e2e
def test_two_arm_treatment_example_runs_end_to_end(two_arm):
    for stage in STAGES:
        assert f"Running stage '{stage}'" in two_arm.output, stage
    assert "Data and pipelines are up to date" in sh(two_arm.root, "dvc", "status").stdout
    features = pd.read_parquet(two_arm.root / "data/features/development.parquet")
    counts = features["randomised_arm"].value_counts()
    assert set(counts.index) == {"0", "1"} and counts["1"] > 1.8 * counts["0"]  # 2:1
    assert "randomised_arm" not in model_inputs(two_arm)
    assert "fabq_pa" in model_inputs(two_arm)
    cv = two_arm.json("reports/metrics/cv.json")
    assert math.isfinite(cv["recovered_26w"]["linear"]["auroc"]["mean"])


@pytest.mark.e2e
def test_let_trial_runs_end_to_end_with_its_truth(let_trial):
    for stage in STAGES:
        assert f"Running stage '{stage}'" in let_trial.output, stage
    manifest = let_trial.json("data/raw/manifest.json")
    population = let_trial.json(manifest["truth"]["development"]["population"])
    assert population["targets"]["nrs_mcic"]["population"]["mean"]["usual_physio"] == (
        pytest.approx(0.40, abs=1e-6)
    )
    features = pd.read_parquet(let_trial.root / "data/features/development.parquet")
    assert set(features["arm"]) == set(population["arms"])
    assert "arm" not in model_inputs(let_trial)
    assert {"distress", "fit_type"} <= model_inputs(let_trial)
    cv = let_trial.json("reports/metrics/cv.json")
    assert sorted(cv) == sorted(["nrs_post", "odi_post", "nrs_mcic", "odi_mcic"])
    assert let_trial.json("reports/metrics/external.json")["available"]
