"""A report that fits any cohort (issue 10 item 7): title and wording from the data config,
the reproduction framing only with a published `reference`, no claims about treatment or
timing the config does not make, and a negative calibration slope worded as a reversed
ranking."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from conftest import Project, pipeline_params, small_config, toy_cohort, write_params
from lbp_outcomes.cli import main

FAST = [
    "cv.folds=3",
    "cv.repeats=1",
    "tuning=none",
    "model=[linear]",
    "conformal.enabled=false",
    "external.n_boot=20",
    "external.recalibration.repeats=3",
]
TOY = small_config(**{"source.external_sites": ["B"]})  # a cohort that is not the LET study


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Project:
    """The toy cohort through every stage the report needs (no SHAP: its section says so)."""
    project = Project(tmp_path_factory.mktemp("wording") / "toy")
    project.root.joinpath("data/source").mkdir(parents=True)
    toy_cohort(n=100, seed=3).to_csv(project.root / "data/source/small.csv", index=False)
    write_params(project, pipeline_params(TOY, FAST))
    for stage in ("cohort", "clean", "features", "train", "external", "report"):
        assert main(["-C", str(project.root), stage]) == 0, stage
    return project


def report_with(toy: Project, tmp_path: Path, data: dict, external=None) -> tuple[str, str]:
    """The report of a copy of ``toy`` under another data config (and external.json)."""
    project = Project.__new__(Project)
    project.root = tmp_path / "copy"
    shutil.copytree(toy.root, project.root, ignore=shutil.ignore_patterns("report.*", "mlruns"))
    write_params(project, pipeline_params(data, FAST))
    if external is not None:
        path = project.root / "reports/metrics/external.json"
        path.write_text(json.dumps(external(json.loads(path.read_text()))))
    assert main(["-C", str(project.root), "report"]) == 0
    reports = project.root / "reports"
    return (reports / "report.html").read_text(), (reports / "report.md").read_text()


def test_a_cohort_without_reference_or_wording_gets_neutral_text(toy):
    html = (toy.root / "reports/report.html").read_text()
    md = (toy.root / "reports/report.md").read_text()
    assert "\n# Outcomes in small: prediction model report\n" in md
    assert "<title>Outcomes in small: prediction model report" in html
    assert "Predicting outcomes (2 outcomes): model development" in md
    for text in (html, md):
        lowered = text.lower()
        assert "reproduction" not in lowered and "reproduces" not in lowered
        assert "treatment" not in lowered, "claims about treatment the config does not make"
        assert "all known before" not in lowered
    assert "predictors: 4 recorded" in md
    assert "Patient characteristics and outcomes, development vs external cohort" in md


def test_title_and_wording_come_from_the_data_config(toy, tmp_path):
    data = copy.deepcopy(TOY)
    data["prediction"] = {
        "outcomes": "surgical outcomes",
        "predictors_known": "at admission",
        "outcomes_measured": "at discharge",
    }
    _, md = report_with(toy, tmp_path, data)
    assert "\n# Surgical outcomes in small: prediction model report\n" in md
    assert "Predicting surgical outcomes (2 outcomes) at admission: model" in md
    assert "Models were developed to predict, at admission, 2 outcomes" in md
    assert "predictors, all known at admission: 4 recorded" in md
    assert "Patient characteristics at admission and outcomes at discharge" in md
    assert "treatment" not in md.lower()


def test_reproduction_framing_only_with_a_published_reference(toy, tmp_path):
    data = copy.deepcopy(TOY)
    data["reference"] = {"study": "A toy study", "r2": {"pain_post": {"linear": 0.4}}}
    _, md = report_with(toy, tmp_path, data)
    assert "\n# Outcomes in small: reproduction report\n" in md
    assert "Published vs reproduced" in md


def _slopes(**estimates: float):
    """external.json edit: the champion's external calibration slope per target."""

    def edit(report: dict) -> dict:
        for target, value in estimates.items():
            entry = report["targets"][target]
            entry["families"][entry["champion"]]["calibration_slope"]["estimate"] = value
        return report

    return edit


def test_a_negative_calibration_slope_is_worded_as_a_reversed_ranking(toy, tmp_path):
    _, md = report_with(toy, tmp_path, TOY, external=_slopes(pain_post=-0.4, responder=0.5))
    flags = {line.split(":", 1)[0]: line for line in md.splitlines() if "calibration slope" in line}
    reversed_ = flags["- pain_post"]
    assert "calibration slope -0.40 in the external cohort: the ranking is reversed" in reversed_
    assert "too extreme" not in reversed_
    # a slope between 0 and 1 keeps its own wording
    assert "slope 0.50 in the external cohort: predictions are too extreme" in flags["- responder"]
    assert "below 0 the ranking is reversed" in md  # how to read the numbers
