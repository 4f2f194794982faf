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

from lbp_outcomes import catalog, paths
from lbp_outcomes.catalog import (
    CleaningFlow,
    CVNotes,
    ExternalMetrics,
    JsonOutput,
    TargetCV,
    TargetImportance,
)
from lbp_outcomes.tracking import data_hashes


@dataclass
class Inputs:
    """The stage outputs the report is built from (None: file absent or unreadable). The
    other stages' outputs are typed (lbp_outcomes.catalog); the cohort manifest and the
    clinical tables stay mappings (their sections read them as such)."""

    root: Path
    raw_manifest: dict[str, Any] | None = None
    cleaning: dict[str, CleaningFlow] | None = None  # per cohort
    cv: dict[str, TargetCV] | None = None
    cv_notes: CVNotes | None = None
    external: ExternalMetrics | None = None
    shap: dict[str, TargetImportance] | None = None
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
        return list(self.cv or {})

    def task(self, target: str) -> str | None:
        """The task ("regression" or "binary") of ``target``, from its metrics in cv.json."""
        entry = (self.cv or {}).get(target)
        return entry.task if entry is not None else None

    def families(self, target: str) -> list[str]:
        entry = (self.cv or {}).get(target)
        return list(entry.families) if entry is not None else []

    def source(self, cohort: str) -> Any:
        """Where ``cohort`` came from, as the cohort manifest says (None: not said)."""
        cohorts = (self.raw_manifest or {}).get("cohorts") or {}
        return (cohorts.get(cohort) or {}).get("source")

    def analysed(self, cohort: str) -> int | None:
        """Patients left in ``cohort`` after cleaning (None: not cleaned)."""
        flow = (self.cleaning or {}).get(cohort)
        return flow.rows_out if flow is not None else None

    @property
    def external_available(self) -> bool:
        return self.external is not None and self.external.available


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


def _typed(root: Path, entry: JsonOutput, read: list[str]) -> Any | None:
    """A catalog output, validated; absent or not matching its model counts as absent."""
    value = entry.read_optional(root)
    if value is not None:
        read.append(str(entry.path))
    return value


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
        raw_manifest=_json(root, catalog.RAW_MANIFEST.path, read),
        cleaning=_typed(root, catalog.CLEANING, read),
        cv=_typed(root, catalog.CV_METRICS, read),
        cv_notes=_typed(root, catalog.CV_NOTES, read),
        external=_typed(root, catalog.EXTERNAL_METRICS, read),
        shap=_typed(root, catalog.IMPORTANCE, read),
        development=_frame(root, "development", read),
        external_frame=_frame(root, "external", read),
    )
    # Provenance that does not change between two runs on the same inputs: the data hashes,
    # never the clock, the MLflow run or the git commit (the report is committed with the
    # results, so naming the commit would change it in the very commit that holds it).
    inputs.provenance = dict(sorted(data_hashes(root).items()))
    for where, folder in (("cv", catalog.CV_DIR), ("external", catalog.EXTERNAL_DIR)):
        inputs.clinical[where] = {
            name: data
            for name in catalog.CLINICAL
            if (data := _json(root, folder / f"{name}.json", read)) is not None
        }
    inputs.read = read
    return inputs
