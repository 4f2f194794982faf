"""Byte-stable model files: the same fitted model gives the same bytes in every run.

DVC hashes every output, and a committed dvc.lock is only a reference a rerun can match if
each output is a pure function of the commit, config and data. Two obstacles in model files:

- pickle memoises objects by identity: two equal strings are written once (and referenced
  afterwards) if they are the same object, twice if they are not, and which one they are
  depends on the worker process's history (interning, caches). :func:`dump_pickle` pickles
  without the memo, so the bytes depend only on the values. The files still load with
  ``joblib.load`` / ``pickle.load``; shared sub-objects come back as equal copies, which
  fitted scikit-learn pipelines do not rely on.
- structured numpy arrays (a tree's nodes) have padding bytes between fields that numpy
  leaves uninitialised: :func:`zero_padding` copies such arrays field by field into zeroed
  memory before they are written, in pickles and in skops files alike.
- CatBoost stamps every fit with a random GUID and the time (model metadata):
  :func:`dumps_pickle` blanks them on the way, and :func:`scrub` before a skops dump.
- skops files are zip archives stamped with the wall-clock time, whose schema names every
  object by its ``id()`` (``"__id__"``, and ``"<id>.npy"`` for arrays; boosters get a random
  ``"<uuid>.bin"``). :func:`canonical_skops` renumbers the ids and file names in order of
  first appearance in the schema (a bijection, so shared
  references still resolve), renames the array members to match, and writes the members
  in name order with a fixed date (:func:`canonical_zip`).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

PROTOCOL = 5
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip member can carry


def zero_padding(array: np.ndarray) -> np.ndarray:
    """A structured array with its padding bytes zeroed (others are returned as they are)."""
    if array.dtype.names is None:
        return array
    clean = np.zeros(array.shape, dtype=array.dtype)
    for name in array.dtype.names:
        clean[name] = array[name]
    return clean


# CatBoost stamps each fit with a random GUID and the clock in the model's metadata.
CATBOOST_VOLATILE = ("model_guid", "train_finish_time")


def _scrub_catboost(obj: Any) -> None:
    """Blank the volatile metadata of a fitted CatBoost model in place (predictions are
    unaffected: the metadata is informational)."""
    module = type(obj).__module__
    if module.startswith("catboost") and hasattr(obj, "is_fitted") and obj.is_fitted():
        meta = obj.get_metadata()
        for key in CATBOOST_VOLATILE:
            if key in meta:
                meta[key] = ""


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray) and obj.dtype.names is not None:
            return zero_padding(obj).__reduce_ex__(PROTOCOL)
        _scrub_catboost(obj)
        return NotImplemented


def scrub(obj: Any) -> Any:
    """``obj`` with the volatile parts of the models inside it blanked in place (CatBoost's
    GUID and fit time), before it is written some other way (skops); returns ``obj``."""
    dumps_pickle(obj)  # the pickler visits every object once
    return obj


def dumps_pickle(obj: Any) -> bytes:
    """``obj`` pickled without the identity memo (equal values, equal bytes).

    Raises ``ValueError``/``RecursionError`` for self-referencing objects, which cannot be
    pickled without the memo (fitted pipelines are trees).
    """
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, protocol=PROTOCOL)
    pickler.fast = True  # no memo: identical output for equal objects, whatever their ids
    pickler.dump(obj)
    return buffer.getvalue()


def dump_pickle(obj: Any, path: str | os.PathLike) -> None:
    Path(path).write_bytes(dumps_pickle(obj))


def canonical_skops(path: str | os.PathLike) -> None:
    """Rewrite the skops file at ``path`` so equal objects give equal bytes."""
    path = Path(path)
    with zipfile.ZipFile(path) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    ids: dict[str, str] = {}  # old id -> new id, in order of first appearance

    def new_id(old: Any) -> str:
        return ids.setdefault(str(old), str(len(ids) + 1))

    def renumber(node: Any) -> Any:
        if isinstance(node, list):
            return [renumber(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: renumber(v) for k, v in node.items()}
        if "__id__" in out:
            out["__id__"] = int(new_id(out["__id__"]))
        name = out.get("file")
        if isinstance(name, str):  # "<id>.npy", or "<uuid>.bin" (an XGBoost booster)
            stem, dot, ext = name.partition(".")
            out["file"] = f"{new_id(stem)}{dot}{ext}"
        return out

    schema = renumber(json.loads(members.pop("schema.json")))
    files = {"schema.json": json.dumps(schema, indent=2).encode()}
    for name, data in members.items():
        stem, dot, ext = name.partition(".")
        if stem not in ids:
            raise ValueError(f"{path}: archive member {name!r} is not named in its schema")
        files[f"{ids[stem]}{dot}{ext}"] = _clean_npy(data) if ext == "npy" else data
    write_zip(path, files)


def _clean_npy(data: bytes) -> bytes:
    """An .npy member with a structured array's padding zeroed; other arrays untouched."""
    array = np.load(io.BytesIO(data), allow_pickle=False)
    if array.dtype.names is None:
        return data
    out = io.BytesIO()
    np.save(out, zero_padding(array), allow_pickle=False)
    return out.getvalue()


def canonical_zip(path: str | os.PathLike) -> None:
    """Rewrite the zip archive at ``path`` with sorted members and fixed timestamps."""
    path = Path(path)
    with zipfile.ZipFile(path) as src:
        write_zip(path, {info.filename: src.read(info) for info in src.infolist()})


def write_zip(path: Path, files: dict[str, bytes]) -> None:
    """``files`` ({member name: bytes}) as a zip at ``path``: name order, fixed dates."""
    members = sorted(files.items())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as dst:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, data)
    path.write_bytes(buffer.getvalue())
