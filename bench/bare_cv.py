"""The train stage's cross-validation in one bare process: the overhead baseline.

    python bench/bare_cv.py <project root>

Reads the project's params.yaml (plain YAML, validated; no Hydra composition) and
data/features/development.parquet, and runs exactly the tasks the train stage runs (every
target x family x outer fold with nested tuning, plus the final refits) through the
project's task function, on a joblib pool of ``executor.n_jobs`` processes, as the local
executor does. No DVC, no MLflow, no plots, no files written. Prints one JSON line: the
process's own wall time from interpreter start, and every fold score (so the caller can
check that this is the same work the pipeline did: the scores must be identical).
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from lbp_outcomes import lifecycle  # noqa: E402  (standard library only)

# as the stages do: single-threaded BLAS per process, the pinned BLAS kernels, no telemetry
lifecycle.configure_environment()


def main(root: Path) -> dict:
    import pandas as pd
    from joblib import Parallel, delayed

    from lbp_outcomes import ensembling
    from lbp_outcomes.config import load_params
    from lbp_outcomes.cv import plan, run_task
    from lbp_outcomes.models import ensemble
    from lbp_outcomes.models.preprocess import FeatureSpec
    from lbp_outcomes.train import prepare_targets

    params = load_params(root)
    spec = FeatureSpec.from_config(params.data)
    frame = pd.read_parquet(root / "data/features/development.parquet")
    datasets, _ = prepare_targets(frame, params.data, spec, params.cv.folds)
    families = list(params.model)
    # as train.cv_calls: the ensemble fits nothing itself; its members keep an inner CV
    fitted = ensemble.members(families, params.model)
    inner = len(fitted) < len(families)
    calls = [
        (task, data, params.model[task.family], spec, params.tuning, params.calibration)
        for data in datasets
        for task in plan(data, fitted, params.cv, params.seed, inner=inner)
    ]
    imported = time.perf_counter()
    results = Parallel(n_jobs=params.executor.n_jobs, batch_size=1)(
        delayed(run_task)(*call) for call in calls
    )
    results += ensembling.assemble_all(params, datasets, results)  # as train.fit's CV phase
    done = time.perf_counter()
    scores = {
        f"{r.task.target}/{r.task.family}/{r.task.repeat}/{r.task.fold}/{name}": value
        for r in results
        if not r.task.is_final
        for name, value in r.scores.items()
    }
    return {
        "tasks": len(calls),
        "n_jobs": params.executor.n_jobs,
        "startup_seconds": round(imported - _STARTED, 3),
        "cv_seconds": round(done - imported, 3),
        "wall_seconds": round(done - _STARTED, 3),
        "scores": scores,
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]).resolve())))
