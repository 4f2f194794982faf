"""`lbp-outcomes predict`: registered champions, intervals, probabilities, bad input."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest

from conftest import Project, pipeline_params, small_config, toy_cohort, write_params
from lbp_outcomes.cli import main

PATIENTS = "pid,age,bmi,sex,grade\nN1,57,23.7,F,mild\nN2,52,31,M,severe\nN3,33,27,F,moderate\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = Project(tmp_path_factory.mktemp("predict") / "proj")
    project.root.joinpath("data/source").mkdir(parents=True)
    toy_cohort(n=120, seed=8).to_csv(project.root / "data/source/small.csv", index=False)
    config = small_config(
        **{
            "display.pain_post.label": "Pain after treatment",
            "display.pain_post.unit": "NRS 0-10",
            "source.csv": {"na_values": ["", "NA_NA"]},  # the trial's own missing-value code
        }
    )
    write_params(
        project,
        pipeline_params(
            config,
            ["cv.folds=3", "cv.repeats=1", "tuning=none", "model=[xgboost,linear]"],
            tracking=True,
        ),
    )
    for stage in ("cohort", "clean", "features", "train"):
        assert main(["-C", str(project.root), stage]) == 0, stage
    project.write("new.csv", PATIENTS)
    return project


def predict(project, capsys, *args):
    capsys.readouterr()
    code = main(["-C", str(project.root), "predict", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


PAIN = "Pain after treatment (NRS 0-10)"


def test_csv_in_csv_out_with_intervals_and_probabilities(project, capsys, monkeypatch):
    monkeypatch.chdir(project.root)
    code, out, err = predict(project, capsys, "--input", "new.csv")
    assert code == 0
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert list(table.columns) == [
        "row",
        "pid",
        "missing in the input, imputed by the model",
        f"{PAIN}: predicted",
        f"{PAIN}: 90% interval lower",
        f"{PAIN}: 90% interval upper",
        f"{PAIN}: model",
        "responder: probability",
        "responder: model",
        "trained on",
    ]
    assert table["row"].tolist() == [1, 2, 3]
    point, lower, upper = (table[f"{PAIN}: {w}"] for w in ("predicted", "90% interval lower",
                                                            "90% interval upper"))  # fmt: skip
    assert (lower <= point).all() and (point <= upper).all()
    assert lower.between(0, 10).all() and upper.between(0, 10).all()  # the declared range
    # never certainty: the champion's probabilities are clipped as in CV and validation
    assert table["responder: probability"].between(0.001, 0.999).all()
    # the point prediction is the champion's, as saved by the train stage, to 1 decimal
    manifest = json.loads((project.root / "models/manifest.json").read_text())
    champion = manifest["targets"]["pain_post"]["champion"]
    model = joblib.load(project.root / "models/pain_post" / f"{champion}.joblib")
    expected = model.predict(pd.read_csv(project.root / "new.csv")[["age", "bmi", "sex", "grade"]])
    assert point.to_numpy() == pytest.approx(np.round(expected.astype(float), 1), abs=1e-9)
    label = {"xgboost": "XGBoost", "linear": "Linear (elastic net)"}[champion]
    assert set(table[f"{PAIN}: model"]) == {f"{label}, registry v1"}
    assert set(table["trained on"]) and "small (development cohort" in table["trained on"][0]
    # standard error: each model with its CV discrimination and calibration
    assert f"{PAIN}: {label}, registry v1 (lbp-outcomes.small.pain_post)" in err
    assert "CV: AUROC" in err and "calibration slope" in err and "calibration-in-the-large" in err
    assert "SYNTHETIC" not in err


def test_missing_values_are_imputed_as_in_training(project, capsys, tmp_path):
    """Empty cells and the config's own missing-value code ("NA_NA", read with the data
    config's na_values, as in training) get a prediction; the output names them."""
    path = tmp_path / "gaps.csv"
    path.write_text(PATIENTS.replace("N2,52,31,M", "N2,52,NA_NA,M").replace("N3,33,27", "N3,,27"))
    code, out, _ = predict(project, capsys, "--input", str(path), "--format", "json")
    assert code == 0
    patients = json.loads(out)["patients"]
    assert [p["imputed"] for p in patients] == [[], ["bmi"], ["age"]]
    manifest = json.loads((project.root / "models/manifest.json").read_text())
    champion = manifest["targets"]["pain_post"]["champion"]
    model = joblib.load(project.root / "models/pain_post" / f"{champion}.joblib")
    frame = pd.DataFrame(
        {"age": [57, 52, np.nan], "bmi": [23.7, np.nan, 27], "sex": ["F", "M", "F"],
         "grade": ["mild", "severe", "moderate"]}
    )  # fmt: skip
    expected = np.round(model.predict(frame).astype(float), 1)
    got = [p["outcomes"]["pain_post"]["prediction"] for p in patients]
    assert got == pytest.approx(expected, abs=1e-9)


def test_one_patient_as_json(project, capsys):
    patient = json.dumps({"age": 44, "bmi": 29.5, "sex": "M", "grade": "mild"})
    code, out, _ = predict(project, capsys, "--input", patient, "--format", "json")
    assert code == 0
    result = json.loads(out)
    [record] = result["patients"]
    assert record["row"] == 1 and record["imputed"] == []
    pain = record["outcomes"]["pain_post"]
    assert pain["lower"] <= pain["prediction"] <= pain["upper"] and pain["level"] == 0.9
    assert pain["label"] == PAIN and pain["unit"] == "NRS 0-10"
    assert 0 < record["outcomes"]["responder"]["probability"] < 1
    model = result["models"]["responder"]
    assert model["version"] == "1" and model["family"] in {"xgboost", "linear"}
    assert model["registered_name"] == "lbp-outcomes.small.responder"
    shown = {(p["where"], p["metric"]) for p in model["performance"]}
    assert {("CV", "auroc"), ("CV", "calibration_intercept"), ("CV", "calibration_slope")} <= shown
    assert result["trained_on"]["synthetic"] is False
    assert result["trained_on"]["data_config"] == "small"
    assert result["columns"]["pain_post"] == f"{PAIN}: predicted"


def test_output_file(project, capsys, tmp_path):
    target = tmp_path / "out.json"
    code, _, err = predict(
        project, capsys, "--input", str(project.root / "new.csv"), "--output", str(target)
    )
    assert code == 0 and "wrote 3 patients" in err
    assert len(json.loads(target.read_text())["patients"]) == 3


@pytest.mark.parametrize(
    "patients,fragments",
    [
        (
            PATIENTS.replace("N2,52", "N2,152"),
            ["patient row 2", "column 'age'", "value 152", "outside [18, 90]"],
        ),
        (
            PATIENTS.replace(",M,severe", ",X,severe"),
            ["patient row 2", "column 'sex'", "'X'", "not one of"],
        ),
        (PATIENTS.replace("N1,57", "N1,old"), ["patient row 1", "column 'age'", "not a number"]),
        (
            PATIENTS.replace("grade", "grad"),
            ["missing feature column 'grade'", "did you mean 'grad'"],
        ),
        ("", ["empty"]),
    ],
    ids=[
        "out of range",
        "unknown category",
        "text in numeric",
        "missing column",
        "empty",
    ],
)
def test_bad_patients_get_one_line_naming_the_row(project, capsys, tmp_path, patients, fragments):
    path = tmp_path / "bad.csv"
    path.write_text(patients)
    code, out, err = predict(project, capsys, "--input", str(path))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_bad_json_and_missing_file(project, capsys):
    code, _, err = predict(project, capsys, "--input", '{"age": 44,')
    assert code == 2 and "not valid JSON" in err
    code, _, err = predict(project, capsys, "--input", "nowhere.csv")
    assert code == 2 and "nowhere.csv: file not found" in err
    (project.root / "p.xlsx").write_text("x")
    code, _, err = predict(project, capsys, "--input", str(project.root / "p.xlsx"))
    assert code == 2 and "unknown file type '.xlsx'; use .csv, .parquet or .json" in err


def test_interval_models_refuse_foreign_types(tmp_path):
    import skops.io as sio

    from lbp_outcomes import intervals
    from lbp_outcomes.errors import UserError

    path = tmp_path / "conformal.skops"
    sio.dump({"payload": pd.Timestamp("2026-01-01")}, path)  # a type no interval model holds
    with pytest.raises(UserError, match="refusing to load unexpected types"):
        intervals.load(path)


@pytest.mark.parametrize(
    "location,inside",
    [
        ("file://{store}/mlruns/artifacts/m-1/artifacts", True),
        ("file://{quoted}/mlruns/artifacts/m-1/artifacts", True),  # percent-encoded
        ("{store}/mlruns/artifacts/m-1", True),
        ("file:///elsewhere/mlruns/artifacts/m-1", False),
        ("file://{store}/../elsewhere/m-1", False),
        ("mlflow-artifacts:/0/models/m-1", False),  # would resolve against the cwd
        ("s3://bucket/mlruns/m-1", False),
        ("http://example.org/m-1", False),
        ("mlruns/artifacts/m-1", False),
    ],
)
def test_models_load_only_from_the_projects_own_store(tmp_path, monkeypatch, location, inside):
    from urllib.parse import quote

    from lbp_outcomes.predict import local_artifact_path

    store = (tmp_path / "my project").resolve()  # a space: percent-encoded in file URIs
    store.mkdir()
    monkeypatch.chdir(store)  # users run predict from the project root
    uri = location.format(store=store, quoted=quote(str(store)))
    local = local_artifact_path(uri)
    assert (local is not None and local.is_relative_to(store)) is inside


def _outcome(target, kind, bounds=None, label="", unit=""):
    from lbp_outcomes.predict_output import ModelInfo, Outcome, _digits

    model = ModelInfo("random_forest", "Random forest", f"lbp-outcomes.x.{target}", "3", "")
    return Outcome(target, kind, label or target, unit, bounds, _digits(bounds), model)


def test_intervals_are_clipped_to_the_declared_range_and_numbers_rounded():
    """The issue's cases: an ODI lower bound of -2.35 on a 0-50 scale, float32 noise
    (22.748899459838867), and probabilities that must not print as 0 or 1."""
    from lbp_outcomes.predict_output import present, to_csv

    raw = pd.DataFrame(
        {
            "odi_post": np.array([22.748899459838867, 49.2, -0.4], dtype=np.float32),
            "odi_post_lower": [-2.35, 41.0, -9.0],
            "odi_post_upper": [40.1, 57.3, 5.25],
            "mcic_probability": [0.99996, 0.2345678, 0.0004],
        }
    )
    outcomes = [
        _outcome("odi_post", "regression", (0.0, 50.0), "Disability after treatment", "ODI"),
        _outcome("mcic", "binary", label="ODI improved by ≥ 6 points"),
    ]
    trained = {"text": "x (SYNTHETIC cohort, not real patients)", "synthetic": True,
               "data_config": "x"}  # fmt: skip
    result = present(raw, None, None, [[], [], ["bmi"]], outcomes, trained, 0.9)
    table = result.table
    assert table["odi_post"].tolist() == [22.7, 49.2, 0.0]
    assert table["odi_post_lower"].tolist() == [0.0, 41.0, 0.0]
    assert table["odi_post_upper"].tolist() == [40.1, 50.0, 5.2]
    assert table["mcic_probability"].tolist() == [0.99996, 0.235, 0.0004]
    text = to_csv(result)
    assert text.splitlines()[0] == (
        'row,"missing in the input, imputed by the model",'
        "Disability after treatment: predicted,Disability after treatment: 90% interval lower,"
        "Disability after treatment: 90% interval upper,Disability after treatment: model,"
        "ODI improved by ≥ 6 points: probability,ODI improved by ≥ 6 points: model,trained on"
    )
    assert '22.7,0.0,40.1,"Random forest, registry v3"' in text
    assert "22.748" not in text


def test_probability_rounding_never_prints_certainty():
    from lbp_outcomes.predict_output import probability

    assert probability(0.12345) == 0.123
    assert probability(0.9996) == 0.9996 and probability(0.99999951) == 0.999999
    assert probability(0.0001) == 0.0001
    assert probability(1.0) == 1.0 and probability(0.0) == 0.0  # a saturated model says so


def test_a_synthetic_training_cohort_is_announced():
    from lbp_outcomes.predict_output import Performance, present, summary_lines

    out = _outcome("mcic", "binary", label="NRS improved by ≥ 2 points")
    out.model.performance.extend(
        [Performance("CV", "auroc", 0.9712, 0.96, 0.98),
         Performance("external", "calibration_slope", 0.551, 0.44, 0.998)]
    )  # fmt: skip
    trained = {"text": "let (SYNTHETIC ...)", "synthetic": True, "data_config": "let_synthetic"}
    raw = pd.DataFrame({"mcic_probability": [0.5, 1.0]})
    lines = summary_lines(present(raw, None, None, [[], []], [out], trained, None))
    assert lines[0].startswith("WARNING: the models were trained on a SYNTHETIC cohort")
    assert "let_synthetic" in lines[0] and "not for clinical use" in lines[0]
    assert (
        lines[1] == "NRS improved by ≥ 2 points: Random forest, registry v3 (lbp-outcomes.x.mcic)"
    )
    assert lines[2] == (
        "  warning: probability exactly 0 or 1 for 1 of 2 patients: the model is saturated, "
        "not certain (see its calibration slope)"
    )
    assert lines[3] == "  CV: AUROC 0.971 [0.960, 0.980]"
    # 0.998 is not rounded to 1.00: the interval does not reach 1
    assert lines[4] == "  external: calibration slope 0.551 [0.440, 0.998]"


def test_text_for_a_terminal(project, capsys, tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text(PATIENTS.replace("N2,52,31,M", "N2,52,,M"))
    code, out, _ = predict(project, capsys, "--input", str(path), "--format", "text")
    assert code == 0
    blocks = out.strip().split("\n\n")
    assert blocks[0].startswith("Trained on: small (development cohort")
    assert blocks[2].splitlines()[0] == "Patient 2 (pid N2); imputed: bmi"
    pain, responder = blocks[2].splitlines()[1:]
    assert pain.split()[:4] == ["Pain", "after", "treatment", "(NRS"]
    assert "90% interval" in pain and responder.endswith("% probability")


def test_percent_keeps_the_rounding_of_the_csv():
    from lbp_outcomes.predict_text import percent

    assert [percent(p) for p in (0.98, 0.999, 0.9996, 0.0004, 1.0)] == [
        "98.0%", "99.9%", "99.96%", "0.04%", "100.0%"
    ]  # fmt: skip


def test_output_format_follows_the_extension_or_the_terminal(monkeypatch):
    import sys

    from lbp_outcomes.predict import output_format

    assert output_format("x.JSON") == "json" and output_format("x.txt") == "text"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert output_format(None) == "text"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert output_format(None) == "csv"  # piped: machine-readable
