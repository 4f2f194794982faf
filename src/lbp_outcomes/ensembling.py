"""The ensemble family's cross-validation: its results per outer fold and its final model,
assembled from the fitted families' results (it fits nothing of its own).

Kept apart from :mod:`lbp_outcomes.models.ensemble` (the estimator) because it works on
:mod:`lbp_outcomes.cv`'s results, and cv imports the model families: the estimator module
stays below cv, this one above it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lbp_outcomes import metrics
from lbp_outcomes.cv import FoldResult, FoldTask, TargetData
from lbp_outcomes.models import ensemble
from lbp_outcomes.models.calibrated import clip
from lbp_outcomes.seeds import derive_seed


def assemble(
    name: str,
    rounds: int,
    data: TargetData,
    results: list[FoldResult],
    members: list[str],
    metric: str,
    seed: int,
) -> list[FoldResult]:
    """The ensemble family's CV results and final model for one target, from its members'
    results (``FoldResult`` of every family, any target; only ``members`` of
    ``data.name`` are read). One result per outer fold and one final refit, like any family.

    ``data``: the target's :class:`lbp_outcomes.cv.TargetData`; ``metric``: the tuning
    metric the weights maximise; ``seed``: the run's seed (names the tasks' seeds).
    """
    groups: dict[tuple[int, int], dict[str, Any]] = {}
    for r in results:
        if r.task.target == data.name and r.task.family in members:
            groups.setdefault((r.task.repeat, r.task.fold), {})[r.task.family] = r
    out = []
    for (repeat, fold), found in sorted(groups.items()):
        started = time.perf_counter()
        group = {f: found[f] for f in members if f in found}
        weights, blended = ensemble.inner_blend(group, data.y, metric, rounds)
        first = next(iter(group.values())).task
        task = FoldTask(
            data.name,
            name,
            repeat,
            fold,
            first.train,
            first.test,
            derive_seed(seed, data.name, name, *(("final",) if first.is_final else (repeat, fold))),
        )
        result = FoldResult(task, {"weights": weights}, inner_score=blended)
        if task.is_final:
            fitted = {f: r.model for f, r in group.items()}
            result.model = ensemble.from_fitted(data.task, fitted, weights, data.X, rounds=rounds)
        else:
            pred = np.sum([w * group[f].predictions for f, w in weights.items()], axis=0)
            pred = clip(pred) if data.task == "binary" else pred
            result.predictions = pred
            result.scores = metrics.task_metrics(data.task)(data.y[task.test], pred)
        result.seconds = time.perf_counter() - started  # the members' own time is theirs
        out.append(result)
    return out


def assemble_all(params: Any, datasets: list[Any], results: list[Any]) -> list[Any]:
    """Every ensemble family's results for every target (none without an ensemble in
    ``params.model``), from the fitted families' ``results``."""
    families = list(params.model)
    fitted = ensemble.members(families, params.model)
    out = []
    for name in (f for f in families if f not in fitted):
        rounds = int(params.model[name].params.get("rounds", ensemble.ROUNDS))
        for data in datasets:
            metric = getattr(params.tuning.metric, data.task)
            out += assemble(name, rounds, data, results, fitted, metric, params.seed)
    return out
