"""Stage contracts (lbp_outcomes.catalog): outputs round-trip byte for byte, a renamed field
is an error naming the file, and the package's import graph stays acyclic."""

from __future__ import annotations

import importlib.util
import json

import pytest

from conftest import REPO
from lbp_outcomes import catalog
from lbp_outcomes.atomic import to_json_text
from lbp_outcomes.errors import UserError
from lbp_outcomes.metricinfo import HIGHER_IS_BETTER, METRICS, PRIMARY, TASK_METRICS

STATS = {"mean": 0.71, "sd": 0.05, "ci_low": 0.66, "ci_high": 0.76}
CV = {
    "pain": {"champion": "xgboost", "n": 120, "xgboost": {"r2": STATS}, "linear": {"r2": STATS}},
    "responder": {"champion": "linear", "n": 120, "linear": {"auroc": STATS, "brier": STATS}},
}


def test_cv_metrics_keep_their_flat_layout_byte_for_byte():
    parsed = catalog.CV_METRICS.parse(CV)
    assert list(parsed["pain"].families) == ["xgboost", "linear"]
    assert parsed["pain"].families["xgboost"]["r2"].mean == 0.71
    assert parsed["pain"].task == "regression" and parsed["responder"].task == "binary"
    assert to_json_text(catalog.CV_METRICS.dump(parsed)) == to_json_text(CV)


def test_optional_fields_never_set_stay_out_of_the_file():
    report = {"available": False, "reason": "the data config defines no external cohort"}
    assert catalog.EXTERNAL_METRICS.dump(report) == report


def test_a_renamed_field_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / catalog.CV_METRICS.path
    path.parent.mkdir(parents=True)
    renamed = {"pain": {**CV["pain"], "xgboost": {"r2": {**STATS, "average": STATS["mean"]}}}}
    del renamed["pain"]["xgboost"]["r2"]["mean"]
    path.write_text(json.dumps(renamed))
    with pytest.raises(UserError, match=r"reports/metrics/cv.json: .*mean.*run the train stage"):
        catalog.CV_METRICS.read(tmp_path)
    assert catalog.CV_METRICS.read_optional(tmp_path) is None


def test_a_missing_output_names_the_stage_that_writes_it(tmp_path):
    with pytest.raises(UserError, match=r"models/manifest.json: not found; run the train stage"):
        catalog.MANIFEST.read(tmp_path)


def test_metric_table_is_one_source_for_champions_and_the_report():
    assert PRIMARY == {"regression": "r2", "binary": "auroc"}
    assert HIGHER_IS_BETTER["r2"] and not HIGHER_IS_BETTER["brier"]
    assert "calibration_slope" not in HIGHER_IS_BETTER  # a target value, not a direction
    assert all(m in METRICS for names in TASK_METRICS.values() for m in names)
    assert METRICS["r2"].bounds == (None, 1.0) and METRICS["auroc"].landmarks == (0.5, 1)


def test_import_graph_has_no_cycles():
    spec = importlib.util.spec_from_file_location("code_shape", REPO / "scripts/code_shape.py")
    shape = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shape)
    known = shape.modules()
    graph = {name: shape.imports(path, known) for name, path in known.items()}
    assert shape.cycles(graph) == []
    # train consumes tracking, and tracking sees TrainResult only as a type: no cycle
    assert "lbp_outcomes.tracking" in graph["lbp_outcomes.train"]
    assert "lbp_outcomes.train" not in graph["lbp_outcomes.tracking"]


def test_importance_of_a_tree_explainer_has_no_background():
    entry = {
        "family": "xgboost", "shap_unit": "degrees", "explainer": "tree", "base_value": 23.5,
        "n_explained": 431, "n_background": None, "features": {"age": 0.2}, "ranking": ["age"],
        "groups": {"age": {"members": ["age"], "importance": 0.2}}, "group_ranking": ["age"],
    }  # fmt: skip
    assert catalog.IMPORTANCE.dump({"pain": entry}) == {"pain": entry}
    with pytest.raises(ValueError, match=r"pain\.n_explained"):
        catalog.IMPORTANCE.parse({"pain": {**entry, "n_explained": "many"}})


def test_only_tracking_talks_to_mlflow():
    import ast

    users = set()
    for path in (REPO / "src" / "lbp_outcomes").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "mlflow" or n.startswith("mlflow.") for n in names):
                users.add(path.relative_to(REPO / "src" / "lbp_outcomes").parts[0])
    # mlflow_app.py is the UI server plugin MLflow itself loads (`mlflow ui --app-name`)
    assert users == {"tracking", "mlflow_app.py"}


def test_unknown_keys_are_read_but_never_written():
    newer = {"available": True, "n": 5, "new_top_level": 1, "targets": {}}
    assert catalog.EXTERNAL_METRICS.parse(newer).n == 5  # a newer file still reads
    with pytest.raises(ValueError, match=r"undeclared field\(s\) new_top_level"):
        catalog.EXTERNAL_METRICS.dump(newer)
    misspelt = {"pain": {**CV["pain"], "xgboost": {"r2": {**STATS, "ci_hi": 0.8}}}}
    with pytest.raises(ValueError, match=r"pain\.families\.xgboost\.r2\.ci_hi"):
        catalog.CV_METRICS.dump(misspelt)
