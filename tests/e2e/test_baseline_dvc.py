"""A committed baseline a reviewer can check, through DVC: the reproduce command recomputes
the committed results exactly, and stages rerun only for the params they read."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, sh, tool_env

EXAMPLE = "example_trial"  # the smallest complete example: 100 patients, every stage


# -- e2e: a committed run, recomputed ---------------------------------------------------------------
@pytest.mark.e2e
def test_reproduce_command_recomputes_the_committed_results_exactly(example_run, tmp_path):
    """In a fresh clone of a committed run, `tasks.py reproduce`'s script reruns every stage
    (`dvc repro -f`), finds every headline number equal, and git status stays clean: every
    output, models included, is byte-stable, and nothing run-specific is in git."""
    run = example_run(EXAMPLE)
    lock = yaml.safe_load((run.root / "dvc.lock").read_text())
    assert "summary" in lock["stages"]
    reviewer = tmp_path / "reviewer"
    sh(tmp_path, "git", "clone", "-q", str(run.root), str(reviewer))
    done = subprocess.run(
        [sys.executable, "scripts/reproduce.py"],
        cwd=reviewer,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "reproduced exactly; git status is clean" in done.stdout
    assert "DIFFERS" not in done.stdout
    assert sh(reviewer, "git", "status", "--porcelain").stdout == ""
    diff = sh(reviewer, "dvc", "metrics", "diff", "--json").stdout
    assert json.loads(diff or "{}") == {}
    assert (reviewer / "dvc.lock").read_text() == (run.root / "dvc.lock").read_text()


def _changed_stages(root: Path) -> set[str]:
    status = json.loads(sh(root, "dvc", "status", "--json").stdout or "{}")
    return {stage.split(":")[-1] for stage in status}


@pytest.mark.e2e
def test_stages_rerun_only_for_the_params_they_read(example_run, tmp_path):
    """A relabel (the data config's `display:`, `prediction`, `description`, a family's name in
    `display.families`) reruns only the report; published reference values are read by explain and report only; where MLflow logs
    (`tracking`) and where CV runs (`executor`) change no stage at all."""
    run = example_run(EXAMPLE)
    work = tmp_path / "work"
    shutil.copytree(run.root, work, symlinks=True, ignore=shutil.ignore_patterns("mlruns"))
    assert _changed_stages(work) == set()
    params_file = work / "params.yaml"
    original = yaml.safe_load(params_file.read_text())

    def edit(change) -> set[str]:
        params = json.loads(json.dumps(original))
        change(params)
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        return _changed_stages(work)

    def reference(p):
        p["reference"] = yaml.safe_load((REPO / "conf/reference/let_2026.yaml").read_text())

    def relabel(p):
        target = next(iter(p["data"]["targets"]))
        p["data"]["display"][target] = {"label": "Another label", "unit": "another unit"}
        p["data"]["prediction"] = {"outcomes": "other outcomes"}
        p["data"]["description"] = "another description"
        p["display"]["families"]["linear"] = "Another family name"

    def retarget(p):
        target = next(iter(p["data"]["targets"]))
        p["data"]["targets"][target]["on_out_of_range"] = "drop"

    # display text (labels, units, wording) is the report's alone; modelling keys are not
    assert edit(relabel) == {"report"}
    assert {"clean", "train", "external", "explain", "report"} <= edit(retarget)
    assert edit(reference) == {"explain", "report"}
    assert edit(lambda p: p["tracking"].update(experiment="elsewhere")) == set()
    assert edit(lambda p: p["executor"].update(n_jobs=7)) == set()
    assert edit(lambda p: p["report"].update(title="Another title")) == {"report"}
