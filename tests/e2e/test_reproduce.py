"""A reviewer reproduces a result months later: clone, pull, repro, metrics diff.

Both start from an example run committed in a repository copy (the session fixture
``example_run``): the default DVC remote (a folder beside the repository, .dvc/config)
round-trips its data and models, and a fresh clone that reruns the pipeline, even when the
run is interrupted midway, ends with every output identical to the original.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import sh, tool_env

EXAMPLE = "example_trial"  # the smallest complete example: 100 patients, every stage
# Outputs that name the MLflow run (ids differ between runs by design), and the pickled
# models (equal models, but pickle shares equal strings by object identity, which depends
# on the worker processes' history): compared apart.
CV_JSON = "reports/metrics/cv.json"


def without_timing(path: Path) -> dict:
    """cv.json minus ``<target>.selected.seconds`` (wall time of the CV, for bench/): the
    one value in it that differs between identical runs."""
    cv = json.loads(path.read_text())
    for entry in cv.values():
        entry.get("selected", {}).pop("seconds", None)
    return cv


RUN_SPECIFIC = {"reports/tracking.json", "reports/report.html", "reports/report.md"}
PICKLED = {"models"}


def clone(source: Path, dest: Path) -> Path:
    sh(dest.parent, "git", "clone", "-q", str(source), str(dest))
    return dest


def outs(root: Path) -> dict[str, str]:
    """{output path: md5} of every stage output recorded in dvc.lock."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
    }


def metrics_diff(root: Path, *revs: str) -> dict:
    return json.loads(sh(root, "dvc", "metrics", "diff", "--json", *revs).stdout or "{}")


def test_default_remote_round_trips_data_and_models(example_run, tmp_path):
    """`dvc push` to the default remote, then in a new clone of the tagged commit
    `dvc pull` restores every output byte for byte and nothing needs rerunning."""
    run = example_run(EXAMPLE)
    sh(run.root, "git", "tag", "-f", "result-v1")
    sh(run.root, "dvc", "push")
    storage = run.root.parent / "lbp-outcomes-dvc-storage"  # ../../ from .dvc/config
    assert any(p.is_file() for p in storage.rglob("*")), "nothing pushed to the default remote"

    reviewer = clone(run.root, run.root.parent / "reviewer")
    sh(reviewer, "git", "checkout", "-q", "result-v1")
    assert not (reviewer / "models").exists()
    sh(reviewer, "dvc", "pull")
    files = [
        p.relative_to(run.root)
        for folder in ("data/raw", "data/clean", "data/features", "models", "reports/cv")
        for p in (run.root / folder).rglob("*")
        if p.is_file()
    ]
    assert len(files) > 10
    for rel in files:
        assert (reviewer / rel).read_bytes() == (run.root / rel).read_bytes(), rel
    assert "up to date" in sh(reviewer, "dvc", "status").stdout
    repro = sh(reviewer, "dvc", "repro")
    assert "Running stage" not in repro.stdout, repro.stdout
    assert metrics_diff(reviewer) == {}


def assert_same_models(first: Path, second: Path) -> None:
    """The same manifest, and every fitted model predicts exactly the same numbers."""
    import joblib
    import numpy as np
    import pandas as pd

    manifest = (first / "models/manifest.json").read_text()
    assert (second / "models/manifest.json").read_text() == manifest
    X = pd.read_parquet(first / "data/features/development.parquet")[
        json.loads(manifest)["features"]
    ]
    files = sorted(p.relative_to(first) for p in (first / "models").rglob("*.joblib"))
    assert files == sorted(p.relative_to(second) for p in (second / "models").rglob("*.joblib"))
    for rel in files:
        a, b = joblib.load(first / rel), joblib.load(second / rel)
        predict = "predict_proba" if hasattr(a, "predict_proba") else "predict"
        assert np.array_equal(getattr(a, predict)(X), getattr(b, predict)(X)), rel


def _running_runs(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("select count(*) from runs where status = 'RUNNING'").fetchone()[0]
    except sqlite3.Error:  # tables not created yet
        return 0


def _statuses(db: Path) -> set[str]:
    with sqlite3.connect(db) as con:
        return {row[0] for row in con.execute("select status from runs")}


def _as_terminal_job() -> None:
    """SIGINT at its default, as for a foreground job in a terminal (a job started in the
    background of a non-interactive shell, e.g. by CI, inherits SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


INTERRUPTIONS = {
    # SIGTERM to `dvc repro` alone (a service manager, `kill <pid>`): DVC does not pass it
    # on, so the stage notices its parent is gone and stops itself.
    "sigterm-to-dvc": (signal.SIGTERM, False),
    # Ctrl-C in a terminal: SIGINT to the whole foreground process group.
    "ctrl-c": (signal.SIGINT, True),
    # SIGKILL to everything (the OOM killer): no handler runs; outputs must still never
    # be half-written, and the rerun must recover. (The MLflow run stays RUNNING: nothing
    # can close it from inside a SIGKILLed process.)
    "sigkill": (signal.SIGKILL, True),
}


@pytest.mark.parametrize(
    "how",
    [
        "sigterm-to-dvc",
        pytest.param("ctrl-c", marks=pytest.mark.slow),
        pytest.param("sigkill", marks=pytest.mark.slow),
    ],
)
def test_interrupted_repro_in_a_fresh_clone_reruns_to_identical_results(example_run, tmp_path, how):
    run = example_run(EXAMPLE)
    reviewer = clone(run.root, tmp_path / "clone")
    db = reviewer / "mlruns/mlflow.db"
    sig, group = INTERRUPTIONS[how]
    with (tmp_path / "interrupted.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dvc", "repro"],
            cwd=reviewer,
            # no SHELL: DVC runs stages through /bin/sh, which on Debian (dash) stays between
            # DVC and the stage instead of exec-ing it, as on CI machines
            env={k: v for k, v in tool_env().items() if k != "SHELL"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal job
            preexec_fn=_as_terminal_job,
        )
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and not _running_runs(db):
            time.sleep(0.2)
        assert _running_runs(db), "training never started"
        time.sleep(2.0)  # inside cross-validation
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        proc.wait(timeout=120)
    assert proc.returncode != 0
    # the stage has stopped too (no orphan still writing), and nothing is half-written
    deadline = time.time() + 60
    while time.time() < deadline and sig != signal.SIGKILL and _running_runs(db):
        time.sleep(0.5)
    if sig != signal.SIGKILL:
        assert _statuses(db) == {"KILLED"}, (tmp_path / "interrupted.log").read_text()[-3000:]
    for rel in ("models", "reports/cv"):
        assert not (reviewer / rel).exists(), f"{rel} written by an interrupted training"
    # cv.json is committed with the results (cache: false): as committed, or absent
    changed = sh(reviewer, "git", "status", "--porcelain", "reports/metrics/cv.json").stdout
    assert not changed, f"reports/metrics/cv.json written by an interrupted training: {changed}"

    sh(reviewer, "dvc", "repro")
    assert "up to date" in sh(reviewer, "dvc", "status").stdout
    assert metrics_diff(reviewer) == {}  # against the committed original results
    original, rerun = outs(run.root), outs(reviewer)
    assert rerun.keys() == original.keys()
    apart = RUN_SPECIFIC | PICKLED | {CV_JSON}  # cv.json: compared below, minus its timing
    differ = [p for p in original if p not in apart and original[p] != rerun[p]]
    assert differ == [], f"outputs differ from the uninterrupted run: {differ}"
    assert_same_models(run.root, reviewer)
    assert without_timing(reviewer / CV_JSON) == without_timing(run.root / CV_JSON)
    rel = "reports/metrics/external.json"
    assert (reviewer / rel).read_bytes() == (run.root / rel).read_bytes(), rel
    # after SIGKILL too: the rerun closed the dead process's runs as KILLED
    assert "RUNNING" not in _statuses(db)
    # no staging files left behind (atomic.py names them .<output>.<pid>.<random>)
    staged = re.compile(r"^\..+\.\d+\.")
    leftovers = [
        p
        for p in reviewer.rglob(".*")
        if staged.match(p.name) and not {".git", ".dvc"} & set(p.parts)
    ]
    assert leftovers == []
