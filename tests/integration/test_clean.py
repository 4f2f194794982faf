"""Ingestion and cleaning of a team's own files: the flow report and every bad-input case."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from conftest import CSV, small_config
from lbp_outcomes.cli import main


def run_stages(project, *stages, capsys=None):
    """Run stages through the CLI until one fails; return its exit code. With ``capsys``,
    output of the stages that succeeded is discarded, so only the failing one's remains."""
    for stage in stages:
        code = main(["-C", str(project.root), stage])
        if code != 0:
            return code
        if capsys is not None:
            capsys.readouterr()
    return 0


def test_clean_flow_counts_exclusions_and_types(project, capsys):
    project.write("data/source/small.csv", CSV.replace("p05,A,61,31", "p05,A,61,95"))
    cfg = small_config(
        **{"features.bmi.on_out_of_range": "drop", "cleaning": {"max_dropped_fraction": 0.2}}
    )
    project.params(cfg)
    assert run_stages(project, "cohort", "clean") == 0

    report = json.loads((project.root / "reports/cleaning.json").read_text())
    dev = report["development"]
    assert dev["rows_in"] == 10
    assert dev["excluded"] == {
        "bmi: outside [12, 60]": 1,
        "no outcome recorded (every target missing)": 1,
    }
    assert dev["rows_out"] == 8
    assert dev["missing"]["bmi"] == 1  # p02: a missing feature keeps its row
    assert "external" not in report

    clean = pd.read_parquet(project.root / "data/clean/development.parquet")
    assert clean["pid"].tolist() == ["p01", "p02", "p03", "p06", "p07", "p08", "p09", "p10"]
    assert clean["age"].dtype == "float64"
    assert clean["responder"].tolist() == [1, 0, 1, 1, 0, 1, 0, 0]
    excluded = pd.read_csv(project.root / "reports/cleaning_exclusions.csv")
    assert excluded[["source_row", "reason"]].values.tolist() == [
        [4, "no outcome recorded (every target missing)"],
        [5, "bmi: outside [12, 60]"],
    ]
    assert "Rows out: **8**" in (project.root / "reports/cleaning.md").read_text()


def test_rows_missing_one_target_are_kept_for_the_other(project):
    project.write(
        "data/source/small.csv",
        CSV.replace("p06,A,38,24,F,moderate,2,yes", "p06,A,38,24,F,moderate,,yes"),
    )
    project.params(small_config())
    assert run_stages(project, "cohort", "clean") == 0
    clean = pd.read_parquet(project.root / "data/clean/development.parquet")
    row = clean.set_index("pid").loc["p06"]
    assert pd.isna(row["pain_post"]) and row["responder"] == 1


def test_external_cohort_by_site(project):
    project.write("data/source/small.csv", CSV)
    project.params(small_config(**{"source.external_sites": ["B"]}))
    assert run_stages(project, "cohort", "clean") == 0
    report = json.loads((project.root / "reports/cleaning.json").read_text())
    assert report["development"]["rows_in"] == 6
    assert report["external"]["rows_in"] == 4
    ext = pd.read_parquet(project.root / "data/clean/external.parquet")
    assert set(ext["site"]) == {"B"}


def test_external_cohort_from_second_file(project):
    project.write("data/source/small.csv", CSV)
    ext_csv = "pid,site,age,bmi,sex,grade,pain_post,responder\nq1,C,40,25,F,mild,3.5,yes\n"
    project.write("data/source/other.csv", ext_csv)
    project.params(small_config(**{"source.external": "data/source/other.csv"}))
    assert run_stages(project, "cohort", "clean") == 0
    ext = pd.read_parquet(project.root / "data/clean/external.parquet")
    assert ext["pid"].tolist() == ["q1"] and ext["pain_post"].tolist() == [3.5]
    report = json.loads((project.root / "reports/cleaning.json").read_text())
    assert report["external"]["source"] == "data/source/other.csv"


def test_unit_conversion_is_applied_before_range_checks(project):
    # This clinic records pain in tenths of a point (35 means 3.5), outside the 0-10 range
    # until the declared conversion harmonises it.
    project.write(
        "data/source/small.csv", CSV.replace(",3.5,yes", ",35,yes").replace(",4,no", ",40,no")
    )
    cfg = small_config()
    project.params(cfg)
    assert run_stages(project, "cohort", "clean") == 2
    cfg["targets"]["pain_post"]["convert"] = {"factor": 0.1, "from_unit": "tenths of a point"}
    project.write(
        "data/source/small.csv",
        CSV.replace(",3.5,yes", ",35,yes")
        .replace(",4,no", ",40,no")
        .replace(",5,yes", ",50,yes")
        .replace(",7,no", ",70,no")
        .replace(",2,yes", ",20,yes")
        .replace(",6,no", ",60,no")
        .replace(",3,yes", ",30,yes")
        .replace(",4.5,no", ",45,no")
        .replace(",6.5,no", ",65,no"),
    )
    project.params(cfg)
    assert run_stages(project, "cohort", "clean") == 0
    dev = pd.read_parquet(project.root / "data/clean/development.parquet")
    assert dev["pain_post"].dropna().tolist() == pytest.approx([3.5, 4, 5, 7, 2, 6, 3, 4.5, 6.5])


BAD_INPUTS = [
    # (id, csv text or None for no file, config changes, expected fragments of the message)
    ("missing file", None, {}, ["data/source/small.csv", "file not found"]),
    ("empty file", "", {}, ["data/source/small.csv", "empty"]),
    ("header only", CSV.splitlines()[0] + "\n", {}, ["data/source/small.csv", "no data rows"]),
    (
        "missing column",
        CSV.replace(",bmi,", ",weight,"),
        {},
        ["data/source/small.csv", "missing column", "'bmi'", "conf/data/small.yaml"],
    ),
    (
        "config typo in a column name",
        CSV,
        {"features.agee": {"type": "numeric"}, "features.age": None},
        ["missing column", "'agee'", "did you mean 'age'"],
    ),
    (
        "text in a numeric column",
        CSV.replace("p03,B,33", "p03,B,thirty").replace("p07,B,52", "p07,B,5 2"),
        {},
        [
            "data/source/small.csv",
            "column 'age'",
            "2 values are not a number",
            "rows 3, 7",
            "'thirty'",
        ],
    ),
    (
        "out of range, not allowed to drop",
        CSV.replace("p05,A,61", "p05,A,161"),
        {},
        [
            "data/source/small.csv",
            "column 'age'",
            "outside [18, 90]",
            "row 5",
            "on_out_of_range: drop",
        ],
    ),
    (
        "out of range beyond what the config allows to drop",
        CSV.replace("p05,A,61,31", "p05,A,61,95").replace("p06,A,38,24", "p06,A,38,99"),
        {"features.bmi.on_out_of_range": "drop"},
        [
            "data/source/small.csv",
            "2 of 10 rows",
            "max_dropped_fraction",
            "column 'bmi'",
            "rows 5, 6",
        ],
    ),
    (
        "not a whole number",
        CSV.replace("p05,A,61", "p05,A,61.5"),
        {},
        ["column 'age'", "not a whole number", "row 5"],
    ),
    (
        "duplicate patient ids",
        CSV.replace("p09,", "p02,"),
        {},
        ["data/source/small.csv", "column 'pid'", "duplicate patient id", "rows 2, 9", "'p02'"],
    ),
    (
        "missing patient id",
        CSV.replace("p08,", ","),
        {},
        ["column 'pid'", "missing patient id", "row 8"],
    ),
    (
        "unknown category",
        CSV.replace("p06,A,38,24,F", "p06,A,38,24,X"),
        {},
        ["data/source/small.csv", "column 'sex'", "not one of ['F', 'M']", "row 6", "'X'"],
    ),
    (
        "unknown binary outcome value",
        CSV.replace("4.5,no", "4.5,maybe"),
        {},
        ["column 'responder'", "not one of ['no', 'yes']", "row 9", "'maybe'"],
    ),
    (
        "unknown external site",
        CSV,
        {"source.external_sites": ["Z"]},
        ["external_sites ['Z'] not found", "column 'site'", "A, B"],
    ),
]


@pytest.mark.parametrize(
    "csv,changes,fragments", [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_is_one_clear_line_and_writes_nothing(project, capsys, csv, changes, fragments):
    if csv is not None:
        project.write("data/source/small.csv", csv)
    project.params(small_config(**changes))
    code = run_stages(project, "cohort", "clean", capsys=capsys)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in err[0], f"{fragment!r} not in {err[0]!r}"
    for output in ("data/clean", "reports/cleaning.json", "reports/cleaning.md"):
        assert not project.exists(output), f"{output} written despite the error"
    leftovers = [p for p in project.root.rglob(".*") if p.name not in {".", ".."}]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_failed_clean_keeps_previous_outputs(project, capsys):
    project.write("data/source/small.csv", CSV)
    project.params(small_config())
    assert run_stages(project, "cohort", "clean") == 0
    before = (project.root / "data/clean/development.parquet").read_bytes()
    project.write("data/source/small.csv", CSV.replace("p03,B,33", "p03,B,x"))
    assert run_stages(project, "cohort", "clean") == 2
    assert (project.root / "data/clean/development.parquet").read_bytes() == before


@pytest.mark.parametrize(
    "changes,fragments",
    [
        (
            {"features.age.rnage": [0, 1]},
            ["conf/data/small.yaml", "features.age.rnage: unknown key"],
        ),
        ({"targets.pain_post.kind": "continuous"}, ["targets.pain_post.kind", "regression"]),
        ({"features.sex.values": None}, ["features.sex", "needs `values`"]),
        ({"features.age.range": [90, 18]}, ["features.age.range", "low < high"]),
        (
            {
                "mcic": {
                    "pain_mcic": {
                        "baseline": "pain_pre",
                        "outcome": "pain_post",
                        "min_improvement": 2,
                        "direction": "decrease",
                    }
                }
            },
            ["mcic.pain_mcic.baseline", "'pain_pre' is not one of the declared features"],
        ),
        ({"source.development": None}, ["source", "exactly one of `synthetic` or `development`"]),
    ],
    ids=[
        "typo in a key",
        "bad enum",
        "categorical without values",
        "reversed range",
        "mcic on unknown column",
        "no source",
    ],
)
def test_bad_data_config_fails_before_any_work(project, capsys, changes, fragments):
    project.write("data/source/small.csv", CSV)
    project.params(small_config(**changes))
    assert run_stages(project, "cohort") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in err[0], f"{fragment!r} not in {err[0]!r}"
    assert not project.exists("data/raw")


def test_wide_file_only_declared_columns_travel(project):
    """A file with many extra columns (names, dates...) brings only the declared ones."""
    frame = pd.read_csv(io.StringIO(CSV))
    extra = pd.DataFrame({f"extra col.{i}": i for i in range(140)}, index=frame.index)
    frame = pd.concat([frame, extra], axis=1).assign(**{"patient name": "secret"})
    project.root.joinpath("data/source").mkdir(parents=True)
    frame.to_parquet(project.root / "data/source/wide.parquet")
    project.params(small_config(**{"source.development": "data/source/wide.parquet"}))
    assert run_stages(project, "cohort", "clean") == 0
    raw = pd.read_parquet(project.root / "data/raw/development.parquet")
    assert "patient name" not in raw.columns and len(raw.columns) == 9  # _row + 8 declared


def test_unquoted_yes_no_in_the_config_still_match_the_file(project):
    """YAML reads `values: [no, yes]` as booleans; the file's "no"/"yes" must still match."""
    project.write("data/source/small.csv", CSV)
    cfg = small_config()
    cfg["targets"]["responder"] = {"kind": "binary", "values": [False, True], "positive": True}
    project.params(cfg)
    assert run_stages(project, "cohort", "clean") == 0
    clean = pd.read_parquet(project.root / "data/clean/development.parquet")
    assert clean["responder"].tolist()[:3] == [1, 0, 1]
