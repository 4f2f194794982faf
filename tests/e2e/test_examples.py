"""Any cohort, no code change: the example data configs through the whole DVC pipeline.

Each example runs as a user runs their own cohort: `dvc exp run -S data=<example>` in a
fresh copy of the repository (cohort -> clean -> features -> train -> external -> explain
-> report, every model family, MLflow on; small CV, no tuning). The "any cohort" bullets of
the requirements and where they are exercised:

| requirement                                  | example (conf/data/, data/examples/)     |
|----------------------------------------------|------------------------------------------|
| only regression targets                      | example_registry                         |
| only binary targets                          | example_trial                            |
| regression and binary targets                | example_clinics (and the LET default)    |
| no MCIC definitions / an MCIC target         | registry, trial / clinics                |
| categorical and ordinal text features        | all three                                |
| a feature with many missing values           | registry (TSK, ~40%), clinics (~15%)     |
| targets missing for some patients            | all three (rows leave that target only)  |
| external cohort: held-out sites              | registry (site North)                    |
| external cohort: a separate file             | clinics (clinic B's CSV)                 |
| no external cohort                           | trial (stage says so, report omits it)   |
| unbalanced binary outcome                    | trial (surgery: 12 events in 100)        |
| small cohort (100 patients)                  | trial                                    |
| wide file (151 columns, config uses 13)      | registry                                 |
| column names with dots, spaces, capitals     | registry, clinics                        |
| CSV variants / Parquet                       | trial (; and decimal comma), clinics     |
| too few events for stratified folds          | clinics (reoperation: 2 events, skipped) |
| out-of-range values dropped and counted      | registry (3 pain scores of 11)           |
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

import pandas as pd
import pytest

from conftest import sh

EMBEDDED = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
#: conf/model/all.yaml: the six fitted families and the ensemble
FAMILIES = {"random_forest", "xgboost", "lightgbm", "catboost", "mlp", "linear", "ensemble"}
STAGES = ["cohort", "clean", "features", "train", "external", "explain", "report"]


@dataclass(frozen=True)
class Expect:
    source: str
    read: dict  # pandas.read_csv/read_parquet options for the source file
    id_column: str
    regression: list[str]
    binary: list[str]
    external: str | None  # "sites", "file" or None
    skipped: list[str] = field(default_factory=list)
    unused_columns: list[str] = field(default_factory=list)  # in the file, not the config


EXAMPLES = {
    "example_registry": Expect(
        source="data/examples/spine_registry.csv",
        read={},
        id_column="Record ID",
        regression=["Pain.12wk", "ODI.12wk (%)"],
        binary=[],
        external="sites",
        unused_columns=["Patient Name", "Date of Birth", "Var.000", "Var.135"],
    ),
    "example_trial": Expect(
        source="data/examples/rehab_trial.csv",
        read={"sep": ";", "decimal": ","},
        id_column="ID",
        regression=[],
        binary=["Recovered at 6 months", "Surgery within 1 year"],
        external=None,
    ),
    "example_clinics": Expect(
        source="data/examples/clinic_a.parquet",
        read={},
        id_column="Patient No.",
        regression=["Pain 6M"],
        binary=["Back At Work", "Pain MCIC"],
        external="file",
        skipped=["Reoperation"],
        unused_columns=["Therapist"],
    ),
}

examples = pytest.mark.parametrize("name", list(EXAMPLES))


def source_frame(run, expect: Expect) -> pd.DataFrame:
    path = run.root / expect.source
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, **expect.read)


@examples
def test_every_stage_runs_and_dvc_records_it(example_run, name):
    run = example_run(name)
    for stage in STAGES:
        assert f"Running stage '{stage}'" in run.output, stage
    status = sh(run.root, "dvc", "status")
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    # every declared output exists (dvc status would say "deleted" otherwise)
    for rel in ("reports/report.html", "reports/report.md", "models/manifest.json"):
        assert (run.root / rel).is_file(), rel


@examples
def test_every_family_is_cross_validated_for_every_usable_target(example_run, name):
    run, expect = example_run(name), EXAMPLES[name]
    cv = run.json("reports/metrics/cv.json")
    assert sorted(cv) == sorted(expect.regression + expect.binary)
    for target, entry in cv.items():
        primary = "r2" if target in expect.regression else "auroc"
        assert set(entry) - {"champion", "n", "selected"} == FAMILIES, target
        assert entry["champion"] in FAMILIES
        assert entry["selected"]["metric"] == primary  # the honest, selection-included estimate
        for family in FAMILIES:
            assert math.isfinite(entry[family][primary]["mean"]), (target, family)
    manifest = run.json("models/manifest.json")
    assert set(manifest["targets"]) == set(cv)
    # a target the data cannot support is skipped with a reason; the rest carries on
    notes = run.json("reports/cv/notes.json")
    assert list(notes["skipped_targets"]) == expect.skipped
    for target in expect.skipped:
        assert f"warning: target {target!r} skipped" in run.output
        assert "too few for 3 stratified folds" in notes["skipped_targets"][target]
        assert f"{target} was not modelled" in run.text("reports/report.md")


@examples
def test_only_declared_columns_enter_the_pipeline(example_run, name):
    run, expect = example_run(name), EXAMPLES[name]
    raw = pd.read_parquet(run.root / "data/raw/development.parquet")
    cfg_columns = set(raw.columns) - {"_row"}
    source = source_frame(run, expect)
    assert cfg_columns <= set(source.columns)
    for column in expect.unused_columns:
        assert column in source.columns and column not in raw.columns
    if name == "example_registry":
        assert source.shape[1] == 151 and len(cfg_columns) == 13


@examples
def test_missing_values_keep_rows_and_missing_targets_leave_that_target_only(example_run, name):
    run, expect = example_run(name), EXAMPLES[name]
    flow = run.json("reports/cleaning.json")["development"]
    assert flow["rows_in"] - flow["excluded_total"] == flow["rows_out"]
    available = flow["targets_available"]
    cv = run.json("reports/metrics/cv.json")
    partly = [t for t in expect.regression + expect.binary if t in available]
    # some patients lack one outcome: they are kept for the others
    assert any(available[t] < flow["rows_out"] for t in partly), available
    for target in partly:
        assert cv[target]["n"] == available[target], target
    features = pd.read_parquet(run.root / "data/features/development.parquet")
    assert len(features) == flow["rows_out"]
    if name == "example_registry":
        assert flow["missing"]["TSK Fear Score"] / flow["rows_out"] > 0.3  # kept, imputed
        assert flow["excluded"]["Pain.Baseline: outside [0, 10]"] == 3


@examples
def test_external_validation_follows_the_config(example_run, name):
    run, expect = example_run(name), EXAMPLES[name]
    external = run.json("reports/metrics/external.json")
    report = run.text("reports/report.md")
    headings = re.findall(r"^## \d+\. (.+)$", report, flags=re.M)
    if expect.external is None:
        assert external == {
            "available": False,
            "reason": "the data config defines no external cohort",
        }
        assert "external: no external cohort in this data config" in run.output
        assert "External validation" not in headings
        assert "(no external validation)" in report
        return
    flow = run.json("reports/cleaning.json")["external"]
    assert external["available"] and external["n"] == flow["rows_out"]
    cv = run.json("reports/metrics/cv.json")
    assert set(external["targets"]) == set(cv)
    assert "External validation" in headings
    raw = pd.read_parquet(run.root / "data/raw/external.parquet")
    if expect.external == "sites":
        assert set(raw["Site.Name"]) == {"North"}
        dev = pd.read_parquet(run.root / "data/raw/development.parquet")
        assert "North" not in set(dev["Site.Name"])
    else:
        assert flow["source"] == "data/examples/clinic_b.csv"
        assert set(raw["Clinic"]) == {"B"}


@examples
def test_mlflow_runs_are_finished_and_champions_registered(example_run, name):
    run, expect = example_run(name), EXAMPLES[name]
    client = run.mlflow()
    experiment = client.get_experiment_by_name(f"lbp-outcomes/{name}")
    runs = client.search_runs([experiment.experiment_id])
    assert {r.info.status for r in runs} == {"FINISHED"}
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    for stage in ("train", "external", "explain", "report"):
        assert parents[0].data.tags[f"stage.{stage}"] == "done", stage
    targets = expect.regression + expect.binary
    names = sorted(r.info.run_name for r in runs if r not in parents)
    assert names == sorted(f"{t} | {f}" for t in targets for f in FAMILIES)
    cv = run.json("reports/metrics/cv.json")
    tracking = run.json("reports/tracking.json")
    for target in targets:
        registered = re.sub(r"[^A-Za-z0-9_.-]", "_", f"lbp-outcomes.{name}.{target}")
        version = client.get_model_version_by_alias(registered, "champion")
        assert version.run_id == tracking["runs"][target][cv[target]["champion"]]


@examples
def test_no_patient_data_reaches_mlflow_or_the_report(example_run, name):
    run, expect = example_run(name), EXAMPLES[name]
    ids = set(source_frame(run, expect)[expect.id_column].astype(str))
    client = run.mlflow()
    experiment = client.get_experiment_by_name(f"lbp-outcomes/{name}")
    for r in client.search_runs([experiment.experiment_id]):
        logged = " ".join(
            [*r.data.params, *map(str, r.data.params.values())]
            + [*r.data.tags, *map(str, r.data.tags.values())]
            + list(r.data.metrics)
        )
        assert not [i for i in ids if i in logged], r.info.run_name
        for column in expect.unused_columns:
            assert column not in logged
    texts = [run.text("reports/report.md"), run.text("reports/report.html")]
    for path in (run.root / "mlruns/artifacts").rglob("*"):
        if path.is_file() and path.suffix in {".csv", ".json", ".yaml", ".md", ".html", ""}:
            texts.append(path.read_text(errors="ignore"))
    for text in texts:
        # embedded figures are base64, in which any 4-character id turns up by chance;
        # what a reader sees is the text around them
        text = EMBEDDED.sub("data:", text)
        assert not [i for i in ids if i in text]


def test_champions_predict_new_patients_with_odd_column_names(example_run, tmp_path):
    """The registered champions serve `lbp-outcomes predict` on the registry's own column
    names (dots, spaces, brackets, a percent sign)."""
    run = example_run("example_registry")
    frame = pd.read_csv(run.root / "data/examples/spine_registry.csv", dtype=str)
    frame = frame[(frame["Site.Name"] == "North") & frame["TSK Fear Score"].notna()].head(3)
    patients = tmp_path / "patients.csv"
    frame.to_csv(patients, index=False)
    out = tmp_path / "predictions.json"  # JSON keys outcomes by target name; CSV by label
    sh(run.root, "lbp-outcomes", "predict", "--input", str(patients), "--output", str(out))
    patients_out = json.loads(out.read_text())["patients"]
    assert len(patients_out) == 3
    for target in ("Pain.12wk", "ODI.12wk (%)"):
        for patient in patients_out:
            entry = patient["outcomes"][target]
            assert entry["lower"] <= entry["prediction"] <= entry["upper"], target
