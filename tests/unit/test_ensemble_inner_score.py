"""The ensemble's inner score is cross-fitted, so selection can prefer a single family.

Scoring the Caruana blend on the inner out-of-fold rows that chose its weights is the best
of 25 blends on those rows: optimistic, and selection picked the ensemble in every fold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold

from lbp_outcomes import ensembling
from lbp_outcomes.config import CVConfig
from lbp_outcomes.cv import FoldResult, FoldTask, TargetData
from lbp_outcomes.models.ensemble import caruana_weights, crossfit_score
from lbp_outcomes.selection import select

N_TRAIN, N_TEST, NOISE_MEMBERS = 150, 60, 30


def _noise_case(seed: int = 7):
    """y (n,) and predictions (n, 1 + NOISE_MEMBERS): a member that predicts E[y | x]
    exactly (so no blend improves it in expectation), and pure-noise members."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=N_TRAIN + N_TEST)
    y = signal + rng.normal(scale=0.8, size=len(signal))
    noise = rng.normal(size=(len(y), NOISE_MEMBERS))
    return y, np.column_stack([signal, noise])


def test_one_member_crossfits_to_its_mean_score_over_parts():
    """Hand check: one column always gets weight 1, so the cross-fitted score is the plain
    mean of its R2 over the parts."""
    y, P = _noise_case()
    splits = list(KFold(3, shuffle=True, random_state=1).split(P, y))
    expected = np.mean([r2_score(y[held], P[held, 0]) for _, held in splits])
    assert crossfit_score(P[:, :1], y, "r2", 25, splits) == pytest.approx(expected)


def test_noise_members_fitted_in_sample_score_higher_than_cross_fitted():
    y, P = _noise_case()
    splits = list(KFold(3, shuffle=True, random_state=1).split(P, y))
    weights, in_sample = caruana_weights(P, y, "r2", 25)
    assert weights[1:].sum() > 0  # in sample, some noise looks useful
    assert crossfit_score(P, y, "r2", 25, splits) < in_sample


def _member(family: str, y: np.ndarray, oof: np.ndarray, outer: np.ndarray) -> FoldResult:
    """A member's outer-fold result: inner OOF on the training rows, its inner score as
    tuning computes it (mean R2 over 3 parts), and predictions of the test rows."""
    train, test = np.arange(N_TRAIN), np.arange(N_TRAIN, N_TRAIN + N_TEST)
    task = FoldTask("pain", family, 0, 0, train, test, seed=0)
    parts = KFold(3, shuffle=True, random_state=7).split(oof)
    inner = float(np.mean([r2_score(y[train][held], oof[held]) for _, held in parts]))
    result = FoldResult(task, {}, predictions=outer, inner_score=inner)
    result.scores = {"r2": r2_score(y[test], outer)}
    result.inner_rows, result.inner_oof = train, oof
    return result


def test_selection_prefers_the_single_family_when_the_honest_blend_is_worse():
    y, P = _noise_case()
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
    members = {f"m{j}": _member(f"m{j}", y, P[train, j], P[test, j]) for j in range(P.shape[1])}
    data = TargetData("pain", "regression", pd.DataFrame({"x": y}), y)
    (blend,) = ensembling.assemble(
        "ensemble", 25, data, list(members.values()), list(members), "r2", 3, 3, "cross_fitted"
    )
    in_sample = caruana_weights(P[train], y[train], "r2", 25)[1]
    assert in_sample > members["m0"].inner_score  # the old rule would choose the ensemble
    assert blend.inner_score < members["m0"].inner_score
    by_family = {f: [r] for f, r in members.items()} | {"ensemble": [blend]}
    chosen = select(by_family, "regression", CVConfig(folds=4, repeats=1, ci_level=0.95))
    assert chosen.families == ["m0"]
    assert chosen.folds == [pytest.approx(members["m0"].scores["r2"])]


def test_inner_blend_keeps_weights_fitted_on_every_inner_row():
    y, P = _noise_case()
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
    members = {f"m{j}": _member(f"m{j}", y, P[train, j], P[test, j]) for j in range(3)}
    weights, honest = ensembling.inner_blend(
        members, y, "regression", "r2", 25, 3, seed=5, score="cross_fitted"
    )
    expected = caruana_weights(P[train, :3], y[train], "r2", 25)[0]
    assert list(weights.values()) == pytest.approx(expected.tolist())
    assert (
        honest
        == ensembling.inner_blend(
            members, y, "regression", "r2", 25, 3, seed=5, score="cross_fitted"
        )[1]
    )


def test_binary_inner_score_is_cross_fitted_on_stratified_parts():
    rng = np.random.default_rng(3)
    y = (rng.random(N_TRAIN + N_TEST) < 0.2).astype(float)
    good = np.clip(0.2 + 0.3 * (y - 0.2) + rng.normal(scale=0.2, size=len(y)), 0.01, 0.99)
    P = np.column_stack([good, rng.random((len(y), 8))])
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
    members = {}
    for j in range(P.shape[1]):
        r = _member(f"m{j}", y, P[train, j], P[test, j])
        r.inner_score = None  # not used here
        members[f"m{j}"] = r
    _, honest = ensembling.inner_blend(
        members, y, "binary", "roc_auc", 25, 3, seed=2, score="cross_fitted"
    )
    in_sample = caruana_weights(P[train], y[train], "roc_auc", 25)[1]
    assert 0.5 < honest < in_sample


def test_in_sample_score_is_the_blend_on_the_rows_that_chose_its_weights():
    """tuning.ensemble_score=in_sample (the default): the prior toward the ensemble, and
    the same weights as the cross-fitted variant."""
    y, P = _noise_case()
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
    members = {f"m{j}": _member(f"m{j}", y, P[train, j], P[test, j]) for j in range(P.shape[1])}
    data = TargetData("pain", "regression", pd.DataFrame({"x": y}), y)
    results = list(members.values())
    (prior,) = ensembling.assemble(
        "ensemble", 25, data, results, list(members), "r2", 3, 3, "in_sample"
    )
    (even,) = ensembling.assemble(
        "ensemble", 25, data, results, list(members), "r2", 3, 3, "cross_fitted"
    )
    assert prior.inner_score == caruana_weights(P[train], y[train], "r2", 25)[1]
    assert prior.inner_score > even.inner_score
    assert prior.params == even.params  # the kept weights do not depend on the score
