"""Metric computations against values worked out by hand (and one independent library)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lbp_outcomes import metrics


def test_regression_metrics_by_hand():
    # residuals 0, 0, 0, -1; mean observed 2.5 so SS_tot = 2.25 + .25 + .25 + 2.25 = 5
    got = metrics.regression_metrics(np.array([1, 2, 3, 4]), np.array([1, 2, 3, 5]))
    assert got == pytest.approx({"r2": 1 - 1 / 5, "mae": 0.25, "rmse": 0.5})


def test_regression_calibration_by_hand():
    # predictions 1 too high everywhere: slope 1, intercept -1, calibration-in-the-large -1
    got = metrics.regression_calibration(np.array([1, 2, 3, 4]), np.array([2, 3, 4, 5]))
    assert got == pytest.approx(
        {"calibration_in_the_large": -1.0, "calibration_slope": 1.0, "calibration_intercept": -1.0}
    )
    # predictions spread twice as wide as the truth: slope 0.5
    got = metrics.regression_calibration(np.array([1.0, 2, 3]), np.array([0.0, 2, 4]))
    assert got["calibration_slope"] == pytest.approx(0.5)
    assert got["calibration_intercept"] == pytest.approx(1.0)


def test_binary_metrics_by_hand():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    got = metrics.binary_metrics(y, p)
    # 3 of the 4 (positive, negative) pairs are ordered correctly
    assert got["auroc"] == pytest.approx(0.75)
    # ranked: 0.8 (+) precision 1 at recall .5; 0.35 (+) precision 2/3 at recall 1
    assert got["auprc"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert got["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)


def test_calibration_intercept_by_hand():
    # Everyone predicted 20%, half have the event: the intercept must lift logit(.2) to
    # logit(.5), i.e. a = 0 - log(.2/.8) = log 4.
    y = np.array([0, 1, 0, 1])
    got = metrics.binary_calibration(y, np.full(4, 0.2))
    assert got["calibration_intercept"] == pytest.approx(math.log(4), abs=1e-8)


def test_calibration_slope_matches_statsmodels_and_detects_overconfidence():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(3)
    z = rng.normal(size=20_000)
    y = (rng.random(z.size) < 1 / (1 + np.exp(-z))).astype(float)
    overconfident = 1 / (1 + np.exp(-2 * z))  # logits doubled: true slope 0.5
    got = metrics.binary_calibration(y, overconfident)
    fit = sm.GLM(
        y, sm.add_constant(metrics.logit(overconfident)), family=sm.families.Binomial()
    ).fit()
    assert got["calibration_slope"] == pytest.approx(fit.params[1], abs=1e-6)
    assert got["calibration_slope"] == pytest.approx(0.5, abs=0.03)
    calibrated = metrics.binary_calibration(y, 1 / (1 + np.exp(-z)))
    assert calibrated["calibration_slope"] == pytest.approx(1.0, abs=0.05)
    assert calibrated["calibration_intercept"] == pytest.approx(0.0, abs=0.05)


def test_single_class_gives_nan_not_an_exception():
    got = metrics.binary_metrics(np.array([1, 1, 1]), np.array([0.2, 0.5, 0.9]))
    assert math.isnan(got["auroc"]) and math.isnan(got["calibration_slope"])


def test_cv_summary_uses_the_corrected_t_interval():
    got = metrics.cv_summary([0.5, 0.7], test_fraction=0.2, level=0.95)
    sd = math.sqrt(0.02)
    half = 12.7062047 * sd * math.sqrt(1 / 2 + 0.2 / 0.8)
    assert got["mean"] == pytest.approx(0.6)
    assert got["sd"] == pytest.approx(sd)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((0.6 - half, 0.6 + half), rel=1e-6)
    # the correction widens the interval relative to the naive t-interval
    naive = 12.7062047 * sd / math.sqrt(2)
    assert got["ci_high"] - 0.6 > naive


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    pred = y + rng.normal(scale=0.5, size=200)
    a = metrics.bootstrap_ci(y, pred, "regression", n_boot=200, seed=1)
    b = metrics.bootstrap_ci(y, pred, "regression", n_boot=200, seed=1)
    assert a == b
    for stats in a.values():
        assert stats["ci_low"] < stats["estimate"] < stats["ci_high"]


def test_batch_metrics_equal_the_single_sample_definitions():
    """The vectorised bootstrap versions must compute exactly the same metrics."""
    rng = np.random.default_rng(7)
    for _ in range(5):
        y = rng.normal(size=60)
        p = y + rng.normal(size=60)
        batch = metrics.regression_batch(y[None, :], p[None, :])
        single = {**metrics.regression_metrics(y, p), **metrics.regression_calibration(y, p)}
        assert {k: float(v[0]) for k, v in batch.items()} == pytest.approx(single, rel=1e-9)
        yb = (rng.random(60) < 0.3).astype(float)
        pb = np.round(rng.random(60), 1)  # ties on purpose: AUROC must use average ranks
        batch = metrics.binary_batch(yb[None, :], pb[None, :])
        single = metrics.binary_metrics(yb, pb)
        assert {k: float(v[0]) for k, v in batch.items()} == pytest.approx(
            single, rel=1e-7, abs=1e-9
        )


def test_batch_auprc_equals_sklearn_row_by_row_with_ties_and_one_class_rows():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(3)
    Y = (rng.random((40, 25)) < 0.3).astype(float)
    Y[0] = 0.0  # a resample without events: undefined
    P = np.round(rng.random((40, 25)), 1)  # many ties
    got = metrics.binary_batch(Y, P)["auprc"]
    assert np.isnan(got[0])
    want = [average_precision_score(y, p) for y, p in zip(Y[1:], P[1:], strict=True)]
    assert got[1:] == pytest.approx(want, rel=1e-12)


def test_separated_fold_gives_undefined_calibration_slope_not_a_huge_number():
    """A test fold whose 4 non-events the model ranks below every event (common with a 95 %
    responder rate) has no finite slope MLE; it must be NaN, so the CV mean stays sane."""
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(80), np.zeros(4)]
    p = np.r_[rng.uniform(0.8, 0.99, 80), rng.uniform(0.1, 0.5, 4)]
    single = metrics.binary_calibration(y, p)
    batch = metrics.binary_batch(np.stack([y, y]), np.stack([p, p]))
    assert np.isnan(single["calibration_slope"])
    assert np.isnan(batch["calibration_slope"]).all()
    summary = metrics.cv_summary([single["calibration_slope"], 1.1, 0.9], test_fraction=0.2)
    assert summary["mean"] == pytest.approx(1.0)
