"""The ensemble family in the train stage on a tiny cohort: cross-validated, saved, served,
intervals and explanations through its members."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest

from conftest import pipeline_params, small_config, toy_cohort, write_params
from lbp_outcomes.cli import main

FAST = [
    "model=[linear,xgboost,ensemble]",
    "cv.folds=3",
    "cv.repeats=1",
    "tuning.n_trials=2",
    "tuning.inner_folds=2",
    "conformal.folds=2",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import Project

    project = Project(tmp_path_factory.mktemp("ensemble") / "proj")
    project.root.joinpath("data/source").mkdir(parents=True, exist_ok=True)
    toy_cohort().to_csv(project.root / "data/source/small.csv", index=False)
    write_params(project, pipeline_params(small_config(), FAST))
    for stage in ("cohort", "clean", "features", "train"):
        assert main(["-C", str(project.root), stage]) == 0, stage
    cv = json.loads((project.root / "reports/metrics/cv.json").read_text())
    return project.root, cv


def test_ensemble_is_cross_validated_like_any_family(trained):
    root, cv = trained
    folds = pd.read_csv(root / "reports/cv/folds.csv")
    oof = pd.read_parquet(root / "reports/cv/oof.parquet")
    for target, metric in (("pain_post", "r2"), ("responder", "auroc")):
        assert {"linear", "xgboost", "ensemble"} <= set(cv[target])
        assert np.isfinite(cv[target]["ensemble"][metric]["mean"])
        ours = folds[(folds.target == target) & (folds.family == "ensemble")]
        assert len(ours[ours.metric == metric]) == 3
        # each outer prediction is the weighted mean of the members' (clipped if binary)
        part = oof[oof.target == target].pivot_table(
            index=["fold", "row"], columns="family", values="predicted"
        )
        low, high = part[["linear", "xgboost"]].min(axis=1), part[["linear", "xgboost"]].max(axis=1)
        assert ((part["ensemble"] >= low - 1e-9) & (part["ensemble"] <= high + 1e-9)).all()


def test_saved_ensemble_is_its_members_weighted(trained):
    root, cv = trained
    manifest = json.loads((root / "models/manifest.json").read_text())
    frame = pd.read_parquet(root / "data/features/development.parquet")
    X = frame[manifest["features"]]
    for target in ("pain_post", "responder"):
        weights = manifest["targets"][target]["families"]["ensemble"]["params"]["weights"]
        assert set(weights) == {"linear", "xgboost"} and sum(weights.values()) == pytest.approx(1)
        model = joblib.load(root / "models" / target / "ensemble.joblib")
        members = {f: joblib.load(root / "models" / target / f"{f}.joblib") for f in weights}
        if target == "pain_post":
            expected = sum(w * members[f].predict(X) for f, w in weights.items())
            assert np.allclose(model.predict(X), expected)
        else:
            expected = sum(w * members[f].predict_proba(X) for f, w in weights.items())
            assert np.allclose(model.predict_proba(X), expected)
        assert_loggable(model, X)


def assert_loggable(model, X):
    """MLflow logs models with skops, trusting the types the model's structure shows: the
    ensemble's structure shows its members', so it loads back (e.g. from the registry)."""
    import skops.io as sio

    from lbp_outcomes.tracking.models import _trusted_types

    back = sio.loads(sio.dumps(model), trusted=_trusted_types(model, sio))
    assert np.array_equal(back.predict(X), model.predict(X))


def test_ensemble_gets_conformal_intervals_and_shap_through_its_members(trained):
    from sklearn.base import clone

    from lbp_outcomes import intervals
    from lbp_outcomes.config import load_params
    from lbp_outcomes.explain import explain_pipeline, explainer_kind
    from lbp_outcomes.models.preprocess import FeatureSpec

    root, _ = trained
    params = load_params(root)
    spec = FeatureSpec.from_config(params.data)
    frame = pd.read_parquet(root / "data/features/development.parquet")
    frame = frame[frame["pain_post"].notna()].reset_index(drop=True)
    X, y = frame[spec.columns], frame["pain_post"].to_numpy(float)
    model = joblib.load(root / "models/pain_post/ensemble.joblib")
    cfg = params.conformal.model_copy(update={"level": 0.8, "folds": 2})
    family = params.model["ensemble"]
    fitted = intervals.fit(family, spec, {}, X, y, cfg, seed=1, pipe=clone(model))
    low, high = intervals.predict_interval(fitted, X)
    assert (low <= high).all() and 0.6 < np.mean((y >= low) & (y <= high)) <= 1

    assert explainer_kind(model[-1], None) == "ensemble"
    shap = explain_pipeline(model, X[:20], X[20:40], "regression", spec, "ensemble", 0, "points")
    # efficiency: base value + row sum = the ensemble's prediction
    total = shap.base_value + shap.values.sum(axis=1)
    assert np.allclose(total, model.predict(X[:20]), atol=1e-3)
