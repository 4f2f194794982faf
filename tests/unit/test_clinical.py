"""Calibrated probabilities, calibration curves, decision curves and subgroups (issue 13,
items 1-4): numbers checked against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lbp_outcomes import calibration, decision, metrics, subgroups
from lbp_outcomes.config import CalibrationConfig
from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.models.calibrated import PROB_EPS, calibrate, clip


# -- decision curves ------------------------------------------------------------------------
def test_net_benefit_matches_hand_computed_values():
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.9, 0.6, 0.7, 0.2, 0.3])
    table = decision.net_benefit(y, {"m": p}, thresholds=np.array([0.25, 0.5]))
    nb = table.set_index(["model", "threshold"])["net_benefit"]
    # pt = 0.5: positive if p >= 0.5 -> TP 2, FP 1: 2/5 - 1/5 * 1 = 0.2
    assert nb[("m", 0.5)] == pytest.approx(0.2)
    # pt = 0.25: positives 0.9, 0.6, 0.7, 0.3 -> TP 3, FP 1: 3/5 - 1/5 * 1/3
    assert nb[("m", 0.25)] == pytest.approx(0.6 - 0.2 / 3)
    # treat all: TP 3, FP 2 of 5
    assert nb[("all", 0.5)] == pytest.approx(0.6 - 0.4)
    assert nb[("all", 0.25)] == pytest.approx(0.6 - 0.4 / 3)
    assert nb[("none", 0.25)] == 0 and nb[("none", 0.5)] == 0


def test_useful_range_and_summary():
    rng = np.random.default_rng(0)
    risk = rng.uniform(0.05, 0.95, 2000)
    y = (rng.uniform(size=2000) < risk).astype(int)
    table = decision.net_benefit(y, {"good": risk})
    useful = decision.useful(table, "good")
    # a calibrated, discriminating model helps almost throughout
    assert useful["from"] < 0.2 and useful["to"] > 0.8 and useful["count"] > 70
    rows = decision.summary(table, "good")
    assert [r["threshold"] for r in rows] == list(decision.SUMMARY_AT)
    assert all(r["model"] >= max(r["treat_all"], 0) for r in rows)


# -- calibration curves ---------------------------------------------------------------------
def test_lowess_matches_hand_computed_local_fit():
    # frac = 1 at x = 2: neighbours within distance 2, tricube weights (1 - (d/2)^3)^3:
    # d = 0 -> 1, d = 1 -> (7/8)^3, d = 2 -> 0. The design is symmetric, so the local
    # line's value at x = 2 is the weighted mean of y.
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    y = np.array([0.0, 0.0, 1.0, 1.0, 1.0])
    w = (7 / 8) ** 3
    got = calibration.smooth(y, x, np.array([2.0]), frac=1.0)
    assert got[0] == pytest.approx((1 + w * 0 + w * 1) / (1 + 2 * w))


def test_curve_is_the_diagonal_for_perfect_continuous_predictions():
    pred = np.linspace(0, 10, 200)
    c = calibration.curve(pred, pred, seed=1, n_boot=20, binary=False)
    np.testing.assert_allclose(c.observed, c.grid, atol=1e-9)
    assert np.all(c.low <= c.observed + 1e-9) and np.all(c.high >= c.observed - 1e-9)


def test_curve_band_covers_a_calibrated_model_and_is_deterministic():
    rng = np.random.default_rng(3)
    risk = rng.uniform(0.1, 0.9, 800)
    y = (rng.uniform(size=800) < risk).astype(float)
    a = calibration.curve(y, risk, seed=5, n_boot=100)
    b = calibration.curve(y, risk, seed=5, n_boot=100)
    np.testing.assert_array_equal(a.observed, b.observed)
    np.testing.assert_array_equal(a.low, b.low)
    inside = (a.low - 0.02 <= a.grid) & (a.grid <= a.high + 0.02)
    assert inside.mean() > 0.9
    assert np.all((a.observed >= 0) & (a.observed <= 1))


def test_calibration_figure_is_written(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.uniform(0.2, 0.95, 300)
    y = (rng.uniform(size=300) < p).astype(float)
    curves = {"Linear": calibration.curve(y, p, seed=0, n_boot=10)}
    path = calibration.figure(curves, "Linear", y, p, "t", "probability", tmp_path / "c.png")
    assert path.stat().st_size > 10_000


# -- calibrated probabilities ---------------------------------------------------------------
def test_calibrated_forest_never_gives_0_or_1():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=300) > -1.5).astype(float)  # ~93% events
    pipe = Pipeline(
        [("prep", StandardScaler()), ("model", RandomForestClassifier(50, random_state=0))]
    )
    raw = pipe.fit(X, y).predict_proba(X)[:, 1]
    assert (raw == 1.0).any()  # the forest saturates
    wrapped, note = calibrate(pipe, CalibrationConfig(), y, seed=0)
    assert note == ""
    prob = wrapped.fit(X, y).predict_proba(X)[:, 1]
    assert prob.min() > 0 and prob.max() < 1
    assert isinstance(wrapped, Pipeline) and wrapped.steps[0][0] == "prep"


def test_calibration_skipped_with_a_note_when_too_few_minority_cases():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipe = Pipeline([("model", LogisticRegression())])
    y = np.array([1.0] * 20 + [0.0] * 2)
    same, note = calibrate(pipe, CalibrationConfig(folds=3), y, seed=0)
    assert same is pipe and "2 minority cases" in note
    off, note = calibrate(pipe, CalibrationConfig(enabled=False), y, seed=0)
    assert off is pipe and note == ""


def test_clip_keeps_probabilities_inside():
    got = clip(np.array([0.0, 0.5, 1.0]))
    assert got.tolist() == [PROB_EPS, 0.5, 1 - PROB_EPS]


def test_log_loss_single_and_batch_agree_with_sklearn():
    from sklearn.metrics import log_loss

    y = np.array([1.0, 0, 1, 1, 0, 1])
    p = np.array([0.9, 0.2, 0.6, 0.8, 0.4, 0.7])
    assert metrics.binary_metrics(y, p)["log_loss"] == pytest.approx(log_loss(y, p))
    batch = metrics.binary_batch(np.stack([y, y]), np.stack([p, p]))["log_loss"]
    np.testing.assert_allclose(batch, log_loss(y, p))


# -- subgroups ------------------------------------------------------------------------------
def _cfg(**subgroups_) -> DataConfig:
    return DataConfig.model_validate(
        {
            "name": "t",
            "source": {"development": "data/x.csv"},
            "id_column": "id",
            "site_column": "site",
            "features": {
                "age": {"type": "numeric"},
                "sex": {"type": "categorical", "values": ["f", "m"]},
            },
            "targets": {"y": {"kind": "binary"}},
            "subgroups": subgroups_,
        }
    )


def test_band_labels():
    assert subgroups.band_labels([50, 65]) == ["< 50", "50 to < 65", "≥ 65"]


def test_subgroup_config_is_checked():
    with pytest.raises(ValueError, match="numeric column needs `cuts`"):
        _cfg(age={})
    with pytest.raises(ValueError, match="not a declared feature"):
        _cfg(weight={"cuts": [1]})
    with pytest.raises(ValueError, match="cuts must increase"):
        _cfg(age={"cuts": [60, 50]})


def test_subgroup_metrics_match_the_subset_and_small_groups_get_a_caution():
    rng = np.random.default_rng(1)
    n = 400
    frame = pd.DataFrame(
        {
            "site": np.where(np.arange(n) < 380, "a", "b"),  # site b: 20 patients
            "age": rng.uniform(20, 80, n),
            "sex": rng.choice(["f", "m"], n),
        }
    )
    p = rng.uniform(0.1, 0.9, n)
    y = (rng.uniform(size=n) < p).astype(float)
    groups = subgroups.groupings(frame, _cfg(age={"cuts": [50]}, sex={}))
    assert [g.column for g in groups] == ["site", "age", "sex"]
    assert groups[1].levels == ["< 50", "≥ 50"]
    results = subgroups.evaluate(y, p, "binary", groups, n_boot=50, seed=0)
    by = {(r.column, r.level): r for r in results}
    small = by[("site", "b")]
    assert small.n == 20 and small.caution and not small.metrics
    old = by[("age", "≥ 50")]
    rows = frame["age"].to_numpy() >= 50
    assert old.n == rows.sum() and old.caution is None
    want = metrics.binary_metrics(y[rows], p[rows])["auroc"]
    assert old.metrics["auroc"]["estimate"] == pytest.approx(want, abs=1e-4)
    assert old.metrics["auroc"]["ci_low"] < want < old.metrics["auroc"]["ci_high"]
