"""How runs end: FINISHED on success, FAILED on an error, KILLED on an interrupt; a run
whose process was SIGKILLed (nothing inside it can close it) is closed KILLED by the next
stage that opens the experiment (:func:`close_orphaned_runs`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from lbp_outcomes import lifecycle

#: Tag on every run a stage opens or resumes: which process holds it RUNNING.
OWNER_TAG = "lbp_outcomes.owner"


def owner_tag() -> str:
    """``host:pid:start`` of this process (start = its creation time, so a recycled pid
    is not mistaken for the original owner)."""
    return lifecycle.process_tag()


def close_orphaned_runs(client: Any, experiment_id: str) -> list[str]:
    """Close as KILLED every RUNNING run of the experiment whose owning process on this host
    is gone (SIGKILL, the OOM killer, a power cut: nothing in the dying process could close
    it). Runs owned by live processes, or by other hosts, are left alone. Returns their ids."""
    closed = []
    running = client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    for run in running:
        owner = run.data.tags.get(OWNER_TAG)
        if owner and lifecycle.tag_alive(owner) is False:
            client.set_tag(run.info.run_id, "lbp_outcomes.closed", "owner process gone")
            client.set_terminated(run.info.run_id, status="KILLED")
            closed.append(run.info.run_id)
    return closed


@contextlib.contextmanager
def closing_runs() -> Iterator[None]:
    """End every active run: FINISHED on success, KILLED on interrupt, FAILED on error."""

    try:
        yield
    except KeyboardInterrupt:
        _end_all("KILLED")
        raise
    except BaseException:
        _end_all("FAILED")
        raise
    else:
        _end_all("FINISHED")


def _end_all(status: str) -> None:
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run(status=status)


@contextlib.contextmanager
def terminating(client: Any, run_id: str) -> Iterator[None]:
    """End a child run opened without the fluent API: FINISHED, KILLED or FAILED."""
    try:
        yield
    except KeyboardInterrupt:
        client.set_terminated(run_id, status="KILLED")
        raise
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
