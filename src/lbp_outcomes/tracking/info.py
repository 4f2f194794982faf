"""reports/tracking.json: how later stages find the parent run and the registered
champions (run ids differ by design: not a DVC output, not in git)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbp_outcomes import catalog
from lbp_outcomes.tracking.store import tracking_uri

if TYPE_CHECKING:
    from lbp_outcomes.tracking.runs import Tracker


def write_tracking_file(out, root: Path, tracker: Tracker, **extra: Any) -> None:
    """reports/tracking.json: how later stages find the parent run (via an Outputs)."""
    info = catalog.TrackingInfo(
        enabled=tracker.enabled,
        experiment_id=tracker.experiment_id,
        parent_run_id=tracker.parent_id,
        tracking_uri=tracking_uri(tracker.params.tracking, root) if tracker.enabled else None,
        **extra,
    )
    catalog.TRACKING.write(out, root, info)


def read_registered(root: Path) -> dict[str, str]:
    """{target: registered version} of the champions the train stage registered."""
    info = catalog.TRACKING.read_optional(root)
    return {} if info is None else {t: str(v) for t, v in info.registered.items() if v}


def read_parent_run(root: Path) -> str | None:
    info = catalog.TRACKING.read_optional(root)
    return None if info is None else info.parent_run_id
