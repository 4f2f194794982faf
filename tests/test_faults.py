"""Faults: interrupted and failing stages close their MLflow runs and write nothing;
the rerun gives the same results as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import Project, pipeline_params, small_config, toy_cohort, write_params
from lbp_outcomes.cli import main

OVERRIDES = [
    "cv.folds=3",
    "cv.repeats=2",
    "tuning.n_trials=3",
    "tuning.inner_folds=2",
    "model=[xgboost,linear]",
    "executor.n_jobs=2",
]


def prepared(root) -> Project:
    project = Project(root)
    project.root.joinpath("data/source").mkdir(parents=True)
    toy_cohort(n=150, seed=21).to_csv(project.root / "data/source/small.csv", index=False)
    params = pipeline_params(small_config(), OVERRIDES, tracking=True)
    params["executor"]["n_jobs"] = 2
    write_params(project, params)
    for stage in ("cohort", "clean", "features"):
        assert main(["-C", str(project.root), stage]) == 0
    from lbp_outcomes.config import load_params
    from lbp_outcomes.tracking import ensure_experiment

    # create the store up front, so the test's own reads never race the stage's first open
    ensure_experiment(load_params(project.root).tracking, project.root)
    return project


def runs(project):
    import mlflow

    db = project.root / "mlruns/mlflow.db"
    if not db.exists():
        return []
    client = mlflow.MlflowClient(f"sqlite:///{db}")
    experiments = client.search_experiments()
    return client.search_runs([e.experiment_id for e in experiments]) if experiments else []


@pytest.mark.parametrize(
    "sig,code",
    [(signal.SIGTERM, 143), pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow)],
    ids=["SIGTERM", "SIGINT"],
)
def test_interrupted_training_is_killed_cleanly_and_rerun_matches(tmp_path, sig, code):
    project = prepared(tmp_path / "interrupted")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lbp_outcomes", "-C", str(project.root), "train"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.time() + 60
    while time.time() < deadline and not any(r.info.status == "RUNNING" for r in runs(project)):
        time.sleep(0.2)
    assert any(r.info.status == "RUNNING" for r in runs(project)), "the parent run never started"
    time.sleep(1.0)  # inside cross-validation, with worker processes busy
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    statuses = {r.info.status for r in runs(project)}
    assert statuses == {"KILLED"}, statuses
    for output in ("models", "reports/metrics/cv.json", "reports/cv", "reports/tracking.json"):
        assert not project.exists(output), f"{output} half-written after {sig.name}"
    assert not [p for p in project.root.rglob(".*tmp*")], "temporary files left behind"

    # the rerun finishes, and gives exactly what an uninterrupted run gives
    assert main(["-C", str(project.root), "train"]) == 0
    clean = prepared(tmp_path / "uninterrupted")
    assert main(["-C", str(clean.root), "train"]) == 0
    for rel in ("reports/metrics/cv.json", "reports/cv/folds.csv"):
        assert (project.root / rel).read_bytes() == (clean.root / rel).read_bytes(), rel


def test_failing_stage_marks_its_run_failed_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import lbp_outcomes.train as train

    project = prepared(tmp_path / "failing")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full while drawing")

    monkeypatch.setattr(train, "_figures", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        main(["-C", str(project.root), "train"])
    assert {r.info.status for r in runs(project)} == {"FAILED"}
    assert not project.exists("models") and not project.exists("reports/metrics/cv.json")


def test_later_stage_failure_leaves_the_parent_finished_but_marks_the_stage(tmp_path, monkeypatch):
    """A stage that resumes the parent run (external) and fails marks it FAILED, so the
    UI shows that this pipeline execution did not complete."""
    import lbp_outcomes.external as external

    project = prepared(tmp_path / "later")
    assert main(["-C", str(project.root), "train"]) == 0

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(external, "evaluate", broken)
    # no external cohort in this config: evaluate is not reached, so force one
    monkeypatch.setattr(
        external.paths, "cohort_file", lambda folder, cohort: folder / "development.parquet"
    )
    with pytest.raises(RuntimeError, match="boom"):
        main(["-C", str(project.root), "external"])
    parent = json.loads((project.root / "reports/tracking.json").read_text())["parent_run_id"]
    status = {r.info.run_id: r.info.status for r in runs(project)}
    assert status[parent] == "FAILED"
    assert all(s in {"FINISHED", "FAILED"} for s in status.values())
    assert not project.exists("reports/metrics/external.json")
