"""Everything the report reads, loaded once; each input may be absent.

The report is the last stage and summarises what the others wrote. Any input can be
missing (a stage not run yet, a cohort with no external part, an older metrics format), so
every field here is optional and each section says in one line what it could not show.
Nothing in this module computes results: it only reads files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lbp_outcomes import paths
from lbp_outcomes.tracking import data_hashes

CLEANING = paths.REPORTS / "cleaning.json"
CV_METRICS = paths.METRICS / "cv.json"
CV_NOTES = paths.REPORTS / "cv" / "notes.json"
EXTERNAL_METRICS = paths.METRICS / "external.json"
SHAP_IMPORTANCE = paths.REPORTS / "shap" / "importance.json"
RAW_MANIFEST = paths.RAW / paths.MANIFEST


@dataclass
class Inputs:
    """The stage outputs the report is built from (None: file absent)."""

    root: Path
    raw_manifest: dict[str, Any] | None = None
    cleaning: dict[str, Any] | None = None
    cv: dict[str, Any] | None = None
    cv_notes: dict[str, Any] | None = None
    external: dict[str, Any] | None = None
    shap: dict[str, Any] | None = None
    # {"cv"|"external": {"calibration"|"decision"|"subgroups": ...}} (clinical.FILES)
    clinical: dict[str, dict[str, Any]] = field(default_factory=dict)
    development: pd.DataFrame | None = None
    external_frame: pd.DataFrame | None = None
    provenance: dict[str, str] = field(default_factory=dict)
    read: list[str] = field(default_factory=list)  # the files used, for the report's footer

    # -- conveniences ------------------------------------------------------------------------
    @property
    def synthetic(self) -> dict[str, Any] | None:
        """The generator's settings (synthetic cohorts only)."""
        return (self.raw_manifest or {}).get("synthetic")

    def oracle_r2(self, cohort: str, target: str) -> float | None:
        value = ((self.synthetic or {}).get(cohort) or {}).get("oracle_r2", {}).get(target)
        return value if isinstance(value, int | float) else None

    @property
    def targets(self) -> list[str]:
        """Cross-validated targets, in cv.json order (sorted keys: stable)."""
        return [t for t, v in (self.cv or {}).items() if isinstance(v, dict)]

    def task(self, target: str) -> str | None:
        """The task ("regression" or "binary") of ``target``, from its metrics in cv.json."""
        for family in self.families(target):
            metrics = self.cv[target][family]  # type: ignore[index]
            if "r2" in metrics:
                return "regression"
            if "auroc" in metrics:
                return "binary"
        return None

    def families(self, target: str) -> list[str]:
        entry = (self.cv or {}).get(target) or {}
        # "selected" is the selection-included estimate (lbp_outcomes.selection), not a family
        return [f for f, v in entry.items() if isinstance(v, dict) and f != "selected"]

    @property
    def external_available(self) -> bool:
        return bool(self.external and self.external.get("available"))


def _json(root: Path, rel: Path, read: list[str]) -> dict[str, Any] | None:
    path = root / rel
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable counts as absent; the section says so
    read.append(str(rel))
    return data if isinstance(data, dict) else None


def _frame(root: Path, cohort: str, read: list[str]) -> pd.DataFrame | None:
    path = paths.cohort_file(root / paths.FEATURES, cohort)
    if not path.is_file():
        return None
    read.append(str(paths.cohort_file(paths.FEATURES, cohort)))
    return pd.read_parquet(path)


def load(root: Path, params: Any) -> Inputs:
    read: list[str] = []
    inputs = Inputs(
        root=root,
        raw_manifest=_json(root, RAW_MANIFEST, read),
        cleaning=_json(root, CLEANING, read),
        cv=_json(root, CV_METRICS, read),
        cv_notes=_json(root, CV_NOTES, read),
        external=_json(root, EXTERNAL_METRICS, read),
        shap=_json(root, SHAP_IMPORTANCE, read),
        development=_frame(root, "development", read),
        external_frame=_frame(root, "external", read),
    )
    # Provenance that does not change between two runs on the same inputs: the data hashes,
    # never the clock, the MLflow run or the git commit (the report is committed with the
    # results, so naming the commit would change it in the very commit that holds it).
    inputs.provenance = dict(sorted(data_hashes(root).items()))
    for where in ("cv", "external"):
        inputs.clinical[where] = {
            name: data
            for name in ("calibration", "decision", "subgroups")
            if (data := _json(root, paths.REPORTS / where / f"{name}.json", read)) is not None
        }
    inputs.read = read
    return inputs
