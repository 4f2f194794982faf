#!/usr/bin/env python3
"""Set-up and entry commands for lbp-outcomes (standard library only).

    python3.11 tasks.py pipeline   # create .venv, install the lock, run `dvc repro`
    python3.11 tasks.py test       # create .venv, install the lock, run the test suite
    python3.11 tasks.py bench      # create .venv, install the lock, run bench/run.py
    python3.11 tasks.py reproduce  # recompute everything; compare with the committed numbers
    python3.11 tasks.py setup      # only create/refresh .venv

The venv lives in .venv/ at the repository root. It is (re)installed when
requirements.lock changes: a stamp file in .venv records the hash of the lock it holds,
so a second call costs nothing. Extra arguments are passed through to `dvc repro` or
`pytest` or the benchmarks (e.g. `python3.11 tasks.py test -m e2e`,
`python3.11 tasks.py bench --only overhead`). `test` alone runs what CI runs: the unit and
integration tests and one end-to-end smoke run (README, "Tests", lists the other tiers).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))
from lbp_outcomes.devtools import tool_env  # noqa: E402  (standard library only, like this file)

VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".lock-sha256"
BIN = VENV / "bin"
NO_TESTS_COLLECTED = 5  # pytest's exit code when a selection (e.g. `-m slow`) matches nothing
# Bumped when setup() itself changes what a venv holds (2: byte-compiled libraries), so an
# older venv is brought up to date.
SETUP_VERSION = b"2"


def _lock_hash() -> str:
    digest = hashlib.sha256(LOCK.read_bytes())
    digest.update((ROOT / "pyproject.toml").read_bytes())
    digest.update(SETUP_VERSION)
    return digest.hexdigest()


def _run(*cmd: str | os.PathLike, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, env=env)


def setup() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"error: lbp-outcomes needs Python 3.11, this is {sys.version.split()[0]}")
    want = _lock_hash()
    if STAMP.exists() and STAMP.read_text().strip() == want:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    pip = [BIN / "python", "-m", "pip", "--disable-pip-version-check"]
    # The lock pins every dependency (and setuptools) exactly: no resolver run (--no-deps);
    # `pip check` then proves the lock complete and consistent.
    _run(*pip, "install", "--quiet", "--no-deps", "--no-compile", "-r", LOCK)
    _run(*pip, "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", ".")
    _run(*pip, "check")
    # Byte-compile the installed libraries once, on every core (about 18 s). Python would
    # cache what it imports, but not where PYTHONDONTWRITEBYTECODE is set (CI images and
    # containers often set it): then every stage process compiled pandas, scikit-learn and
    # MLflow from source again (measured: report 6.4 s -> 3.3 s, explain 11.9 s -> 8.1 s).
    # Not src/: bytecode there is the project's own business (.dvcignore ignores it).
    site = subprocess.run(
        [BIN / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    _run(BIN / "python", "-m", "compileall", "-q", "-j", "0", site)
    STAMP.write_text(want + "\n")


# Two pytest-xdist workers (one per core), a test file per worker at a time, so that module
# fixtures (a trained toy project) are built once. Files go out in collection order, which
# tests/conftest.py sorts longest first (xdist would otherwise put the files with the most
# tests first, and the two-test smoke run, the longest pole, last).
XDIST = ["-n", "2", "--dist", "loadfile", "--no-loadscope-reorder"]
CHROMIUM = Path("/usr/bin/chromium")


def needs_browser(args: list[str]) -> bool:
    """Whether a test selection may reach the browser test (tests/e2e/test_report_print.py):
    one naming the e2e tier (`-m e2e`, a path under tests/e2e) or all of tests/. CI's default
    selection (unit + integration + the smoke run) does not."""
    return any("e2e" in arg or arg.rstrip("/") in {"tests", "."} for arg in args)


def ensure_browser() -> None:
    """Debian's Chromium for the report's print check (tests/e2e/test_report_print.py)
    and the MLflow screenshots: Playwright's own browser download needs the internet. Installed
    with apt-get when missing and we are root; otherwise those tests skip and say why."""
    if CHROMIUM.exists() or os.geteuid() != 0 or not Path("/usr/bin/apt-get").exists():
        return
    quiet = {"DEBIAN_FRONTEND": "noninteractive"}
    _run("apt-get", "update", "-qq", env={**os.environ, **quiet})
    _run("apt-get", "install", "-y", "-qq", "chromium", env={**os.environ, **quiet})


def project_env() -> dict[str, str]:
    """Environment for project commands: the venv first on PATH, telemetry off."""
    return tool_env(BIN)


def _test(args: list[str], env: dict[str, str]) -> int:
    # `-n 0` runs in one process (see XDIST)
    parallel = [] if any(a == "-n" or a.startswith("-n") for a in args) else XDIST
    # the slowest tests, in every CI log: where the next minute of CI time is
    durations = [] if any(a.startswith("--durations") for a in args) else ["--durations=25"]
    cmd = [str(BIN / "python"), "-m", "pytest", *parallel, *durations, *args]
    print("+", " ".join(cmd), flush=True)
    code = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    if code == NO_TESTS_COLLECTED:
        print("no test matched this selection: nothing to run", flush=True)
        return 0
    return code


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"setup", "pipeline", "test", "bench", "reproduce"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    setup()
    env = project_env()
    try:
        if command == "pipeline":
            _run(BIN / "dvc", "repro", *rest, env=env)
        elif command == "test":
            if needs_browser(rest):
                ensure_browser()
            return _test(rest, env)
        elif command == "bench":
            _run(BIN / "python", ROOT / "bench" / "run.py", *rest, env=env)
        elif command == "reproduce":
            _run(BIN / "python", ROOT / "scripts" / "reproduce.py", *rest, env=env)
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
