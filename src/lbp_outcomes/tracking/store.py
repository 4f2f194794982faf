"""Where runs are stored: the store URI, the experiment (created once, under a file lock)
and the names MLflow accepts for keys and registered models."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from lbp_outcomes import lifecycle
from lbp_outcomes.config import TrackingConfig, store_root

CHAMPION = "champion"
# Experiment tag that makes the MLflow UI open an experiment on its runs table (model
# training), not on the GenAI traces overview.
KIND_TAG = ("mlflow.experimentKind", "custom_model_development")


def tracking_uri(cfg: TrackingConfig, root: Path) -> str:
    """Absolute store URI: relative sqlite paths resolve against the real project root."""
    uri = cfg.uri
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return uri
    if not uri.startswith(prefix + "/"):
        path = store_root(root) / uri[len(prefix) :]
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"{prefix}{path}"
    # Concurrent runs (a DVC queue) wait for sqlite's write lock instead of failing after
    # the default 5 s.
    return uri if "?" in uri else f"{uri}?timeout=120"


def artifact_location(cfg: TrackingConfig, root: Path, experiment: str) -> str:
    folder = store_root(root) / cfg.artifact_root / experiment.replace("/", "_")
    return folder.resolve().as_uri()


def key(name: str) -> str:
    """A name MLflow accepts as a param/metric key (alphanumerics, _ - . space : /): a
    column called "ODI.12wk (%)" becomes "ODI.12wk _%_"."""
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", name)


def registered_name(data_name: str, target: str) -> str:
    """Registry name for a target's champion; safe inside a models:/ URI."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"lbp-outcomes.{data_name}.{target}")


def open_client(cfg: TrackingConfig, root: Path):
    """An MlflowClient on this project's store, also set as mlflow's global store."""
    import mlflow

    uri = tracking_uri(cfg, root)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(cfg: TrackingConfig, root: Path) -> str:
    """The experiment id, creating the store and experiment on first use.

    Serialised by a file lock, so parallel first runs (a DVC queue, a multirun) neither
    race on the schema nor create the experiment twice.
    """
    # The first open of a new sqlite store creates its tables, and two processes doing
    # that at once corrupt the schema: one at a time.
    with lifecycle.store_lock(store_root(root) / "mlruns" / ".lock"):
        return _ensure_experiment(cfg, root)


def _ensure_experiment(cfg: TrackingConfig, root: Path) -> str:
    client = open_client(cfg, root)
    found = client.get_experiment_by_name(cfg.experiment)  # first use creates the tables
    experiment_id = found.experiment_id if found is not None else None
    if experiment_id is None:
        experiment_id = client.create_experiment(
            cfg.experiment,
            artifact_location=artifact_location(cfg, root, cfg.experiment),
            tags={
                KIND_TAG[0]: KIND_TAG[1],
                "mlflow.note.content": (
                    "lbp-outcomes pipeline runs: one parent run per pipeline execution, one "
                    "child run per target x model family (cross-validated metrics, model)."
                ),
            },
        )
    elif found.tags.get(KIND_TAG[0]) != KIND_TAG[1]:  # made by an older version
        client.set_experiment_tag(experiment_id, *KIND_TAG)
    _write_ahead_log(tracking_uri(cfg, root))
    return experiment_id


def _write_ahead_log(uri: str) -> None:
    """Switch a sqlite store to WAL journaling (persistent in the file): readers no longer
    block the writer, which concurrent runs and an open MLflow UI need."""
    import sqlite3

    if not uri.startswith("sqlite:///"):
        return
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    if Path(path).exists():
        with contextlib.closing(sqlite3.connect(path, timeout=120)) as con:
            con.execute("PRAGMA journal_mode=WAL")
