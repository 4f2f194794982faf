"""Real trial exports: no id column, derived targets, inclusion criteria in the flow, dates,
numeric site codes, censored outcomes refused; hostile configs (code in expressions, paths
outside the project) refused through the real CLI with one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import small_config, tool_env
from lbp_outcomes.cli import main

TRIAL = """centre,arm,age,rand_date,onset_date,pain_bl,pain_12w,eligible
1,ex,30,05/03/2021,01/03/2021,6,2,yes
1,ed,45,10/03/2021,,4,4,yes
2,ex,52,11/03/2021,01/01/2021,8,3,no
2,ed,61,12/03/2021,12/02/2021,5,,yes
1,ex,38,15/03/2021,14/03/2021,7,0,yes
2,ed,29,16/03/2021,16/01/2021,3,3,yes
3,ex,44,17/03/2021,17/02/2021,6,1,yes
3,ed,57,18/03/2021,08/03/2021,9,8,yes
1,ex,33,19/03/2021,09/03/2021,0,0,yes
"""


def trial_config(**changes):
    cfg = {
        "name": "trial",
        "source": {"development": "data/source/trial.csv", "external_sites": [3]},
        "site_column": "centre",
        "features": {
            "arm": {"type": "categorical", "values": ["ed", "ex"]},
            "age": {"type": "numeric", "range": [18, 90]},
            "pain_bl": {"type": "numeric", "range": [0, 10]},
        },
        "columns": {
            "rand_date": {"type": "date", "format": "%d/%m/%Y"},
            "onset_date": {"type": "date", "format": "%d/%m/%Y"},
            "pain_12w": {"type": "numeric", "range": [0, 10]},
            "eligible": {"type": "categorical", "values": ["no", "yes"]},
        },
        "include": {"eligible": 'eligible == "yes"'},
        "targets": {
            "pain_change": {"kind": "regression", "expr": "pain_12w - pain_bl"},
            "pain_any": {"kind": "binary", "expr": "pain_12w > 0"},
            "responder": {"kind": "binary", "expr": "pain_12w <= 0.5 * pain_bl"},
        },
        "derived": {"days_onset": {"expr": "days_between(onset_date, rand_date)"}},
    }
    cfg.update(changes)
    return cfg


def stages(project, *names) -> int:
    for name in names:
        code = main(["-C", str(project.root), name])
        if code:
            return code
    return 0


def test_trial_export_without_ids_flows_through_clean_and_features(project):
    project.write("data/source/trial.csv", TRIAL)
    project.params(trial_config())
    assert stages(project, "cohort", "clean", "features") == 0

    flow = json.loads((project.root / "reports/cleaning.json").read_text())
    dev, ext = flow["development"], flow["external"]
    assert dev["id"] == "row number" and dev["rows_in"] == 7  # centre 3 is external
    assert dev["excluded"] == {
        'not included: eligible (eligible == "yes")': 1,
        "no outcome recorded (every target missing)": 1,
    }
    assert dev["rows_out"] == 5 and ext["rows_out"] == 2
    md = (project.root / "reports/cleaning.md").read_text()
    assert "No id column: each row is one patient, known by its row number" in md
    exclusions = pd.read_csv(project.root / "reports/cleaning_exclusions.csv")
    assert sorted(exclusions["source_row"]) == [3, 4]  # row numbers identify patients

    features = pd.read_parquet(project.root / "data/features/development.parquet")
    assert list(features["pain_change"]) == [-4.0, 0.0, -7.0, 0.0, 0.0]
    assert list(features["pain_any"]) == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert list(features["responder"]) == [1.0, 0.0, 1.0, 0.0, 1.0]
    assert features["days_onset"].tolist()[::2] == [4.0, 1.0, 10.0]
    assert pd.isna(features["days_onset"].iloc[1])  # onset not recorded: missing
    # the other columns only fed the expressions; no later stage sees them
    assert not {"rand_date", "onset_date", "pain_12w", "eligible"} & set(features.columns)
    raw_ext = pd.read_parquet(project.root / "data/raw/external.parquet")
    assert set(raw_ext["centre"].astype(str)) == {"3"}


def test_a_row_failing_a_criterion_is_not_judged_on_its_values(project):
    """Ineligible rows leave before range checks: a bad value there stops nothing."""
    project.write("data/source/trial.csv", TRIAL.replace("2,ex,52,", "2,ex,5,"))
    project.params(trial_config())
    assert stages(project, "cohort", "clean") == 0


def test_unreadable_date_is_one_line(project, capsys):
    project.write("data/source/trial.csv", TRIAL.replace("05/03/2021", "2021-03-05"))
    project.params(trial_config())
    assert stages(project, "cohort") == 0
    capsys.readouterr()
    assert stages(project, "clean") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "column 'rand_date': 1 value not a date in format '%d/%m/%Y' (row 1:" in err[0]


@pytest.mark.parametrize(
    "changes,fragment",
    [
        (
            {"targets": {"t": {"kind": "survival"}}},
            "targets.t: censored (time-to-event) outcomes are not supported yet",
        ),
        (
            {"targets": {"t": {"kind": "regression", "event": "died"}}},
            "censored (time-to-event) outcomes are not supported yet",
        ),
        (
            {"features": {"d": {"type": "date"}}},
            "features.d: a date is not a model input: declare it under `columns:`",
        ),
        (
            {"targets": {"t": {"kind": "binary", "expr": "pain_12w"}}},
            "targets.t.expr: gives a number value, a condition (comparison) is needed here",
        ),
        (
            {"derived": {"leak": {"expr": "pain_change * 2"}}},
            "derived.leak.expr: 'pain_change' is not a column usable here",
        ),
        ({"include": {"adult": "age"}}, "include.adult: gives a number value"),
    ],
)
def test_unsupported_declarations_are_one_line(project, capsys, changes, fragment):
    project.params(trial_config(**changes))
    assert main(["-C", str(project.root), "check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err


@pytest.mark.parametrize(
    "path", ["../../etc/passwd", "/etc/passwd", "/tmp/x.csv", "../other/x.csv", "data/../../x.csv"]
)
def test_source_paths_outside_the_project_are_refused(project, capsys, path):
    project.params(small_config(**{"source.development": path}))
    assert main(["-C", str(project.root), "cohort"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "source.development" in err[0] and "outside the project" in err[0]
    assert not project.exists("data/raw")


def test_symlinked_folder_leading_outside_is_refused_but_a_linked_file_is_the_way(
    project, tmp_path, capsys
):
    from conftest import CSV

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "small.csv").write_text(CSV)
    (project.root / "data").mkdir()
    (project.root / "data/outside").symlink_to(elsewhere, target_is_directory=True)
    project.params(small_config(**{"source.development": "data/outside/small.csv"}))
    assert main(["-C", str(project.root), "cohort"]) == 2
    assert "outside the project" in capsys.readouterr().err

    (project.root / "data/source").mkdir()
    (project.root / "data/source/small.csv").symlink_to(elsewhere / "small.csv")
    project.params(small_config())
    assert main(["-C", str(project.root), "cohort"]) == 0


# -- hostile expressions through the real command line ----------------------------------------
def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "lbp-outcomes"
    return subprocess.run(
        [str(exe), *args], cwd=root, env=tool_env(), capture_output=True, text=True, timeout=120
    )


ESCAPES = [
    "@pd.io.common.os.system('touch {marker}')",
    "@pd.core.frame.com.builtins.__import__('os').system('touch {marker}')",
    "age.__class__.__mro__[-1].__subclasses__() and open('{marker}', 'w')",
    "(lambda: __import__('os').system('touch {marker}'))()",
]


@pytest.mark.parametrize("escape", ESCAPES)
def test_code_in_a_derived_expression_never_runs_under_features(project, tmp_path, escape):
    marker = tmp_path / "pwned"
    project.write("data/source/small.csv", __import__("conftest").CSV)
    project.params(small_config())
    assert stages(project, "cohort", "clean") == 0
    derived = {"x": {"expr": escape.format(marker=marker)}}
    project.params(small_config(derived=derived))
    done = cli(project.root, "features")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: data config conf/data/small.yaml")
    assert "derived.x.expr: " in lines[0] and "not allowed" in lines[0]
    assert not marker.exists()
    assert not project.exists("data/features")


def test_code_in_a_target_or_criterion_never_runs_under_compose(tmp_path):
    """`lbp-outcomes compose` with a hostile override: one line, exit 2, nothing written,
    nothing run."""
    import shutil

    from conftest import REPO

    root = tmp_path / "repo"
    shutil.copytree(REPO / "conf", root / "conf")
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    before = (root / "params.yaml").read_bytes()
    marker = tmp_path / "pwned"
    hostile = f"@pd.io.common.os.system('touch {marker}')"
    for override, key in [
        (f'+data.include.x="{hostile}"', "include.x: "),
        (f'+data.targets.odi_post.expr="{hostile}"', "targets.odi_post.expr: "),
    ]:
        done = cli(root, "compose", override)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert key in lines[0] and "'@' is not allowed" in lines[0], lines[0]
        assert (root / "params.yaml").read_bytes() == before
        assert not marker.exists()


def test_numeric_site_codes_match_in_parquet_files_too(project):
    """Typed files hold codes as numbers (1.0 in a float column): 3 still means site 3."""
    frame = pd.read_csv(__import__("io").StringIO(TRIAL))
    frame["centre"] = frame["centre"].astype(float)
    (project.root / "data/source").mkdir(parents=True)
    frame.to_parquet(project.root / "data/source/trial.parquet", index=False)
    source = {"development": "data/source/trial.parquet", "external_sites": [3.0]}
    project.params(trial_config(source=source))
    assert stages(project, "cohort") == 0
    manifest = json.loads((project.root / "data/raw/manifest.json").read_text())
    assert manifest["cohorts"]["external"]["rows"] == 2
