"""The data config's `treatment` block on hostile input: each bad case is one line naming
the file, the column and the rows, exit status 2, and the last good outputs survive. Also:
the arm column reaches data/features but is never a model input, and the synthetic trial
writes its truth files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import small_config, toy_cohort
from lbp_outcomes.cli import main
from lbp_outcomes.cohort import truth
from lbp_outcomes.config import load_params

ARMS = [{"value": 0, "label": "Usual care"}, {"value": 1, "label": "Exercise"}]


def treatment(**changes):
    block = {"column": "arm", "assignment": "randomized", "reference": 0, "arms": ARMS}
    block.update(changes)
    return block


def cohort_csv(n: int = 120, seed: int = 0) -> pd.DataFrame:
    frame = toy_cohort(n, seed)
    frame.insert(2, "arm", [i % 2 for i in range(n)])  # 60 patients per arm
    return frame


def run(project, capsys, *names: str) -> tuple[int, str]:
    """Run stages in-process until one fails: (exit status, its stderr less progress lines)."""
    capsys.readouterr()
    for name in names:
        code = main(["-C", str(project.root), name])
        if code:
            err = capsys.readouterr().err.splitlines()
            return code, "\n".join(line for line in err if " done in " not in line)
    return 0, ""


def setup(project, frame: pd.DataFrame, **block) -> None:
    frame.to_csv(project.root / "data/source/small.csv", index=False)
    project.params(small_config(treatment=treatment(**block)))


@pytest.fixture
def good(project, capsys):
    """A project whose cohort, clean and features stages ran once on good data."""
    (project.root / "data/source").mkdir(parents=True)
    setup(project, cohort_csv())
    assert run(project, capsys, "cohort", "clean", "features")[0] == 0
    return project


def test_arm_column_travels_to_features_but_is_no_model_input(good):
    features = pd.read_parquet(good.root / "data/features/development.parquet")
    assert features["arm"].tolist()[:4] == ["0", "1", "0", "1"]
    cfg = load_params(good.root).data
    assert "arm" not in cfg.model_features and "arm" not in cfg.prediction_inputs
    assert cfg.treatment.others == ["1"] and cfg.treatment.label("1") == "Exercise"


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def assert_unchanged(project, before: bytes) -> None:
    assert (project.root / "data/clean/development.parquet").read_bytes() == before


def test_missing_treatment_column(good, capsys):
    before = (good.root / "data/clean/development.parquet").read_bytes()
    setup(good, cohort_csv().drop(columns="arm"))
    code, err = run(good, capsys, "cohort", "clean")
    assert code == 2
    line = one_line(err)
    assert "data/source/small.csv" in line and "'arm'" in line and "missing column" in line
    assert_unchanged(good, before)


def test_unknown_arm_value_names_the_rows(good, capsys):
    before = (good.root / "data/clean/development.parquet").read_bytes()
    frame = cohort_csv()
    frame["arm"] = frame["arm"].astype(object)
    frame.loc[[4, 9], "arm"] = [2, None]
    setup(good, frame)
    code, err = run(good, capsys, "cohort", "clean")
    assert code == 2
    line = one_line(err)
    assert "data/source/small.csv" in line and "'arm' (treatment.column)" in line
    assert "rows 5, 10: '2', '(blank)'" in line and "['0', '1']" in line
    assert_unchanged(good, before)


def test_too_few_patients_in_an_arm(good, capsys):
    before = (good.root / "data/clean/development.parquet").read_bytes()
    frame = cohort_csv()
    frame["arm"] = [1 if i < 100 else 0 for i in range(len(frame))]
    setup(good, frame, min_per_arm=25)
    code, err = run(good, capsys, "cohort", "clean")
    assert code == 2
    line = one_line(err)
    assert "too few patients in arm '0' (20 patients); treatment.min_per_arm is 25" in line
    assert "'arm'" in line and "data/source/small.csv" in line
    assert_unchanged(good, before)


def test_single_arm_cohort(good, capsys):
    before = (good.root / "data/clean/development.parquet").read_bytes()
    frame = cohort_csv()
    frame["arm"] = 1
    setup(good, frame)
    code, err = run(good, capsys, "cohort", "clean")
    assert code == 2
    assert "every patient is in arm '1'" in one_line(err)
    assert_unchanged(good, before)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            {"arms": [{"value": 0, "probability": 0.3}, {"value": 1, "probability": 0.6}]},
            "allocation probabilities sum to 0.9, not 1",
        ),
        (
            {"arms": [{"value": 0, "probability": 0.3}, {"value": 1}]},
            "give probability for every arm or for none",
        ),
        (
            {
                "assignment": "observational",
                "arms": [{"value": 0, "probability": 0.5}, {"value": 1, "probability": 0.5}],
            },
            "probability is for randomized assignment only",
        ),
        ({"reference": 2}, "reference: '2' is not one of the arms"),
        ({"arms": [{"value": 1}, {"value": "1.0"}]}, "value '1' is listed more than once"),
        ({"column": "age"}, "'age' is used in both features and treatment.column"),
    ],
)
def test_bad_treatment_config(project, capsys, block, expected):
    """Refused when the config is read, before any stage touches data."""
    (project.root / "data/source").mkdir(parents=True)
    setup(project, cohort_csv(), **block)
    code, err = run(project, capsys, "cohort")
    assert code == 2
    line = one_line(err)
    assert expected in line and "treatment" in line
    assert not project.exists("data/raw")


def test_cohort_without_treatment_block_works_as_before(project, capsys):
    (project.root / "data/source").mkdir(parents=True)
    cohort_csv().to_csv(project.root / "data/source/small.csv", index=False)
    project.params(small_config())
    assert run(project, capsys, "cohort", "clean", "features")[0] == 0
    features = pd.read_parquet(project.root / "data/features/development.parquet")
    assert "arm" not in features.columns


def test_synthetic_trial_writes_its_truth(project, capsys):
    import yaml

    from conftest import REPO

    data = yaml.safe_load((REPO / "conf/data/let_trial.yaml").read_text())
    data["source"]["synthetic"].update(seed=3, n=300)
    data["source"]["synthetic"]["external"]["n"] = 100
    project.params(data)
    assert run(project, capsys, "cohort", "clean", "features")[0] == 0
    manifest = json.loads((project.root / "data/raw/manifest.json").read_text())
    files = manifest["truth"]["external"]
    assert files["population"] == "data/raw/truth/external/population.json"
    potential = pd.read_csv(project.root / manifest["truth"]["development"]["potential_outcomes"])
    assert len(potential) == 300 and potential.columns[0] == "patient_id"
    assert "nrs_mcic@indiv_exercise_cbt" in potential.columns
    population = json.loads((project.root / files["population"]).read_text())
    assert population["reference"] == "usual_physio"
    read = truth.load(project.root, "external")  # the typed reader gives the same truths
    assert read.population.model_dump(mode="json") == population
    assert len(read.expected) == 100 and list(read.expected.columns) == list(potential.columns)
    features = pd.read_parquet(project.root / "data/features/development.parquet")
    assert set(features["arm"]) == set(population["arms"])
    assert features["patient_id"].tolist() == potential["patient_id"].tolist()
    # same config, same bytes: rerunning the cohort stage rewrites identical files
    raw = sorted(p for p in (project.root / "data/raw").rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in raw}
    assert run(project, capsys, "cohort")[0] == 0
    assert {p: p.read_bytes() for p in raw} == before
