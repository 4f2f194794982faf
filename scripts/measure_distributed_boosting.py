#!/usr/bin/env python
"""Measure how distributed boosting (xgboost.dask / lightgbm.dask) changes CV metrics.

Generates the synthetic LET cohort with ``--n`` patients in a temporary folder, then runs
the train stage's cross-validation of XGBoost and LightGBM three times, same seed, same
folds, fixed hyperparameters (``tuning=none``): once in memory (``executor=local``) and
twice distributed over a LocalCluster of ``--workers`` single-threaded workers, with
``executor.dask.distributed_min_rows`` lowered so every target trains distributed.
Prints, per target and family, the CV mean of R2 (regression) or AUROC (binary) of each
run and the differences; the README's "Executors" section quotes these numbers.

Usage::

    .venv/bin/python scripts/measure_distributed_boosting.py              # n = 20000
    .venv/bin/python scripts/measure_distributed_boosting.py --n 50000 --folds 5

Network: a measurement tool, not a pipeline stage. The cluster is on 127.0.0.1, but while
they train, XGBoost's and LightGBM's distributed learners listen on every network
interface of each worker (a limitation of both libraries); the pipeline itself distributes
boosting only on a cluster at ``executor.dask.address``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="patients in the cohort")
    parser.add_argument("--folds", type=int, default=3, help="CV folds (one repeat)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    args = parser.parse_args()

    from dask.distributed import LocalCluster

    from lbp_outcomes import clean, cohort, features
    from lbp_outcomes.config import ExecutorConfig, compose, validate_params

    overrides = [
        "tuning=none",
        "model=[xgboost,lightgbm]",
        f"cv.folds={args.folds}",
        "cv.repeats=1",
        f"data.source.synthetic.n={args.n}",
        "tracking.enabled=false",
    ]
    params = validate_params(compose(overrides, ROOT))
    with tempfile.TemporaryDirectory(prefix="lbp-measure-") as tmp:
        root = Path(tmp)
        with contextlib.redirect_stdout(io.StringIO()):
            for stage in (cohort, clean, features):
                stage.run(params, root)
        local = params.model_copy(update={"executor": ExecutorConfig(kind="local", n_jobs=2)})
        runs = {"in memory": cv_means(local, root)}
        with LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster:
            dask = ExecutorConfig(
                kind="dask",
                dask={"address": cluster.scheduler_address, "distributed_min_rows": 1},
            )
            spread = params.model_copy(update={"executor": dask})
            runs["distributed 1"] = cv_means(spread, root)
            runs["distributed 2"] = cv_means(spread, root)
    report(runs, args)
    return 0


def cv_means(params, root: Path) -> dict[tuple[str, str], float]:
    """CV mean of the primary metric per (target, family), and the wall time."""
    import pandas as pd

    from lbp_outcomes import paths
    from lbp_outcomes.cv import summarise
    from lbp_outcomes.executor import Executor
    from lbp_outcomes.metrics import PRIMARY
    from lbp_outcomes.models.preprocess import FeatureSpec
    from lbp_outcomes.train import cv_calls, prepare_targets, run_cv

    spec = FeatureSpec.from_config(params.data)
    frame = pd.read_parquet(paths.cohort_file(root / paths.FEATURES, "development"))
    datasets, _ = prepare_targets(frame, params.data, spec, params.cv.folds)
    families = list(params.model)
    started = time.perf_counter()
    with Executor(params.executor) as executor, contextlib.redirect_stdout(io.StringIO()):
        results = run_cv(executor, cv_calls(params, executor, spec, families, datasets), "CV")
    out: dict = {"seconds": time.perf_counter() - started}
    for data in datasets:
        for family in families:
            mine = [r for r in results if (r.task.target, r.task.family) == (data.name, family)]
            metric = PRIMARY[data.task]
            out[(data.name, family, metric)] = summarise(mine, data, params.cv)[metric]["mean"]
    return out


def report(runs: dict[str, dict], args) -> None:
    memory, first, second = runs.values()
    print(
        f"n = {args.n}, {args.folds}-fold CV, {args.workers} workers x 1 thread; wall seconds: "
        + ", ".join(f"{name} {run['seconds']:.0f}" for name, run in runs.items())
    )
    print(
        "| target | family | metric | in memory | distributed | distributed - in memory "
        "| run 2 - run 1 |"
    )
    print("|---|---|---|---|---|---|---|")
    keys = [k for k in memory if k != "seconds"]
    for target, family, metric in keys:
        key = (target, family, metric)
        repeat = "identical" if second[key] == first[key] else f"{second[key] - first[key]:+.4f}"
        print(
            f"| {target} | {family} | {metric} | {memory[key]:.4f} | {first[key]:.4f} "
            f"| {first[key] - memory[key]:+.4f} | {repeat} |"
        )


if __name__ == "__main__":
    sys.exit(main())
