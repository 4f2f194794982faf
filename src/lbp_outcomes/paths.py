"""Where each stage reads and writes, relative to the project root (mirrors dvc.yaml)."""

from __future__ import annotations

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
