"""Honest model selection: the CV estimate of the whole recipe, choice of family included.

The per-family table reports each family on the outer folds, and the champion is the family
whose mean is best *on those same folds*: its mean is optimistically biased by the choice.
Here the choice is made inside each outer training fold instead, from the inner CV that
tuning already ran there (:attr:`lbp_outcomes.cv.FoldResult.inner_score`, the same rows,
no extra fit): the family with the best inner score is the one this fold "would have
deployed", and its score on the outer test fold is that fold's honest value. The mean and
CI of those values estimate what the pipeline delivers, selection included (Cawley &
Talbot 2010, JMLR 11:2079, on selection bias in performance evaluation).

Written to reports/metrics/cv.json as ``<target>.selected`` (shape in :class:`Selected`;
docs/model-selection.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from lbp_outcomes import metrics
from lbp_outcomes.config import CVConfig
from lbp_outcomes.cv import FoldResult

KEY = "selected"  # the key in each target's cv.json entry (not a family)


@dataclass(frozen=True)
class Selected:
    """The selection-included CV estimate of one target.

    ``metric``: the primary metric (r2 or auroc); ``mean`` and ``ci`` ([low, high], the
    corrected resampled t-interval of :func:`lbp_outcomes.metrics.cv_summary`) over the
    outer folds; ``folds``: the chosen family's outer-fold score, one per outer fold in
    (repeat, fold) order; ``families``: the family chosen in that fold; ``seconds``: the
    summed wall time (s) of every outer-fold task of the target (all families, tuning
    included; final refits excluded).
    """

    metric: str
    mean: float | None
    ci: list[float | None]
    folds: list[float | None]  # None: undefined in that fold (e.g. AUROC of one class)
    families: list[str]
    seconds: float

    def as_json(self) -> dict:
        return asdict(self)

    def metrics(self, target: str) -> dict[str, float | None]:
        """MLflow parent-run metrics: ``<target>.selected_<metric>`` and its CI bounds."""
        name = f"{target}.{KEY}_{self.metric}"
        return {name: self.mean, f"{name}_ci_low": self.ci[0], f"{name}_ci_high": self.ci[1]}


def choose(candidates: dict[str, FoldResult]) -> str:
    """The family with the best inner-CV score among one outer fold's results (``{family:
    result}`` in config order; ties and missing scores go to the earlier family). With a
    single candidate, that one."""

    def score(family: str) -> float:
        value = candidates[family].inner_score
        return -math.inf if value is None or not math.isfinite(value) else value

    return max(candidates, key=score)  # max keeps the first of equal keys


def select(by_family: dict[str, list[FoldResult]], task: str, cv: CVConfig) -> Selected:
    """The honest estimate of one target from every family's results (``{family: results}``,
    config order; final refits are ignored). Inner scores are higher-is-better (tuning's
    R2 / ROC AUC), so the same rule serves both tasks."""
    primary = metrics.PRIMARY[task]
    per_fold: dict[tuple[int, int], dict[str, FoldResult]] = {}
    seconds = 0.0
    for family, results in by_family.items():
        for r in results:
            if r.task.is_final:
                continue
            per_fold.setdefault((r.task.repeat, r.task.fold), {})[family] = r
            seconds += r.seconds
    folds, families = [], []
    for key in sorted(per_fold):
        family = choose(per_fold[key])
        families.append(family)
        folds.append(float(per_fold[key][family].scores[primary]))
    stats = metrics.cv_summary(folds, test_fraction=1 / cv.folds, level=cv.ci_level)
    finite = metrics.finite_or_none
    return Selected(
        metric=primary,
        mean=finite(stats["mean"]),
        ci=[finite(stats["ci_low"]), finite(stats["ci_high"])],
        folds=[finite(v) for v in folds],
        families=families,
        seconds=round(seconds, 3),
    )
