"""Failures and interrupts under `dvc repro` keep the last good outputs, and no process of
a killed stage lives on.

Every stage's outputs are `persist: true` in dvc.yaml (DVC does not delete them before the
stage runs) and each stage swaps its outputs in whole only on success (atomic.Outputs).
These tests run the real pipeline through `dvc repro` in a copy of the repository, on a
tiny config, and break each stage in turn: a bad source file for cohort and clean, a crash
just before the outputs would be committed for every later stage, and SIGTERM, SIGINT and
SIGKILL during training with worker processes busy.

Faults are injected from outside the code under test: a ``sitecustomize`` module on
PYTHONPATH (Python imports it at start-up) patches the stage named in LBP_TEST_FAULT, and
only in the process DVC starts for that stage (DVC sets DVC_STAGE) and its workers.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from conftest import copy_repo, sh, tool_env

pytestmark = pytest.mark.e2e

SETTINGS = [
    "data=example_trial",
    "tuning=none",
    "model=linear",
    "cv.folds=3",
    "cv.repeats=1",
    "conformal.folds=3",
    "external.n_boot=20",
    "explain.max_rows=40",
    "explain.background_rows=20",
    "executor.n_jobs=2",
]
SOURCE = "data/examples/rehab_trial.csv"
STALE = "stale-from-an-older-run.txt"

SITECUSTOMIZE = """
import functools, os, time

_stage, _, _kind = os.environ.get("LBP_TEST_FAULT", "").partition(":")
if _stage and os.environ.get("DVC_STAGE") == _stage:
    if _kind == "crash":  # fail after all the work, just before the outputs are committed
        from lbp_outcomes import atomic

        _exit = atomic.Outputs.__exit__

        def __exit__(self, exc_type, exc, tb):
            if exc_type is None:
                err = RuntimeError("injected failure before committing the outputs")
                _exit(self, RuntimeError, err, None)
                raise err
            return _exit(self, exc_type, exc, tb)

        atomic.Outputs.__exit__ = __exit__
    elif _kind == "hang":  # every pool task blocks, so the stage waits with workers busy
        from lbp_outcomes import executor

        _call = executor._call

        @functools.wraps(_call)
        def _slow(*args):
            time.sleep(600)
            return _call(*args)

        executor._call = _slow
"""


def declared_outputs(root: Path) -> dict[str, list[str]]:
    """{stage: [output paths]} from dvc.yaml (outs and metrics)."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    found = {}
    for name, stage in stages.items():
        entries = [*stage.get("outs", []), *stage.get("metrics", [])]
        found[name] = [e if isinstance(e, str) else next(iter(e)) for e in entries]
    return found


def snapshot(root: Path, stages: list[str] | None = None) -> dict[str, str]:
    """md5 of every file under the outputs of ``stages`` (all stages by default)."""
    outs = declared_outputs(root)
    digests = {}
    for stage in stages or list(outs):
        for rel in outs[stage]:
            path = root / rel
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in files:
                digests[str(file.relative_to(root))] = hashlib.md5(file.read_bytes()).hexdigest()
    return digests


def env(fault: str = "", pythonpath: Path | None = None) -> dict[str, str]:
    out = tool_env()
    if fault:
        out["LBP_TEST_FAULT"] = fault
        out["PYTHONPATH"] = str(pythonpath)
    return out


def dvc(root: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def up_to_date(root: Path) -> tuple[bool, str]:
    """Whether `dvc status` finds every stage up to date (and what it said)."""
    done = sh(root, "dvc", "status")
    return "up to date" in done.stdout, done.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A repository copy after one `dvc repro` on the tiny config; before it, every output
    folder held a file from "an older run", which persist: true would keep if a stage did
    not replace its outputs whole."""
    base = tmp_path_factory.mktemp("faults")
    root = copy_repo(base / "repo")
    (base / "inject").mkdir()
    (base / "inject" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    for rels in declared_outputs(root).values():
        for rel in rels:
            if not Path(rel).suffix:  # a folder output
                (root / rel).mkdir(parents=True, exist_ok=True)
                (root / rel / STALE).write_text("an older run's file\n")
    sh(root, "lbp-outcomes", "compose", *SETTINGS)
    sh(root, "dvc", "repro")
    return root


def inject(root: Path) -> Path:
    return root.parent / "inject"


def test_persisted_outputs_are_replaced_whole_and_tracked(repo):
    assert not list(repo.rglob(STALE)), "a stage left an older run's file in its output"
    ok, status = up_to_date(repo)
    assert ok, status
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert lock["train"]["outs"], "dvc.lock records the persisted outputs"
    assert all("md5" in out for stage in lock.values() for out in stage["outs"])


def test_bad_file_for_cohort_keeps_every_output(repo):
    before = snapshot(repo)
    source = repo / SOURCE
    good = source.read_bytes()
    try:
        lines = good.decode().splitlines()
        header = lines[0].split(";")
        keep = [i for i, name in enumerate(header) if name != "Age"]
        source.write_text(
            "\n".join(";".join(line.split(";")[i] for i in keep) for line in lines) + "\n"
        )
        done = dvc(repo, "repro", env=env())
        assert done.returncode != 0
        assert "Age" in done.stdout + done.stderr
        assert snapshot(repo) == before
    finally:
        source.write_bytes(good)
    ok, status = up_to_date(repo)
    assert ok, status


def test_bad_file_for_clean_keeps_its_outputs_and_everything_after(repo):
    after_cohort = [s for s in declared_outputs(repo) if s != "cohort"]
    before = snapshot(repo, after_cohort)
    source = repo / SOURCE
    good = source.read_bytes()
    try:
        lines = good.decode().splitlines()
        fields = lines[1].split(";")
        fields[2] = "200"  # Age, declared range [18, 90]: cohort reads it, clean refuses it
        source.write_text("\n".join([lines[0], ";".join(fields), *lines[2:]]) + "\n")
        done = dvc(repo, "repro", env=env())
        assert done.returncode != 0
        assert "Age" in done.stdout + done.stderr
        assert snapshot(repo, after_cohort) == before
    finally:
        source.write_bytes(good)
    sh(repo, "dvc", "repro")  # cohort writes its old bytes again; nothing else reruns
    assert snapshot(repo, after_cohort) == before
    ok, status = up_to_date(repo)
    assert ok, status


@pytest.mark.parametrize("stage", ["train", "external", "explain", "report"])
def test_crash_before_commit_keeps_every_output(repo, stage):
    before = snapshot(repo)
    done = dvc(repo, "repro", "-f", "-s", stage, env=env(f"{stage}:crash", inject(repo)))
    assert done.returncode != 0
    assert "injected failure" in done.stdout + done.stderr
    assert snapshot(repo) == before
    ok, status = up_to_date(repo)
    assert ok, status


def _stage_process(caller: psutil.Process, stage: str, timeout: float = 120) -> psutil.Process:
    """The `lbp-outcomes <stage>` process under ``caller``, once it has pool workers."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for proc in caller.children(recursive=True):
            try:
                cmd = proc.cmdline()
                is_stage = any(c.endswith("lbp-outcomes") for c in cmd) and stage in cmd
                if is_stage and len(proc.children()) >= 2:  # loky workers, resource tracker
                    return proc
            except psutil.Error:
                continue
        time.sleep(0.2)
    raise AssertionError(f"the {stage} stage never started its workers")


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_interrupted_training_keeps_every_output_and_leaves_no_process(repo, how):
    """SIGTERM to `dvc repro` alone (it does not pass it on: the stage sees its launcher
    go), SIGINT to the whole process group (Ctrl-C in a terminal), SIGKILL to the stage
    itself (the OOM killer): the outputs stay as they were, every process the stage
    started is gone within a few seconds, and whoever waits on `dvc repro`'s output does
    not hang."""
    before = snapshot(repo)
    caller = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "-f", "-s", "train"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env("train:hang", inject(repo)),
        start_new_session=True,
        # SIGINT at its default, as in a terminal (CI may start tests with it ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        stage = _stage_process(psutil.Process(caller.pid), "train")
        started = [stage, *stage.children(recursive=True)]
        if how == "SIGTERM":
            caller.send_signal(signal.SIGTERM)
        elif how == "SIGINT":
            os.killpg(caller.pid, signal.SIGINT)
        else:
            stage.kill()
        caller.communicate(timeout=60)  # returns only once every holder of the pipe is gone
        gone, alive = psutil.wait_procs(started, timeout=10)
        assert not alive, f"still running after {how}: {[p.cmdline() for p in alive]}"
    finally:
        with_group = [p for p in psutil.process_iter() if _in_session(p, caller.pid)]
        for proc in with_group:
            proc.kill()
    assert snapshot(repo) == before
    ok, status = up_to_date(repo)
    assert ok, status


def _in_session(proc: psutil.Process, sid: int) -> bool:
    try:
        return os.getsid(proc.pid) == sid
    except OSError:
        return False
