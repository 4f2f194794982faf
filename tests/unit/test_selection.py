"""Honest model selection: the family is chosen on inner CV inside each outer training fold."""

from __future__ import annotations

import numpy as np
import pytest

from lbp_outcomes.config import CVConfig
from lbp_outcomes.cv import FoldResult, FoldTask
from lbp_outcomes.selection import choose, select


def _result(family, repeat, fold, inner, outer, seconds=1.0):
    task = FoldTask("pain", family, repeat, fold, np.arange(3), np.arange(3, 5), seed=0)
    return FoldResult(task, {}, scores={"r2": outer}, inner_score=inner, seconds=seconds)


def _final(family):
    task = FoldTask("pain", family, -1, -1, np.arange(5), None, seed=0)
    return FoldResult(task, {}, seconds=100.0)


def test_each_fold_takes_the_inner_best_family_and_its_outer_score():
    # (repeat, fold) -> (inner, outer) per family; the outer-best is never the inner-best,
    # so choosing on the outer scores (the optimistic table) would give a different answer.
    by_family = {
        "a": [_result("a", 0, 0, 0.60, 0.70), _result("a", 0, 1, 0.50, 0.40), _final("a")],
        "b": [_result("b", 0, 0, 0.65, 0.50), _result("b", 0, 1, 0.45, 0.90), _final("b")],
    }
    chosen = select(by_family, "regression", CVConfig(folds=2, repeats=1, ci_level=0.95))
    assert chosen.families == ["b", "a"]
    assert chosen.folds == [0.50, 0.40]
    assert chosen.mean == pytest.approx(0.45)
    assert chosen.ci[0] < chosen.mean < chosen.ci[1]
    assert chosen.metric == "r2"
    assert chosen.seconds == 4.0  # outer-fold tasks only; the final refits are not CV


def test_ties_and_missing_inner_scores_go_to_the_earlier_family():
    tie = {"a": _result("a", 0, 0, 0.5, 0.1), "b": _result("b", 0, 0, 0.5, 0.9)}
    assert choose(tie) == "a"
    missing = {"a": _result("a", 0, 0, None, 0.1), "b": _result("b", 0, 0, 0.2, 0.9)}
    assert choose(missing) == "b"
    assert choose({"only": _result("only", 0, 0, None, 0.3)}) == "only"


def test_folds_are_in_repeat_then_fold_order():
    results = [_result("a", r, f, 0.5, 10 * r + f) for r in (1, 0) for f in (2, 0, 1)]
    chosen = select({"a": results}, "regression", CVConfig(folds=3, repeats=2, ci_level=0.95))
    assert chosen.folds == [0, 1, 2, 10, 11, 12]
