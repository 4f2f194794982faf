"""DVC's own overhead: `bench/run.py --only noop,ratio`.

- noop: the no-op `dvc repro` and `dvc status` (nothing changed) of this checkout against
  an earlier commit (``--against``), in two copies holding the same outputs: the earlier
  commit's copy runs the pipeline once; this checkout's copy takes those outputs and
  records them (`dvc commit -f`), so both measure DVC's bookkeeping only (reading
  dvc.yaml, dvc.lock and params.yaml, hashing dependencies), alternating run by run so
  that a busy moment of the machine hits both. Also the lines of each dvc.lock. Both copies
  run this venv's DVC; a third column runs this checkout's copy with ruamel.yaml's C
  parser hidden (pure-Python YAML, as before ruamel.yaml.clib was in the lock), so the
  parser's share shows apart from the commits' differences.
- ratio: the pipeline (`dvc repro -f`) against the same CV work in one bare process
  (bench/bare_cv.py), alternating, ``runs`` times each; the ratio of the medians. On the
  default configuration (``--ratio-config default``; the goal is about it: 4 runs take
  about 30 minutes of an idle 2-core machine) or the small one (``small``: a quick check of
  the bench itself, where fixed costs dominate and the ratio means little). Every bare run
  must reproduce the pipeline's fold scores exactly (the same work), else the bench stops.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from run import REPO, dvc, lbp, measure, tool_env, workspace

#: The small configuration: one family, no tuning, one CV repeat (noop; ratio on request).
SMALL = ["model=linear", "tuning=none", "cv.repeats=1"]
#: Overrides of each configuration `ratio` can run: "default" is conf/ as committed.
RATIO_CONFIGS: dict[str, list[str]] = {"default": [], "small": SMALL}
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


#: `python -m dvc` with ruamel.yaml's C parser (the `_ruamel_yaml` module of
#: ruamel.yaml.clib) made unimportable: ruamel then parses in pure Python.
PURE_YAML = (
    "import runpy, sys; sys.modules['_ruamel_yaml'] = None; "
    "runpy.run_module('dvc', run_name='__main__', alter_sys=True)"
)


def dvc_pure_yaml(*args: str) -> list[str]:
    return [sys.executable, "-c", PURE_YAML, *args]


def _run(cmd: list[str], cwd: Path) -> float:
    """Wall seconds of ``cmd`` run in ``cwd`` with that copy's own code (PYTHONPATH)."""
    env = {**tool_env(), "PYTHONPATH": str(cwd / "src")}
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or "Running stage" in done.stdout:
        raise SystemExit(f"bench: {' '.join(cmd)} in {cwd}: not a no-op\n{done.stdout[-2000:]}")
    return seconds


def _small(root: Path, overrides: list[str] = SMALL) -> None:
    env = {**tool_env(), "PYTHONPATH": str(root / "src")}
    subprocess.run(lbp("compose", *overrides), cwd=root, env=env, check=True, capture_output=True)
    _git(root, "commit", "-q", "--allow-empty", "-am", f"configuration {' '.join(overrides)}")


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
    sides = (("before", before, dvc), ("after", after, dvc), ("after_pure", after, dvc_pure_yaml))
    times: dict[str, dict[str, list[float]]] = {
        side: {"repro": [], "status": []} for side, _, _ in sides
    }
    for i in range(rounds):
        print(f"noop: round {i + 1}/{rounds}", flush=True)
        for side, root, command in sides:
            times[side]["repro"].append(_run(command("repro"), root))
            times[side]["status"].append(_run(command("status"), root))
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
                ("after_pure", after, times["after_pure"]),
            )
        },
        "load_average": [round(v, 1) for v in os.getloadavg()],
    }


def ratio(out: Path, runs: int = 4, config: str = "default") -> dict[str, Any]:
    """``runs`` x (`dvc repro -f`, then the bare CV on the features that run wrote), with the
    1-minute load average after each run; the ratio of the medians."""
    from run import _same_scores

    repo = workspace(out / "ratio")
    if RATIO_CONFIGS[config]:
        _small(repo, RATIO_CONFIGS[config])
    rounds = []
    for i in range(runs):
        print(f"ratio: dvc repro -f and the bare CV, {config} ({i + 1}/{runs}) ...", flush=True)
        pipeline = measure(dvc("repro", "-f"), repo).seconds
        pipeline_load = os.getloadavg()[0]
        bare = measure([sys.executable, str(REPO / "bench" / "bare_cv.py"), str(repo)], repo)
        scores = json.loads(bare.output.strip().splitlines()[-1])["scores"]
        if not _same_scores(repo, scores):
            raise SystemExit("bench: ratio: the bare CV's fold scores differ from the pipeline's")
        rounds.append(
            {
                "pipeline_seconds": round(pipeline, 2),
                "pipeline_load": round(pipeline_load, 1),
                "bare_seconds": round(bare.seconds, 2),
                "bare_load": round(os.getloadavg()[0], 1),
            }
        )
    pipeline_median = statistics.median(r["pipeline_seconds"] for r in rounds)
    bare_median = statistics.median(r["bare_seconds"] for r in rounds)
    return {
        "config": config,
        "overrides": RATIO_CONFIGS[config],
        "runs": runs,
        "rounds": rounds,
        "pipeline_runs": [r["pipeline_seconds"] for r in rounds],
        "bare_runs": [r["bare_seconds"] for r in rounds],
        "pipeline_median": round(pipeline_median, 2),
        "bare_median": round(bare_median, 2),
        "ratio": round(pipeline_median / bare_median, 3),
        "load_average": [round(v, 1) for v in os.getloadavg()],
    }


def render(results: dict[str, Any], table: Any, ok: Any, goals: dict[str, float]) -> list[str]:
    parts = []
    if "noop" in results:
        n = results["noop"]
        b, a = n["before"], n["after"]
        p = n.get("after_pure")  # absent in results from before the pure-YAML column
        pure = (lambda key: p[key]) if p else (lambda key: "")
        parts.append(
            f"\n## No-op `dvc repro` and `dvc status`, {n['against']} vs this checkout\n\n"
            f"Small configuration ({' '.join(n['config'])}), the same outputs in both copies, "
            f"median of {n['rounds']} alternating runs (load average "
            f"{', '.join(map(str, n['load_average']))} on this machine).\n"
        )
        parts.append(
            table(
                ["measure", "before", "after", "after, pure-Python YAML"],
                [
                    ["dvc.lock lines", b["lock_lines"], a["lock_lines"], pure("lock_lines")],
                    [
                        "params.yaml lines",
                        b["params_lines"],
                        a["params_lines"],
                        pure("params_lines"),
                    ],
                    [
                        "no-op `dvc repro` (s)",
                        b["repro_median"],
                        a["repro_median"],
                        pure("repro_median"),
                    ],
                    [
                        "`dvc status` (s)",
                        b["status_median"],
                        a["status_median"],
                        pure("status_median"),
                    ],
                ],
            )
        )
    if "ratio" in results:
        parts += _render_ratio(results["ratio"], table, ok, goals)
    return parts


def _render_ratio(r: dict[str, Any], table: Any, ok: Any, goals: dict[str, float]) -> list[str]:
    config, overrides = r["config"], r.get("overrides", [])
    if isinstance(config, list):  # results from before --ratio-config: the small one
        config, overrides = "small", config
    what = f"{config} configuration" + (f" ({' '.join(overrides)})" if overrides else "")
    rounds = r.get("rounds") or [
        {"pipeline_seconds": p, "bare_seconds": b, "pipeline_load": "", "bare_load": ""}
        for p, b in zip(r["pipeline_runs"], r["bare_runs"], strict=True)
    ]
    rows = [
        [
            i,
            x["pipeline_seconds"],
            x["pipeline_load"],
            x["bare_seconds"],
            x["bare_load"],
            round(x["pipeline_seconds"] / x["bare_seconds"], 3),
        ]
        for i, x in enumerate(rounds, 1)
    ]
    goal = goals["overhead_ratio"]
    return [
        f"\n## Pipeline (`dvc repro -f`) vs the same CV in a bare process, {what}\n\n"
        f"{r['runs']} alternating runs each; load average (1 min) after each run, "
        f"{', '.join(map(str, r['load_average']))} at the end. The goal is about the default "
        "configuration.\n",
        table(["run", "pipeline (s)", "load", "bare (s)", "load", "ratio"], rows) + "\n",
        table(
            ["measure", "value", "goal", ""],
            [["median pipeline / median bare", r["ratio"], f"<= {goal}", ok(r["ratio"] <= goal)]],
        ),
    ]
