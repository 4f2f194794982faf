"""Faults: interrupted and failing stages close their MLflow runs and write nothing;
the rerun gives the same results as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from conftest import Project, pipeline_params, small_config, toy_cohort, write_params
from conftest import fault_project as prepared
from conftest import store_runs as runs
from lbp_outcomes.cli import main


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
        # SIGINT at its default, as in a terminal (CI may start tests with it ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
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


def test_stage_stops_when_its_launcher_dies_behind_a_shell(tmp_path):
    """`dvc repro` SIGKILLed or SIGTERMed (it does not pass signals on) while a stage runs
    through `sh -c`: the shell stays alive as the stage's parent, yet the stage sees that
    the launcher above it is gone, stops, closes its runs KILLED and writes nothing."""
    import shlex

    project = prepared(tmp_path / "orphan")
    stage = shlex.join([sys.executable, "-m", "lbp_outcomes", "-C", str(project.root), "train"])
    launcher = subprocess.Popen(
        # "; true" keeps any shell (bash too) in between, as dash always does
        [
            sys.executable,
            "-c",
            "import subprocess, sys; subprocess.run(sys.argv[1:])",
            "/bin/sh",
            "-c",
            f"{stage}; true",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "DVC_STAGE": "train"},  # as DVC starts stages
    )
    deadline = time.time() + 60
    while time.time() < deadline and not any(r.info.status == "RUNNING" for r in runs(project)):
        time.sleep(0.2)
    assert any(r.info.status == "RUNNING" for r in runs(project)), "the parent run never started"
    launcher.kill()
    launcher.wait(timeout=10)
    deadline = time.time() + 60
    while time.time() < deadline and any(r.info.status == "RUNNING" for r in runs(project)):
        time.sleep(0.5)
    assert {r.info.status for r in runs(project)} == {"KILLED"}
    for output in ("models", "reports/metrics/cv.json", "reports/tracking.json"):
        assert not project.exists(output), f"{output} written by an orphaned stage"


def test_concurrent_trainings_share_one_sqlite_store(tmp_path):
    """Four trainings at once into a store none of them has created, laid out as
    `dvc queue start -j 4` runs experiments (each in its own copy under .dvc/tmp/exps/,
    the MLflow store in the real project root): no lock errors, every run FINISHED, one
    registry version per run."""
    import shutil

    from conftest import tool_env

    project = Project(tmp_path / "proj")
    project.root.joinpath("data/source").mkdir(parents=True)
    toy_cohort(n=80, seed=4).to_csv(project.root / "data/source/small.csv", index=False)
    fast = ["cv.folds=3", "cv.repeats=1", "tuning=none", "model=linear", "conformal.folds=2"]
    params = pipeline_params(small_config(), fast, tracking=True)
    write_params(project, params)
    for stage in ("cohort", "clean", "features"):
        assert main(["-C", str(project.root), stage]) == 0
    copies = []
    for i in range(4):
        copy = project.root / ".dvc/tmp/exps" / f"run{i}"
        shutil.copytree(project.root, copy, ignore=shutil.ignore_patterns(".dvc"))
        (copy / "params.yaml").write_text(yaml.safe_dump({**params, "seed": 100 + i}))
        copies.append(copy)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "lbp_outcomes", "-C", str(copy), "train"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=tool_env(),
        )
        for copy in copies
    ]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert "locked" not in (out + err).lower(), err[-3000:]
    assert not project.exists("models"), "a run wrote into the real root, not its copy"

    import mlflow

    store = f"sqlite:///{project.root / 'mlruns/mlflow.db'}"
    client = mlflow.MlflowClient(store, registry_uri=store)  # not a global set elsewhere
    all_runs = runs(project)
    assert {r.info.status for r in all_runs} == {"FINISHED"}
    parents = [r for r in all_runs if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(r.data.tags["seed"] for r in parents) == ["100", "101", "102", "103"]
    assert len(all_runs) == 4 + 4 * 2  # a parent and 2 targets x 1 family per run
    for target in ("pain_post", "responder"):
        versions = client.search_model_versions(f"name = 'lbp-outcomes.small.{target}'")
        assert sorted(int(v.version) for v in versions) == [1, 2, 3, 4]


@pytest.mark.slow
def test_dvc_queue_runs_experiments_in_parallel_into_one_store(tmp_path):
    """`dvc exp run --queue` twice, then `dvc exp run --run-all -j 2`: both experiments run
    at once in temporary copies and land in the repository's one MLflow store."""
    from conftest import PIPELINE_FAST, copy_repo, sh

    root = copy_repo(tmp_path / "repo")
    sets = [a for o in ["data=example_trial", *PIPELINE_FAST] for a in ("-S", o)]
    try:
        sh(root, "dvc", "exp", "run", "--queue", *sets, "-S", "seed=1,2")
        done = sh(root, "dvc", "exp", "run", "--run-all", "-j", "2")
        assert "locked" not in (done.stdout + done.stderr).lower()
        status = sh(root, "dvc", "queue", "status").stdout
        assert status.count("Success") == 2, status
    finally:
        sh(root, "dvc", "queue", "stop", "--kill", check=False)
    import mlflow

    store = f"sqlite:///{root / 'mlruns/mlflow.db'}"
    client = mlflow.MlflowClient(store, registry_uri=store)
    experiment = client.get_experiment_by_name("lbp-outcomes/example_trial")
    found = client.search_runs([experiment.experiment_id])
    assert {r.info.status for r in found} == {"FINISHED"}
    parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(r.data.tags["seed"] for r in parents) == ["1", "2"]
    assert len({r.data.tags["dvc_experiment"] for r in parents}) == 2


@pytest.mark.slow
def test_sigkill_while_logging_keeps_the_old_outputs_and_the_rerun_cleans_up(tmp_path):
    """SIGKILL (no handler runs) after cross-validation, while the models are logged to
    MLflow and the new outputs are staged: the previous outputs stay byte for byte, and the
    next run removes the dead run's staging files and writes what an uninterrupted run
    writes."""
    import re

    from conftest import tool_env

    fast = ["cv.folds=3", "cv.repeats=1", "tuning=none", "model=linear", "conformal.folds=2"]
    outputs = ["reports/metrics/cv.json", "reports/cv/folds.csv", "models/manifest.json"]

    def setup(root, seed):
        project = Project(root)
        project.root.joinpath("data/source").mkdir(parents=True)
        toy_cohort(n=90, seed=8).to_csv(project.root / "data/source/small.csv", index=False)
        params = pipeline_params(small_config(), [*fast, f"seed={seed}"], tracking=True)
        write_params(project, params)
        for stage in ("cohort", "clean", "features"):
            assert main(["-C", str(project.root), stage]) == 0
        return project, params

    project, params = setup(tmp_path / "killed", seed=1)
    assert main(["-C", str(project.root), "train"]) == 0
    before = {rel: (project.root / rel).read_bytes() for rel in outputs}
    write_params(project, {**params, "seed": 2})  # train only: the same features
    first_runs = len(runs(project))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lbp_outcomes", "-C", str(project.root), "train"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=tool_env(),
    )
    deadline = time.time() + 300
    # the new parent run, then its first child: CV is done and the outputs are staged
    while time.time() < deadline and len(runs(project)) < first_runs + 2:
        time.sleep(0.1)
    proc.kill()
    proc.wait(timeout=60)
    assert len(runs(project)) >= first_runs + 2, "killed before logging started"
    for rel, content in before.items():
        assert (project.root / rel).read_bytes() == content, f"{rel} changed by a killed run"
    staged = re.compile(r"^\..+\.\d+\.")
    leftovers = [p for p in project.root.rglob(".*") if staged.match(p.name)]
    assert leftovers, "the killed run left no staging files: the scenario was not reached"

    assert main(["-C", str(project.root), "train"]) == 0
    assert not [p for p in project.root.rglob(".*") if staged.match(p.name)]
    assert "RUNNING" not in {r.info.status for r in runs(project)}  # the dead run's: KILLED
    clean, _ = setup(tmp_path / "uninterrupted", seed=2)
    assert main(["-C", str(clean.root), "train"]) == 0
    for rel in outputs:
        assert (project.root / rel).read_bytes() == (clean.root / rel).read_bytes(), rel
