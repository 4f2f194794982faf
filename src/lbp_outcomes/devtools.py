"""The environment project commands run in, and throw-away copies of the repository.

Shared by tasks.py, the tests and the benchmarks, so the three launch `dvc`, `git` and
`lbp-outcomes` the same way. Standard library only: tasks.py imports this file with the
system Python before the virtual environment exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

# Nothing leaves the machine: MLflow's and DVC's usage reports off, and the common opt-out.
TELEMETRY_OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "true",
}


def tool_env(
    bin_dir: Path, committer: str | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment for `dvc`, `git` and `lbp-outcomes` subprocesses.

    ``bin_dir`` (a virtual environment's bin folder) comes first on PATH: DVC runs stages
    as `lbp-outcomes ...` through the shell. DVC_* variables of ``base`` (default: this
    process's environment) are dropped, so a command started from inside a DVC stage does
    not take itself for that stage; telemetry is off; output is unbuffered. With
    ``committer``, git commits (DVC commits experiments) carry that fixed name, so they
    work on machines without a git identity.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items() if k[:4] != "DVC_"}
    env.pop("PYTHONHOME", None)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    if (bin_dir.parent / "pyvenv.cfg").is_file():
        env["VIRTUAL_ENV"] = str(bin_dir.parent)
    env.update(TELEMETRY_OFF, PYTHONUNBUFFERED="1")
    if committer:
        env.update(git_identity(committer))
    return env


def git_identity(committer: str) -> dict[str, str]:
    """GIT_* variables naming ``committer`` as author and committer of new commits."""
    email = f"{committer.split()[-1]}@example.invalid"
    return {
        f"GIT_{role}_{key}": value
        for role in ("AUTHOR", "COMMITTER")
        for key, value in (("NAME", committer), ("EMAIL", email))
    }


def copy_repo(source: Path, dest: Path, committer: str, message: str) -> Path:
    """A clone-like copy of the git work tree ``source`` at ``dest`` (its tracked files and
    its untracked but not ignored ones, committed or not) with a history of one commit by
    ``committer``: what a user has after `git clone`, including work not committed yet."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for rel in filter(None, (p.decode() for p in listed)):
        if (source / rel).is_file():  # listed but deleted in the work tree: not copied
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, dest / rel)
    env = {**os.environ, **git_identity(committer)}
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", *cmd], cwd=dest, env=env, check=True)
    return dest
