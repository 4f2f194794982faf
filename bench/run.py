"""Benchmarks: pipeline overhead and wall time, accuracy against the ceiling and AutoML
peers, the learning curve, scale, Dask, concurrency.

    python3.11 tasks.py bench                                 # all seven (about 2 h, 2 cores)
    python3.11 tasks.py bench --only repro,accuracy,curve     # some of them
    python3.11 tasks.py bench --only scale --sizes 1000,10000 # a quick scale run

Each benchmark runs in its own copy of the repository under bench/out/ (git-ignored), as a
user runs the pipeline, and never touches this checkout's outputs or MLflow store. Prints
one table per benchmark and writes everything measured to bench/results.json
(``--results`` to write elsewhere).

1. overhead: `dvc repro` of the default pipeline from scratch, against the same CV work
   (same folds, models, hyperparameters and tuning, same fold scores) in one bare process
   (bench/bare_cv.py: no DVC, MLflow or Hydra); where the difference goes; no-op repro.
   repro: one `dvc repro` of the default pipeline from scratch (at the bench's niceness: 10
   unless --niceness says otherwise, as everything the bench starts) against the baseline's
   wall time (GOALS), with the stages' own share and the machine's load average.
2. accuracy: per outcome, the honest (selection-included) CV estimate against the generator's
   oracle R2, and against AutoGluon-Tabular and FLAML in their own venv (bench/peers.py,
   bench/peer_fit.py) on the same outer folds, at 1x and 5x the project's per-fit CV time.
   curve: the honest estimate at n = 431 ... 10,000 synthetic patients as a fraction of the
   oracle R2 (bench/curve.py; a reduced budget, the same at every n).
3. scale: synthetic cohorts of --sizes patients through cohort, clean, features and train
   (XGBoost and LightGBM, fixed hyperparameters, 3-fold CV): wall time and peak memory
   (resident memory of the stage and all its worker processes) per stage.
4. dask: the default CV on a LocalCluster of 1 and of 2 single-threaded workers (and the
   local joblib executor), from ``lbp-outcomes time-cv``.
5. concurrent: 4 experiments queued and run at once (`dvc exp run --run-all -j 4`, no
   tuning), all logging to one sqlite MLflow store: wall time, lock errors, run statuses.
6. noop and ratio (bench/dvc_overhead.py, only when named: `--only noop,ratio`): DVC's own
   overhead: the no-op `dvc repro`/`dvc status` on a small configuration against an
   earlier commit (`--against`), and pipeline vs bare CV as the ratio of the medians of
   `--runs` alternating runs, on the default configuration (`--ratio-config small`: quick).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lbp_outcomes import devtools

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/'s own modules
import curve as curve_bench
import peers as peer_bench

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GOALS = {
    "overhead_ratio": 1.3,  # pipeline wall / bare wall, at most
    "repro_baseline_seconds": 550.0,  # default `dvc repro` at the baseline commit ad5197e
    "repro_ratio": 1.2,  # default `dvc repro` now / baseline, at most
    "peer_delta": 0.0,  # project - autogluon_best_5x per regression outcome, at least
    "peer_time_share": 0.2,  # project seconds / autogluon_best_5x seconds, at most
    "curve_n": 2000,  # the honest estimate reaches oracle_fraction by this n
    "noop_repro_seconds": 2.0,
    "oracle_fraction": 0.95,  # best CV R2 / oracle R2, at least
    "scale_time_ratio": 12.0,  # time(1M) / time(100k), at most
    "scale_peak_gb": 4.0,  # at 1M, at most
}
# DVC's own overhead (bench/dvc_overhead.py): `--only noop,ratio`.
DVC_OVERHEAD = ("noop", "ratio")
NICENESS = 10  # the machine is shared
SCALE_OVERRIDES = [
    "model=[xgboost,lightgbm]",
    "tuning=none",
    "cv.folds=3",
    "cv.repeats=1",
    "conformal.folds=3",
]


# -- running things --------------------------------------------------------------------------
def tool_env() -> dict[str, str]:
    return devtools.tool_env(BIN, committer="bench")


class Measured:
    """A finished command: wall seconds, peak resident memory of its process tree, output."""

    def __init__(self, seconds: float, peak_bytes: int, output: str, code: int) -> None:
        self.seconds, self.peak_bytes, self.output, self.code = seconds, peak_bytes, output, code

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20


def measure(cmd: list[str], cwd: Path, check: bool = True) -> Measured:
    """Run ``cmd``; sample the summed RSS of it and all its descendants every 50 ms.

    The sum counts pages shared between processes once per process, so it is an upper
    bound of the memory the machine needed.
    """
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for p in tree:
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_info().rss
                peak = max(peak, total)
            except psutil.Error:
                return
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    if check and proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed ({proc.returncode}):\n{output[-3000:]}")
    return Measured(seconds, peak, output, proc.returncode)


def workspace(folder: Path) -> Path:
    """A fresh copy of this repository (tracked and untracked-but-not-ignored files, as
    a clone of the working tree would have them) with a one-commit git history."""
    if folder.exists():
        shutil.rmtree(folder)
    return devtools.copy_repo(REPO, folder / "repo", committer="bench", message="bench")


def lbp(*args: str) -> list[str]:
    return [str(BIN / "lbp-outcomes"), *args]


def dvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


# -- 1. overhead -----------------------------------------------------------------------------
STAGE_DONE = re.compile(r"^(\w+): done in ([\d.]+) s$", re.M)
PHASES = re.compile(r"^train phases: (.*)$", re.M)


def parse_phases(output: str) -> dict[str, float]:
    found = PHASES.search(output)
    if not found:
        return {}
    phases = {}
    for part in found.group(1).split(" | "):
        name, seconds, _ = part.rsplit(" ", 2)
        phases[name] = float(seconds)
    return phases


def overhead(out: Path) -> dict[str, Any]:
    """Two pipeline runs (from scratch in a fresh copy, which also creates the MLflow store,
    then `dvc repro -f`, the steady state of a user's next experiment) against two bare
    runs; the ratio compares the best of each, so a slow moment of the machine does not
    decide it (CV wall time alone varies by about 5 % between identical runs here)."""
    repo = workspace(out / "overhead")
    print("overhead: dvc repro of the default pipeline, from scratch ...", flush=True)
    fresh = measure(dvc("repro"), repo)
    noops = []
    for _ in range(3):
        noop = measure(dvc("repro"), repo)
        assert "Running stage" not in noop.output, noop.output
        noops.append(noop.seconds)
    print("overhead: dvc repro -f (the store exists) ...", flush=True)
    rerun = measure(dvc("repro", "-f"), repo)
    bares = []
    for i in range(2):
        print(f"overhead: the same CV in one bare process ({i + 1}/2) ...", flush=True)
        run = measure([sys.executable, str(REPO / "bench" / "bare_cv.py"), str(repo)], repo)
        bares.append((run, json.loads(run.output.strip().splitlines()[-1])))
    same = all(_same_scores(repo, bare.pop("scores")) for _, bare in bares)
    best = min((fresh, rerun), key=lambda m: m.seconds)
    bare_run, bare = min(bares, key=lambda b: b[0].seconds)
    stages = {name: float(s) for name, s in STAGE_DONE.findall(best.output)}
    phases = parse_phases(best.output)
    train = stages.get("train", 0.0)
    breakdown = {
        "cross-validation tasks (train)": phases.get("cv", 0.0),
        **{f"train: {k}": v for k, v in phases.items() if k != "cv"},
        "train: imports, data, MLflow parent run": train - sum(phases.values()),
        **{f"stage {k}": v for k, v in stages.items() if k != "train"},
        "DVC and interpreter start-up (7 processes)": best.seconds - sum(stages.values()),
    }
    return {
        "pipeline_seconds": round(best.seconds, 2),
        "pipeline_runs": {"fresh": round(fresh.seconds, 2), "rerun": round(rerun.seconds, 2)},
        "bare_seconds": round(bare_run.seconds, 2),
        "bare_runs": [round(r.seconds, 2) for r, _ in bares],
        "bare": bare,
        "ratio": round(best.seconds / bare_run.seconds, 3),
        "ratio_fresh": round(fresh.seconds / bare_run.seconds, 3),
        "same_fold_scores": same,
        "stages": stages,
        "train_phases": phases,
        "breakdown": {k: round(v, 2) for k, v in breakdown.items()},
        "noop_repro_seconds": round(statistics.median(noops), 3),
        "noop_repro_runs": [round(s, 3) for s in noops],
        "repo": str(repo),
    }


def _same_scores(repo: Path, scores: dict[str, float]) -> bool:
    """The bare process did the pipeline's work: every fold score is identical."""
    import pandas as pd

    folds = pd.read_csv(repo / "reports/cv/folds.csv")
    mine = {
        f"{r.target}/{r.family}/{r.repeat}/{r.fold}/{r.metric}": r.value for r in folds.itertuples()
    }
    if set(mine) != set(scores):
        return False
    # exact equality; undefined scores (NaN, e.g. the calibration slope of a separated fold)
    # are equal when both are undefined
    return all(
        mine[k] == scores[k] or (mine[k] != mine[k] and scores[k] != scores[k]) for k in mine
    )


# -- 2. accuracy -----------------------------------------------------------------------------
def accuracy(
    out: Path,
    base: dict[str, Any] | None,
    peers: list[str],
    targets: list[str] | None,
    progress: Callable[[dict[str, Any]], None],
    per_fit: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Per outcome, the project's estimate against the oracle ceiling, and the AutoML peers
    (bench/peers.py, in their own venv) on the same outer folds; ``progress`` gets the
    section so far after each peer and target."""
    repo = Path(base["repo"]) if base else None
    if repo is None or not (repo / "reports/metrics/cv.json").exists():
        base = repro(out)
        repo = Path(base["repo"])
    cv = json.loads((repo / "reports/metrics/cv.json").read_text())
    manifest = json.loads((repo / "data/raw/manifest.json").read_text())
    oracle = manifest["synthetic"]["development"]["oracle_r2"]
    rows = {}
    for target, entry in cv.items():
        families = {k: v for k, v in entry.items() if k not in {"champion", "n", "selected"}}
        primary = "r2" if "r2" in next(iter(families.values())) else "auroc"
        selected = entry.get("selected")
        honest = isinstance(selected, dict) and selected.get("metric") == primary
        if honest:
            best = {"mean": selected["mean"], "ci": list(selected["ci"])}
        else:  # before honest selection: the champion family's (optimistic) estimate
            stats = families[entry["champion"]][primary]
            best = {"mean": stats["mean"], "ci": [stats["ci_low"], stats["ci_high"]]}
        row = {
            "metric": primary,
            "estimate": "selected" if honest else entry["champion"],
            "best": best,
            "per_family": {f: v[primary]["mean"] for f, v in families.items()},
        }
        if target in oracle:
            row["oracle_r2"] = oracle[target]
            row["fraction_of_oracle"] = round(best["mean"] / oracle[target], 3)
        rows[target] = row
    phases = base.get("train_phases") or {}
    cv_seconds = phases.get("cv") or base.get("stages", {}).get("train", 0.0)
    compared = peer_bench.run(
        repo,
        out,
        cv_seconds,
        peers,
        targets,
        lambda partial: progress({"targets": rows, **partial}),
        per_fit,
    )
    return {"targets": rows, **compared}


# -- 2b. the default pipeline's wall time ----------------------------------------------------
def repro(out: Path) -> dict[str, Any]:
    """One `dvc repro` of the default pipeline from scratch in a fresh copy (timed once, at
    the bench's niceness). The stages' own times against DVC's wall time show
    DVC's share; the bare-process ratio is the overhead benchmark's."""
    repo = workspace(out / "repro")
    print("repro: dvc repro of the default pipeline, from scratch ...", flush=True)
    load = os.getloadavg()
    run = measure(dvc("repro"), repo)
    stages = {name: float(s) for name, s in STAGE_DONE.findall(run.output)}
    ratio = run.seconds / GOALS["repro_baseline_seconds"]
    return {
        "seconds": round(run.seconds, 1),
        "stages": stages,
        "stage_seconds": round(sum(stages.values()), 1),
        "dvc_and_startup_seconds": round(run.seconds - sum(stages.values()), 1),
        "train_phases": parse_phases(run.output),
        "baseline_seconds": GOALS["repro_baseline_seconds"],
        "ratio_to_baseline": round(ratio, 3),
        "load_average_before": [round(x, 2) for x in load],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "peak_mb": round(run.peak_mb, 1),
        "repo": str(repo),
    }


# -- 3. scale --------------------------------------------------------------------------------
def scale(out: Path, sizes: list[int]) -> dict[str, Any]:
    repo = workspace(out / "scale")
    rows = {}
    for n in sizes:
        print(f"scale: {n:,} patients ...", flush=True)
        measure(lbp("compose", f"data.source.synthetic.n={n}", *SCALE_OVERRIDES), repo)
        for folder in ("data/raw", "data/clean", "data/features", "models"):
            shutil.rmtree(repo / folder, ignore_errors=True)
        row = {}
        for stage in ("cohort", "clean", "features", "train"):
            done = measure(lbp(stage), repo)
            row[stage] = {"seconds": round(done.seconds, 2), "peak_mb": round(done.peak_mb, 1)}
            if stage == "train":
                row[stage]["phases"] = parse_phases(done.output)
        row["total_seconds"] = round(sum(v["seconds"] for v in row.values()), 2)
        row["peak_mb"] = max(v["peak_mb"] for k, v in row.items() if isinstance(v, dict))
        # accuracy grows with the cohort: the best family's CV R2 against the oracle
        cv = json.loads((repo / "reports/metrics/cv.json").read_text())
        manifest = json.loads((repo / "data/raw/manifest.json").read_text())
        oracle = manifest["synthetic"]["development"]["oracle_r2"]
        row["fraction_of_oracle"] = {
            t: round(cv[t][cv[t]["champion"]]["r2"]["mean"] / oracle[t], 3)
            for t in oracle
            if t in cv
        }
        rows[str(n)] = row
    return {"overrides": SCALE_OVERRIDES, "sizes": rows}


# -- 4. dask ---------------------------------------------------------------------------------
def dask(out: Path, base: dict[str, Any] | None) -> dict[str, Any]:
    repo = Path(base["repo"]) if base else None
    if repo is None or not (repo / "data/features/development.parquet").exists():
        repo = workspace(out / "dask")
        for stage in ("cohort", "clean", "features"):
            measure(lbp(stage), repo)
    runs = {}
    for name, overrides in {
        "local (joblib, 2 processes)": ["executor=local", "executor.n_jobs=2"],
        "dask, 1 worker": ["executor=dask", "executor.dask.n_workers=1"],
        "dask, 2 workers": ["executor=dask", "executor.dask.n_workers=2"],
    }.items():
        print(f"dask: time-cv {name} ...", flush=True)
        done = measure(lbp("time-cv", *overrides), repo)
        runs[name] = json.loads(done.output.strip().splitlines()[-1])
    one, two = runs["dask, 1 worker"], runs["dask, 2 workers"]
    return {
        "runs": runs,
        "speedup_1_to_2_workers": round(one["cv_seconds"] / two["cv_seconds"], 3),
    }


# -- 5. concurrency -------------------------------------------------------------------------
CONCURRENT_OVERRIDES = ["tuning=none"]


def concurrent(out: Path, jobs: int = 4) -> dict[str, Any]:
    """``jobs`` experiments (seeds 1..jobs) queued with `dvc exp run --queue` and run at
    once with `dvc exp run --run-all -j jobs`, each in its own temporary copy, all logging
    to the repository's one sqlite MLflow store; then one of them alone for comparison."""
    import sqlite3

    repo = workspace(out / "concurrent")
    sets = [a for o in CONCURRENT_OVERRIDES for a in ("-S", o)]
    seeds = ",".join(str(i) for i in range(1, jobs + 1))
    measure(dvc("exp", "run", "--queue", *sets, "-S", f"seed={seeds}"), repo)
    print(f"concurrent: {jobs} experiments at once ...", flush=True)
    together = measure(dvc("exp", "run", "--run-all", "-j", str(jobs)), repo)
    status = measure(dvc("queue", "status"), repo, check=False).output
    print("concurrent: one experiment alone ...", flush=True)
    alone = measure(dvc("exp", "run", *sets, "-S", "seed=99"), repo)
    with sqlite3.connect(repo / "mlruns" / "mlflow.db") as con:
        runs = dict(con.execute("select status, count(*) from runs group by status").fetchall())
        parents = con.execute(
            "select count(*) from runs r where not exists (select 1 from tags t where "
            "t.run_uuid = r.run_uuid and t.key = 'mlflow.parentRunId')"
        ).fetchone()[0]
    locked = "database is locked" in (together.output + alone.output).lower()
    return {
        "jobs": jobs,
        "overrides": CONCURRENT_OVERRIDES,
        "wall_seconds": round(together.seconds, 1),
        "one_alone_seconds": round(alone.seconds, 1),
        "succeeded": status.count("Success"),
        "mlflow_runs_by_status": runs,
        "mlflow_parent_runs": parents,
        "lock_errors": locked,
        "peak_mb": round(together.peak_mb, 1),
    }


# -- the tables ------------------------------------------------------------------------------
def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ok(passed: bool) -> str:
    return "met" if passed else "MISSED"


def render(results: dict[str, Any]) -> str:
    parts = []
    if "overhead" in results:
        o = results["overhead"]
        parts.append("## 1. Overhead: default pipeline vs the same CV in one bare process\n")
        parts.append(
            table(
                ["measure", "value", "goal", ""],
                [
                    ["`dvc repro` in a fresh copy (s)", o["pipeline_runs"]["fresh"], "", ""],
                    ["`dvc repro -f` after it (s)", o["pipeline_runs"]["rerun"], "", ""],
                    [
                        "bare process, same CV (s, 2 runs)",
                        " / ".join(map(str, o["bare_runs"])),
                        "",
                        "",
                    ],
                    ["same fold scores", o["same_fold_scores"], "True", ok(o["same_fold_scores"])],
                    ["fresh pipeline / best bare", o["ratio_fresh"], "", ""],
                    [
                        "best pipeline / best bare",
                        o["ratio"],
                        f"<= {GOALS['overhead_ratio']}",
                        ok(o["ratio"] <= GOALS["overhead_ratio"]),
                    ],
                    [
                        "no-op `dvc repro` (s, median of 3)",
                        o["noop_repro_seconds"],
                        f"< {GOALS['noop_repro_seconds']}",
                        ok(o["noop_repro_seconds"] < GOALS["noop_repro_seconds"]),
                    ],
                ],
            )
        )
        parts.append("\nWhere the best pipeline run's time goes:\n")
        parts.append(
            table(
                ["part", "seconds", "share"],
                [
                    [k, f"{v:.1f}", f"{v / o['pipeline_seconds']:.1%}"]
                    for k, v in o["breakdown"].items()
                ],
            )
        )
    if "repro" in results:
        parts.append(peer_bench.render_repro(results["repro"], GOALS, table, ok))
    if "accuracy" in results:
        parts.append(peer_bench.render_accuracy(results["accuracy"], GOALS, table, ok))
    if "curve" in results:
        parts.append(curve_bench.render(results["curve"], GOALS, table, ok))
    if "scale" in results:
        s = results["scale"]["sizes"]
        parts.append("\n## 3. Scale: seconds / peak MB per stage (XGBoost + LightGBM, 3-fold CV)\n")
        rows = []
        for n, row in s.items():
            rows.append(
                [
                    f"{int(n):,}",
                    *(
                        f"{row[st]['seconds']:.1f} / {row[st]['peak_mb']:.0f}"
                        for st in ("cohort", "clean", "features", "train")
                    ),
                    f"{row['total_seconds']:.1f}",
                    f"{row['peak_mb']:.0f}",
                    " / ".join(f"{v:.3f}" for v in row["fraction_of_oracle"].values()),
                ]
            )
        names = ", ".join(next(iter(s.values()))["fraction_of_oracle"])
        parts.append(
            table(
                [
                    "patients",
                    "cohort",
                    "clean",
                    "features",
                    "train",
                    "total s",
                    "peak MB",
                    f"best CV R2 / oracle ({names})",
                ],
                rows,
            )
        )
        if "1000000" in s and "100000" in s:
            ratio = s["1000000"]["total_seconds"] / s["100000"]["total_seconds"]
            peak = s["1000000"]["peak_mb"] / 1024
            parts.append(
                f"\ntime(1M) / time(100k) = {ratio:.2f} (goal <= {GOALS['scale_time_ratio']}: "
                f"{ok(ratio <= GOALS['scale_time_ratio'])}); peak memory at 1M = {peak:.2f} GB "
                f"(goal <= {GOALS['scale_peak_gb']}: {ok(peak <= GOALS['scale_peak_gb'])})"
            )
    if "dask" in results:
        d = results["dask"]
        parts.append("\n## 4. Executors: the default CV (time-cv)\n")
        parts.append(
            table(
                ["executor", "workers", "start-up s", "CV s"],
                [
                    [k, v["workers"], v["startup_seconds"], v["cv_seconds"]]
                    for k, v in d["runs"].items()
                ],
            )
        )
        parts.append(f"\nDask speed-up from 1 to 2 workers: {d['speedup_1_to_2_workers']:.2f}x")
    if "concurrent" in results:
        c = results["concurrent"]
        parts.append(
            f"\n## 5. Concurrency: {c['jobs']} experiments at once into one MLflow store\n"
        )
        parts.append(
            table(
                ["measure", "value"],
                [
                    [f"`dvc exp run --run-all -j {c['jobs']}` wall (s)", c["wall_seconds"]],
                    ["one experiment alone (s)", c["one_alone_seconds"]],
                    ["experiments succeeded", f"{c['succeeded']} of {c['jobs']}"],
                    ["MLflow runs by status", c["mlflow_runs_by_status"]],
                    ["MLflow parent runs (incl. the one alone)", c["mlflow_parent_runs"]],
                    ["'database is locked' in the output", c["lock_errors"]],
                    ["peak memory (MB)", c["peak_mb"]],
                ],
            )
        )
    if any(k in results for k in DVC_OVERHEAD):
        import dvc_overhead

        parts += dvc_overhead.render(results, table, ok, GOALS)
    return "\n".join(parts)


def machine(note: str = "") -> dict[str, Any]:
    import psutil

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = bool(
        subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": commit + ("+dirty" if dirty else ""),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "niceness": os.nice(0),
        **({"note": note} if note else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="overhead,repro,accuracy,curve,scale,dask,concurrent")
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument(
        "--curve-sizes", default=",".join(map(str, curve_bench.SIZES)), help="learning curve n"
    )
    parser.add_argument("--peers", default=",".join(peer_bench.PEERS), help="peers to run")
    parser.add_argument(
        "--peer-targets", default="", help="targets for the peers (default: the regression ones)"
    )
    parser.add_argument(
        "--per-fit-seconds",
        default="",
        help="fix the peers' 1x budget per target (ll_post=5.6,...) instead of deriving it from "
        "this run's CV; with --only peers, the peers fit on the last repro copy's folds before "
        "its CV is done, and a later accuracy run with the same budget reuses their fits",
    )
    parser.add_argument(
        "--project-repo",
        default="",
        help="accuracy: compare with the outputs of this finished default run (reports/, "
        "data/, params.yaml) instead of running repro first",
    )
    parser.add_argument(
        "--note", default="", help="a remark stored with each section this run measures"
    )
    parser.add_argument("--out", default=str(REPO / "bench" / "out"), help="work folders")
    parser.add_argument("--results", default=str(REPO / "bench" / "results.json"))
    parser.add_argument(
        "--render", action="store_true", help="only print the tables of the results file"
    )
    parser.add_argument("--against", default="HEAD~1", help="noop: the commit to compare with")
    parser.add_argument("--runs", type=int, default=4, help="ratio: runs of each side")
    parser.add_argument(
        "--ratio-config",
        choices=("default", "small"),
        default="default",
        help="ratio: the configuration (default: conf/ as committed, the goal's; small: a quick "
        "check of the bench)",
    )
    parser.add_argument(
        "--niceness",
        type=int,
        default=NICENESS,
        help="niceness of everything the bench starts (negative needs root: a bench that must "
        "not share the CPU with other work on the machine)",
    )
    args = parser.parse_args(argv)
    # One niceness for everything the bench starts (the project's stages and the peers
    # alike, so neither gets more of a busy machine than the other).
    if args.niceness != os.nice(0):
        os.setpriority(os.PRIO_PROCESS, 0, args.niceness)
    if args.render:
        print(render(json.loads(Path(args.results).read_text())))
        return 0
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    known = {"overhead", "repro", "peers", "accuracy", "curve", "scale", "dask", "concurrent"}
    unknown = set(wanted) - known - set(DVC_OVERHEAD)
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {sorted(unknown)}")
    peers = [p for p in args.peers.split(",") if p]
    if set(peers) - set(peer_bench.PEERS):
        parser.error(f"--peers: unknown peer(s) {sorted(set(peers) - set(peer_bench.PEERS))}")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # A partial run (--only) updates its sections of an existing results file; each
    # section records the machine, date and commit it was measured on.
    path = Path(args.results)
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    results.pop("machine", None)
    results["goals"] = GOALS
    # accuracy alone reuses the last repro's copy when it is still there (its CV is minutes)
    last = results.get("repro", {}).get("repo")
    base = results["repro"] if last and (Path(last) / "reports/cv/folds.csv").exists() else None
    if "overhead" in wanted:
        base = results["overhead"] = {**overhead(out), "measured": machine(args.note)}
    if "repro" in wanted:
        base = results["repro"] = {**repro(out), "measured": machine(args.note)}
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    targets = [t for t in args.peer_targets.split(",") if t] or None
    per_fit = {
        k: float(v) for k, v in (kv.split("=") for kv in args.per_fit_seconds.split(",") if kv)
    } or None
    if "peers" in wanted:  # fits only, on the folds of the repro copy (its features suffice)
        repo = out / "repro" / "repo"
        peer_bench.run(repo, out, 0.0, peers, targets, per_fit=per_fit, compare=False)
    if "accuracy" in wanted:
        if args.project_repo:
            base = {"repo": str(Path(args.project_repo).resolve()), "train_phases": {}}

        def keep(partial: dict[str, Any]) -> None:
            results["accuracy"] = {**partial, "measured": machine(args.note), "partial": True}
            path.write_text(json.dumps(results, indent=2, default=str) + "\n")

        compared = accuracy(out, base, peers, targets, keep, per_fit)
        results["accuracy"] = {**compared, "measured": machine(args.note)}
    if "curve" in wanted:
        sizes = [int(s) for s in args.curve_sizes.split(",")]
        curve = curve_bench.run(workspace(out / "curve"), sizes, measure, lbp)
        results["curve"] = {**curve, "measured": machine(args.note)}
    if "scale" in wanted:
        sizes = [int(s) for s in args.sizes.split(",")]
        results["scale"] = {**scale(out, sizes), "measured": machine(args.note)}
    if "dask" in wanted:
        results["dask"] = {**dask(out, base), "measured": machine(args.note)}
    if "concurrent" in wanted:
        results["concurrent"] = {**concurrent(out), "measured": machine(args.note)}
    if "noop" in wanted:
        import dvc_overhead

        results["noop"] = {**dvc_overhead.noop(out, args.against), "measured": machine(args.note)}
    if "ratio" in wanted:
        import dvc_overhead

        ratio = dvc_overhead.ratio(out, args.runs, args.ratio_config)
        results["ratio"] = {**ratio, "measured": machine(args.note)}
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(render(results))
    print(f"\nwrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
