"""The effects analysis on small simulated trials with known effects: no heterogeneity
is invented where there is none (the null setting, small), and it is found, with a
learned rule that beats the best single arm, where it is large. Small settings (3 folds,
40 trees, LightGBM with 60 trees) keep each test to a few seconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from lbp_outcomes.effects import analysis, nuisance, truth
from lbp_outcomes.effects.data import Arms, Outcome
from lbp_outcomes.effects.settings import EffectsSettings

ARMS = Arms("arm", ["ref", "b", "c"], ["Ref", "B", "C"], True, [1 / 3] * 3)


def settings(final: str = "linear") -> EffectsSettings:
    raw = yaml.safe_load((REPO / "conf/effects/dr.yaml").read_text())
    raw.pop("defaults")
    family = yaml.safe_load((REPO / "conf/model/lightgbm.yaml").read_text())
    family["lightgbm"]["params"]["n_estimators"] = 60
    raw["final"] = final
    raw.update(
        nuisance=family, folds=3, n_boot=20, forest={"n_estimators": 40, "min_samples_leaf": 20}
    )
    return EffectsSettings.model_validate(raw)


def trial(n: int, seed: int, heterogeneous: bool) -> analysis.Cohort:
    """Three arms; lower outcome is better. Arm b helps patients with x1 > 0 by 2 points
    and harms the others by 1 (heterogeneous), or helps everyone by 0.5 (null)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    arm = rng.integers(0, 3, n)
    effect_b = np.where(X.x1 > 0, -2.0, 1.0) if heterogeneous else np.full(n, -0.5)
    base = 5 + X.x2.to_numpy()
    expected = np.column_stack([base, base + effect_b, base - 0.3])
    y = expected[np.arange(n), arm] + rng.normal(size=n)
    ate = {"b": float(effect_b.mean()), "c": -0.3}  # the sample's, for this check
    t = truth.Truth(
        pd.DataFrame(expected, columns=["y@ref", "y@b", "y@c"]),
        {"y": ate},
    )
    return analysis.Cohort(X, arm, X.assign(y=y), t, "simulated")


def analyse(cohort: analysis.Cohort, final: str = "linear") -> dict:
    s = settings(final)
    fold = nuisance.make_folds(cohort.arm, s.folds, 1)
    outcome = Outcome("y", "y", "regression", "lower")
    return analysis.analyse(cohort, outcome, ARMS, s, 7, fold).summary


@pytest.mark.parametrize("seed", [3, 4])
def test_null_setting_finds_no_heterogeneity(seed):
    out = analyse(trial(600, seed, heterogeneous=False))
    assert not out["heterogeneity"]["found"]
    assert out["policy"]["gain_vs_best_single_arm"]["ci_low"] <= 0  # no claimed gain
    assert out["truth"]["ate_covered_all"]
    assert out["truth"]["pehe"]["fraction"] is None  # true effects do not vary


@pytest.mark.parametrize("final", ["linear", "forest"])
def test_real_heterogeneity_is_found_and_acted_on(final):
    out = analyse(trial(600, 5, heterogeneous=True), final)
    assert out["heterogeneity"]["found"]
    assert out["validation"]["b"]["blp"]["slope"]["ci_low"] > 0
    assert out["policy"]["gain_vs_best_single_arm"]["ci_low"] > 0
    assert out["truth"]["policy"]["gain_fraction"] > 0.5
    assert out["truth"]["pehe"]["fraction"] < 0.8


def test_cohort_without_treatment_block_is_not_available(tmp_path):
    from lbp_outcomes.config import compose, validate_params
    from lbp_outcomes.effects import stage

    params = validate_params(compose([], REPO))  # let_synthetic: no treatment block
    assert stage.evaluate(params, tmp_path) == (
        {"available": False, "reason": "the data config has no treatment block"},
        None,
        None,
    )
    off = validate_params(compose(["data=let_trial", "effects=none"], REPO))
    assert stage.unavailable(off) == "effects are switched off (effects=none)"


def test_the_report_stage_logs_a_child_run_per_effects_target(tmp_path):
    """effects computes without MLflow; the report stage's log_outputs gives each target of
    an available effects.json a child run of the parent run (metrics, effects.json)."""
    import json

    import mlflow

    from conftest import pipeline_params, small_config
    from lbp_outcomes.config import load_params
    from lbp_outcomes.tracking import Tracker
    from lbp_outcomes.tracking.outputs import log_outputs

    entry = analyse(trial(300, 5, heterogeneous=True))
    folder = tmp_path / "reports/effects"
    folder.mkdir(parents=True)
    effects = {"available": True, "learner": "dr", "folds": 3, "reference": "ref"}
    (folder / "effects.json").write_text(json.dumps({**effects, "targets": {"pain": entry}}))
    params = pipeline_params(small_config(), tracking=True)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    tracker = Tracker(load_params(tmp_path), tmp_path)
    with tracker.pipeline_run("report"):
        log_outputs(tracker, tmp_path)  # no external.json, no shap: skipped, not an error

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlruns/mlflow.db'}")
    runs = client.search_runs([tracker.experiment_id])
    (child,) = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == tracker.parent_id]
    assert child.info.run_name == "effects: pain" and child.info.status == "FINISHED"
    heterogeneity = entry["heterogeneity"]["p_value"]
    assert child.data.metrics["effects.heterogeneity_p"] == pytest.approx(heterogeneity)
    assert [a.path for a in client.list_artifacts(child.info.run_id, "effects")] == [
        "effects/effects.json"
    ]
