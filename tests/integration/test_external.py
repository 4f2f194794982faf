"""External validation: the stage on a toy cohort with an external site, and without one.
(Recalibration and case-mix by hand: tests/unit/test_recalibration.py.)"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import Project, pipeline_params, small_config, toy_cohort, write_params
from lbp_outcomes.cli import main
from lbp_outcomes.metricinfo import TASK_METRICS


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    project = Project(tmp_path_factory.mktemp("external") / "proj")
    frame = toy_cohort(n=240, seed=4)
    project.root.joinpath("data/source").mkdir(parents=True)
    frame.to_csv(project.root / "data/source/small.csv", index=False)
    data = small_config(**{"source.external_sites": ["B"]})
    write_params(
        project,
        pipeline_params(
            data,
            [
                "cv.folds=3",
                "cv.repeats=1",
                "tuning=none",
                "model=[xgboost,linear]",
                "external.n_boot=100",
            ],
        ),
    )
    for stage in ("cohort", "clean", "features", "train", "external"):
        assert main(["-C", str(project.root), stage]) == 0, stage
    return project, json.loads((project.root / "reports/metrics/external.json").read_text())


def test_external_json_has_every_family_and_metric_with_cis(validated):
    _, report = validated
    assert report["available"] is True
    # every metric the task reports (lbp_outcomes.metricinfo: one table, not a copy here)
    for target, names in {
        "pain_post": TASK_METRICS["regression"],
        "responder": TASK_METRICS["binary"],
    }.items():
        entry = report["targets"][target]
        assert set(entry["families"]) == {"xgboost", "linear"}
        for family in entry["families"].values():
            for name in names:
                stats = family[name]
                assert stats["ci_low"] <= stats["estimate"] <= stats["ci_high"], (target, name)
        assert set(entry["recalibration"]) >= {"original", "intercept", "intercept_slope"}
    interval = report["targets"]["pain_post"]["interval"]
    assert interval["level"] == 0.9 and 0.7 <= interval["coverage"] <= 1.0
    # sites are assigned at random in the toy cohort: the cohorts are indistinguishable
    assert 0.35 <= report["case_mix"]["membership_auroc"]["estimate"] <= 0.65
    assert set(report["case_mix"]["smd"]) == {"age", "bmi", "sex", "grade"}


def test_external_plots_and_predictions_without_ids(validated):
    project, _ = validated
    root = project.root
    for name in ("pain_post.png", "responder.png", "case_mix.png"):
        assert (root / "reports/plots/external" / name).stat().st_size > 5_000
    preds = pd.read_parquet(root / "reports/external/predictions.parquet")
    assert "pid" not in preds.columns and set(preds["family"]) == {"xgboost", "linear"}


def test_no_external_cohort_is_reported_not_an_error(project, capsys):
    project.root.joinpath("data/source").mkdir(parents=True)
    toy_cohort(n=60).to_csv(project.root / "data/source/small.csv", index=False)
    write_params(
        project,
        pipeline_params(
            small_config(), ["cv.folds=3", "cv.repeats=1", "tuning=none", "model=linear"]
        ),
    )
    for stage in ("cohort", "clean", "features", "train", "external"):
        assert main(["-C", str(project.root), stage]) == 0, stage
    report = json.loads((project.root / "reports/metrics/external.json").read_text())
    assert report == {"available": False, "reason": "the data config defines no external cohort"}
    assert "no external cohort" in capsys.readouterr().out
    assert (project.root / "reports/plots/external").is_dir()
