"""Where independent tasks run: joblib processes on this machine, or a Dask cluster.

``executor=local`` (default): a joblib loky pool of ``n_jobs`` processes; every task fits
single-threaded estimators, so ``n_jobs`` is the number of cores used. ``n_jobs: 1`` runs
in-process (no pool start-up). ``executor=dask``: the same tasks on a dask.distributed
cluster (a LocalCluster, or the scheduler at ``executor.dask.address``) through joblib's
Dask backend. Results come back in task order whatever order they finish in, so the
executor never changes a number.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from lbp_outcomes.config import ExecutorConfig


def _call(index: int, fn: Callable[..., Any], args: tuple) -> tuple[int, Any]:
    return index, fn(*args)


@contextlib.contextmanager
def dask_client(cfg: ExecutorConfig) -> Iterator[Any]:
    """A dask.distributed Client for ``cfg.dask``: connect, or start a LocalCluster."""
    from dask.distributed import Client, LocalCluster

    if cfg.dask.address:
        client = Client(cfg.dask.address)
        try:
            yield client
        finally:
            client.close()
        return
    with (
        LocalCluster(
            n_workers=cfg.dask.n_workers,
            threads_per_worker=cfg.dask.threads_per_worker,
            memory_limit=cfg.dask.memory_limit,
            processes=True,
            dashboard_address=None,  # no web server: nothing listens beyond the scheduler
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_tasks(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    cfg: ExecutorConfig,
    label: str = "tasks",
    progress: bool = True,
) -> list[Any]:
    """``[fn(*args) for args in calls]``, run in parallel, results in input order."""
    results: list[Any] = [None] * len(calls)
    with _progress(label, len(calls), progress) as advance:
        if cfg.kind == "local" and cfg.n_jobs == 1:
            for i, args in enumerate(calls):
                results[i] = fn(*args)
                advance(1)
            return results
        from joblib import Parallel, delayed, parallel_config

        backend = contextlib.nullcontext()
        client = contextlib.nullcontext()
        n_jobs = cfg.n_jobs
        if cfg.kind == "dask":
            client = dask_client(cfg)
            backend = parallel_config(backend="dask")
            n_jobs = -1
        with client, backend:
            parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered", batch_size=1)
            for i, result in parallel(delayed(_call)(i, fn, args) for i, args in enumerate(calls)):
                results[i] = result
                advance(1)
    return results


@contextlib.contextmanager
def _progress(label: str, total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    if not enabled or total == 0:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
