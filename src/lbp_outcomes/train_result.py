"""What the train stage computed, as one value: :class:`TrainResult`.

train.fit builds it (cross-validation, champions, final refits, conformal models) without
writing or logging anything; train.save writes it, lbp_outcomes.tracking.log_train logs it
to MLflow, and the figures are drawn from it. It lives in its own module so tracking can
consume it without importing train (no train <-> tracking cycle) and without importing
scikit-learn (the CV types are annotations only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lbp_outcomes.catalog import CVNotes, Manifest, TargetCV

if TYPE_CHECKING:
    import pandas as pd

    from lbp_outcomes.cv import FoldResult, TargetData


@dataclass
class TrainResult:
    """Every fitted object and table of one train run.

    ``grouped``: the FoldResults (outer folds and the final refit) per (target, family);
    ``cv``: the contents of reports/metrics/cv.json; ``manifest``: models/manifest.json;
    ``conformal``: the fitted interval model per regression target; ``folds``: long table
    (target, family, repeat, fold, n_test, metric, value); ``oof``: out-of-fold predictions
    (target, family, repeat, fold, row, observed, predicted; rows are positions, not ids);
    ``example``: a made-up typical patient (1 row x the input columns); ``rows``: patients in
    the development cohort; ``labels``: the name figures give each family, in config order: its key (display
    names are the report's, `display.families`, so that a relabel does not retrain).
    """

    datasets: list[TargetData]
    labels: dict[str, str]
    grouped: dict[tuple[str, str], list[FoldResult]]
    cv: dict[str, TargetCV]
    manifest: Manifest
    notes: CVNotes
    conformal: dict[str, Any]
    folds: pd.DataFrame
    oof: pd.DataFrame
    example: pd.DataFrame
    rows: int
    #: {target: summed wall seconds of its outer-fold tasks}; run records only
    #: (reports/tracking.json), never in a DVC output: outputs must not depend on timing.
    cv_seconds: dict[str, float]

    @property
    def families(self) -> list[str]:
        return list(self.labels)

    def final(self, target: str, family: str) -> FoldResult:
        """The refit of ``family`` on all of ``target``'s development patients."""
        return next(r for r in self.grouped[(target, family)] if r.task.is_final)

    def seconds(self, target: str, family: str) -> float:
        """Compute time of the pair's CV fits and final refit (s)."""
        return sum(r.seconds for r in self.grouped[(target, family)])

    def champion(self, target: str) -> str:
        return self.manifest.targets[target].champion
