"""The effects stage end to end: `dvc exp run -S data=let_trial` on a small trial runs
every stage, effects included; effects.json, the per-patient table, the report section
and the MLflow child runs hold the results, with no patient identifiers."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest

from conftest import PIPELINE_FAST, PipelineRun, copy_repo, sh

SMALL = [
    "data.source.synthetic.n=500",
    "data.source.synthetic.external.n=100",
    "model=linear",
    "effects.targets=[nrs_post,nrs_mcic]",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> PipelineRun:
    root = copy_repo(tmp_path_factory.mktemp("effects") / "repo")
    overrides = ["data=let_trial", *PIPELINE_FAST, *SMALL]
    sets = [a for o in overrides for a in ("-S", o)]
    done = sh(root, "dvc", "exp", "run", *sets, timeout=2400)  # every stage, on 2 cores
    return PipelineRun(root, done.stdout + done.stderr)


@pytest.mark.e2e
def test_effects_stage_runs_in_the_pipeline(run):
    assert "Running stage 'effects'" in run.output
    res = run.json("reports/effects/effects.json")
    assert res["available"] and res["reference"] == "usual_physio"
    assert res["policy_target"] == "nrs_mcic"
    for target in ("nrs_post", "nrs_mcic"):
        entry = res["targets"][target]
        assert len(entry["arms"]) == 4
        for arm in entry["arms"].values():
            assert arm["dr"]["ci_low"] < arm["dr"]["estimate"] < arm["dr"]["ci_high"]
        assert set(entry["truth"]["ate"]) == set(entry["arms"])
        assert entry["truth"]["pehe"]["abs"] > 0
    patients = pd.read_parquet(run.root / "reports/effects/patients.parquet")
    assert len(patients) == res["n"] and "patient_id" not in patients
    assert set(patients["recommended"]) <= set(res["arms"])
    report = (run.root / "reports/report.md").read_text()
    assert "Which treatment, for whom" in report
    assert (run.root / "reports/effects/nrs_mcic_toc.png").is_file()


@pytest.mark.e2e
def test_effects_child_runs_in_mlflow(run):
    db = sqlite3.connect(run.root / "mlruns/mlflow.db")
    names = {r[0] for r in db.execute("select name from runs")}
    assert {"effects: nrs_post", "effects: nrs_mcic"} <= names
    keys = {r[0] for r in db.execute("select key from metrics")}
    assert "effects.heterogeneity_p" in keys
    ids = set(pd.read_parquet(run.root / "data/features/development.parquet")["patient_id"])
    logged = json.dumps([*db.execute("select * from params"), *db.execute("select * from tags")])
    assert not any(str(i) in logged for i in list(ids)[:50])


@pytest.mark.e2e
def test_predict_gives_every_arm_and_a_recommendation(run, tmp_path):
    patients = pd.read_parquet(run.root / "data/raw/development.parquet").head(3)
    source = tmp_path / "patients.csv"
    patients.drop(columns=["arm", "nrs_post", "odi_post"], errors="ignore").to_csv(
        source, index=False
    )
    out = tmp_path / "out.csv"
    sh(run.root, "lbp-outcomes", "predict", "--input", str(source), "--output", str(out))
    table = pd.read_csv(out)
    arms = run.json("reports/effects/effects.json")["arms"]
    assert "recommended treatment" in table.columns
    assert set(table["recommended treatment"]) <= set(arms.values())
    for label in arms.values():
        assert any(f"under {label}: predicted" in c for c in table.columns), label
    basis = table["basis of recommendation"].iloc[0]
    assert basis.startswith(("personalised", "best on average"))
