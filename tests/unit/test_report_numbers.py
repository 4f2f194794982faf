"""Numbers in the report never say something the data do not: CI limits are not rounded
onto a landmark (1 for a slope, 0 for an intercept, 0.5/1 for AUROC) they do not equal."""

from __future__ import annotations

import pytest

from lbp_outcomes.report.document import honest_digits, interval, metric_value
from lbp_outcomes.report.render import num_cell


@pytest.mark.parametrize(
    "metric,stats,shown",
    [
        # the case: an upper limit 0.998 printed as 1.00 would include 1
        ("calibration_slope", {"estimate": 0.55, "ci_low": 0.44, "ci_high": 0.998},
         "0.550 [0.440, 0.998]"),
        ("calibration_slope", {"estimate": 0.55, "ci_low": 0.44, "ci_high": 0.96},
         "0.55 [0.44, 0.96]"),
        ("calibration_slope", {"estimate": 1.0, "ci_low": 0.9, "ci_high": 1.1},
         "1.00 [0.90, 1.10]"),
        # a limit that rounds to 0 from below is printed with the decimals that show its sign
        ("calibration_in_the_large", {"estimate": 0.19, "ci_low": -0.004, "ci_high": 0.4},
         "0.190 [-0.004, 0.400]"),
        ("auroc", {"mean": 0.9667, "ci_low": 0.9335, "ci_high": 0.99991},
         "0.9667 [0.9335, 0.9999]"),
        # a limit beyond the possible range is shown at the edge (it equals the landmark)
        ("r2", {"mean": 0.95, "ci_low": 0.9, "ci_high": 1.02}, "0.950 [0.900, 1.000]"),
        ("calibration_slope", {"estimate": 0.551, "ci_low": 0.44, "ci_high": 0.99999},
         "0.5510 [0.4400, 1.0000]"),  # the limit: 2 extra decimals at most
    ],
)  # fmt: skip
def test_ci_limits_are_not_rounded_into_another_statement(metric, stats, shown):
    key = "estimate" if "estimate" in stats else "mean"
    assert metric_value(metric, stats, key) == shown


def test_honest_digits():
    assert honest_digits([0.998], 2, (1,)) == 3
    assert honest_digits([0.9996], 2, (1,)) == 4
    assert honest_digits([0.97], 2, (1,)) == 2
    assert honest_digits([1.0], 2, (1,)) == 2  # exactly the landmark: nothing to hide
    assert interval(0.5, 0.2, 0.998, 2) == "0.50 [0.20, 1.00]"  # no landmarks, no change


def test_a_ci_wraps_only_before_its_bracket():
    assert str(num_cell("0.734 [0.712, 0.756]")) == "0.734 [0.712,\u00a00.756]"
    assert str(num_cell("0.61")) == "0.61"
