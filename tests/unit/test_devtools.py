"""The environment tasks.py, the tests and the benchmarks launch commands in, and the
clone-like repository copy they run pipelines in (lbp_outcomes.devtools)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lbp_outcomes.devtools import TELEMETRY_OFF, copy_repo, tool_env


def test_tool_env_puts_the_venv_first_drops_dvc_state_and_turns_telemetry_off(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    base = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "DVC_STAGE": "train",  # left by a DVC run this command was started from
        "DVC_ROOT": "/elsewhere",
        "PYTHONHOME": "/opt/python",
        "MLFLOW_DISABLE_TELEMETRY": "false",
    }
    env = tool_env(venv / "bin", base=base)
    assert env["PATH"] == f"{venv / 'bin'}{os.pathsep}/usr/bin"
    assert env["VIRTUAL_ENV"] == str(venv) and env["HOME"] == "/home/me"
    assert not [k for k in env if k.startswith("DVC_") and k not in TELEMETRY_OFF]
    assert "PYTHONHOME" not in env
    assert {k: env[k] for k in TELEMETRY_OFF} == TELEMETRY_OFF  # not left to the caller
    assert not [k for k in env if k.startswith("GIT_")]  # a user's own commits keep their name
    assert "VIRTUAL_ENV" not in tool_env(tmp_path, base=base)  # not a virtual environment


def test_tool_env_with_a_committer_names_author_and_committer(tmp_path):
    env = tool_env(tmp_path, committer="lbp-outcomes tests", base={"PATH": ""})
    assert env["GIT_AUTHOR_NAME"] == env["GIT_COMMITTER_NAME"] == "lbp-outcomes tests"
    assert env["GIT_AUTHOR_EMAIL"] == env["GIT_COMMITTER_EMAIL"] == "tests@example.invalid"


def test_copy_repo_is_a_one_commit_clone_of_the_work_tree(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    env = tool_env(tmp_path, committer="someone else", base=dict(os.environ))

    def git(*args: str, cwd: Path = source) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    git("init", "-q", "-b", "main")
    (source / ".gitignore").write_text("out/\n")
    (source / "tracked.txt").write_text("committed\n")
    (source / "gone.txt").write_text("deleted after commit\n")
    git("add", "-A")
    git("commit", "-q", "-m", "first")
    git("commit", "-q", "--allow-empty", "-m", "second")
    (source / "tracked.txt").write_text("edited, not committed\n")
    (source / "gone.txt").unlink()
    (source / "new").mkdir()
    (source / "new" / "untracked.txt").write_text("not added yet\n")
    (source / "out").mkdir()
    (source / "out" / "ignored.txt").write_text("build output\n")

    dest = copy_repo(source, tmp_path / "copy", "lbp-outcomes tests", "the copy")
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if ".git" not in p.parts)
    assert files == [".gitignore", "new", "new/untracked.txt", "tracked.txt"]
    assert (dest / "tracked.txt").read_text() == "edited, not committed\n"
    assert git("log", "--format=%an|%s", cwd=dest).splitlines() == ["lbp-outcomes tests|the copy"]
    assert git("status", "--porcelain", cwd=dest) == ""  # everything copied is committed
