"""DVC's view of the source folders that stages depend on: code only, no bytecode."""

from __future__ import annotations

from conftest import REPO


def test_bytecode_caches_do_not_count_as_stage_dependencies():
    """With PYTHONDONTWRITEBYTECODE unset (every user's default), running the tests writes
    __pycache__/ next to src/; if DVC counted it, every stage would look changed."""
    from dvc.repo import Repo

    ignore = Repo(str(REPO)).dvcignore
    package = REPO / "src" / "lbp_outcomes"
    for folder in ("cohort", "expressions", "models", "tracking"):
        cached = package / folder / "__pycache__" / "__init__.cpython-311.pyc"
        assert ignore.is_ignored_file(str(cached)), cached
        assert not ignore.is_ignored_file(str(package / folder / "__init__.py")), folder
    assert ignore.is_ignored_file(str(package / "train.pyc"))
