"""In-fold recalibration of binary models (issue 13 item 1): the logistic map against
hand-checked values, calibration slope 1 and CITL 0 where it was fitted, probabilities
never 0 or 1, and no test-fold outcome reaching a fold's model (leakage)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from lbp_outcomes import metrics
from lbp_outcomes.config import CalibrationConfig, FamilyConfig, TuningConfig
from lbp_outcomes.cv import FoldTask, TargetData, run_task
from lbp_outcomes.models.calibrated import (
    PROB_EPS,
    RecalibratedClassifier,
    calibrate,
    logistic_map,
    score_logit,
)
from lbp_outcomes.models.preprocess import FeatureSpec


def test_logistic_map_matches_the_closed_form_of_a_two_group_case():
    # Two score values, each group's fitted probability must equal its observed rate
    # (the likelihood equations of a saturated two-point model): score 0 -> 1/4 responders,
    # score 1 -> 3/4. So a = logit(1/4) = -ln 3 and a + b = logit(3/4) = ln 3, b = 2 ln 3
    # (up to the tiny ridge on b).
    score = np.array([0.0] * 40 + [1.0] * 40)
    y = np.array(([1] + [0] * 3) * 10 + ([1] * 3 + [0]) * 10, dtype=float)
    a, b = logistic_map(score, y)
    assert a == pytest.approx(-np.log(3), abs=1e-3)
    assert b == pytest.approx(2 * np.log(3), abs=1e-3)


def test_logistic_map_recovers_a_known_miscalibration():
    rng = np.random.default_rng(0)
    score = rng.normal(0, 1.5, 20000)
    y = (rng.uniform(size=score.size) < expit(0.4 + 0.5 * score)).astype(float)
    a, b = logistic_map(score, y)
    assert a == pytest.approx(0.4, abs=0.05) and b == pytest.approx(0.5, abs=0.03)


def test_logistic_map_stays_finite_when_scores_separate():
    a, b = logistic_map(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0.0, 0.0, 1.0, 1.0]))
    assert np.isfinite(a) and np.isfinite(b) and b > 5


class _Fixed:
    """A 'model' whose P(outcome = 1) is the first column: to check the map by hand."""

    classes_ = np.array([0.0, 1.0])

    def fit(self, X, y):
        return self

    def get_params(self, deep=True):
        return {}

    def predict_proba(self, X):
        p = np.asarray(X, dtype=float)[:, 0]
        return np.column_stack([1 - p, p])


def test_recalibrated_scores_have_slope_1_and_citl_0_where_the_map_was_fitted():
    # Maximum likelihood on (1, logit score) makes the fitted probabilities reproduce the
    # event count and the score-weighted event count: calibration slope 1, intercept 0.
    rng = np.random.default_rng(1)
    oof = rng.uniform(0.3, 0.999, 400)
    y = (rng.uniform(size=400) < expit(0.5 * logit(oof) - 0.3)).astype(float)  # too extreme
    before = metrics.binary_calibration(y, oof)
    assert before["calibration_slope"] == pytest.approx(0.5, abs=0.25)
    model = RecalibratedClassifier(_Fixed()).fit(oof[:, None], y, oof_proba=oof)
    after = metrics.binary_calibration(y, model.predict_proba(oof[:, None])[:, 1])
    assert after["calibration_slope"] == pytest.approx(1.0, abs=1e-4)
    assert after["calibration_intercept"] == pytest.approx(0.0, abs=1e-4)
    a, b = model.intercept_, model.slope_
    # the map by hand on one score
    assert model.predict_proba(np.array([[0.9]]))[0, 1] == pytest.approx(expit(a + b * logit(0.9)))


@pytest.mark.parametrize("method", ["logistic", "isotonic"])
def test_recalibrated_forest_never_gives_0_or_1(method):
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=300) > -1.5).astype(float)  # ~93% events
    forest = RandomForestClassifier(30, random_state=0)
    assert (forest.fit(X, y).predict_proba(X)[:, 1] == 1.0).any()  # the forest saturates
    model = RecalibratedClassifier(forest, method=method, random_state=0).fit(X, y)
    prob = model.predict_proba(X)[:, 1]
    assert prob.min() >= PROB_EPS and prob.max() <= 1 - PROB_EPS
    np.testing.assert_array_equal(model.predict(X), (prob >= 0.5).astype(float))


def test_score_logit_is_finite_at_0_and_1():
    got = score_logit(np.array([0.0, 0.5, 1.0]))
    assert (
        got[1] == 0 and got[2] == pytest.approx(np.log(9999)) and got[0] == pytest.approx(-got[2])
    )


def test_calibrate_wraps_only_the_estimator():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = Pipeline([("prep", StandardScaler()), ("model", LogisticRegression())])
    wrapped, note = calibrate(pipe, CalibrationConfig(), np.array([0, 1] * 10), seed=0)
    assert note == "" and wrapped.steps[0][0] == "prep"
    assert isinstance(wrapped[-1], RecalibratedClassifier)


# -- leakage: a fold's predictions cannot depend on its test rows' outcomes ------------------
def _fold_setup(n: int = 90):
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (X["a"] + 0.8 * rng.normal(size=n) > -0.8).astype(float).to_numpy()
    spec = FeatureSpec(numeric=["a", "b"], categorical={}, ordinal={})
    family = FamilyConfig(
        regression={"_target_": "sklearn.linear_model.Ridge"},
        binary={"_target_": "sklearn.linear_model.LogisticRegression", "max_iter": 500},
        search_space={"C": {"type": "float", "low": 0.01, "high": 10.0, "log": True}},
        preprocessing="dense",
    )
    train, test = np.arange(0, 60), np.arange(60, n)
    task = FoldTask("resp", "linear", 0, 0, train, test, seed=11)
    return X, y, spec, family, task


def test_fold_predictions_ignore_the_test_outcomes(monkeypatch):
    X, y, spec, family, task = _fold_setup()
    tuning = TuningConfig(n_trials=2, inner_folds=3)
    seen: list[int] = []
    fit = RecalibratedClassifier.fit

    def spy(self, X_fit, y_fit, oof_proba=None):
        seen.append(len(y_fit))
        assert oof_proba is not None and len(oof_proba) == len(y_fit)  # the tuning's OOF
        return fit(self, X_fit, y_fit, oof_proba)

    monkeypatch.setattr(RecalibratedClassifier, "fit", spy)
    cal = CalibrationConfig()
    first = run_task(task, TargetData("resp", "binary", X, y), family, spec, tuning, cal)
    flipped = y.copy()
    flipped[task.test] = 1 - flipped[task.test]
    second = run_task(task, TargetData("resp", "binary", X, flipped), family, spec, tuning, cal)
    assert seen == [len(task.train), len(task.train)]  # fitted on training-fold rows only
    np.testing.assert_array_equal(first.predictions, second.predictions)
    changed = y.copy()
    changed[task.train[:10]] = 1 - changed[task.train[:10]]  # a training outcome does count
    third = run_task(task, TargetData("resp", "binary", X, changed), family, spec, tuning, cal)
    assert not np.array_equal(first.predictions, third.predictions)


def test_a_recalibrated_pipeline_round_trips_through_skops():
    """MLflow logs models as skops (tracking.log_sklearn_model trusts the project's types):
    the wrapper must load back and predict the same probabilities."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 2))
    y = (X[:, 0] + rng.normal(size=80) > 0).astype(float)
    model = RecalibratedClassifier(LogisticRegression(), random_state=0)
    pipe = Pipeline([("prep", StandardScaler()), ("model", model)]).fit(X, y)
    data = sio.dumps(pipe)
    back = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    np.testing.assert_array_equal(back.predict_proba(X), pipe.predict_proba(X))
