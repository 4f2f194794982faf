"""DVC's own overhead, on a small configuration (cheap enough to repeat): `bench/run.py
--only noop,ratio`.

- noop: the no-op `dvc repro` and `dvc status` (nothing changed) of this checkout against
  an earlier commit (``--against``), in two copies holding the same outputs: the earlier
  commit's copy runs the pipeline once; this checkout's copy takes those outputs and
  records them (`dvc commit -f`), so both measure DVC's bookkeeping only (reading
  dvc.yaml, dvc.lock and params.yaml, hashing dependencies), alternating run by run so
  that a busy moment of the machine hits both. Also the lines of each dvc.lock.
- ratio: the pipeline (`dvc repro -f`) against the same CV work in one bare process
  (bench/bare_cv.py), ``runs`` times each; the ratio of the medians.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from run import REPO, dvc, lbp, measure, tool_env, workspace

#: The small configuration both benchmarks use: one family, no tuning, one CV repeat.
SMALL = ["model=linear", "tuning=none", "cv.repeats=1"]
#: Outputs copied from the earlier commit's copy (everything `dvc repro` writes).
OUTPUTS = ["data/raw", "data/clean", "data/features", "models", "reports", "mlruns"]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=tool_env(), check=True, capture_output=True)


def _tree_at(rev: str, dest: Path) -> Path:
    """The files of commit ``rev`` at ``dest``, with a one-commit history."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", rev]):
        _git(dest, *args)
    return dest


def _run(cmd: list[str], cwd: Path) -> float:
    """Wall seconds of ``cmd`` run in ``cwd`` with that copy's own code (PYTHONPATH)."""
    env = {**tool_env(), "PYTHONPATH": str(cwd / "src")}
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or "Running stage" in done.stdout:
        raise SystemExit(f"bench: {' '.join(cmd)} in {cwd}: not a no-op\n{done.stdout[-2000:]}")
    return seconds


def _small(root: Path) -> None:
    env = {**tool_env(), "PYTHONPATH": str(root / "src")}
    subprocess.run(lbp("compose", *SMALL), cwd=root, env=env, check=True, capture_output=True)
    _git(root, "commit", "-q", "-am", "small configuration")


def noop(out: Path, against: str, rounds: int = 5) -> dict[str, Any]:
    before = _tree_at(against, out / "noop" / "before")
    _small(before)
    print(f"noop: the pipeline at {against} on {' '.join(SMALL)} ...", flush=True)
    env = {**tool_env(), "PYTHONPATH": str(before / "src")}
    subprocess.run(dvc("repro"), cwd=before, env=env, check=True, capture_output=True)
    after = workspace(out / "noop" / "after")
    _small(after)
    for rel in OUTPUTS:
        shutil.rmtree(after / rel, ignore_errors=True)
        if (before / rel).exists():
            shutil.copytree(before / rel, after / rel, symlinks=True)
    env = {**tool_env(), "PYTHONPATH": str(after / "src")}
    subprocess.run(dvc("commit", "-f"), cwd=after, env=env, check=True, capture_output=True)
    times: dict[str, dict[str, list[float]]] = {
        side: {"repro": [], "status": []} for side in ("before", "after")
    }
    for i in range(rounds):
        print(f"noop: round {i + 1}/{rounds}", flush=True)
        for side, root in (("before", before), ("after", after)):
            times[side]["repro"].append(_run(dvc("repro"), root))
            times[side]["status"].append(_run(dvc("status"), root))
    return {
        "against": against,
        "config": SMALL,
        "rounds": rounds,
        **{
            side: {
                "lock_lines": len((root / "dvc.lock").read_text().splitlines()),
                "params_lines": len((root / "params.yaml").read_text().splitlines()),
                **{f"{cmd}_median": round(statistics.median(v), 3) for cmd, v in t.items()},
                **{f"{cmd}_runs": [round(s, 3) for s in v] for cmd, v in t.items()},
            }
            for side, root, t in (
                ("before", before, times["before"]),
                ("after", after, times["after"]),
            )
        },
        "load_average": [round(v, 1) for v in os.getloadavg()],
    }


def ratio(out: Path, runs: int = 4) -> dict[str, Any]:
    repo = workspace(out / "ratio")
    _small(repo)
    pipeline, bare = [], []
    for i in range(runs):
        print(f"ratio: dvc repro -f and the bare CV ({i + 1}/{runs}) ...", flush=True)
        pipeline.append(measure(dvc("repro", "-f"), repo).seconds)
        bare.append(measure([sys.executable, str(REPO / "bench" / "bare_cv.py"), str(repo)], repo))
    bare_seconds = [b.seconds for b in bare]
    return {
        "config": SMALL,
        "runs": runs,
        "pipeline_runs": [round(s, 2) for s in pipeline],
        "bare_runs": [round(s, 2) for s in bare_seconds],
        "ratio": round(statistics.median(pipeline) / statistics.median(bare_seconds), 3),
        "load_average": [round(v, 1) for v in os.getloadavg()],
    }


def render(results: dict[str, Any], table: Any, ok: Any, goals: dict[str, float]) -> list[str]:
    parts = []
    if "noop" in results:
        n = results["noop"]
        b, a = n["before"], n["after"]
        parts.append(
            f"\n## No-op `dvc repro` and `dvc status`, {n['against']} vs this checkout\n\n"
            f"Small configuration ({' '.join(n['config'])}), the same outputs in both copies, "
            f"median of {n['rounds']} alternating runs (load average "
            f"{', '.join(map(str, n['load_average']))} on this machine).\n"
        )
        parts.append(
            table(
                ["measure", "before", "after"],
                [
                    ["dvc.lock lines", b["lock_lines"], a["lock_lines"]],
                    ["params.yaml lines", b["params_lines"], a["params_lines"]],
                    ["no-op `dvc repro` (s)", b["repro_median"], a["repro_median"]],
                    ["`dvc status` (s)", b["status_median"], a["status_median"]],
                ],
            )
        )
    if "ratio" in results:
        r = results["ratio"]
        parts.append(
            f"\n## Pipeline vs bare CV, small configuration ({' '.join(r['config'])})\n\n"
            f"Median of {r['runs']} runs each (load average "
            f"{', '.join(map(str, r['load_average']))}).\n"
        )
        parts.append(
            table(
                ["measure", "value", "goal", ""],
                [
                    ["`dvc repro -f` (s)", " / ".join(map(str, r["pipeline_runs"])), "", ""],
                    ["bare process (s)", " / ".join(map(str, r["bare_runs"])), "", ""],
                    [
                        "median pipeline / median bare",
                        r["ratio"],
                        f"<= {goals['overhead_ratio']}",
                        ok(r["ratio"] <= goals["overhead_ratio"]),
                    ],
                ],
            )
        )
    return parts
