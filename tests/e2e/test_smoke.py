"""The end-to-end smoke run CI makes: the default pipeline (the synthetic LET cohort with its
external clinic, every stage, MLflow on) through `dvc exp run` in a fresh copy of the
repository, as a user runs it, on a small configuration (fewer patients, one model
family, no tuning, few folds). The other e2e tests (`-m e2e`) cover the examples, faults
and reproduction at full breadth."""

from __future__ import annotations

import math
import re

import pytest

from conftest import copy_repo, sh

STAGES = ["cohort", "clean", "features", "train", "external", "explain", "report"]
FAMILIES = {"linear"}  # one family: CI checks the plumbing, tests/integration the models
REGRESSION = {"ll_post", "nrs_post", "odi_post"}
BINARY = {"nrs_mcic", "odi_mcic"}
SMALL = [
    "data.source.synthetic.n=150",
    "data.source.synthetic.external.n=80",
    f"model=[{','.join(sorted(FAMILIES))}]",
    "tuning=none",
    "cv.folds=3",
    "cv.repeats=1",
    "conformal.folds=3",
    "external.n_boot=20",
    "external.membership_folds=3",
    "external.recalibration.repeats=5",
    "explain.max_rows=40",
    "explain.background_rows=20",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = copy_repo(tmp_path_factory.mktemp("smoke") / "repo")
    done = sh(root, "dvc", "exp", "run", *[arg for o in SMALL for arg in ("-S", o)])
    return root, done.stdout + done.stderr


@pytest.mark.smoke
def test_default_pipeline_through_dvc_exp_run(run):
    import json

    root, output = run
    for stage in STAGES:
        assert f"Running stage '{stage}'" in output, stage
    status = sh(root, "dvc", "status").stdout
    assert "Data and pipelines are up to date" in status, status

    cv = json.loads((root / "reports/metrics/cv.json").read_text())
    assert set(cv) == REGRESSION | BINARY
    for target, entry in cv.items():
        primary = "r2" if target in REGRESSION else "auroc"
        assert set(entry) - {"champion", "n", "selected"} == FAMILIES
        assert entry["champion"] in FAMILIES and entry["selected"]["metric"] == primary
        assert all(math.isfinite(entry[f][primary]["mean"]) for f in FAMILIES), target
    external = json.loads((root / "reports/metrics/external.json").read_text())
    cleaning = json.loads((root / "reports/cleaning.json").read_text())
    assert external["available"] and external["n"] == cleaning["external"]["rows_out"]
    assert set(external["targets"]) == set(cv)
    report = (root / "reports/report.md").read_text()
    headings = re.findall(r"^## \d+\. (.+)$", report, flags=re.M)
    assert {"Cross-validated performance", "External validation"} <= set(headings), headings
    assert (root / "reports/report.html").stat().st_size > 10_000


@pytest.mark.smoke
def test_mlflow_runs_finished_and_champions_registered(run):
    import json

    import mlflow

    root, _ = run
    store = f"sqlite:///{root / 'mlruns/mlflow.db'}"
    client = mlflow.MlflowClient(store, registry_uri=store)  # not a global set elsewhere
    experiment = client.get_experiment_by_name("lbp-outcomes/let_synthetic")
    runs = client.search_runs([experiment.experiment_id])
    assert {r.info.status for r in runs} == {"FINISHED"}
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    for stage in ("train", "report"):  # the report stage logs external's and explain's
        assert parent.data.tags[f"stage.{stage}"] == "done", stage
    logged = parent.data.metrics
    assert any(k.startswith("external.") for k in logged), "external metrics logged by report"
    assert any(k.startswith("explain.") for k in logged), "explain metrics logged by report"
    children = sorted(r.info.run_name for r in runs if r is not parent)
    assert children == sorted(f"{t} | {f}" for t in REGRESSION | BINARY for f in FAMILIES)
    cv = json.loads((root / "reports/metrics/cv.json").read_text())
    tracking = json.loads((root / "reports/tracking.json").read_text())
    for target in cv:
        registered = f"lbp-outcomes.let_synthetic.{target}"
        version = client.get_model_version_by_alias(registered, "champion")
        assert version.run_id == tracking["runs"][target][cv[target]["champion"]], target
