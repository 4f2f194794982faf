"""Atomic output writing: a stage's outputs appear complete or not at all.

Every file is written to a temporary sibling and renamed into place (``os.replace`` is
atomic on POSIX), so a stage killed at any moment never leaves a truncated file. A
:class:`Outputs` transaction goes further: it stages *all* of a stage's files and renames
them only after the stage's work has succeeded, so a failing stage leaves the previous
outputs (or none) and never a mix of half-written ones.

Staging names carry the writing process's id (``.<name>.<pid>.<random>``): a process
killed outright (SIGKILL, the OOM killer) cannot remove its staging files, so the next
writer of the same output removes those whose process no longer exists.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lbp_outcomes.lifecycle import alive, signals_deferred


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep(path)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def sweep(path: Path) -> None:
    """Remove staging files and folders of ``path`` left by processes that no longer exist."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*"):
        pid = stale.name[len(path.name) + 2 :].split(".", 1)[0]
        if not pid.isdigit() or alive(int(pid)):
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def to_json_text(obj: Any) -> str:
    """Stable JSON: sorted keys, 2-space indent, trailing newline (diff- and DVC-friendly)."""
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, to_json_text(obj))


class Outputs:
    """All-or-nothing set of output files and folders for one stage run.

    ``with Outputs() as out:`` then ``out.file(path)`` returns a staging path to write to;
    ``out.directory(path)`` a staging folder that replaces ``path`` as a whole (so files
    from an older run never linger). Nothing is moved into place unless the block
    finishes without an exception; staged files are removed either way.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []
        self._tmpdirs: list[Path] = []

    def __enter__(self) -> Outputs:
        return self

    def file(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep(path)
        tmpdir = Path(tempfile.mkdtemp(prefix=_prefix(path), dir=path.parent))
        self._tmpdirs.append(tmpdir)
        staged = tmpdir / path.name
        self._staged.append((staged, path))
        return staged

    def directory(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep(path)
        tmpdir = Path(tempfile.mkdtemp(prefix=_prefix(path), dir=path.parent))
        self._tmpdirs.append(tmpdir)
        staged = tmpdir / path.name
        staged.mkdir()
        self._staged.append((staged, path))
        return staged

    def write_json(self, path: str | os.PathLike, obj: Any) -> None:
        self.file(path).write_text(to_json_text(obj), encoding="utf-8")

    def write_text(self, path: str | os.PathLike, text: str) -> None:
        self.file(path).write_text(text, encoding="utf-8")

    def write_with(self, path: str | os.PathLike, writer: Callable[[Path], None]) -> None:
        writer(self.file(path))

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            for tmpdir in self._tmpdirs:
                shutil.rmtree(tmpdir, ignore_errors=True)

    def _commit(self) -> None:
        """Rename every staged output into place; Ctrl-C or SIGTERM arriving meanwhile
        takes effect only once all of them are in place (never some new, some old)."""
        with signals_deferred():
            for staged, final in self._staged:
                if not staged.exists():
                    continue
                if staged.is_dir():
                    _replace_dir(staged, final)
                else:
                    os.replace(staged, final)


def _replace_dir(new: Path, final: Path) -> None:
    """Swap a finished folder into place: two renames, the old copy removed afterwards."""
    old = None
    if final.exists() or final.is_symlink():
        old = final.with_name(f"{_prefix(final)}old")
        if final.is_dir() and not final.is_symlink():
            os.replace(final, old)
        else:
            final.unlink()
            old = None
    os.replace(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
