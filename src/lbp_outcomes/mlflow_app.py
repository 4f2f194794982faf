"""The MLflow UI server (`lbp-outcomes ui`) with one change: its plain URL opens this
project's runs table.

MLflow 3.17's UI decides between its GenAI and model-training views in the browser: the
`workflowType` query parameter of the page's hash route, else the browser's localStorage
("mlflow.workflowType"), else GenAI. A fresh browser opening http://127.0.0.1:<port>/ thus
lands on the GenAI traces overview, and no server setting or experiment tag changes that
(the `mlflow.experimentKind` tag only steers an experiment's own page). So the server
redirects a bare ``GET /`` to the address in :data:`HOME` (set by
:func:`lbp_outcomes.tracking.serve_ui`): the experiment's runs table in model-training
mode, with the saved view's metric columns. Registered as the `mlflow.app` entry point
``lbp-outcomes`` (pyproject.toml), MLflow's documented way to extend its server, and
started with ``mlflow ui --app-name lbp-outcomes``.
"""

from __future__ import annotations

import os
from typing import Any

from mlflow.server.fastapi_app import app
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

#: Environment variable with the address a bare ``GET /`` is sent to ("" or unset: none).
HOME = "LBP_OUTCOMES_UI_HOME"


@app.middleware("http")
async def _open_on_runs(request: Request, call_next: Any) -> Response:
    """Only the bare root: its target carries a query string, so it is served as usual."""
    home = os.environ.get(HOME, "")
    if home and request.method == "GET" and request.url.path == "/" and not request.url.query:
        return RedirectResponse(home, status_code=302)
    return await call_next(request)


__all__ = ["app"]
