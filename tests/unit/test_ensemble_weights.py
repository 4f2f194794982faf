"""The weighted (Caruana) ensemble: weights on a hand-checked case, estimator conventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lbp_outcomes.models.ensemble import (
    EnsembleClassifier,
    EnsembleRegressor,
    caruana_weights,
    from_fitted,
)


def test_caruana_finds_the_blend_that_cancels_two_opposite_biases():
    """Members y+1 and y-1 each have MSE 1; their mean is exact. Round 1 takes the first
    (tie), round 2 the second (blend = y, R2 = 1), rounds 3-4 repeat that pattern; the best
    round's counts (2 of 4, or 1 of 2) give weights 1/2, 1/2 and nothing for the noise."""
    y = np.arange(8, dtype=float)
    noise = np.random.default_rng(0).normal(size=8) * 5
    P = np.column_stack([y + 1, y - 1, noise])
    weights, score = caruana_weights(P, y, "r2", rounds=4)
    assert weights.tolist() == [0.5, 0.5, 0.0]
    assert score == pytest.approx(1.0)


def test_caruana_keeps_the_single_best_when_nothing_improves_it():
    y = np.arange(10, dtype=float)
    P = np.column_stack([y + 3, y + 0.1, y + 3.5])  # blending only adds bias
    weights, score = caruana_weights(P, y, "r2", rounds=5)
    assert weights.tolist() == [0.0, 1.0, 0.0]
    assert score == pytest.approx(1 - 0.01 / np.var(y))


def test_caruana_weights_by_auc_for_binary_outcomes():
    y = np.array([0, 0, 0, 1, 1, 1], dtype=float)
    good = np.array([0.1, 0.2, 0.6, 0.5, 0.8, 0.9])  # one pair misordered
    fix = np.array([0.1, 0.2, 0.1, 0.9, 0.5, 0.6])  # orders that pair right
    weights, score = caruana_weights(np.column_stack([good, fix]), y, "roc_auc", rounds=3)
    assert score == 1.0 and weights[1] > 0


def _frame(n=80, seed=1):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return X, X["a"] * 2 + rng.normal(scale=0.3, size=n)


def test_regressor_learns_weights_fits_and_clones_like_any_estimator():
    from sklearn.base import clone
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression

    X, y = _frame()
    model = EnsembleRegressor(
        members=[("mean", DummyRegressor()), ("linear", LinearRegression())], random_state=3
    ).fit(X, y)
    assert model.weight_by_member == {"linear": 1.0}  # the mean adds nothing to a good fit
    assert np.allclose(model.predict(X), LinearRegression().fit(X, y).predict(X))
    again = clone(model).fit(X, y)
    assert np.array_equal(again.predict(X), model.predict(X))
    assert set(model.get_params()) >= {"members", "weights", "rounds", "random_state"}


def test_classifier_averages_member_probabilities_with_fixed_weights():
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = _frame()
    y = (y > 0).astype(float)
    members = [("lr", LogisticRegression()), ("tree", DecisionTreeClassifier(max_depth=2))]
    model = EnsembleClassifier(members=members, weights=[0.25, 0.75]).fit(X, y)
    lr, tree = (est.fit(X, y).predict_proba(X) for _, est in members)
    assert np.allclose(model.predict_proba(X), 0.25 * lr + 0.75 * tree)
    assert set(model.predict(X)) <= {0.0, 1.0}


def test_from_fitted_members_is_a_pipeline_that_predicts_and_pickles(tmp_path):
    import joblib
    from sklearn.linear_model import LinearRegression, Ridge

    from lbp_outcomes.canonical import dump_pickle

    X, y = _frame()
    fitted = {"ols": LinearRegression().fit(X, y), "ridge": Ridge(alpha=10.0).fit(X, y)}
    pipe = from_fitted("regression", fitted, {"ols": 0.6, "ridge": 0.4}, X)
    expected = 0.6 * fitted["ols"].predict(X) + 0.4 * fitted["ridge"].predict(X)
    assert np.allclose(pipe.predict(X), expected)
    assert list(pipe[0].get_feature_names_out()) == ["a", "b"]
    first, second = tmp_path / "a.joblib", tmp_path / "b.joblib"
    dump_pickle(pipe, first)
    dump_pickle(joblib.load(first), second)
    assert first.read_bytes() == second.read_bytes()  # byte-stable through canonical.py
    assert np.allclose(joblib.load(first).predict(X), expected)


def test_an_ensemble_alone_is_a_clear_error_naming_its_config():
    from conftest import REPO
    from lbp_outcomes.config import compose, validate_params
    from lbp_outcomes.errors import UserError
    from lbp_outcomes.models.ensemble import members

    params = validate_params(compose(["model=[linear,ensemble]"], root=REPO))
    assert members(list(params.model), params.model) == ["linear"]
    alone = validate_params(compose(["model=ensemble"], root=REPO))
    with pytest.raises(UserError, match=r"conf/model/ensemble.yaml: an ensemble needs other"):
        members(list(alone.model), alone.model)
