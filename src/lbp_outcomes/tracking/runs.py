"""MLflow runs of one stage: the parent run (opened by train, resumed by the later stages
through reports/tracking.json) and its child runs.

Layout: one experiment per data config (``lbp-outcomes/<data.name>``); one parent run per
pipeline execution; one child run per target x family with the training params, CV
metrics (fold values as steps), tags, artifacts and the final model; the best family per
target registered (:mod:`lbp_outcomes.tracking.registry`). Runs end FINISHED, FAILED or
KILLED (:mod:`lbp_outcomes.tracking.status`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lbp_outcomes.config import Params
from lbp_outcomes.tracking.models import log_sklearn_model
from lbp_outcomes.tracking.provenance import git, pipeline_params, run_tags
from lbp_outcomes.tracking.registry import register_version
from lbp_outcomes.tracking.status import (
    OWNER_TAG,
    close_orphaned_runs,
    closing_runs,
    owner_tag,
    terminating,
)
from lbp_outcomes.tracking.store import ensure_experiment, key, registered_name
from lbp_outcomes.tracking.ui import SHARED_VIEW, shared_view


class Tracker:
    """MLflow runs of one stage. With ``tracking.enabled: false`` every call does nothing."""

    def __init__(self, params: Params, root: Path) -> None:
        self.params = params
        self.root = root
        self.enabled = params.tracking.enabled
        self.parent_id: str | None = None
        self.experiment_id: str | None = None

    @contextlib.contextmanager
    def pipeline_run(self, stage: str, resume: str | None = None) -> Iterator[Tracker]:
        """Open a new parent run (``resume=None``) or resume one; always close it properly."""
        if not self.enabled:
            yield self
            return
        import mlflow

        self.experiment_id = ensure_experiment(self.params.tracking, self.root)
        closed = close_orphaned_runs(mlflow.MlflowClient(), self.experiment_id)
        if closed:
            print(f"closed {len(closed)} MLflow run(s) of killed processes as KILLED")
        if resume:
            run = mlflow.start_run(run_id=resume)
        else:
            run = mlflow.start_run(
                experiment_id=self.experiment_id,
                run_name=self._parent_name(),
                description=(
                    f"Pipeline run on data config {self.params.data.name!r}: "
                    f"{len(self.params.model)} model families, "
                    f"{self.params.cv.folds}-fold CV x {self.params.cv.repeats}. Child runs "
                    "hold each target x family; the data config is an artifact and a dataset."
                ),
            )
            mlflow.set_tags(self.provenance)
            _log_params(mlflow.MlflowClient(), run.info.run_id, pipeline_params(self.params))
            self._log_config_files()
        self.parent_id = run.info.run_id
        mlflow.set_tags({f"stage.{stage}": "running", OWNER_TAG: owner_tag()})
        with closing_runs():
            yield self
            mlflow.set_tag(f"stage.{stage}", "done")

    def _log_config_files(self) -> None:
        """The data config and the whole resolved params, once, as parent-run artifacts
        (not as params: ~300 data-config keys would bury the model params)."""
        import mlflow
        import yaml

        config = self.params.model_dump(mode="json")
        with tempfile.TemporaryDirectory(prefix="lbp-mlflow-") as tmp:
            for name, tree in (("data_config.yaml", config["data"]), ("params.yaml", config)):
                path = Path(tmp) / name
                path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
                mlflow.log_artifact(str(path), artifact_path="config")

    def log_dataset(self, frame: Any, cohort: str, rows: int) -> None:
        """The model-ready cohort as the parent run's dataset input: name, digest (the
        file's md5, as DVC hashes it), schema and row count; no rows are logged."""
        if not self.enabled:
            return
        import mlflow

        digest = self.provenance.get(f"data_md5.{cohort}", "")
        from mlflow.data.dataset_source_registry import resolve_dataset_source

        with warnings.catch_warnings():  # "can be interpreted in multiple ways": local file
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(f"data/features/{cohort}.parquet")
        dataset = mlflow.data.from_pandas(
            frame.head(0),  # schema only: patient rows never leave the project
            source=source,
            name=f"{self.params.data.name}/{cohort}",
            digest=digest[:10] or None,
        )
        mlflow.log_input(dataset, context=cohort, tags={"rows": str(rows)})

    @functools.cached_property
    def provenance(self) -> dict[str, str]:
        """:func:`run_tags`, computed once per stage (git and file hashes, not per child)."""
        return run_tags(self.params, self.root)

    def _parent_name(self) -> str:
        exp = os.environ.get("DVC_EXP_NAME")
        commit = git(self.root, "rev-parse", "--short", "HEAD") or "nogit"
        label = exp or commit
        return f"{self.params.data.name} | seed {self.params.seed} | {label}"

    def log_child(
        self,
        name: str,
        params: dict[str, str],
        tags: dict[str, str],
        summary: dict[str, float | None],
        folds: dict[str, list[float]],
        artifacts: dict[str, Path],
        model: Any = None,
        input_example: Any = None,
        seconds: float = 0.0,
        description: str = "",
    ) -> dict[str, str]:
        """One child run under the parent; returns {"run_id", "model_uri"}.

        ``seconds``: the compute time of this target x family's CV fits and final refit;
        the run starts that long before now, so its recorded duration reflects the CV (the
        fits ran in parallel with other pairs' fits, before any run was logged).
        """
        if not self.enabled:
            return {}
        import mlflow

        client = mlflow.MlflowClient()
        # Every tag in the run's creation and every param in one batch: a round trip to the
        # store each, where fluent calls made several per child (round trips dominate).
        run_id = client.create_run(
            self.experiment_id,
            start_time=int((time.time() - seconds) * 1000),
            tags={
                "mlflow.parentRunId": self.parent_id,
                "mlflow.runName": name,
                "mlflow.note.content": description,
                **self.provenance,
                **tags,
                OWNER_TAG: owner_tag(),
            },
            run_name=name,
        ).info.run_id
        with terminating(client, run_id):
            _log_params(client, run_id, params)  # before the model: it copies the params
            with tempfile.TemporaryDirectory(prefix="lbp-mlflow-child-") as tmp:
                client.log_artifacts(run_id, str(_staged(artifacts, Path(tmp))))
            out = {"run_id": run_id}
            model_id = None
            if model is not None:
                # Named for what it is (not "model"): the Models tab lists target-family
                # (MLflow refuses / : . % and quotes in a model name).
                label = f"{tags.get('target', 'model')}-{tags.get('family', '')}".rstrip("-")
                info = log_sklearn_model(
                    model, input_example, re.sub(r"[^A-Za-z0-9_-]", "_", label), run_id
                )
                out["model_uri"], model_id = info.model_uri, info.model_id
            batch = _metrics(summary, folds, int(time.time() * 1000), model_id)
            for start in range(0, len(batch), 900):
                client.log_batch(run_id, metrics=batch[start : start + 900])
        return out

    def log_artifacts(self, files: dict[str, Path]) -> None:
        """Files into the parent run (``{artifact subfolder: path}``)."""
        if not self.enabled:
            return
        import mlflow

        for sub, path in files.items():
            if Path(path).is_dir():
                mlflow.log_artifacts(str(path), artifact_path=sub or None)
            else:
                mlflow.log_artifact(str(path), artifact_path=sub or None)

    def log_metrics(self, values: dict[str, float | None]) -> None:
        if not self.enabled:
            return
        import mlflow

        mlflow.log_metrics(
            {key(k): float(v) for k, v in values.items() if v is not None and v == v}
        )

    def register(
        self,
        target: str,
        model_uri: str,
        run_id: str,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> str | None:
        """Register ``model_uri`` as this target's new champion version
        (:func:`~lbp_outcomes.tracking.registry.register_version`); its version number."""
        if not self.enabled or not model_uri:
            return None
        import mlflow

        name = registered_name(self.params.data.name, target)
        return register_version(
            mlflow.MlflowClient(),
            name,
            target,
            self.params.data.name,
            model_uri,
            run_id,
            description,
            tags or {},
        )

    def tag_version(self, target: str, version: str | None, tags: dict[str, Any]) -> None:
        """Add tags (e.g. external metrics) to a registered version of ``target``'s model."""
        if not self.enabled or not version:
            return
        import mlflow

        client = mlflow.MlflowClient()
        name = registered_name(self.params.data.name, target)
        for k, v in tags.items():
            if v is not None:
                client.set_model_version_tag(name, version, k, str(v))

    def share_view(self) -> None:
        """Save the runs-table view :data:`SHARED_VIEW` on the experiment (child runs with
        their primary metrics as columns, newest first)."""
        if not self.enabled or not self.experiment_id:
            return
        import mlflow

        mlflow.MlflowClient().set_experiment_tag(
            self.experiment_id, f"mlflow.sharedViewState.{SHARED_VIEW}", json.dumps(shared_view())
        )


def _log_params(client: Any, run_id: str, params: dict[str, str]) -> None:
    from mlflow.entities import Param

    items = [Param(key(k), v) for k, v in params.items()]
    for start in range(0, len(items), 100):  # MLflow's limit per batch
        client.log_batch(run_id, params=items[start : start + 100])


def _metrics(
    summary: dict[str, float | None],
    folds: dict[str, list[float]],
    now: int,
    model_id: str | None,
) -> list[Any]:
    """A child run's metrics: the summaries at step 0, fold values as steps (NaN folds left
    out). Step 0 carries the logged model's id, which MLflow's log_model would otherwise
    copy onto the model by re-reading every metric's history (one query per key)."""
    from mlflow.entities import Metric

    batch = [
        Metric(key(k), float(v), now, 0, model_id=model_id)
        for k, v in summary.items()
        if v is not None
    ]
    for name, values in folds.items():
        batch += [
            Metric(key(name), float(v), now, step, model_id=model_id if step == 0 else None)
            for step, v in enumerate(values)
            if v == v
        ]
    return batch


def _staged(artifacts: dict[str, Path], folder: Path) -> Path:
    """``{artifact subfolder: file}`` copied into one folder, logged in one call."""
    for sub, path in artifacts.items():
        (folder / sub).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / sub / Path(path).name)
    return folder
