"""MLflow: the run layout engineers compare, the registry, and what must never be logged."""

from __future__ import annotations

import json

import pytest

from conftest import Project, pipeline_params, small_config, toy_cohort, write_params
from lbp_outcomes.cli import main

OVERRIDES = ["cv.folds=3", "cv.repeats=2", "tuning=none", "model=[xgboost,linear]"]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    import mlflow

    project = Project(tmp_path_factory.mktemp("tracking") / "proj")
    frame = toy_cohort(n=90, seed=11)
    project.root.joinpath("data/source").mkdir(parents=True)
    frame.to_csv(project.root / "data/source/small.csv", index=False)
    write_params(project, pipeline_params(small_config(), OVERRIDES, tracking=True))
    for stage in ("cohort", "clean", "features", "train"):
        assert main(["-C", str(project.root), stage]) == 0
    info = json.loads((project.root / "reports/tracking.json").read_text())
    client = mlflow.MlflowClient(info["tracking_uri"])
    return project, frame, info, client


def test_store_is_sqlite_under_the_project(tracked):
    project, _, info, _ = tracked
    assert info["tracking_uri"] == f"sqlite:///{project.root / 'mlruns/mlflow.db'}?timeout=120"
    assert (project.root / "mlruns/mlflow.db").is_file()
    assert (project.root / "mlruns/artifacts").is_dir()


def test_parent_and_one_child_per_target_and_family(tracked):
    _, _, info, client = tracked
    parent = client.get_run(info["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["data_config"] == "small"
    assert parent.data.params["cv.folds"] == "3"
    children = client.search_runs(
        [info["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{info['parent_run_id']}'",
    )
    names = sorted(r.info.run_name for r in children)
    assert names == [
        "pain_post | linear",
        "pain_post | xgboost",
        "responder | linear",
        "responder | xgboost",
    ]
    for run in children:
        assert run.info.status == "FINISHED"
        for tag in (
            "mlflow.source.git.commit",
            "data_config",
            "seed",
            "target",
            "family",
            "data_md5.development",
        ):
            assert tag in run.data.tags, tag
        assert run.data.params["family"] == run.data.tags["family"]
        assert (
            "model.xgboost.params.max_depth" in run.data.params
            or run.data.tags["family"] == "linear"
        )


def test_mlflow_is_set_up_for_comparing_models(tracked):
    """Model-training experiment with a saved view; lean child params (no data config);
    the data config once, as an artifact and a dataset input; descriptions everywhere;
    versions tagged with family and CV metrics; child durations from the CV fits."""
    project, _, info, client = tracked
    experiment = client.get_experiment(info["experiment_id"])
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    view = json.loads(experiment.tags["mlflow.sharedViewState.lbp-outcomes"])
    assert "metrics.`r2_mean`" in view["selectedColumns"]
    parent = client.get_run(info["parent_run_id"])
    assert parent.data.tags["mlflow.note.content"]
    assert len(parent.data.params) < 30
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "config")}
    assert artifacts == {"config/data_config.yaml", "config/params.yaml"}
    (dataset,) = parent.inputs.dataset_inputs
    assert dataset.dataset.name == "small/development"
    assert dataset.dataset.digest == parent.data.tags["data_md5.development"][:10]
    for family in ("xgboost", "linear"):
        child = client.get_run(info["runs"]["pain_post"][family])
        params = child.data.params
        assert not [k for k in params if k.startswith("data.")], "data config in a child run"
        assert len(params) < 80, len(params)
        assert "cross-validated r2" in child.data.tags["mlflow.note.content"]
        assert child.info.end_time - child.info.start_time > 0
    cv = json.loads((project.root / "reports/metrics/cv.json").read_text())
    version = client.get_model_version_by_alias("lbp-outcomes.small.pain_post", "champion")
    assert version.tags["family"] == cv["pain_post"]["champion"]
    assert float(version.tags["cv_r2"]) == pytest.approx(
        cv["pain_post"][version.tags["family"]]["r2"]["mean"], abs=1e-4
    )
    assert "champion" in version.description


def test_fold_values_are_logged_as_steps(tracked):
    _, _, info, client = tracked
    run_id = info["runs"]["pain_post"]["xgboost"]
    history = client.get_metric_history(run_id, "r2_fold")
    assert [m.step for m in history] == list(range(6))  # 3 folds x 2 repeats
    run = client.get_run(run_id)
    mean = run.data.metrics["r2_mean"]
    assert mean == pytest.approx(sum(m.value for m in history) / 6)
    assert {"r2_ci_low", "r2_ci_high", "r2_sd", "mae_mean", "rmse_mean"} <= set(run.data.metrics)


def test_child_run_holds_its_artifacts_and_its_model_the_run_s_params_and_metrics(tracked):
    """A child run is logged in a few batched calls (tracking/runs.py): its artifacts keep
    their folders, and the logged model carries the run's params and its step-0 metrics (as
    MLflow's own log_model would link them), the fold values beyond step 0 stay the run's."""
    _, _, info, client = tracked
    run = client.get_run(info["runs"]["pain_post"]["xgboost"])
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"cv", "plots", "fold_metrics.csv"} <= top
    assert [a.path for a in client.list_artifacts(run.info.run_id, "cv")] == [
        "cv/oof_predictions.csv"
    ]
    (output,) = run.outputs.model_outputs
    model = client.get_logged_model(output.model_id)
    assert model.name == "pain_post-xgboost"
    assert model.source_run_id == run.info.run_id
    assert model.params == run.data.params
    linked = {(m.key, m.step) for m in model.metrics}
    assert ("r2_mean", 0) in linked and ("r2_fold", 0) in linked
    assert ("r2_fold", 1) not in linked
    assert {m.key for m in model.metrics} == set(run.data.metrics)


def test_champions_registered_with_alias(tracked):
    project, _, info, client = tracked
    cv = json.loads((project.root / "reports/metrics/cv.json").read_text())
    for target in ("pain_post", "responder"):
        version = client.get_model_version_by_alias(f"lbp-outcomes.small.{target}", "champion")
        champion_run = info["runs"][target][cv[target]["champion"]]
        assert version.run_id == champion_run
        assert str(version.version) == info["registered"][target]


def test_champion_model_loads_and_predicts_offline(tracked, monkeypatch):
    import mlflow
    import pandas as pd

    project, frame, info, _ = tracked
    mlflow.set_tracking_uri(info["tracking_uri"])
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    model = mlflow.sklearn.load_model("models:/lbp-outcomes.small.pain_post@champion")
    features = pd.read_parquet(project.root / "data/features/development.parquet")
    pred = model.predict(features[["age", "bmi", "sex", "grade"]])
    assert pred.shape == (len(features),)


def test_no_patient_identifier_reaches_mlflow(tracked):
    project, frame, info, client = tracked
    ids = set(frame["pid"])
    runs = client.search_runs([info["experiment_id"]])
    for run in runs:
        text = json.dumps([run.data.params, run.data.tags, run.data.metrics])
        assert not any(pid in text for pid in ids)
    artifacts = project.root / "mlruns/artifacts"
    for path in artifacts.rglob("*"):
        if path.is_file() and path.suffix in {".csv", ".json", ".txt", ".yaml", ".md", ""}:
            content = path.read_text(errors="ignore")
            leaked = [pid for pid in ids if pid in content]
            assert not leaked, f"{path} contains patient ids {leaked[:3]}"


@pytest.mark.parametrize(
    "args,host,warned",
    [([], "127.0.0.1", False), (["--host", "0.0.0.0"], "0.0.0.0", True)],
    ids=["default loopback", "asked for all interfaces"],
)
def test_ui_binds_to_loopback_unless_asked(project, monkeypatch, capsys, args, host, warned):
    import lbp_outcomes.tracking.ui as ui

    calls = []
    monkeypatch.setattr(ui.subprocess, "call", lambda cmd, env: calls.append(cmd) or 0)
    write_params(project, pipeline_params(small_config(), tracking=True))
    assert main(["-C", str(project.root), "ui", *args]) == 0
    (cmd,) = calls
    assert cmd[cmd.index("--host") + 1] == host
    store = f"sqlite:///{project.root / 'mlruns/mlflow.db'}"
    assert cmd[cmd.index("--backend-store-uri") + 1].startswith(store)  # this project's only
    assert ("anyone who can reach it sees every run" in capsys.readouterr().out) is warned


def test_runs_of_dead_processes_are_closed_killed_and_live_ones_left(tracked):
    """A SIGKILLed stage leaves its run RUNNING (nothing inside it can close it): the next
    stage closes it KILLED, but never a run whose owner process is still alive."""
    import os
    import subprocess
    import sys

    import psutil

    from lbp_outcomes.tracking import OWNER_TAG, close_orphaned_runs, owner_tag

    _, _, info, client = tracked
    experiment = client.get_run(info["parent_run_id"]).info.experiment_id
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host, pid, started = owner_tag().split(":")
    assert pid == str(os.getpid())
    assert float(started) == pytest.approx(psutil.Process().create_time(), abs=0.01)
    orphan = client.create_run(
        experiment, run_name="killed", tags={OWNER_TAG: f"{host}:{dead.pid}:1.000"}
    )
    live = client.create_run(experiment, run_name="live", tags={OWNER_TAG: owner_tag()})
    other = client.create_run(
        experiment, run_name="elsewhere", tags={OWNER_TAG: "other-host:1:1.000"}
    )
    recycled = client.create_run(  # this very pid, but a process started at another time
        experiment, run_name="recycled", tags={OWNER_TAG: f"{host}:{os.getpid()}:1.000"}
    )
    try:
        closed = close_orphaned_runs(client, experiment)
        assert sorted(closed) == sorted([orphan.info.run_id, recycled.info.run_id])
        status = {
            r: client.get_run(r).info.status
            for r in (orphan.info.run_id, live.info.run_id, other.info.run_id, recycled.info.run_id)
        }
        assert status[orphan.info.run_id] == status[recycled.info.run_id] == "KILLED"
        assert status[live.info.run_id] == status[other.info.run_id] == "RUNNING"
    finally:
        for run in (live, other):
            client.set_terminated(run.info.run_id, status="FINISHED")
