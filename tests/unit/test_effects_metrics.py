"""Effect metrics against values worked out by hand (src/lbp_outcomes/effects/)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lbp_outcomes.effects import truth, validate
from lbp_outcomes.effects.data import Arms
from lbp_outcomes.effects.estimate import Estimate, average_effects

ARMS = Arms("arm", ["ref", "b", "c"], ["Ref", "B", "C"], True, None)


def test_mean_ci_by_hand():
    # mean 2.5, SD sqrt(5/3) = 1.29099, SE 0.645497, 95% half-width 1.96 * SE = 1.26516
    est = Estimate.mean(np.array([1.0, 2.0, 3.0, 4.0]), 0.95)
    assert est.estimate == pytest.approx(2.5)
    assert est.se == pytest.approx(0.645497, abs=1e-6)
    assert (est.ci_low, est.ci_high) == pytest.approx((1.23484, 3.76516), abs=1e-5)
    assert est.covers(1.3) and not est.covers(1.2)


def test_average_effects_aipw_and_plain_difference():
    arm = np.array([0, 0, 1, 1, 2, 2])
    y = np.array([1.0, 3.0, 4.0, 6.0, 0.0, 2.0])
    # AIPW effect = mean of psi_a - psi_ref: arm b: mean([1, 1, 3, 3, 1, 1]) = 5/3
    psi = np.array([[1, 2, 0], [3, 4, 2], [2, 5, 1], [2, 5, 1], [1, 2, 0], [1, 2, 0]], float)
    found = {e.arm: e for e in average_effects(psi, arm, y, ARMS, 0.95)}
    assert found["b"].dr.estimate == pytest.approx(5 / 3)
    assert found["c"].dr.estimate == pytest.approx(-1.0)
    # plain: means 2 (ref), 5 (b), 1 (c); Welch SE sqrt(2/2 + 2/2) = sqrt(2)
    assert found["b"].difference.estimate == pytest.approx(3.0)
    assert found["c"].difference.estimate == pytest.approx(-1.0)
    assert found["b"].difference.se == pytest.approx(np.sqrt(2))
    assert found["b"].n == 2


def test_blp_recovers_an_exact_slope():
    tau = np.array([0.0, 0.0, 1.0, 1.0, 2.0, 2.0])
    noise = np.array([1.0, -1.0, -1.0, 1.0, 1.0, -1.0])  # orthogonal to 1 and tau
    blp = validate.blp_test(3.0 + 2.0 * (tau - tau.mean()) + noise, tau, 0.95)
    assert blp.slope.estimate == pytest.approx(2.0)
    assert blp.intercept.estimate == pytest.approx(3.0)
    assert blp.p_value < 0.05
    flat = validate.blp_test(np.array([1.0, 2.0, 3.0]), np.zeros(3), 0.95)
    assert flat.p_value == 1.0  # constant predictions carry no heterogeneity


def test_heterogeneity_is_bonferroni_over_arms():
    def blp(p):
        return validate.Blp(Estimate(0, 0, 0, 0), Estimate(0, 0, 0, 0), p)

    assert validate.heterogeneity([blp(0.02), blp(0.3)], 0.05) == {
        "p_value": pytest.approx(0.04),
        "found": True,
        "level": 0.05,
    }
    assert not validate.heterogeneity([blp(0.03), blp(0.5)], 0.05)["found"]


def test_toc_by_hand():
    benefit = np.arange(10.0)  # priority = benefit: a perfect ranking
    out = validate.toc(benefit, benefit, "higher", n_boot=20, level=0.9, seed=1)
    # top 10 %: mean 9 - 4.5; top 50 %: mean(5..9) = 7 - 4.5; everyone: 0
    assert out["toc"][0] == pytest.approx(4.5)
    assert out["toc"][4] == pytest.approx(2.5)
    assert out["toc"][-1] == pytest.approx(0.0)
    assert out["qini"][4] == pytest.approx(0.5 * 2.5)
    # "lower is better" flips both the benefit and the priority: the same curve
    flipped = validate.toc(-benefit, -benefit, "lower", n_boot=20, level=0.9, seed=1)
    assert flipped["toc"] == pytest.approx(out["toc"])


def test_recommend_and_policy_values_by_hand():
    tau = np.array([[0.5, -1.0], [-0.2, -0.1]])  # effects of b, c vs ref (lower is better)
    assert validate.recommend(tau, "lower").tolist() == [2, 1]
    assert validate.recommend(tau, "higher").tolist() == [1, 0]
    psi = np.array([[5.0, 4.0, 3.0], [6.0, 4.0, 5.0], [5.0, 5.0, 2.0], [4.0, 3.0, 4.0]])
    tau4 = np.array([[1.0, -2.0], [-1.0, 0.5], [0.0, -1.0], [-1.0, 1.0]])
    fold = np.array([0, 0, 1, 1])
    out = validate.policy(psi, tau4, fold, "lower", 0.95)
    # rule: [c, b, c, b]: values 3, 4, 2, 3 -> mean 3.0
    assert out["value"]["learned"]["estimate"] == pytest.approx(3.0)
    # best single arm (lowest mean) chosen on the other fold: fold 0 rows from rows 2-3
    # (means 4.5, 4, 3 -> c): 3, 5; fold 1 rows from rows 0-1 (5.5, 4, 4 -> b, the
    # earlier of a tie): 5, 3 -> mean 4.0; gain (lower is better) 4.0 - 3.0
    assert out["value"]["best_single_arm"]["estimate"] == pytest.approx(4.0)
    assert out["gain_vs_best_single_arm"]["estimate"] == pytest.approx(1.0)
    assert out["value"]["random"]["estimate"] == pytest.approx(np.mean(psi))
    assert out["share"] == [0.0, 0.5, 0.5]


def test_pehe_and_true_policy_by_hand():
    tau = np.array([[1.0], [2.0], [3.0], [4.0]])
    true = np.array([[1.0], [1.0], [3.0], [3.0]])
    out = truth.pehe(tau, true, ["ref", "b"])
    # errors 0, 1, 0, 1 -> RMSE sqrt(0.5); true SD 1.0
    assert out["abs"] == pytest.approx(np.sqrt(0.5))
    assert out["fraction"] == pytest.approx(np.sqrt(0.5))
    assert truth.pehe(tau, np.ones((4, 1)), ["ref", "b"])["fraction"] is None
    expected = np.array([[0.2, 0.6], [0.5, 0.3], [0.4, 0.4]])  # success (higher better)
    pol = truth.policy(np.array([1, 0, 0]), np.array([1, 1, 1]), expected, "higher")
    # arm means 0.367, 0.433 -> best single 0.433; oracle mean(0.6, 0.5, 0.4) = 0.5;
    # learned 0.5 -> recovers (0.5 - 0.433) / (0.5 - 0.433) = all of the oracle's gain
    assert pol["oracle"] == pytest.approx(0.5)
    assert pol["best_single_arm"] == pytest.approx(1.3 / 3)
    assert pol["gain_fraction"] == pytest.approx(1.0)
    assert pol["regret"] == pytest.approx(0.0)


def test_arm_codes_and_truth_effects():
    assert ARMS.codes(pd.Series(["b", "ref", "x"])).tolist() == [1, 0, -1]
    expected = pd.DataFrame({"y@ref": [1.0, 2.0], "y@b": [1.5, 1.0], "y@c": [0.0, 2.0]})
    t = truth.Truth(expected, {"y": {}})
    assert t.effects("y", ARMS.values).tolist() == [[0.5, -1.0], [-1.0, 0.0]]


def test_poor_overlap_is_refused_with_one_line():
    from lbp_outcomes.effects.nuisance import check_overlap
    from lbp_outcomes.effects.settings import OverlapSettings
    from lbp_outcomes.errors import UserError

    settings = OverlapSettings(min_propensity=0.05, max_share=0.1)
    e = np.tile([0.5, 0.3, 0.2], (10, 1))
    observational = Arms("arm", ["ref", "b", "c"], ["Ref", "B", "C"], False, None)
    assert check_overlap(e, observational, "f.parquet", settings)["share_below_threshold"] == 0
    e[:2] = [0.97, 0.02, 0.01]  # 2 of 10 patients almost never get b or c
    with pytest.raises(UserError, match=r"f.parquet: column 'arm': poor overlap: 2 of 10"):
        check_overlap(e, observational, "f.parquet", settings)
    # randomised: the same numbers are reported, never refused
    assert check_overlap(e, ARMS, "f.parquet", settings)["share_below_threshold"] == 0.2


def test_linear_final_stage_recovers_slopes_and_steps():
    from lbp_outcomes.effects.linear import LinearFinal

    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    level = np.tile([0.0, 1.0, 2.0], 20)  # a 3-level category: indicator columns
    X = np.column_stack([x, level])
    effect = 1.0 + 2.0 * (x - x.mean()) / x.std() + 3.0 * (level == 2)
    model = LinearFinal().fit(X, effect[:, None])
    new = np.array([[x.mean(), 0.0], [x.mean(), 2.0]])
    assert model.predict(new)[:, 0] == pytest.approx([1.0, 4.0])
    low, high = model.predict_interval(new, alpha=0.05)
    assert (high - low).max() < 1e-6  # exact fit: no residual, no width
