"""A committed baseline a reviewer can check: byte-stable outputs, the reproduce command,
the compact metrics summary and stages that depend only on the params they read."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO

EXAMPLE = "example_trial"  # the smallest complete example: 100 patients, every stage


# -- unit: the summary and the canonical model files --------------------------------------------
def _cv_entry(champion: str, metric: str, mean: float) -> dict:
    stats = {metric: {"mean": mean, "sd": 0.1, "ci_low": mean - 0.1, "ci_high": mean + 0.1}}
    return {"champion": champion, "n": 100, champion: stats, "other": stats}


def test_summary_holds_the_champions_headline_numbers_only():
    from lbp_outcomes.summary import summarise

    cv = {"pain": _cv_entry("xgboost", "r2", 0.5), "relief": _cv_entry("linear", "auroc", 0.8)}
    external = {
        "available": True,
        "n": 50,
        "case_mix": {"membership_auroc": {"estimate": 0.61234}},
        "targets": {
            "pain": {
                "families": {
                    "xgboost": {"r2": {"estimate": 0.4}, "calibration_slope": {"estimate": 0.9}}
                },
                "interval": {"coverage": 0.88},
            }
        },
    }
    out = summarise(cv, external)
    assert out["pain"] == {
        "champion": "xgboost", "metric": "r2", "n": 100, "cv": 0.5, "cv_lo": 0.4,
        "cv_hi": 0.6, "ext": 0.4, "ext_slope": 0.9, "ext_cover": 0.88,
    }  # fmt: skip
    assert out["relief"] == {
        "champion": "linear", "metric": "auroc", "n": 100, "cv": 0.8, "cv_lo": 0.7,
        "cv_hi": 0.9,
    }  # fmt: skip
    assert out["external"] == {"n": 50, "membership_auroc": 0.6123}
    assert "external" not in summarise(cv, {"available": False})


def test_summary_leads_with_the_selection_included_estimate():
    from lbp_outcomes.summary import summarise

    entry = _cv_entry("xgboost", "r2", 0.5)
    entry["selected"] = {
        "metric": "r2", "mean": 0.48123, "ci": [0.38, 0.58], "folds": [0.4, 0.56123],
        "families": ["xgboost", "other"], "seconds": 12.5,
    }  # fmt: skip
    out = summarise({"pain": entry}, {"available": False})["pain"]
    assert list(out)[:6] == ["champion", "metric", "n", "sel", "sel_lo", "sel_hi"]
    assert (out["sel"], out["sel_lo"], out["sel_hi"]) == (0.4812, 0.38, 0.58)
    assert out["cv"] == 0.5  # the per-family best stays beside it


def test_model_files_are_canonical_whatever_the_object_identities():
    """Equal models give equal bytes: the same model pickled after a load round trip (which
    changes which equal strings are shared objects) gives the same file."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    from lbp_outcomes.canonical import dumps_pickle

    X = np.random.default_rng(0).normal(size=(60, 3))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    model.feature_names_in_ = np.array(["a" * 30, "b" * 30, "a" * 29 + "a"], dtype=object)
    first = dumps_pickle(model)
    assert pickle_loads_equal(first, model, X)
    assert dumps_pickle(joblib.load(_tmpfile(first))) == first
    assert dumps_pickle(model) == first


def test_tree_models_pickle_the_same_whatever_their_padding_bytes():
    """A tree's node array has uninitialised padding between fields: two equal forests
    (one a deep copy, in fresh memory) still give equal bytes."""
    import copy

    from sklearn.ensemble import RandomForestRegressor

    from lbp_outcomes.canonical import dumps_pickle

    X = np.random.default_rng(2).normal(size=(40, 3))
    model = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, X[:, 0])
    data = dumps_pickle(model)
    assert dumps_pickle(copy.deepcopy(model)) == data
    assert np.array_equal(pickle.loads(data).predict(X), model.predict(X))


@pytest.mark.parametrize("family", ["random_forest", "xgboost"])
def test_skops_files_are_canonical_whatever_the_object_identities(tmp_path, family):
    """skops names objects by id() (and an XGBoost booster by a random uuid): a deep copy
    (new ids) of a model gives the same file once canonicalised, which loads and predicts
    as the original."""
    import copy

    import skops.io as sio
    from sklearn.ensemble import RandomForestRegressor
    from xgboost import XGBRegressor

    from lbp_outcomes.canonical import canonical_skops

    X = np.random.default_rng(1).normal(size=(40, 3))
    if family == "xgboost":
        model = XGBRegressor(n_estimators=5, n_jobs=1).fit(X, X[:, 0])
    else:
        model = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, X[:, 0])
    files = []
    for i, obj in enumerate((model, copy.deepcopy(model))):
        path = tmp_path / f"m{i}.skops"
        sio.dump(obj, path)
        canonical_skops(path)
        files.append(path)
    assert files[0].read_bytes() == files[1].read_bytes()
    loaded = sio.load(files[0], trusted=sio.get_untrusted_types(file=files[0]))
    assert np.array_equal(loaded.predict(X), model.predict(X))


def pickle_loads_equal(data: bytes, model, X) -> bool:
    return bool(np.array_equal(pickle.loads(data).predict_proba(X), model.predict_proba(X)))


def _tmpfile(data: bytes) -> Path:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".joblib", delete=False) as fh:
        fh.write(data)
    return Path(fh.name)


def test_dvc_yaml_declares_one_small_metric_and_nothing_run_specific():
    """summary.json is the only DVC metric; no stage depends on where MLflow logs or CV runs
    (tracking, executor) or declares the run-specific reports/tracking.json."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    metrics = [
        next(iter(m)) if isinstance(m, dict) else m
        for stage in stages.values()
        for m in stage.get("metrics", [])
    ]
    assert metrics == ["reports/metrics/summary.json"]
    for name, stage in stages.items():
        params = {p.split(".")[0] for p in stage.get("params", [])}
        assert not params & {"tracking", "executor"}, name
        files = [next(iter(o)) if isinstance(o, dict) else o for o in stage.get("outs", [])]
        assert "reports/tracking.json" not in files + stage.get("deps", []), name
