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
    write_params(
        project,
        pipeline_params(
            small_config(),
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


def test_csv_in_csv_out_with_intervals_and_probabilities(project, capsys, monkeypatch):
    monkeypatch.chdir(project.root)
    code, out, _ = predict(project, capsys, "--input", "new.csv")
    assert code == 0
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert list(table.columns) == [
        "row",
        "pid",
        "pain_post",
        "pain_post_lower",
        "pain_post_upper",
        "responder_probability",
    ]
    assert table["row"].tolist() == [1, 2, 3]
    assert (table["pain_post_lower"] <= table["pain_post"]).all()
    assert (table["pain_post"] <= table["pain_post_upper"]).all()
    assert table["responder_probability"].between(0, 1).all()
    # the point prediction is the champion's, as saved by the train stage
    manifest = json.loads((project.root / "models/manifest.json").read_text())
    champion = manifest["targets"]["pain_post"]["champion"]
    model = joblib.load(project.root / "models/pain_post" / f"{champion}.joblib")
    expected = model.predict(pd.read_csv(project.root / "new.csv")[["age", "bmi", "sex", "grade"]])
    assert table["pain_post"].to_numpy() == pytest.approx(np.round(expected, 4), abs=1e-4)


def test_one_patient_as_json(project, capsys):
    patient = json.dumps({"age": 44, "bmi": 29.5, "sex": "M", "grade": "mild"})
    code, out, _ = predict(project, capsys, "--input", patient, "--format", "json")
    assert code == 0
    [record] = json.loads(out)
    assert record["row"] == 1
    pain = record["outcomes"]["pain_post"]
    assert pain["lower"] <= pain["prediction"] <= pain["upper"] and pain["level"] == 0.9
    assert 0 <= record["outcomes"]["responder"]["probability"] <= 1


def test_output_file(project, capsys, tmp_path):
    target = tmp_path / "out.json"
    code, _, err = predict(
        project, capsys, "--input", str(project.root / "new.csv"), "--output", str(target)
    )
    assert code == 0 and "wrote 3 patients" in err
    assert len(json.loads(target.read_text())) == 3


@pytest.mark.parametrize(
    "patients,fragments",
    [
        (
            PATIENTS.replace("N2,52", "N2,152"),
            ["patient row 2", "column 'age'", "value 152", "outside [18, 90]"],
        ),
        (PATIENTS.replace("N3,33,27", "N3,33,"), ["patient row 3", "missing value for 'bmi'"]),
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
        "missing value",
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
