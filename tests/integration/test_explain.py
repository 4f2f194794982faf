"""SHAP explanations: one per champion, mapped back to input columns, grouped, compared
with a published reference, deterministic, and logged under the pipeline's MLflow run."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import Project, pipeline_params, small_config, toy_cohort, write_params
from lbp_outcomes.cli import main

# calibration=none: these tests check the tree and linear explainers on the bare estimators
# (a recalibrated binary model is explained on its inner model's score, tested below).
FAST = ["cv.folds=3", "cv.repeats=1", "tuning=none", "conformal.enabled=false", "calibration=none"]
DERIVED = {"age_bmi": {"expr": "age * bmi"}}
# "height" is no input of the toy cohort: it can never be found
REFERENCE = {"study": "toy study", "top_predictors": ["grade", "age", "bmi", "sex", "height"]}
INPUTS = ["age", "bmi", "age_bmi", "sex", "grade"]
TARGETS = {"pain_post", "responder"}
SHAP = Path("reports/shap")


def data_config(reference: bool = True) -> dict:
    changes = {"derived": DERIVED}
    if reference:
        changes["reference"] = REFERENCE
    return small_config(**changes)


def build(root: Path, family: str, reference: bool = True, explain: bool = True) -> Project:
    """A toy project trained with one model family (so it is every target's champion)."""
    project = Project(root)
    project.root.joinpath("data/source").mkdir(parents=True)
    toy_cohort(n=120).to_csv(project.root / "data/source/small.csv", index=False)
    write_params(project, pipeline_params(data_config(reference), [*FAST, f"model={family}"]))
    stages = ["cohort", "clean", "features", "train"] + (["explain"] if explain else [])
    for stage in stages:
        assert main(["-C", str(project.root), stage]) == 0, stage
    return project


def importance(project: Project) -> dict:
    return json.loads((project.root / SHAP / "importance.json").read_text())


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> Project:
    return build(tmp_path_factory.mktemp("trees") / "proj", "xgboost")


@pytest.fixture(scope="module")
def linear(tmp_path_factory) -> Project:
    return build(tmp_path_factory.mktemp("linear") / "proj", "linear", reference=False)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory) -> Project:
    return build(tmp_path_factory.mktemp("mlp") / "proj", "mlp")


def test_importance_json_describes_every_target(trees):
    report = importance(trees)
    assert set(report) == TARGETS
    for target, entry in report.items():
        assert entry["family"] == "xgboost"
        assert entry["explainer"] == "tree"
        assert entry["n_explained"] == 120
        assert entry["n_background"] is None  # the tree explainer needs none
        assert sorted(entry["ranking"]) == sorted(INPUTS), target
        assert all(math.isfinite(v) and v >= 0 for v in entry["features"].values())
        values = [entry["features"][c] for c in entry["ranking"]]
        assert values == sorted(values, reverse=True)
    # units: the outcome's own (none declared here) and log-odds for a booster
    assert report["pain_post"]["shap_unit"] == "outcome units"
    assert report["responder"]["shap_unit"] == "log-odds"


@pytest.mark.parametrize("which", ["trees", "linear", "mlp"])
def test_the_features_that_drive_the_outcomes_rank_top_two(which, request):
    """toy_cohort: a severe grade (and age) drive pain_post; BMI (and grade) drive
    responder."""
    project = request.getfixturevalue(which)
    report = importance(project)
    assert "grade" in report["pain_post"]["ranking"][:2], report["pain_post"]["ranking"]
    assert "bmi" in report["responder"]["ranking"][:2], report["responder"]["ranking"]


def test_encoded_columns_are_mapped_back_to_input_columns(linear):
    """The dense pipeline one-hot encodes sex and adds missing indicators for bmi and
    age_bmi; every input column still appears exactly once, with no encoded names."""
    import joblib

    pipeline = joblib.load(linear.root / "models/pain_post/linear.joblib")
    encoded = list(pipeline[0].get_feature_names_out())
    assert "cat__sex_F" in encoded and "num__missingindicator_bmi" in encoded
    for entry in importance(linear).values():
        assert entry["explainer"] == "linear"
        assert len(entry["ranking"]) == len(set(entry["ranking"])) == len(INPUTS)
        assert set(entry["features"]) == set(INPUTS)
    table = pd.read_csv(linear.root / SHAP / "importance.csv")
    assert set(table.columns) >= {"target", "feature", "mean_abs_shap", "rank"}
    assert sorted(table["feature"].unique()) == sorted(INPUTS)
    assert not table["feature"].str.contains("__").any()
    assert table.groupby("target")["feature"].nunique().eq(len(INPUTS)).all()


def test_derived_feature_and_its_sources_form_one_group(trees):
    for entry in importance(trees).values():
        groups = entry["groups"]
        assert set(groups) == {"age, bmi, age_bmi", "sex", "grade"}
        assert groups["age, bmi, age_bmi"]["members"] == ["age", "bmi", "age_bmi"]
        assert sorted(entry["group_ranking"]) == sorted(groups)
        for group in groups.values():
            assert math.isfinite(group["importance"]) and group["importance"] >= 0
            members = [entry["features"][m] for m in group["members"]]
            # mean |sum| <= sum of mean |.|; a lone column is its own group
            assert group["importance"] <= sum(members) + 1e-5
            if len(members) == 1:
                assert group["importance"] == pytest.approx(members[0], abs=1e-6)
    groups = pd.read_csv(trees.root / SHAP / "groups.csv")
    assert set(groups["target"]) == TARGETS
    assert "age;bmi;age_bmi" in set(groups["members"])


def test_comparison_with_the_published_top_predictors(trees, capsys):
    report = importance(trees)
    for entry in report.values():
        ref = entry["reference"]
        assert ref["top_predictors"] == REFERENCE["top_predictors"]
        assert ref["top5"] == entry["ranking"][:5]
        assert ref["shared"] == [p for p in REFERENCE["top_predictors"] if p in ref["top5"]]
        assert ref["overlap"] == len(ref["shared"]) == 4  # all 5 inputs are the top five
        assert ref["not_inputs"] == ["height"]
        # only three groups: every known reference predictor's group is in the top five
        assert ref["group_overlap"] == 4
    # the stage prints one line per target with its top five and the overlap
    main(["-C", str(trees.root), "explain"])
    out = capsys.readouterr().out
    assert "pain_post (xgboost, tree): top 5" in out and "found 4/5" in out
    assert "'height'" in out  # warned: the reference names a column that is no input


def test_without_a_reference_there_is_no_comparison(linear):
    for entry in importance(linear).values():
        assert "reference" not in entry


def test_mlp_champion_uses_the_permutation_explainer(mlp):
    report = importance(mlp)
    for entry in report.values():
        assert entry["family"] == "mlp"
        assert entry["explainer"] == "permutation"
        assert entry["n_background"] == 100
        assert set(entry["features"]) == set(INPUTS)
    assert report["responder"]["shap_unit"] == "probability"


@pytest.mark.parametrize("which", ["trees", "linear", "mlp"])
def test_shap_values_add_up_to_each_patients_prediction(which, request):
    """Local accuracy after mapping to input columns: base value + row sum = the model's
    output (log-odds for boosters and logistic models, probability for the MLP)."""
    import joblib

    from lbp_outcomes import catalog
    from lbp_outcomes.config import load_params
    from lbp_outcomes.explain import explain_target
    from lbp_outcomes.models.preprocess import FeatureSpec

    root = request.getfixturevalue(which).root
    params = load_params(root)
    spec = FeatureSpec.from_config(params.data)
    manifest = catalog.MANIFEST.read(root)
    frame = pd.read_parquet(root / "data/features/development.parquet")
    for target, entry in manifest.targets.items():
        attribution, family = explain_target(params, root, frame, spec, target, entry)
        X = frame.loc[frame[target].notna(), spec.columns]
        pipeline = joblib.load(root / "models" / entry.families[family].file)
        if entry.task == "regression":
            output = pipeline.predict(X)
        elif attribution.unit == "log-odds":
            output = pipeline.decision_function(X) if which == "linear" else _logit(pipeline, X)
        else:
            output = pipeline.predict_proba(X)[:, 1]
        assert attribution.values.shape == (len(X), len(spec.columns))
        total = attribution.base_value + attribution.values.sum(axis=1)
        np.testing.assert_allclose(total, output, atol=1e-4)


def _logit(pipeline, X):
    p = pipeline.predict_proba(X)[:, 1]
    return np.log(p / (1 - p))


def test_plots_for_every_target(trees):
    for target in TARGETS:
        for kind in ("bar", "beeswarm"):
            path = trees.root / SHAP / f"{target}_{kind}.png"
            assert path.stat().st_size > 10_000, path


@pytest.mark.parametrize("which", ["trees", "mlp"])
def test_a_second_run_gives_identical_files(which, request):
    root = request.getfixturevalue(which).root
    names = sorted(p.name for p in (root / SHAP).iterdir())
    before = {name: (root / SHAP / name).read_bytes() for name in names}
    assert main(["-C", str(root), "explain"]) == 0
    assert sorted(p.name for p in (root / SHAP).iterdir()) == names
    for name in names:
        assert (root / SHAP / name).read_bytes() == before[name], name


def test_no_patient_ids_in_any_output(trees):
    for path in (trees.root / SHAP).iterdir():
        if path.suffix in {".json", ".csv"}:
            assert "P0-" not in path.read_text(), path


def test_row_limits_are_respected_with_seeded_samples(mlp, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(mlp.root, root)
    params = pipeline_params(
        data_config(), [*FAST, "model=mlp", "explain.max_rows=40", "explain.background_rows=15"]
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert main(["-C", str(root), "explain"]) == 0
    first = (root / SHAP / "importance.json").read_bytes()
    for entry in json.loads(first).values():
        assert entry["n_explained"] == 40
        assert entry["n_background"] == 15
    assert main(["-C", str(root), "explain"]) == 0
    assert (root / SHAP / "importance.json").read_bytes() == first


def test_champion_family_missing_from_the_config_falls_back_on_the_estimator(linear, tmp_path):
    """Retraining with one family changes params.model; explaining older models must still
    pick the explainer from the estimator itself."""
    root = tmp_path / "copy"
    shutil.copytree(linear.root, root)
    params = pipeline_params(data_config(reference=False), [*FAST, "model=xgboost"])
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert main(["-C", str(root), "explain"]) == 0
    report = json.loads((root / SHAP / "importance.json").read_text())
    assert {e["explainer"] for e in report.values()} == {"linear"}
    assert report == importance(linear)


def test_missing_models_is_a_clear_error(project, capsys):
    write_params(project, pipeline_params(data_config(), FAST))
    assert main(["-C", str(project.root), "explain"]) == 2
    err = capsys.readouterr().err
    assert "models/manifest.json: not found; run the train stage first" in err
    assert not project.exists("reports/shap")


def test_computes_without_mlflow_the_report_stage_logs_its_outputs(trees, tmp_path):
    """explain is a pure function of its inputs: it leaves the parent run alone (the report
    stage logs reports/shap/: tests/integration/test_report.py)."""
    import mlflow

    from lbp_outcomes.atomic import Outputs
    from lbp_outcomes.config import load_params
    from lbp_outcomes.tracking import Tracker, write_tracking_file

    root = tmp_path / "copy"
    shutil.copytree(trees.root, root)
    params = pipeline_params(data_config(), [*FAST, "model=xgboost"], tracking=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # a parent run as the train stage leaves it (without the slow model logging)
    tracker = Tracker(load_params(root), root)
    with tracker.pipeline_run("train"), Outputs() as out:
        write_tracking_file(out, root, tracker)
    assert main(["-C", str(root), "explain"]) == 0
    assert (root / SHAP / "importance.json").is_file()

    info = json.loads((root / "reports/tracking.json").read_text())
    client = mlflow.MlflowClient(info["tracking_uri"])
    run = client.get_run(info["parent_run_id"])
    assert "stage.explain" not in run.data.tags
    assert not [k for k in run.data.metrics if k.startswith("explain.")]
    assert not client.list_artifacts(run.info.run_id, "shap")


# -- pure functions ----------------------------------------------------------------------------
def test_groups_merge_through_shared_sources_and_parse_expressions():
    from lbp_outcomes.dataconfig import DataConfig
    from lbp_outcomes.explain import derived_sources, feature_groups

    cfg = DataConfig.model_validate(
        small_config(
            derived={
                "bmi_sq": {"expr": "bmi ** 2"},
                "age_bmi": {"expr": "`age` * bmi_sq + 1"},  # via another derived feature
                "old": {"expr": "age > 60"},
            }
        )
    )
    assert derived_sources(cfg, "age_bmi") == ["age", "bmi_sq"]
    columns = ["age", "bmi", "bmi_sq", "age_bmi", "old", "sex", "grade"]
    groups = feature_groups(cfg, columns)
    assert groups == {
        "age, bmi, bmi_sq, age_bmi, old": ["age", "bmi", "bmi_sq", "age_bmi", "old"],
        "sex": ["sex"],
        "grade": ["grade"],
    }


def test_input_matrix_codes_categories_in_config_order():
    from lbp_outcomes.dataconfig import DataConfig
    from lbp_outcomes.explain import input_matrix
    from lbp_outcomes.models.preprocess import FeatureSpec

    spec = FeatureSpec.from_config(DataConfig.model_validate(small_config()))
    X = pd.DataFrame(
        {"age": [30, 40], "bmi": [22.5, np.nan], "sex": ["M", None], "grade": ["severe", "mild"]}
    )
    codes = input_matrix(X, spec)
    np.testing.assert_array_equal(codes[0], [30, 22.5, 1, 2])
    assert np.isnan(codes[1, 1]) and np.isnan(codes[1, 2]) and codes[1, 3] == 0


def test_permutation_fast_path_equals_running_the_whole_pipeline(mlp, monkeypatch):
    """The MLP's masked patients are assembled from preprocessed columns; running the
    whole pipeline on the assembled raw inputs (the fallback) must give the same values."""
    import joblib

    from lbp_outcomes import explain
    from lbp_outcomes.config import load_params
    from lbp_outcomes.explain import permutation
    from lbp_outcomes.models.preprocess import FeatureSpec

    params = load_params(mlp.root)
    spec = FeatureSpec.from_config(params.data)
    frame = pd.read_parquet(mlp.root / "data/features/development.parquet")
    X, background = frame[spec.columns].iloc[:12], frame[spec.columns].iloc[50:70]
    pipeline = joblib.load(mlp.root / "models/responder/mlp.joblib")

    def shap_values():
        args = (pipeline, X, background, "binary", spec, "permutation", 7, "")
        return explain.explain_pipeline(*args).values

    fast = shap_values()
    monkeypatch.setattr(permutation, "source_feature", lambda name, spec: "?")  # no fast path
    np.testing.assert_allclose(shap_values(), fast, rtol=1e-9, atol=1e-12)


def _recalibrated(family: str):
    """A toy (prep, RecalibratedClassifier(tree model)) pipeline and its inputs."""
    from lbp_outcomes.config import compose, validate_params
    from lbp_outcomes.dataconfig import DataConfig
    from lbp_outcomes.models.calibrated import RecalibratedClassifier
    from lbp_outcomes.models.families import make_pipeline
    from lbp_outcomes.models.preprocess import FeatureSpec

    cfg = DataConfig.model_validate(small_config())
    spec = FeatureSpec.from_config(cfg)
    frame = toy_cohort(n=150)
    X = frame[spec.columns].reset_index(drop=True)
    y = (frame["responder"] == "yes").to_numpy(dtype=float)
    fam = validate_params(compose([], root=Path(__file__).parents[2]), source="conf").model
    pipe = make_pipeline(fam[family], "binary", spec, seed=0, overrides={"n_estimators": 30})
    pipe.steps[-1] = ("model", RecalibratedClassifier(pipe[-1], random_state=0))
    return pipe.fit(X, y), X, spec


@pytest.mark.parametrize("family", ["xgboost", "random_forest"])
def test_a_recalibrated_tree_model_is_explained_by_the_tree_explainer_on_its_score(family):
    """The exact tree path on the model inside the calibration (not permutation SHAP), and
    additivity: base value + row sum of SHAP = the inner model's score for each patient
    (log-odds margin of a booster, vote fraction of a forest), of which the calibrated
    probability is an increasing function."""
    from scipy.special import logit

    from lbp_outcomes.explain import BEFORE_RECALIBRATION, explain_pipeline, explainer_kind

    pipeline, X, spec = _recalibrated(family)
    kind = explainer_kind(pipeline[-1], None)
    assert kind == "tree"
    rows = X.iloc[:40]
    got = explain_pipeline(pipeline, rows, X.iloc[:20], "binary", spec, kind, 1, "")
    assert got.kind == "tree" and got.unit.endswith(BEFORE_RECALIBRATION)
    score = pipeline[-1].base_score(pipeline[0].transform(rows))
    if family == "xgboost":
        assert got.unit.startswith("log-odds")
        score = logit(score)
    else:
        assert got.unit.startswith("probability")
    np.testing.assert_allclose(got.base_value + got.values.sum(axis=1), score, atol=1e-5)
    prob = pipeline.predict_proba(rows)[:, 1]
    order = np.argsort(score, kind="stable")
    assert np.all(np.diff(prob[order]) >= -1e-12)  # the calibration keeps the ranking
    again = explain_pipeline(pipeline, rows, X.iloc[:20], "binary", spec, kind, 1, "")
    np.testing.assert_array_equal(got.values, again.values)  # deterministic
