"""Stricter reading of a team's files (issue 10 item 4): exports that pandas parses without
complaint but wrongly (another separator, a byte-order mark, UTF-16, a cut-off last row,
a declared feature with no values) stop the cohort stage with one line naming the file and
the `source.csv` option, row or column to fix."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from conftest import CSV, small_config
from lbp_outcomes.cli import main

SRC = "data/source/small.csv"


def _semicolon(text: str) -> str:
    """CSV as a German-locale spreadsheet writes it: ';' between fields, decimal commas."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    return frame.to_csv(sep=";", index=False).replace(".", ",")


def _blank(column: str, value: str = "") -> str:
    frame = pd.read_csv(io.StringIO(CSV), dtype=str, keep_default_na=False)
    frame[column] = value
    return frame.to_csv(index=False)


CASES = [
    # (id, file bytes, data-config changes, fragments of the one error line)
    (
        "semicolons and decimal commas",
        _semicolon(CSV).encode(),
        {},
        [SRC, "header has no ','", "7 ';'", "set source.csv.sep: ';' and source.csv.decimal: ','"],
    ),
    (
        "tabs",
        CSV.replace(",", "\t").encode(),
        {},
        [SRC, 'set source.csv.sep: "\\t" in conf/data/small.yaml'],
    ),
    (
        "UTF-8 byte-order mark read as cp1252",
        b"\xef\xbb\xbf" + CSV.encode(),
        {"source.csv": {"encoding": "cp1252"}},
        [SRC, "UTF-8 byte-order mark", "'cp1252'", "set source.csv.encoding: utf-8-sig"],
    ),
    (
        "UTF-16 with a byte-order mark",
        CSV.encode("utf-16"),
        {},
        [SRC, "UTF-16 byte-order mark", "'utf-8'", "set source.csv.encoding: utf-16 in"],
    ),
    (
        "UTF-16 without a byte-order mark",
        CSV.encode("utf-16-le"),
        {},
        [SRC, "zero bytes", "set source.csv.encoding: utf-16-le"],
    ),
    (
        "cp1252 text read as UTF-8",
        CSV.replace("mild", "légère").encode("cp1252"),
        {"features.grade.values": ["légère", "moderate", "severe"]},
        [SRC, "'utf-8' codec can't decode", "set source.csv.encoding", "'cp1252'"],
    ),
    (
        "cut off mid-row",
        CSV.rstrip("\n")[:-7].encode(),  # "...,F,severe": targets lost
        {},
        [SRC, "last row (row 10) has 6 of 8 fields", "no line end", "cut off"],
    ),
    (
        "all-empty feature",
        _blank("bmi").encode(),
        {},
        [SRC, "feature column 'bmi' is empty in all 10 rows", "conf/data/small.yaml"],
    ),
    (
        "feature of missing-value codes only",
        _blank("grade", "NA").encode(),
        {},
        [SRC, "feature column 'grade' is empty in all 10 rows"],
    ),
    (
        "feature empty in the external sites' rows",
        CSV.replace("B,33,30", "B,33,")
        .replace("B,50,28", "B,50,")
        .replace("B,52,27.5", "B,52,")
        .replace("B,57,33", "B,57,")
        .encode(),
        {"source.external_sites": ["B"]},
        [SRC, "'bmi' is empty in all 4 rows of the external cohort"],
    ),
]


@pytest.mark.parametrize(
    "data,changes,fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_misread_file_is_one_line_naming_the_option(project, capsys, data, changes, fragments):
    (project.root / SRC).parent.mkdir(parents=True)
    (project.root / SRC).write_bytes(data)
    project.params(small_config(**changes))
    assert main(["-C", str(project.root), "cohort"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in err[0], f"{fragment!r} not in {err[0]!r}"
    assert not project.exists("data/raw")


@pytest.mark.parametrize(
    "data,changes",
    [
        (b"\xef\xbb\xbf" + CSV.encode(), {}),  # pandas drops a UTF-8 mark under utf-8
        (CSV.encode("utf-16"), {"source.csv": {"encoding": "utf-16"}}),
        (CSV.rstrip("\n").encode(), {}),  # no final newline, but the last row is whole
        (CSV.encode() + b"   ", {}),  # spaces after the last line end
        (_semicolon(CSV).encode(), {"source.csv": {"sep": ";", "decimal": ","}}),
        (CSV.replace(",", "\t").encode(), {"source.csv": {"sep": "\t"}}),
    ],
    ids=[
        "utf-8 mark",
        "utf-16 declared",
        "no final newline",
        "trailing spaces",
        "sep and decimal set",
        "tabs",
    ],
)
def test_files_read_right_with_the_suggested_options(project, data, changes):
    (project.root / SRC).parent.mkdir(parents=True)
    (project.root / SRC).write_bytes(data)
    project.params(small_config(**changes))
    for stage in ("cohort", "clean"):
        assert main(["-C", str(project.root), stage]) == 0
    raw = pd.read_parquet(project.root / "data/raw/development.parquet")
    assert raw["pid"].tolist() == [f"p{i:02d}" for i in range(1, 11)]
    clean = pd.read_parquet(project.root / "data/clean/development.parquet")
    assert clean["bmi"].tolist()[:3] == pytest.approx([22.5, float("nan"), 30], nan_ok=True)
    assert clean["responder"].iloc[-1] == 0  # the last row read whole


@pytest.mark.parametrize(
    "csv_options,fragment",
    [
        ({"encoding": "utf-9"}, "source.csv.encoding: unknown encoding 'utf-9'"),
        ({"sep": ";;"}, "source.csv.sep: String should have at most 1 character"),
        ({"decimal": ""}, "source.csv.decimal: String should have at least 1 character"),
    ],
)
def test_bad_csv_options_are_config_errors(project, capsys, csv_options, fragment):
    project.write(SRC, CSV)
    project.params(small_config(**{"source.csv": csv_options}))
    assert main(["-C", str(project.root), "check"]) == 2
    err = capsys.readouterr().err.strip()
    assert "conf/data/small.yaml" in err and fragment in err and "\n" not in err


def _clean(project, csv: str, **changes) -> pd.DataFrame:
    project.write(SRC, csv)
    project.params(small_config(**changes))
    for stage in ("cohort", "clean"):
        assert main(["-C", str(project.root), stage]) == 0, stage
    return pd.read_parquet(project.root / "data/clean/development.parquet").set_index("pid")


def test_missing_value_codes_match_with_surrounding_spaces(project):
    csv = CSV.replace("p01,A,30,22.5,F,", "p01,A,30,NA ,  F  ,").replace(
        "p03,B,33,30,M,", "p03,B,33, N/A ,M,"
    )
    csv = csv.replace("p05,A,61,31,F,mild", "p05,A,61,31,F,   ")
    clean = _clean(project, csv)
    assert clean[["bmi"]].loc[["p01", "p02", "p03"]].isna().all().all()
    assert clean.loc["p01", "sex"] == "F"  # spaces around a category are ignored
    assert pd.isna(clean.loc["p05", "grade"])  # a cell of spaces is missing


def test_na_values_replace_the_default_codes_but_blank_stays_missing(project):
    options = {"source.csv": {"na_values": ["-99"]}}
    clean = _clean(project, CSV.replace("p01,A,30,22.5,", "p01,A,30,-99,"), **options)
    assert pd.isna(clean.loc["p01", "bmi"]) and pd.isna(clean.loc["p02", "bmi"])  # -99, blank
    # "NA" is no longer a code: in a numeric column it is a value that is not a number
    project.write(SRC, CSV.replace("p02,A,45,,", "p02,A,45,NA,"))
    assert main(["-C", str(project.root), "cohort"]) == 0
    assert main(["-C", str(project.root), "clean"]) == 2


def test_number_coded_categories_and_quoted_labels_with_commas(project, capsys):
    coded = CSV.replace(",mild,", ",1,").replace(",moderate,", ",2.0,").replace(",severe,", ", 3,")
    clean = _clean(project, coded, **{"features.grade.values": [1, 2, 3]})
    assert clean["grade"].tolist() == ["1", "3", "1", "1", "2", "3", "1", "2", "3"]
    quoted = CSV.replace("p01,A,30,22.5,F,mild", 'p01,A,30,22.5,F,"mild, early"')
    levels = {"features.grade.values": ["mild, early", "mild", "moderate", "severe"]}
    assert _clean(project, quoted, **levels).loc["p01", "grade"] == "mild, early"
    # categories are case-sensitive
    project.write(SRC, CSV.replace("p01,A,30,22.5,F,", "p01,A,30,22.5,f,"))
    project.params(small_config())
    assert main(["-C", str(project.root), "cohort"]) == 0
    assert main(["-C", str(project.root), "clean"]) == 2
    assert "column 'sex': 1 value not one of ['F', 'M'] (row 1: 'f')" in capsys.readouterr().err
