"""The scale benchmark run for real on a small cohort (`bench/run.py --only scale`).
(The benchmarks' logic: tests/unit/test_bench.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
def test_scale_benchmark_runs_and_writes_results(tmp_path):
    """`bench/run.py --only scale` on a small cohort: a table on the terminal, the numbers
    in the results file."""
    results = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench/run.py"),
            "--only",
            "scale",
            "--sizes",
            "500",
            "--out",
            str(tmp_path / "out"),
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| 500 |" in done.stdout
    row = json.loads(results.read_text())["scale"]["sizes"]["500"]
    assert row["train"]["seconds"] > 0 and row["peak_mb"] > 50
    assert set(row["fraction_of_oracle"]) == {"ll_post", "nrs_post", "odi_post"}
