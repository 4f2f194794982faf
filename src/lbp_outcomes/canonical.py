"""Byte-stable model files: the same fitted model gives the same bytes in every run.

DVC hashes every output, and a committed dvc.lock is only a reference a rerun can match if
each output is a pure function of the commit, config and data. Two obstacles in model files:

- pickle memoises objects by identity: two equal strings are written once (and referenced
  afterwards) if they are the same object, twice if they are not, and which one they are
  depends on the worker process's history (interning, caches). :func:`dump_pickle` pickles
  without the memo, so the bytes depend only on the values. The files still load with
  ``joblib.load`` / ``pickle.load``; shared sub-objects come back as equal copies, which
  fitted scikit-learn pipelines do not rely on.
- zip archives (skops files) stamp each member with the wall-clock time.
  :func:`canonical_zip` rewrites an archive with members in name order and a fixed date.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

PROTOCOL = 5
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip member can carry


def dumps_pickle(obj: Any) -> bytes:
    """``obj`` pickled without the identity memo (equal values, equal bytes).

    Raises ``ValueError``/``RecursionError`` for self-referencing objects, which cannot be
    pickled without the memo (fitted pipelines are trees).
    """
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=PROTOCOL)
    pickler.fast = True  # no memo: identical output for equal objects, whatever their ids
    pickler.dump(obj)
    return buffer.getvalue()


def dump_pickle(obj: Any, path: str | os.PathLike) -> None:
    Path(path).write_bytes(dumps_pickle(obj))


def canonical_zip(path: str | os.PathLike) -> None:
    """Rewrite the zip archive at ``path`` with sorted members and fixed timestamps."""
    path = Path(path)
    with zipfile.ZipFile(path) as src:
        members = sorted((info.filename, src.read(info)) for info in src.infolist())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as dst:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, data)
    path.write_bytes(buffer.getvalue())
