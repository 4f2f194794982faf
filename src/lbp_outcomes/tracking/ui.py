"""The MLflow UI on this project's store: the saved runs-table view, its URLs, and
``lbp-outcomes ui`` (the server, with src/lbp_outcomes/mlflow_app.py as its app)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from lbp_outcomes import lifecycle
from lbp_outcomes.tracking.store import ensure_experiment, tracking_uri

# A saved runs-table view (the UI's "share" mechanism): the experiment's URL with
# ?viewStateShareKey=<SHARED_VIEW> opens on the child runs (target x family) with the
# primary metric columns shown (:func:`shared_view`; MLflow has no other server-side
# default for columns).
SHARED_VIEW = "lbp-outcomes"
# The UI's sidebar mode: model training (not GenAI), as a URL query parameter.
WORKFLOW = "workflowType=machine_learning"
VIEW_COLUMNS = ("r2_mean", "auroc_mean", "mae_mean", "brier_mean")


def shared_view() -> dict[str, Any]:
    """An MLflow runs-table view: the child runs (they carry a `family` tag) of every
    pipeline run, flat and sorted by name (``<target> | <family>``: a target's families side
    by side; the UI nests children under their parent only when sorted by time), with the
    champion tag and the primary metric columns."""
    columns = ["tags.`champion`"]
    columns += [f"metrics.`{m}`" for m in VIEW_COLUMNS]
    return {
        "selectedColumns": columns,
        "runsHiddenMode": "SHOW_ALL",
        "searchFilter": "tags.family LIKE '%'",
        "orderByKey": "tags.`mlflow.runName`",
        "orderByAsc": True,
    }


def runs_url(base: str, experiment_id: str) -> str:
    """The experiment's runs table in model-training mode, with the saved view."""
    return f"{base}/#/experiments/{experiment_id}/runs?{WORKFLOW}&viewStateShareKey={SHARED_VIEW}"


def home_path(experiment_id: str) -> str:
    """Where the UI's plain URL redirects (src/lbp_outcomes/mlflow_app.py): the runs table.
    The query before the ``#`` tells the redirect apart from a bare ``GET /``."""
    return f"/?{WORKFLOW}" + runs_url("", experiment_id)[1:]


def serve_ui(root: Path, host: str = "127.0.0.1", port: int = 5000) -> int:
    """Start the MLflow UI on this project's store (loopback only unless told otherwise)."""
    from lbp_outcomes.config import load_params

    params = load_params(root)
    uri = tracking_uri(params.tracking, root)
    cmd = [
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--registry-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",  # one user on a laptop: one worker starts fast and leaves the cores free
        "--app-name",
        "lbp-outcomes",  # the plain URL opens the runs table, not the GenAI view
    ]
    if host not in {"127.0.0.1", "localhost", "::1"}:
        print(
            f"warning: the MLflow UI will listen on {host}: anyone who can reach it sees every run"
        )
    experiment = ensure_experiment(params.tracking, root)
    print("+ " + " ".join(cmd), flush=True)
    print(
        f"runs with metric columns: http://{host}:{port}/ (it redirects to "
        f"{runs_url(f'http://{host}:{port}', experiment)})",
        flush=True,
    )
    env = {
        **os.environ,
        **lifecycle.TELEMETRY_OFF,
        # No background job runner (huey consumers): the UI only browses runs.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "LBP_OUTCOMES_UI_HOME": home_path(experiment),
    }
    return subprocess.call(cmd, env=env)
