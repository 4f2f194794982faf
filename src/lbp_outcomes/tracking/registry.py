"""The model registry: each target's champion registered as ``lbp-outcomes.<data>.<target>``
with alias ``champion`` (written by the train stage, tagged by external, read by predict)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from lbp_outcomes.config import TrackingConfig
from lbp_outcomes.tracking.store import CHAMPION, open_client


def register_version(
    client: Any,
    name: str,
    target: str,
    data_name: str,
    model_uri: str,
    run_id: str,
    description: str,
    tags: dict[str, str],
) -> str:
    """Register ``model_uri`` as a new version of registered model ``name`` (with a
    description and tags) and point alias ``champion`` at it.

    The registered model is created only when absent (a parallel run may win the race),
    and the version is created directly: ``mlflow.register_model`` would try to create
    the model again and log a misleading "already exists" on every run but the first.
    """
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        with contextlib.suppress(MlflowException):  # a parallel run created it first
            client.create_registered_model(
                name,
                description=f"Champion models for {target} ({data_name}); "
                f"alias {CHAMPION!r} marks the current one.",
            )
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    version = client.create_model_version(
        name,
        source=model_uri,
        run_id=run_id,
        tags=tags,
        description=description,
        model_id=model_id,
    )
    client.set_registered_model_alias(name, CHAMPION, version.version)
    return str(version.version)


class Registry:
    """Read access to this project's model registry (for ``lbp-outcomes predict``)."""

    def __init__(self, cfg: TrackingConfig, root: Path) -> None:
        self.client = open_client(cfg, root)

    def champion_version(self, name: str) -> Any | None:
        """The version of registered model ``name`` that alias ``champion`` points at."""
        try:
            return self.client.get_model_version_by_alias(name, CHAMPION)
        except Exception:  # no such model or alias
            return None

    def download_uri(self, name: str, version: str) -> str:
        return self.client.get_model_version_download_uri(name, version)

    def load_champion(self, name: str) -> Any:
        """The champion's pipeline. Call only after checking :meth:`download_uri` lies in
        this project's store: the skops/pickle payload is then our own."""
        import mlflow

        os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        return mlflow.sklearn.load_model(f"models:/{name}@{CHAMPION}")

    def download_artifact(self, run_id: str, path: str) -> str:
        import mlflow

        return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path)

    def run_tags(self, run_id: str) -> dict[str, str]:
        return self.client.get_run(run_id).data.tags
