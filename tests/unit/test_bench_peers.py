"""The AutoML-peer and learning-curve benchmarks' own logic (bench/peers.py, bench/curve.py):
paired arithmetic on hand-checked numbers, the peers' venv and subprocess commands. No
AutoGluon or FLAML here: they live in bench/.venv-peers and run only in the benchmark."""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest

from conftest import REPO


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


peers = load("peers")
curve = load("curve")


def test_paired_delta_sd_and_folds_won_on_hand_checked_numbers():
    """Differences 0.02, -0.02, 0.05, 0.00: mean 0.0125; squared deviations sum to 0.002675,
    SD sqrt(0.002675 / 3) = 0.029861; two folds won (the tie is not a win)."""
    got = peers.paired([0.70, 0.60, 0.80, 0.65], [0.68, 0.62, 0.75, 0.65])
    assert got["delta"] == pytest.approx(0.0125)
    assert got["delta_sd"] == pytest.approx(math.sqrt(0.002675 / 3))
    assert round(got["delta_sd"], 6) == 0.029861
    assert (got["folds_won"], got["folds"]) == (2, 4)


def test_paired_is_signed_project_minus_peer():
    got = peers.paired([0.5, 0.5], [0.6, 0.7])
    assert got["delta"] == pytest.approx(-0.15)
    assert got["folds_won"] == 0


def test_paired_refuses_unpaired_or_too_few_folds():
    with pytest.raises(ValueError, match="equal lists"):
        peers.paired([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError):
        peers.paired([0.1], [0.2])


def test_budget_per_fit_is_cv_seconds_over_outer_folds():
    assert peers.budgets({"ll_post": 90.0, "nrs_post": 36.0}, 10) == {
        "ll_post": 9.0,
        "nrs_post": 3.6,
    }


def test_venv_is_created_apart_and_installs_exactly_the_lock(tmp_path):
    venv, lock = tmp_path / ".venv-peers", tmp_path / "peers.lock"
    create, install, check = peers.venv_commands("/usr/bin/python3.11", venv, lock)
    assert create == ["/usr/bin/python3.11", "-m", "venv", "--clear", str(venv)]
    # pip of the peers' venv, every pin from the lock, no resolution that could drift
    assert install[0] == str(venv / "bin" / "python")
    assert install[-3:] == ["--no-deps", "-r", str(lock)]
    assert "install" in install and str(REPO / ".venv") not in " ".join(install)
    assert check[0] == str(venv / "bin" / "python") and check[-1] == "check"


def test_the_committed_lock_pins_every_package_exactly():
    lines = [
        line.split(";")[0].strip()
        for line in peers.LOCK.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and all("==" in line for line in lines)
    names = {line.split("==")[0].lower() for line in lines}
    assert {"autogluon.tabular", "flaml", "pandas"} <= names


def test_venv_is_reused_while_the_lock_is_unchanged(tmp_path, monkeypatch):
    venv, lock = tmp_path / ".venv-peers", tmp_path / "peers.lock"
    lock.write_text("flaml==2.7.0\n")
    ran = []

    def fake_run(cmd, **kwargs):
        ran.append(cmd)
        if "venv" in cmd:  # what `python -m venv` leaves behind
            (venv / "bin").mkdir(parents=True, exist_ok=True)
            (venv / "bin" / "python").write_text("")
        return type("Done", (), {"returncode": 0, "stdout": "", "stderr": ""})()

    monkeypatch.setattr(peers.subprocess, "run", fake_run)
    assert peers.ensure_venv(venv, lock, "python3.11") == venv / "bin" / "python"
    assert len(ran) == 3
    peers.ensure_venv(venv, lock, "python3.11")
    assert len(ran) == 3  # nothing run again
    lock.write_text("flaml==2.7.0\nautogluon.tabular==1.6.3\n")
    peers.ensure_venv(venv, lock, "python3.11")
    assert len(ran) == 6  # a changed lock rebuilds the venv


def test_peer_command_runs_the_peer_script_in_the_peers_venv(tmp_path):
    python = tmp_path / ".venv-peers/bin/python"
    cmd = peers.peer_command(
        python, peers.PEERS["autogluon_best_5x"], tmp_path / "ll_post", 18.04, 2, 7, tmp_path / "o"
    )
    # no nice of its own: the bench runs everything at one niceness, the project's stages too
    assert cmd[:2] == [str(python), str(peers.PEER_SCRIPT)]
    flags = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    assert flags == {
        "--library": "autogluon",
        "--preset": "best_quality",
        "--seconds-per-fold": "18.040",
        "--n-jobs": "2",
        "--seed": "7",
        "--out": str(tmp_path / "o"),
    }
    flaml = peers.peer_command(python, peers.PEERS["flaml_1x"], tmp_path, 3.6, 1, 0, tmp_path)
    assert "--preset" not in flaml and flaml[flaml.index("--library") + 1] == "flaml"


def test_peer_budgets_are_one_and_five_times_the_project_fit():
    assert {k: p.multiple for k, p in peers.PEERS.items()} == {
        "autogluon_best_1x": 1.0,
        "autogluon_best_5x": 5.0,
        "autogluon_medium_1x": 1.0,
        "flaml_1x": 1.0,
    }


def test_peer_predictions_are_scored_with_the_projects_metric_per_fold():
    """Fold (0, 0) predicts y exactly (R2 1); fold (0, 1) predicts the mean 3.5 of y = 3, 4
    (R2 0). Predictions arrive in any order and are matched by (repeat, fold)."""
    y = np.array([1.0, 2.0, 3.0, 4.0])
    folds = [{"repeat": 0, "fold": 0, "test": [0, 1]}, {"repeat": 0, "fold": 1, "test": [2, 3]}]
    predicted = [
        {"repeat": 0, "fold": 1, "predictions": [3.5, 3.5]},
        {"repeat": 0, "fold": 0, "predictions": [1.0, 2.0]},
    ]
    assert peers.score("regression", y, folds, predicted, "r2") == pytest.approx([1.0, 0.0])


def test_learning_curve_fraction_prefers_the_honest_estimate():
    cv = {
        "ll_post": {
            "champion": "xgboost",
            "xgboost": {"r2": {"mean": 0.72}},
            "selected": {"metric": "r2", "mean": 0.70},
        },
        "nrs_post": {"champion": "lightgbm", "lightgbm": {"r2": {"mean": 0.6}}},
        "nrs_mcic": {"champion": "linear", "linear": {"auroc": {"mean": 0.9}}},
    }
    rows = curve.estimates(cv, {"ll_post": 0.8, "nrs_post": 0.75})
    assert rows["ll_post"]["fraction"] == 0.875 and rows["ll_post"]["estimate"] == "selected"
    assert rows["nrs_post"]["fraction"] == 0.8 and rows["nrs_post"]["estimate"] == "lightgbm"
    assert "nrs_mcic" not in rows  # no oracle for a binary outcome
    with pytest.raises(ValueError):
        curve.fraction(0.5, 0.0)


def test_learning_curve_names_the_first_size_reaching_the_goal():
    points = {
        "431": {"targets": {"y": {"fraction": 0.90}}},
        "10000": {"targets": {"y": {"fraction": 0.99}}},
        "2000": {"targets": {"y": {"fraction": 0.95}}},
    }
    assert curve.first_n_reaching(points, "y", 0.95) == 2000
    assert curve.first_n_reaching(points, "y", 0.999) is None


def test_peer_script_imports_nothing_from_the_project():
    """It runs in the peers' venv, where the project (and its pandas) is not installed."""
    text = (REPO / "bench" / "peer_fit.py").read_text()
    assert "lbp_outcomes" not in text


def test_a_finished_peer_fit_of_the_same_budget_is_reused(tmp_path, monkeypatch):
    """The peers can fit while the project's CV still runs; the later comparison reads
    their fits back, but only those of the same budget per fold."""
    done = {"folds": [], "seconds_per_fold": 5.57, "wall_seconds": 70.0, "cpu_seconds": 90.0}
    (tmp_path / "peer-flaml_1x-ll_post.json").write_text(__import__("json").dumps(done))
    calls = []
    monkeypatch.setattr(peers.subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    info = {"folder": tmp_path, "folds": [{}] * 10}
    got = peers.fit_peer(tmp_path / "py", "flaml_1x", "ll_post", info, 5.57, 2, 0, tmp_path, True)
    assert got == done and calls == []
    with pytest.raises(AttributeError):  # another budget: fitted again (the fake run returns None)
        peers.fit_peer(tmp_path / "py", "flaml_1x", "ll_post", info, 6.0, 2, 0, tmp_path, True)
    assert len(calls) == 1 and "6.000" in calls[0]
