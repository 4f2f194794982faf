"""Where each stage reads and writes, relative to the project root (mirrors dvc.yaml)."""

from __future__ import annotations

import re
from pathlib import Path

RAW = Path("data/raw")
CLEAN = Path("data/clean")
FEATURES = Path("data/features")
REPORTS = Path("reports")
METRICS = REPORTS / "metrics"
PLOTS = REPORTS / "plots"
MODELS = Path("models")

MANIFEST = "manifest.json"


def cohort_file(folder: Path, cohort: str) -> Path:
    """``<folder>/<cohort>.parquet`` for cohort in ("development", "external")."""
    return folder / f"{cohort}.parquet"


def slug(name: str) -> str:
    """A column name as a file name: ``ODI.12wk (%)`` -> ``ODI.12wk_%_`` is still awkward in
    links, so anything outside letters, digits, ``_ . -`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)
