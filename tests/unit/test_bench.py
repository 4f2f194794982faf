"""The benchmarks' own logic: what they read from a run and how they judge the goals."""

from __future__ import annotations

import importlib.util
import math

from conftest import REPO


def bench():
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_phases_are_read_from_the_stage_output():
    """The overhead breakdown comes from the line the train stage prints."""
    from lbp_outcomes.train import _PhaseClock

    clock = _PhaseClock()
    clock.phases = {"cv": 152.04, "conformal": 0.8, "tables and plots": 2.1}
    output = f"noise\ntrain phases: {clock}\ntrain: done in 170.0 s\n"
    assert bench().parse_phases(output) == {"cv": 152.0, "conformal": 0.8, "tables and plots": 2.1}
    assert bench().parse_phases("no such line") == {}


def test_bare_run_must_reproduce_every_fold_score_exactly(tmp_path):
    """The bare baseline counts only if it did the pipeline's very work: same fold scores,
    NaN (an undefined calibration slope) matching NaN, nothing missing or extra."""
    folds = tmp_path / "reports/cv/folds.csv"
    folds.parent.mkdir(parents=True)
    folds.write_text(
        "target,family,repeat,fold,n_test,metric,value\n"
        "y,xgboost,0,0,10,r2,0.5\n"
        "y,xgboost,0,0,10,calibration_slope,\n"
    )
    same = bench()._same_scores
    scores = {"y/xgboost/0/0/r2": 0.5, "y/xgboost/0/0/calibration_slope": math.nan}
    assert same(tmp_path, scores)
    assert not same(tmp_path, {**scores, "y/xgboost/0/0/r2": 0.5000001})
    assert not same(tmp_path, {"y/xgboost/0/0/r2": 0.5})


def test_tables_judge_each_goal():
    results = {
        "scale": {
            "sizes": {
                str(n): {
                    **{
                        st: {"seconds": s, "peak_mb": mb}
                        for st in ("cohort", "clean", "features", "train")
                    },
                    "total_seconds": 4 * s,
                    "peak_mb": mb,
                    "fraction_of_oracle": {"ll_post": 0.99},
                }
                for n, s, mb in [(100000, 10.0, 1000.0), (1000000, 130.0, 4200.0)]
            }
        }
    }
    text = bench().render(results)
    assert "time(1M) / time(100k) = 13.00 (goal <= 12.0: MISSED)" in text
    assert "peak memory at 1M = 4.10 GB (goal <= 4.0: MISSED)" in text


def test_the_ratio_table_shows_each_run_with_its_load_and_judges_the_medians():
    rounds = [
        {"pipeline_seconds": p, "pipeline_load": 2.0, "bare_seconds": b, "bare_load": 2.1}
        for p, b in [(460.0, 350.0), (470.0, 352.0), (440.0, 340.0), (500.0, 360.0)]
    ]
    ratio = {"config": "default", "overrides": [], "runs": 4, "rounds": rounds}
    ratio |= {"pipeline_runs": [460.0, 470.0, 440.0, 500.0], "ratio": 1.322}
    ratio |= {"bare_runs": [350.0, 352.0, 340.0, 360.0], "load_average": [2.0, 2.0, 2.0]}
    text = bench().render({"ratio": ratio})
    assert "default configuration" in text and "| 1 | 460.0 | 2.0 | 350.0 | 2.1 | 1.314 |" in text
    assert "| median pipeline / median bare | 1.322 | <= 1.3 | MISSED |" in text
    # a results file from before --ratio-config (small configuration, no per-run loads)
    old = {k: ratio[k] for k in ("runs", "pipeline_runs", "bare_runs", "ratio", "load_average")}
    text = bench().render({"ratio": {**old, "config": ["model=linear", "tuning=none"]}})
    assert "small configuration (model=linear tuning=none)" in text
