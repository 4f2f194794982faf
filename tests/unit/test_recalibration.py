"""External validation by hand: model updating (recalibration) recovers known
miscalibration, and the case-mix standardised differences. (The stage: tests/integration/
test_external.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lbp_outcomes.external import standardised_differences
from lbp_outcomes.models.preprocess import FeatureSpec
from lbp_outcomes.validation import recalibrate, updating


def test_regression_recalibration_recovers_a_miscalibrated_model():
    rng = np.random.default_rng(0)
    pred = rng.normal(10, 3, 2000)
    y = 4 + 0.5 * pred + rng.normal(0, 0.5, 2000)  # true slope 0.5, intercept 4
    out = updating("regression", y, pred, fit_fraction=0.5, repeats=20, seed=1)
    assert out["original"]["calibration_slope"] == pytest.approx(0.5, abs=0.03)
    assert out["intercept_slope"]["calibration_slope"] == pytest.approx(1.0, abs=0.05)
    assert out["intercept_slope"]["calibration_in_the_large"] == pytest.approx(0.0, abs=0.05)
    # an intercept update fixes the mean but not the slope
    assert out["intercept"]["calibration_in_the_large"] == pytest.approx(0.0, abs=0.05)
    assert out["intercept"]["calibration_slope"] == pytest.approx(0.5, abs=0.03)
    assert out["intercept_slope"]["r2"] > out["original"]["r2"]
    # by hand: the shift is the mean residual
    shift = recalibrate("regression", np.array([1.0, 2.0]), np.array([2.0, 4.0]), "intercept")
    assert shift(np.array([0.0])) == pytest.approx([1.5])


def test_logistic_recalibration_recovers_an_overconfident_model():
    rng = np.random.default_rng(1)
    z = rng.normal(size=4000)
    y = (rng.random(z.size) < 1 / (1 + np.exp(-(z - 1)))).astype(float)  # true risk lower
    overconfident = 1 / (1 + np.exp(-2 * z))
    out = updating("binary", y, overconfident, fit_fraction=0.5, repeats=10, seed=2)
    assert out["original"]["calibration_slope"] == pytest.approx(0.5, abs=0.06)
    assert out["intercept_slope"]["calibration_slope"] == pytest.approx(1.0, abs=0.1)
    assert abs(out["intercept_slope"]["calibration_intercept"]) < 0.1
    assert out["intercept_slope"]["brier"] < out["original"]["brier"]
    # recalibration is monotone: discrimination is unchanged
    assert out["intercept_slope"]["auroc"] == pytest.approx(out["original"]["auroc"], abs=1e-9)


def test_standardised_mean_difference_by_hand():
    spec = FeatureSpec(numeric=["x"], categorical={"c": ["a", "b"]})
    dev = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "a", "b"]})
    ext = pd.DataFrame({"x": [2.0, 3.0, 4.0], "c": ["a", "b", "b"]})
    smd = standardised_differences(dev, ext, spec)
    assert smd["x"] == pytest.approx(1.0)  # mean +1, pooled SD 1
    # share of "b": 1/3 -> 2/3; pooled SD sqrt(2/9) -> SMD (1/3)/sqrt(2/9) = 0.7071
    assert abs(smd["c"]) == pytest.approx(0.7071, abs=1e-4)
