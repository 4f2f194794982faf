"""AutoML peers (AutoGluon-Tabular, FLAML) on the project's own outer folds, in their own venv.

AutoGluon and FLAML pin an older pandas than the project's, so they live in
bench/.venv-peers (git-ignored), created from bench/peers.lock by :func:`ensure_venv` and never
touching the project's .venv. The project's side (this module, in the project's venv) writes
each target's 15 model inputs, outcome and outer folds (the project's own split code, so the
very same folds) to files; bench/peer_fit.py runs in the peers' venv as a subprocess, fits
one peer per training fold within a time budget and writes test-fold predictions; this side
scores them with the project's metrics and pairs them with the project's fold scores.

Budget: the project's per-fit CV time = its CV wall time for the target / the number of outer
folds (one "fit" is everything the project does for one training fold: every family, tuning,
selection). Peers get 1x or 5x that per fold, with the project's ``executor.n_jobs`` cores.
The CV wall time of a target is reports/tracking.json's ``cv_seconds`` (the summed time of
the target's outer-fold tasks: timing is a run record, kept out of the byte-stable cv.json) /
``executor.n_jobs`` (the workers that ran them side by side); without it, the train stage's
CV phase wall time split evenly over the targets.
"""

from __future__ import annotations

import hashlib
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".venv-peers"
LOCK = BENCH / "peers.lock"
PEER_SCRIPT = BENCH / "peer_fit.py"


@dataclass(frozen=True)
class Peer:
    library: str  # "autogluon" | "flaml"
    preset: str  # AutoGluon preset; "" for FLAML
    multiple: float  # budget per fold, in units of the project's per-fit CV time


PEERS = {
    "autogluon_best_1x": Peer("autogluon", "best_quality", 1.0),
    "autogluon_best_5x": Peer("autogluon", "best_quality", 5.0),
    "autogluon_medium_1x": Peer("autogluon", "medium_quality", 1.0),
    "flaml_1x": Peer("flaml", "", 1.0),
}


# -- the peers' venv -------------------------------------------------------------------------
def venv_python(venv: Path = VENV) -> Path:
    return venv / "bin" / "python"


def venv_commands(python: str, venv: Path = VENV, lock: Path = LOCK) -> list[list[str]]:
    """Create ``venv`` with ``python`` and install exactly ``lock`` into it (every package
    pinned there, no resolution: --no-deps), with pip's ordinary configuration."""
    pip = [str(venv_python(venv)), "-m", "pip", "--disable-pip-version-check"]
    return [
        [python, "-m", "venv", "--clear", str(venv)],
        [*pip, "install", "--quiet", "--no-deps", "-r", str(lock)],
        [*pip, "check"],
    ]


def lock_digest(lock: Path = LOCK) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def ensure_venv(venv: Path = VENV, lock: Path = LOCK, python: str = sys.executable) -> Path:
    """The peers' interpreter; (re)creates the venv when it is missing or its lock changed."""
    marker = venv / "installed-lock.sha256"
    if venv_python(venv).exists() and marker.exists() and marker.read_text() == lock_digest(lock):
        return venv_python(venv)
    print(f"peers: creating {venv} from {lock.name} (a few minutes) ...", flush=True)
    for cmd in venv_commands(python, venv, lock):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{done.stdout}{done.stderr}"[-3000:])
    marker.write_text(lock_digest(lock))
    return venv_python(venv)


def peer_command(
    python: Path, peer: Peer, folder: Path, seconds_per_fold: float, n_jobs: int, seed: int,
    out: Path,
) -> list[str]:  # fmt: skip
    """The subprocess that runs one peer on one target's folds (at the bench's niceness,
    the same as the project's stages: bench/run.py sets it once)."""
    cmd = [str(python), str(PEER_SCRIPT), str(folder), "--library", peer.library]
    if peer.preset:
        cmd += ["--preset", peer.preset]
    return cmd + [
        "--seconds-per-fold", f"{seconds_per_fold:.3f}",
        "--n-jobs", str(n_jobs), "--seed", str(seed), "--out", str(out),
    ]  # fmt: skip


# -- arithmetic ------------------------------------------------------------------------------
def paired(project: list[float], peer: list[float]) -> dict[str, Any]:
    """Project - peer, paired by outer fold (both lists in (repeat, fold) order): mean
    difference, its SD over folds (n - 1), and the folds where the project scored higher
    (a tie is not a win)."""
    if len(project) != len(peer) or len(project) < 2:
        raise ValueError(f"need two equal lists of >= 2 fold scores ({len(project)}, {len(peer)})")
    diffs = [a - b for a, b in zip(project, peer, strict=True)]
    return {
        "delta": statistics.fmean(diffs),
        "delta_sd": statistics.stdev(diffs),
        "folds_won": sum(d > 0 for d in diffs),
        "folds": len(diffs),
    }


def budgets(project_seconds: dict[str, float], folds: int) -> dict[str, float]:
    """Per-fit CV seconds per target: the project's CV wall time for it / its outer folds."""
    return {t: s / folds for t, s in project_seconds.items()}


# -- the project's side ----------------------------------------------------------------------
@dataclass(frozen=True)
class ProjectEstimate:
    mean: float
    folds: list[float]  # primary metric per outer fold, (repeat, fold) order
    seconds: float  # CV wall time for this target
    estimate: str  # "selected" (honest) or the champion family's name (optimistic)


def project_estimates(
    repo: Path, cv_seconds: float, primary: dict[str, str], n_jobs: int
) -> dict[str, Any]:
    """Per target: the honest selection-included estimate when cv.json has it, else the
    champion family's (marked as such) from the fold table; with its CV wall seconds."""
    import pandas as pd

    cv = json.loads((repo / "reports/metrics/cv.json").read_text())
    tracking = repo / "reports/tracking.json"
    timing = json.loads(tracking.read_text()).get("cv_seconds", {}) if tracking.exists() else {}
    folds = pd.read_csv(repo / "reports/cv/folds.csv")
    even = cv_seconds / len(primary)
    out = {}
    for target, metric in primary.items():
        selected = cv[target].get("selected")
        if isinstance(selected, dict) and selected.get("metric") == metric:
            seconds = timing[target] / n_jobs if target in timing else even
            out[target] = ProjectEstimate(selected["mean"], selected["folds"], seconds, "selected")
            continue
        family = cv[target]["champion"]
        rows = folds[(folds.target == target) & (folds.family == family) & (folds.metric == metric)]
        rows = rows.sort_values(["repeat", "fold"])
        out[target] = ProjectEstimate(
            cv[target][family][metric]["mean"], rows.value.tolist(), even, family
        )
    return out


def write_inputs(repo: Path, folder: Path) -> dict[str, Any]:
    """Each target's inputs, outcome and outer folds for the peers; returns the targets'
    task, outcome and fold rows so this side can score the predictions."""
    import pandas as pd

    from lbp_outcomes.config import load_params
    from lbp_outcomes.cv import outer_splits
    from lbp_outcomes.models.preprocess import FeatureSpec
    from lbp_outcomes.train import prepare_targets

    params = load_params(repo)
    spec = FeatureSpec.from_config(params.data)
    frame = pd.read_parquet(repo / "data/features/development.parquet")
    datasets, _ = prepare_targets(frame, params.data, spec, params.cv.folds)
    targets = {}
    for data in datasets:
        where = folder / data.name
        where.mkdir(parents=True, exist_ok=True)
        X = data.X.copy()
        categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        X.assign(y=data.y).to_csv(where / "inputs.csv", index=False)
        splits = outer_splits(data, params.cv, params.seed)
        folds = [
            {"repeat": r, "fold": f, "train": tr.tolist(), "test": te.tolist()}
            for r, f, tr, te in splits
        ]
        meta = {"task": data.task, "categorical": categorical, "folds": folds}
        (where / "folds.json").write_text(json.dumps(meta))
        targets[data.name] = {"folder": where, "task": data.task, "y": data.y, "folds": folds}
    return {"targets": targets, "n_jobs": params.executor.n_jobs, "seed": params.seed}


def score(task: str, y, folds: list[dict], predicted: list[dict], metric: str) -> list[float]:
    """The project's metric of each fold's predictions, in (repeat, fold) order."""
    import numpy as np

    from lbp_outcomes import metrics

    by_fold = {(p["repeat"], p["fold"]): p["predictions"] for p in predicted}
    scores = []
    for fold in folds:
        pred = np.asarray(by_fold[(fold["repeat"], fold["fold"])], dtype=float)
        scores.append(metrics.task_metrics(task)(y[fold["test"]], pred)[metric])
    return scores


def fit_peer(
    python: Path, name: str, target: str, info: dict[str, Any], seconds: float, n_jobs: int,
    seed: int, work: Path, reuse: bool,
) -> dict[str, Any]:  # fmt: skip
    """One peer on one target's folds: predictions per fold, wall and CPU seconds. With
    ``reuse``, a finished fit of the same budget (its file in ``work``) is read back."""
    out = work / f"peer-{name}-{target}.json"
    if reuse and out.exists():
        done = json.loads(out.read_text())
        if done.get("seconds_per_fold") == round(seconds, 3) and "wall_seconds" in done:
            return done
    cmd = peer_command(python, PEERS[name], info["folder"], seconds, n_jobs, seed, out)
    print(f"peers: {name} on {target}, {seconds:.1f} s per fold ...", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    limit = 3 * seconds * len(info["folds"]) + 300  # a hung peer stops the bench
    ran = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if ran.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{ran.stderr[-3000:]}")
    done = json.loads(out.read_text())
    done |= {
        "seconds_per_fold": round(seconds, 3),
        "wall_seconds": round(wall, 1),
        # CPU the peer got (user + system, all its processes): on a busy machine a
        # wall-clock budget buys less than budget x cores
        "cpu_seconds": round(
            after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1
        ),
    }
    out.write_text(json.dumps(done) + "\n")
    return done


def run(
    repo: Path,
    work: Path,
    cv_seconds: float,
    peers: list[str],
    targets: list[str] | None,
    progress: Callable[[dict[str, Any]], None] = lambda partial: None,
    per_fit: dict[str, float] | None = None,
    compare: bool = True,
) -> dict[str, Any]:
    """Every peer on every chosen target (default: the regression targets); ``progress``
    gets the results so far after each one (a long run keeps what it measured).

    ``per_fit`` (seconds per target) fixes the 1x budget instead of deriving it from this
    run's cv.json; then the peers can run before the project's CV has finished
    (``compare=False``), and a later run with the same budget reuses their fits.
    """
    from lbp_outcomes.seeds import derive_seed

    python = ensure_venv()
    prepared = write_inputs(repo, work / "peer-inputs")
    tasks = {t: v["task"] for t, v in prepared["targets"].items()}
    primary = {t: "r2" if k == "regression" else "auroc" for t, k in tasks.items()}
    n_folds = len(next(iter(prepared["targets"].values()))["folds"])
    project = None
    if per_fit is None or compare:
        project = project_estimates(repo, cv_seconds, primary, prepared["n_jobs"])
    source = "given" if per_fit else "this run's cv.json"
    if per_fit is None:
        per_fit = budgets({t: p.seconds for t, p in project.items()}, n_folds)
    chosen = targets or [t for t, k in tasks.items() if k == "regression"]
    results: dict[str, Any] = {}
    for name in peers:
        for target in chosen:
            info = prepared["targets"][target]
            seconds = per_fit[target] * PEERS[name].multiple
            seed = derive_seed(prepared["seed"], "peer", name, target) % 2**31
            done = fit_peer(
                python, name, target, info, seconds, prepared["n_jobs"], seed, work, reuse=True
            )
            if project is None:
                continue
            scores = score(info["task"], info["y"], info["folds"], done["folds"], primary[target])
            mine = project[target]
            results.setdefault(name, {})[target] = {
                "project": round(mine.mean, 6),
                "peer": round(statistics.fmean(scores), 6),
                **{k: round(v, 6) for k, v in paired(mine.folds, scores).items()},
                "project_seconds": round(per_fit[target] * n_folds, 1),
                "peer_seconds": done["wall_seconds"],
                "peer_cpu_seconds": done["cpu_seconds"],
                "metric": primary[target],
                "project_estimate": mine.estimate,
                "seconds_per_fold": round(seconds, 2),
                "peer_sd": round(statistics.stdev(scores), 6),
                "peer_models": _counts(p["best_model"] for p in done["folds"]),
            }
            progress({"peers": results})
    setup_ = setup(python, per_fit, cv_seconds, project or {}) | {"per_fit_source": source}
    return {"peers": results, "peers_setup": setup_}


def _counts(names) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def setup(python: Path, per_fit: dict[str, float], cv_seconds: float, project) -> dict[str, Any]:
    versions = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(*(m.version(p) for p in "
         "('autogluon.tabular', 'flaml', 'pandas')))"],
        capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return {
        "versions": dict(zip(["autogluon.tabular", "flaml", "pandas"], versions, strict=False)),
        "venv": str(VENV.relative_to(BENCH.parent)),
        "cv_phase_seconds": round(cv_seconds, 1),
        "per_fit_seconds": {t: round(s, 2) for t, s in per_fit.items()},
        "project_estimate": {t: p.estimate for t, p in project.items()},
        "budget_rule": "per fold: multiple x (project CV wall seconds for the target / outer "
        "folds); project seconds = tracking.json cv_seconds / executor.n_jobs, else the CV "
        "phase wall time split evenly over the targets",
    }


# -- tables ----------------------------------------------------------------------------------
def render_repro(r: dict[str, Any], goals: dict[str, Any], table, ok) -> str:
    load = " / ".join(f"{x:.1f}" for x in r["load_average_before"])
    rows = [
        ["`dvc repro` from scratch, niceness 10 (s)", r["seconds"], "", ""],
        ["the stages' own times (s)", r["stage_seconds"], "", ""],
        ["DVC and interpreter start-up (s)", r["dvc_and_startup_seconds"], "", ""],
        [
            f"/ baseline {r['baseline_seconds']:.0f} s",
            r["ratio_to_baseline"],
            f"<= {goals['repro_ratio']}",
            ok(r["ratio_to_baseline"] <= goals["repro_ratio"]),
        ],
        ["load average 1/5/15 min at start (2 cores)", load, "", ""],
    ]
    return "\n## Default pipeline wall time\n\n" + table(["measure", "value", "goal", ""], rows)


def render_accuracy(a: dict[str, Any], goals: dict[str, Any], table, ok) -> str:
    parts = ["\n## 2. Accuracy: the project's estimate vs the oracle ceiling\n"]
    rows = []
    for target, r in a["targets"].items():
        best, frac = r["best"], r.get("fraction_of_oracle")
        rows.append(
            [
                target,
                r["metric"],
                f"{r['estimate']} {best['mean']:.3f} [{best['ci'][0]:.3f}, {best['ci'][1]:.3f}]",
                f"{r['oracle_r2']:.3f}" if "oracle_r2" in r else "-",
                f"{frac:.3f} ({ok(frac >= goals['oracle_fraction'])})" if frac else "-",
            ]
        )
    header = ["target", "metric", "estimate, CV mean [95% CI]", "oracle R2", "/ oracle (>= 0.95)"]
    parts.append(table(header, rows))
    if "peers" not in a:
        return "\n".join(parts)
    parts.append(
        "\nAutoML peers on the same outer folds (delta = project - peer, paired by fold):\n"
    )
    rows = []
    for name, targets in a["peers"].items():
        for target, p in targets.items():
            goal = ""
            if name == "autogluon_best_5x":
                share = p["project_seconds"] / p["peer_seconds"]
                goal = (
                    f"delta {ok(p['delta'] >= goals['peer_delta'])}, "
                    f"time {share:.2f} {ok(share <= goals['peer_time_share'])}"
                )
            rows.append(
                [
                    name, target, f"{p['project']:.3f} ({p['project_estimate']})",
                    f"{p['peer']:.3f}", f"{p['delta']:+.3f}", f"{p['delta_sd']:.3f}",
                    f"{p['folds_won']}/{p['folds']}", f"{p['project_seconds']:.0f}",
                    f"{p['peer_seconds']:.0f}", p.get("peer_cpu_seconds", "-"), goal,
                ]
            )  # fmt: skip
    header = ["peer", "target", "project", "peer", "delta", "SD", "folds won", "project s",
              "peer s", "peer CPU s", "goals (best 5x)"]  # fmt: skip
    parts.append(table(header, rows))
    s = a.get("peers_setup")
    if s is None:  # a partial section: written after each peer, before the run ended
        return "\n".join([*parts, "\n(partial: the run stopped before every peer had run)"])
    parts.append(
        f"\nPeers' venv {s['venv']}: {', '.join(f'{k} {v}' for k, v in s['versions'].items())}. "
        f"Per-fit CV seconds (1x budget per fold): {s['per_fit_seconds']}."
    )
    return "\n".join(parts)
