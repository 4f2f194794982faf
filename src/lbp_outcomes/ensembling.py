"""The ensemble family's cross-validation: its results per outer fold and its final model,
assembled from the fitted families' results (it fits nothing of its own).

The ensemble's inner score (what :mod:`lbp_outcomes.selection` compares with the families'
inner scores) is ``tuning.ensemble_score`` (:func:`inner_blend`). The weights that are kept
are always chosen on all inner out-of-fold predictions. "in_sample" (the default) scores the
blend on those very rows: the best of 25 blends there, optimistic by construction, so
selection leans to the ensemble (a prior, decided on training rows only: the outer estimate
stays honest). "cross_fitted" scores weights chosen on other parts of the rows: an
even-handed comparison, which on the default experiment chose more single families and gave
lower outer estimates (docs/model-selection.md).

Kept apart from :mod:`lbp_outcomes.models.ensemble` (the estimator) because it works on
:mod:`lbp_outcomes.cv`'s results, and cv imports the model families: the estimator module
stays below cv, this one above it.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from lbp_outcomes import metrics
from lbp_outcomes.cv import FoldResult, FoldTask, TargetData
from lbp_outcomes.models import ensemble
from lbp_outcomes.models.calibrated import clip
from lbp_outcomes.models.tuning import inner_splitter
from lbp_outcomes.seeds import derive_seed


def assemble(
    name: str,
    rounds: int,
    data: TargetData,
    results: list[FoldResult],
    members: list[str],
    metric: str,
    seed: int,
    inner_folds: int,
    score: str,
) -> list[FoldResult]:
    """The ensemble family's CV results and final model for one target, from its members'
    results (``FoldResult`` of every family, any target; only ``members`` of
    ``data.name`` are read). One result per outer fold and one final refit, like any family.

    ``data``: the target's :class:`lbp_outcomes.cv.TargetData`; ``metric``: the tuning
    metric the weights maximise; ``seed``: the run's seed (names the tasks' seeds);
    ``inner_folds``: parts of the cross-fitted inner score (``tuning.inner_folds``);
    ``score``: "cross_fitted" or "in_sample" (``tuning.ensemble_score``, :func:`inner_blend`).
    """
    groups: dict[tuple[int, int], dict[str, Any]] = {}
    for r in results:
        if r.task.target == data.name and r.task.family in members:
            groups.setdefault((r.task.repeat, r.task.fold), {})[r.task.family] = r
    out = []
    for (repeat, fold), found in sorted(groups.items()):
        started = time.perf_counter()
        group = {f: found[f] for f in members if f in found}
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
        split_seed = derive_seed(task.seed, "inner")
        weights, inner = inner_blend(
            group, data.y, data.task, metric, rounds, inner_folds, split_seed, score=score
        )
        result = FoldResult(task, {"weights": weights}, inner_score=inner)
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
            tuning = params.tuning
            out += assemble(
                name, rounds, data, results, fitted, metric, params.seed,
                tuning.inner_folds, tuning.ensemble_score,
            )  # fmt: skip
    return out


def inner_blend(
    results: dict[str, Any],
    y: np.ndarray,
    task: str,
    metric: str,
    rounds: int = ensemble.ROUNDS,
    folds: int = 3,
    seed: int = 0,
    *,
    score: str,
) -> tuple[dict[str, float], float | None]:
    """Caruana weights ({family: weight}, config order) and the blend's inner score from one training fold's results (``{family: FoldResult}`` with ``inner_rows``/
    ``inner_oof``); ``y``: the target's outcomes (indexed by ``inner_rows``); ``task``:
    "regression" | "binary"; ``metric``: the tuning metric (higher is better).

    The weights are chosen on every row all members predicted out of fold (members capped
    by ``max_train_rows`` or with a failed inner fit may miss some). ``score="in_sample"``:
    the blend's score on those rows. ``score="cross_fitted"``:
    :func:`lbp_outcomes.models.ensemble.crossfit_score` over a ``folds``-part split of those
    rows (stratified for binary outcomes, seeded with ``seed``): a mean over parts of rows
    that chose nothing, like a family's inner score. None without inner predictions; NaN
    when the rows cannot be split or a part cannot be scored.
    """
    families = [f for f, r in results.items() if r.inner_oof is not None]
    if not families:  # no inner CV could run (too few events to stratify): equal weights
        return {f: 1 / len(results) for f in results}, None
    common = results[families[0]].inner_rows
    for f in families[1:]:
        common = np.intersect1d(common, results[f].inner_rows)
    columns = []
    for f in families:
        r = results[f]
        columns.append(r.inner_oof[np.searchsorted(r.inner_rows, common)])
    P = np.column_stack(columns)
    keep = np.all(np.isfinite(P), axis=1)
    P, y_inner = P[keep], y[common[keep]]
    weights, in_sample = ensemble.caruana_weights(P, y_inner, metric, rounds)
    if score == "in_sample":  # the best of ``rounds`` blends on the rows that chose it
        return dict(zip(families, weights.tolist(), strict=True)), in_sample
    try:
        splits = list(inner_splitter(task, folds, seed).split(P, y_inner))
        honest = ensemble.crossfit_score(P, y_inner, metric, rounds, splits)
    except ValueError:  # fewer rows (or events) than parts, or a part of one class
        honest = math.nan
    return dict(zip(families, weights.tolist(), strict=True)), honest
