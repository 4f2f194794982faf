"""Faults inside one stage process: a failing stage closes its MLflow runs as FAILED and
writes nothing; staging files of a killed writer are cleaned up by the next one. (The
faults that need real processes, signals and `dvc` are in tests/e2e/test_faults.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import fault_project, store_runs
from lbp_outcomes.cli import main

# What these tests check does not depend on the model: one family, no tuning.
LIGHT = ["cv.folds=3", "cv.repeats=1", "tuning=none", "model=linear"]


def prepared(root):
    return fault_project(root, LIGHT, n_jobs=1)


runs = store_runs


def test_failing_stage_marks_its_run_failed_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import lbp_outcomes.train as train

    project = prepared(tmp_path / "failing")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full while drawing")

    monkeypatch.setattr(train, "_draw", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        main(["-C", str(project.root), "train"])
    assert {r.info.status for r in runs(project)} == {"FAILED"}
    assert not project.exists("models") and not project.exists("reports/metrics/cv.json")


def test_later_stage_failure_leaves_the_parent_finished_but_marks_the_stage(tmp_path, monkeypatch):
    """The report stage resumes the parent run (it logs every later stage's outputs): when
    it fails, it marks the run FAILED, so the UI shows that this pipeline execution did not
    complete. A failing external stage touches no run (it computes without MLflow) and
    writes nothing."""
    import lbp_outcomes.external as external
    import lbp_outcomes.report as report

    project = prepared(tmp_path / "later")
    for stage in ("train", "explain", "effects"):
        assert main(["-C", str(project.root), stage]) == 0

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(external, "validate", broken)
    # no external cohort in this config: validate is not reached, so force one
    monkeypatch.setattr(
        external.paths, "cohort_file", lambda folder, cohort: folder / "development.parquet"
    )
    with pytest.raises(RuntimeError, match="boom"):
        main(["-C", str(project.root), "external"])
    assert not project.exists("reports/metrics/external.json")
    parent = json.loads((project.root / "reports/tracking.json").read_text())["parent_run_id"]
    assert {r.info.run_id: r.info.status for r in runs(project)}[parent] == "FINISHED"

    monkeypatch.undo()
    assert main(["-C", str(project.root), "external"]) == 0
    monkeypatch.setattr(report, "log_outputs", broken)
    with pytest.raises(RuntimeError, match="boom"):
        main(["-C", str(project.root), "report"])
    status = {r.info.run_id: r.info.status for r in runs(project)}
    assert status[parent] == "FAILED"
    assert all(s in {"FINISHED", "FAILED"} for s in status.values())
    assert not project.exists("reports/report.html")


def test_staging_files_of_a_killed_writer_are_removed_by_the_next(tmp_path):
    """SIGKILL leaves a writer's staging folder behind (no handler runs); the next writer
    of that output removes it, but never one of a process that is still running."""
    from lbp_outcomes.atomic import Outputs, write_json

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    final = tmp_path / "reports" / "cv.json"
    final.parent.mkdir()
    stale = final.parent / f".cv.json.{dead.pid}.abc123"
    stale.mkdir()
    (stale / "cv.json").write_text('{"half": ')
    live = final.parent / f".cv.json.{os.getppid()}.def456"  # pytest's parent: alive
    live.mkdir()
    write_json(final, {"ok": 1})
    assert not stale.exists() and live.exists()
    stale.mkdir()
    with Outputs() as out:
        out.write_json(final, {"ok": 2})
    assert not stale.exists() and live.exists()
    assert json.loads(final.read_text()) == {"ok": 2}
    assert sorted(p.name for p in final.parent.iterdir()) == sorted(["cv.json", live.name])
