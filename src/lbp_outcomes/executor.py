"""Where independent tasks run: joblib processes on this machine, or a Dask cluster.

``executor=local`` (default): a joblib loky pool of ``n_jobs`` processes; every task fits
single-threaded estimators, so ``n_jobs`` is the number of cores used. ``n_jobs: 1`` runs
in-process (no pool start-up). Pool workers watch the stage and exit when it dies
(:func:`lbp_outcomes.lifecycle.exit_with_parent`), also on SIGKILL; a LocalCluster's
workers already do (dask.distributed ends them with their nanny, which lives in the stage).

``executor=dask``: the same tasks as futures on a dask.distributed cluster: a LocalCluster
of ``executor.dask.n_workers`` processes bound to 127.0.0.1 with no dashboard, or the
scheduler at ``executor.dask.address``. Arguments shared by several tasks (a target's
modelling data, the family and tuning configs) are scattered to every worker once instead
of being pickled into each task. Some tasks run in the driver instead
(:meth:`Executor.run_in_driver`): those that are themselves distributed over the cluster
(xgboost.dask / lightgbm.dask on a big cohort), so no task ever nests a cluster job.

Results come back in task order whatever order they finish in, so the executor never
changes a number.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from lbp_outcomes.config import ExecutorConfig
from lbp_outcomes.errors import UserError
from lbp_outcomes.lifecycle import exit_with_parent

# Argument types not scattered: scalars are cheap to pickle into each task, and Dask
# serialises plain containers item by item (slow for big ones), so they travel as they are.
_NOT_SCATTERED = (int, float, str, bytes, bool, type(None), list, tuple, dict, set)


def _call(index: int, fn: Callable[..., Any], args: tuple) -> tuple[int, Any]:
    return index, fn(*args)


@contextlib.contextmanager
def dask_client(cfg: ExecutorConfig) -> Iterator[Any]:
    """A dask.distributed Client for ``cfg.dask``: connect, or start a LocalCluster.

    Connecting fails within ``connect_timeout`` seconds with a one-line UserError (no
    scheduler there, or a scheduler without workers), before any task is submitted.
    """
    from dask.distributed import Client, LocalCluster

    dask = cfg.dask
    if dask.address:
        where = f"executor.dask.address={dask.address}"
        try:
            client = Client(dask.address, timeout=dask.connect_timeout)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise UserError(
                f"{where}: cannot connect to a Dask scheduler within "
                f"{dask.connect_timeout:g} s ({_first_line(exc)})"
            ) from None
        try:
            client.wait_for_workers(1, timeout=dask.connect_timeout)
        except (OSError, TimeoutError):
            client.close()
            raise UserError(
                f"{where}: the scheduler has no workers after {dask.connect_timeout:g} s "
                "(start some with `dask worker <address>`)"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    with (
        LocalCluster(
            n_workers=dask.n_workers,
            threads_per_worker=dask.threads_per_worker,
            memory_limit=dask.memory_limit,
            processes=True,
            host="127.0.0.1",  # scheduler, nannies and workers listen on loopback only
            dashboard_address=None,  # no dashboard
            # The scheduler still serves health/metrics over HTTP: a free loopback port,
            # not 8787 (which another cluster on this machine may hold).
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


# Libraries whose version changes model numbers: workers must run the driver's versions.
_VERSIONED = ("lbp_outcomes", "numpy", "pandas", "scipy", "sklearn", "xgboost", "lightgbm")


def _versions() -> dict[str, str]:
    """Versions of :data:`_VERSIONED` in this process (importing them: on a worker, this
    also pays the import time once, at start-up, instead of in the first tasks)."""
    import importlib

    import lbp_outcomes.cv  # noqa: F401  (everything a task imports)

    return {name: importlib.import_module(name).__version__ for name in _VERSIONED}


def _check_workers(client: Any, cfg: ExecutorConfig) -> None:
    """Every worker can run this project's tasks with the driver's library versions
    (otherwise metrics would silently depend on which worker ran a task)."""
    where = f"executor.dask.address={cfg.dask.address}" if cfg.dask.address else "LocalCluster"
    try:
        found = client.run(_versions)
    except ImportError as exc:
        raise UserError(
            f"{where}: the Dask workers cannot import {exc.name or exc}: install this project "
            "with requirements.lock in the workers' environment"
        ) from None
    mine = _versions()
    for worker, versions in sorted(found.items()):
        for name, version in versions.items():
            if version != mine[name]:
                raise UserError(
                    f"{where}: worker {worker} runs {name} {version}, this machine "
                    f"{mine[name]}: install the same requirements.lock on the workers"
                )


def apply(fn: Callable[..., Any], args: tuple) -> Any:
    """``fn(*args)``: one :meth:`Executor.map` can then run tasks of several functions."""
    return fn(*args)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Executor:
    """Runs batches of independent tasks; with ``kind: dask`` it holds one Client for all
    of them (one cluster start-up per stage). Use as a context manager."""

    def __init__(self, cfg: ExecutorConfig) -> None:
        self.cfg = cfg
        self.client: Any = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Executor:
        if self.cfg.kind == "dask":
            self.client = self._stack.enter_context(dask_client(self.cfg))
            try:
                _check_workers(self.client, self.cfg)
            except BaseException:
                self._stack.close()
                raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client = None
        self._stack.close()

    @property
    def n_workers(self) -> int:
        """Worker processes tasks spread over (1 for in-process execution)."""
        if self.client is not None:
            return len(self.client.nthreads())
        return 1 if self.cfg.n_jobs == 1 else self.cfg.n_jobs

    @property
    def distributes_boosting(self) -> bool:
        """Whether big cohorts train boosters with xgboost.dask / lightgbm.dask.

        On a cluster at ``executor.dask.address``; on the LocalCluster only when the user
        opts in (``executor.dask.local_distributed_boosting``): both libraries' distributed
        learners open a listening port on every network interface of each worker during a
        fit, and a LocalCluster is otherwise kept on loopback.
        """
        if self.client is None:
            return False
        return bool(self.cfg.dask.address) or self.cfg.dask.local_distributed_boosting

    def map(
        self,
        fn: Callable[..., Any],
        calls: Sequence[tuple],
        label: str = "tasks",
        progress: bool = True,
    ) -> list[Any]:
        """``[fn(*args) for args in calls]``, run in parallel, results in input order."""
        results: list[Any] = [None] * len(calls)
        with _progress(label, len(calls), progress) as advance:
            if self.client is not None:
                return _map_dask(self.client, fn, calls, advance)
            if self.cfg.n_jobs == 1:
                for i, args in enumerate(calls):
                    results[i] = fn(*args)
                    advance(1)
                return results
            from joblib import Parallel, delayed

            parallel = Parallel(
                n_jobs=self.cfg.n_jobs,
                return_as="generator_unordered",
                batch_size=1,
                # each worker exits when the stage dies, SIGKILL included
                initializer=exit_with_parent,
            )
            for i, result in parallel(delayed(_call)(i, fn, args) for i, args in enumerate(calls)):
                results[i] = result
                advance(1)
        return results

    def start(
        self, fn: Callable[..., Any], calls: Sequence[tuple], label: str = "tasks"
    ) -> Callable[[], list[Any]]:
        """Start ``[fn(*args) for args in calls]`` on the pool and return at once; the
        returned function waits for the results (in input order; a task's exception is
        raised there). The stage meanwhile does its own work, e.g. opens its MLflow run.
        In-process (``n_jobs: 1``) and on Dask the tasks run when the results are asked for.
        """
        if self.client is not None or self.cfg.n_jobs == 1:
            return lambda: self.map(fn, calls, label, progress=False)
        from joblib import Parallel, delayed

        # A generator-returning Parallel dispatches its tasks as soon as it is called.
        outputs = Parallel(
            n_jobs=self.cfg.n_jobs,
            return_as="generator_unordered",
            batch_size=1,
            initializer=exit_with_parent,
        )(delayed(_call)(i, fn, args) for i, args in enumerate(calls))

        def results() -> list[Any]:
            out: list[Any] = [None] * len(calls)
            for i, result in outputs:
                out[i] = result
            return out

        return results

    def run_in_driver(
        self,
        fn: Callable[..., Any],
        calls: Sequence[tuple],
        label: str = "tasks",
        progress: bool = True,
    ) -> list[Any]:
        """``[fn(*args) for args in calls]`` one after another in this process, with the
        Client current, for tasks that distribute their own work over the cluster."""
        results = []
        current = self.client.as_current() if self.client is not None else contextlib.nullcontext()
        with current, _progress(label, len(calls), progress) as advance:
            for args in calls:
                results.append(fn(*args))
                advance(1)
        return results


def _map_dask(
    client: Any, fn: Callable[..., Any], calls: Sequence[tuple], advance: Callable[[int], None]
) -> list[Any]:
    from dask.distributed import as_completed

    shared = _scatter_shared(client, calls)
    futures = [
        client.submit(fn, *[shared.get(id(a), a) for a in args], pure=False) for args in calls
    ]
    position = {future.key: i for i, future in enumerate(futures)}
    results: list[Any] = [None] * len(calls)
    try:
        for future, result in as_completed(futures, with_results=True):
            results[position[future.key]] = result
            advance(1)
    finally:
        # On an error or an interrupt, nothing keeps running on the cluster.
        client.cancel(futures + list(shared.values()))
    return results


def _scatter_shared(client: Any, calls: Sequence[tuple]) -> dict[int, Any]:
    """Scatter every argument object used by more than one call to all workers, once.

    Without this each task would carry its own pickled copy (e.g. a target's whole
    modelling frame in each of the 5 x 10 fold tasks); broadcasting also keeps the
    scheduler free to place every task on any worker. Returns ``{id(object): Future}``.
    """
    uses = Counter(id(a) for args in calls for a in args if not isinstance(a, _NOT_SCATTERED))
    objects = {id(a): a for args in calls for a in args if uses.get(id(a), 0) > 1}
    if not objects:
        return {}
    futures = client.scatter(list(objects.values()), broadcast=True, hash=False)
    return dict(zip(objects, futures, strict=True))


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
