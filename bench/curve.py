"""Learning curve to the oracle: the honest CV estimate at growing synthetic cohorts.

For each n the synthetic generator draws a development cohort of n patients (same seed and
settings otherwise), the cohort, clean, features and train stages run on it in a copy of the
repository, and each regression outcome's CV R2 is divided by the generator's oracle R2 (the
R2 of the true conditional mean on 200,000 fresh patients, recorded in the cohort's
manifest: the ceiling no model can beat, the same for every n).

The estimate is the honest, selection-included one (cv.json ``selected``) where train writes
it, else the champion family's (marked as such). The budget is reduced and the same at every
n, so the points are comparable and the run stays within ~20 min of two cores: CURVE_OVERRIDES.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIZES = [431, 1000, 2000, 5000, 10000]
CURVE_OVERRIDES = [
    "tuning=none",  # each family's configured hyperparameters (selection still runs inner CV)
    "cv.repeats=1",
    # the fast families: the forest and the MLP cost most at 10,000 and won no regression
    # outcome in the default run's table (the curve is about R2)
    "model=[linear,xgboost,lightgbm]",
]


def fraction(estimate: float, oracle: float) -> float:
    """The share of the attainable R2 a model reached (the oracle's R2 is the ceiling)."""
    if oracle <= 0:
        raise ValueError(f"oracle R2 must be positive, got {oracle}")
    return estimate / oracle


def estimates(cv: dict[str, Any], oracle: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per regression outcome with an oracle: the estimate, which one, and its fraction."""
    rows = {}
    for target, entry in cv.items():
        if target not in oracle:
            continue
        selected = entry.get("selected")
        if isinstance(selected, dict) and selected.get("metric") == "r2":
            mean, which = selected["mean"], "selected"
        else:
            which = entry["champion"]
            mean = entry[which]["r2"]["mean"]
        rows[target] = {
            "r2": round(mean, 4),
            "oracle_r2": oracle[target],
            "fraction": round(fraction(mean, oracle[target]), 4),
            "estimate": which,
        }
    return rows


def first_n_reaching(points: dict[str, dict[str, Any]], target: str, goal: float) -> int | None:
    """The smallest n whose fraction of the oracle reaches ``goal`` for ``target``."""
    for n in sorted(points, key=int):
        if points[n]["targets"][target]["fraction"] >= goal:
            return int(n)
    return None


def run(repo: Path, sizes: list[int], measure: Callable, lbp: Callable) -> dict[str, Any]:
    """``repo``: a fresh copy of the repository; ``measure``/``lbp`` from bench/run.py."""
    import shutil

    points = {}
    for n in sizes:
        print(f"curve: {n:,} patients ...", flush=True)
        measure(lbp("compose", f"data.source.synthetic.n={n}", *CURVE_OVERRIDES), repo)
        for folder in ("data/raw", "data/clean", "data/features", "models"):
            shutil.rmtree(repo / folder, ignore_errors=True)
        started = time.perf_counter()
        for stage in ("cohort", "clean", "features", "train"):
            measure(lbp(stage), repo)
        cv = json.loads((repo / "reports/metrics/cv.json").read_text())
        manifest = json.loads((repo / "data/raw/manifest.json").read_text())
        oracle = manifest["synthetic"]["development"]["oracle_r2"]
        points[str(n)] = {
            "seconds": round(time.perf_counter() - started, 1),
            "targets": estimates(cv, oracle),
        }
    return {"overrides": CURVE_OVERRIDES, "sizes": points}


def render(c: dict[str, Any], goals: dict[str, Any], table, ok) -> str:
    sizes = c["sizes"]
    targets = list(next(iter(sizes.values()))["targets"])
    rows = [
        [f"{int(n):,}", *(f"{p['targets'][t]['fraction']:.3f}" for t in targets), p["seconds"]]
        for n, p in sizes.items()
    ]
    lines = [
        f"\n## Learning curve: CV R2 / oracle R2 ({', '.join(c['overrides'])})\n",
        table(["patients", *targets, "seconds"], rows),
        "",
    ]
    for t in targets:
        n = first_n_reaching(sizes, t, goals["oracle_fraction"])
        passed = n is not None and n <= goals["curve_n"]
        lines.append(
            f"- {t}: reaches {goals['oracle_fraction']} of the oracle at n = {n or 'never'} "
            f"(goal by {goals['curve_n']:,}: {ok(passed)})"
        )
    return "\n".join(lines)
