"""Test tiers: tests/conftest.py marks each test with the folder it lives in, runs unit +
integration + the e2e smoke test by default, and slow tests only when -m names them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib

import pytest

from conftest import REPO, TESTS

TESTS_BY_TIER = {
    "unit/test_u.py": "def test_unit(): pass\n\n@pytest.mark.slow\ndef test_unit_full(): pass\n",
    "integration/test_i.py": "def test_stage(): pass\n",
    "e2e/test_e.py": "def test_dvc(): pass\n\n@pytest.mark.smoke\ndef test_smoke(): pass\n",
}


@pytest.fixture
def suite(tmp_path):
    """A project with this repository's test conftest and pytest settings, and one or two
    trivial tests per tier; ``suite(*args)`` lists the test names pytest selects."""
    settings = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]
    markers = "".join(f"\n    {m}" for m in settings["ini_options"]["markers"])
    (tmp_path / "pytest.ini").write_text(
        f"[pytest]\ntestpaths = tests\naddopts = {settings['ini_options']['addopts']}\n"
        f"markers ={markers}\n"
    )
    (tmp_path / "tests").mkdir()
    shutil.copy(TESTS / "conftest.py", tmp_path / "tests" / "conftest.py")
    for rel, body in TESTS_BY_TIER.items():
        (tmp_path / "tests" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tests" / rel).write_text(f"import pytest\n\n{body}")

    def selected(*args: str) -> set[str] | str:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
            + list(args),
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        if done.returncode not in (0, 5):  # 5: nothing selected
            return done.stdout + done.stderr
        return {line.split("::")[-1] for line in done.stdout.splitlines() if "::" in line}

    selected.root = tmp_path
    return selected


@pytest.mark.parametrize(
    "args,expected",
    [
        ([], {"test_unit", "test_stage", "test_smoke"}),  # what CI runs
        (["-m", "unit"], {"test_unit"}),
        (["-m", "integration"], {"test_stage"}),
        (["-m", "e2e"], {"test_dvc", "test_smoke"}),
        (["-m", "slow"], {"test_unit_full"}),
        (["-m", "e2e or slow"], {"test_dvc", "test_smoke", "test_unit_full"}),
        (["tests/e2e"], {"test_dvc", "test_smoke"}),  # a folder given: all of it but slow
        (["tests/unit/test_u.py::test_unit_full", "-m", "slow"], {"test_unit_full"}),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_selection_by_tier(suite, args, expected):
    assert suite(*args) == expected


def test_a_test_outside_the_tier_folders_is_an_error(suite):
    (suite.root / "tests" / "test_stray.py").write_text("def test_lost(): pass\n")
    out = suite()
    assert isinstance(out, str) and "tests/test_stray.py: a test lives in the folder" in out


def test_long_poles_are_collected_first_in_their_order(suite):
    """xdist hands files out in collection order (tasks.py: --no-loadscope-reorder): the
    longest files start first, the others follow in their usual order."""
    from conftest import LONG_POLES

    for rel in LONG_POLES:
        (suite.root / "tests" / rel).parent.mkdir(parents=True, exist_ok=True)
        (suite.root / "tests" / rel).write_text("def test_long(): pass\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        + ["-m", "unit or integration or e2e"],
        cwd=suite.root,
        capture_output=True,
        text=True,
    )
    files = [line.split("::")[0] for line in done.stdout.splitlines() if "::" in line]
    order = list(dict.fromkeys(f.removeprefix("tests/") for f in files))
    assert order[: len(LONG_POLES)] == list(LONG_POLES)
    assert order[len(LONG_POLES) :] == sorted(set(TESTS_BY_TIER) - set(LONG_POLES))


def test_only_a_selection_reaching_the_e2e_tier_installs_the_browser():
    import importlib.util

    spec = importlib.util.spec_from_file_location("tasks", REPO / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    assert not tasks.needs_browser([])  # CI: unit + integration + the smoke run
    assert not tasks.needs_browser(["-m", "unit"])
    assert not tasks.needs_browser(["tests/integration/test_report.py"])
    for args in (["-m", "e2e"], ["-m", "e2e or slow"], ["tests/e2e/test_report_print.py"]):
        assert tasks.needs_browser(args), args
    assert tasks.needs_browser(["tests/"])
