"""MLflow tracking: the only module that talks to MLflow.

Layout: one experiment per data config (``lbp-outcomes/<data.name>``); one parent run per
pipeline execution, opened by the train stage and resumed by the later stages (external,
explain, report) through reports/tracking.json; one child run per target x family with the
flattened resolved config as params, CV metrics (fold values as steps), tags, artifacts and
the final model; the best family per target registered as ``lbp-outcomes.<data>.<target>``
with alias ``champion``.

The store is the local sqlite database under the *real* project root (see
:func:`lbp_outcomes.config.store_root`), also when DVC runs an experiment in a temporary
copy. Runs end FINISHED, FAILED (an error) or KILLED (SIGINT/SIGTERM); a run whose
process was SIGKILLed (nothing inside it can close it) is closed KILLED by the next stage
that opens the experiment (:func:`close_orphaned_runs`).
No patient identifiers or raw rows are logged: params are configuration, metrics are
aggregates, prediction artifacts carry row positions, and the model's input example is a
made-up typical patient (medians and most frequent categories).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import subprocess
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbp_outcomes import catalog, lifecycle
from lbp_outcomes.config import Params, TrackingConfig, store_root
from lbp_outcomes.metricinfo import PRIMARY
from lbp_outcomes.paths import slug

if TYPE_CHECKING:
    from lbp_outcomes.train_result import TrainResult

lifecycle.configure_environment(threads=False)  # also when imported without the CLI

CHAMPION = "champion"
# Experiment tag that makes the MLflow UI open an experiment on its runs table (model
# training), not on the GenAI traces overview.
KIND_TAG = ("mlflow.experimentKind", "custom_model_development")
# A saved runs-table view (the UI's "share" mechanism): the experiment's URL with
# ?viewStateShareKey=<SHARED_VIEW> opens on the child runs (target x family) with the
# primary metric columns shown (:func:`shared_view`; MLflow has no other server-side
# default for columns).
SHARED_VIEW = "lbp-outcomes"
# The UI's sidebar mode: model training (not GenAI), as a URL query parameter.
WORKFLOW = "workflowType=machine_learning"
VIEW_COLUMNS = ("r2_mean", "auroc_mean", "mae_mean", "brier_mean")


# -- where ---------------------------------------------------------------------------------
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


def _client(cfg: TrackingConfig, root: Path):
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
    client = _client(cfg, root)
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


# -- what ------------------------------------------------------------------------------------
def flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    """Nested mapping -> {"a.b.c": value as text}; lists become JSON text."""
    out: dict[str, str] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
    else:
        text = json.dumps(tree) if isinstance(tree, list | tuple) else str(tree)
        out[prefix.rstrip(".")] = text[:6000]
    return out


def run_tags(params: Params, root: Path) -> dict[str, str]:
    """Provenance: git commit, DVC hashes of the model-ready data, data config, seed."""
    tags = {
        "data_config": params.data.name,
        "seed": str(params.seed),
        # The standard tag: the UI shows and links it as the run's source version.
        "mlflow.source.git.commit": _git(root, "rev-parse", "HEAD") or "unknown",
    }
    if _git(root, "status", "--porcelain", "--untracked-files=no"):
        tags["git_dirty"] = "true"
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    tags.update(data_hashes(root))
    return tags


def data_hashes(root: Path) -> dict[str, str]:
    """md5 of each model-ready cohort file (data/features/*.parquet), as DVC hashes files."""
    import hashlib

    out = {}
    for path in sorted((root / "data" / "features").glob("*.parquet")):
        out[f"data_md5.{path.stem}"] = hashlib.md5(path.read_bytes()).hexdigest()
    return out


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


# -- runs --------------------------------------------------------------------------------------
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
            _log_params(pipeline_params(self.params))
            self._log_config_files()
        self.parent_id = run.info.run_id
        mlflow.set_tags({f"stage.{stage}": "running", OWNER_TAG: owner_tag()})
        with _closing_runs():
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
        commit = _git(self.root, "rev-parse", "--short", "HEAD") or "nogit"
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
        from mlflow.entities import Metric

        client = mlflow.MlflowClient()
        created = client.create_run(
            self.experiment_id,
            start_time=int((time.time() - seconds) * 1000),
            tags={
                "mlflow.parentRunId": self.parent_id,
                "mlflow.runName": name,
                "mlflow.note.content": description,
            },
            run_name=name,
        )
        with mlflow.start_run(run_id=created.info.run_id, nested=True) as run:
            mlflow.set_tags({**self.provenance, **tags, OWNER_TAG: owner_tag()})
            _log_params(params)
            now = int(time.time() * 1000)
            batch = [Metric(key(k), float(v), now, 0) for k, v in summary.items() if v is not None]
            for name, values in folds.items():
                batch += [
                    Metric(key(name), float(v), now, step)
                    for step, v in enumerate(values)
                    if v == v
                ]
            for start in range(0, len(batch), 900):
                client.log_batch(run.info.run_id, metrics=batch[start : start + 900])
            for sub, path in artifacts.items():
                mlflow.log_artifact(str(path), artifact_path=sub or None)
            out = {"run_id": run.info.run_id}
            if model is not None:
                # Named for what it is (not "model"): the Models tab lists target-family
                # (MLflow refuses / : . % and quotes in a model name).
                label = f"{tags.get('target', 'model')}-{tags.get('family', '')}".rstrip("-")
                out["model_uri"] = log_sklearn_model(
                    model, input_example, name=re.sub(r"[^A-Za-z0-9_-]", "_", label)
                )
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
        """Register ``model_uri`` as a new version of this target's model (with a
        description and tags) and point alias ``champion`` at it.

        The registered model is created only when absent (a parallel run may win the race),
        and the version is created directly: ``mlflow.register_model`` would try to create
        the model again and log a misleading "already exists" on every run but the first.
        """
        if not self.enabled or not model_uri:
            return None
        import mlflow
        from mlflow.exceptions import MlflowException

        name = registered_name(self.params.data.name, target)
        client = mlflow.MlflowClient()
        try:
            client.get_registered_model(name)
        except MlflowException:
            with contextlib.suppress(MlflowException):  # a parallel run created it first
                client.create_registered_model(
                    name,
                    description=f"Champion models for {target} ({self.params.data.name}); "
                    f"alias {CHAMPION!r} marks the current one.",
                )
        model_id = (
            model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
        )
        version = client.create_model_version(
            name,
            source=model_uri,
            run_id=run_id,
            tags=tags or {},
            description=description,
            model_id=model_id,
        )
        client.set_registered_model_alias(name, CHAMPION, version.version)
        return str(version.version)

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


class Registry:
    """Read access to this project's model registry (for ``lbp-outcomes predict``)."""

    def __init__(self, cfg: TrackingConfig, root: Path) -> None:
        self.client = _client(cfg, root)

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


def pipeline_params(params: Params) -> dict[str, str]:
    """The parent run's params: what the pipeline ran, in a dozen keys (the whole config is
    the ``config/params.yaml`` artifact)."""
    return {
        "data_config": params.data.name,
        "seed": str(params.seed),
        "families": ",".join(params.model),
        "targets": ",".join(params.data.all_targets),
        **flatten(params.cv.model_dump(mode="json"), "cv."),
        **flatten(params.tuning.model_dump(mode="json"), "tuning."),
        **flatten(params.conformal.model_dump(mode="json"), "conformal."),
    }


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


def _log_params(params: dict[str, str]) -> None:
    import mlflow

    items = [(key(k), v) for k, v in params.items()]
    for start in range(0, len(items), 100):
        mlflow.log_params(dict(items[start : start + 100]))


def pip_requirements() -> list[str]:
    """What the logged models need, pinned to the versions that trained them (no slow
    requirement inference by MLflow)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    dists = ("scikit-learn", "xgboost-cpu", "xgboost", "lightgbm", "catboost", "pandas", "numpy")
    for dist in (*dists, "skops"):
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return out


_TRUSTED: dict[tuple[str, ...], list[str]] = {}


def _trusted_types(model: Any, sio: Any) -> list[str]:
    """The types skops must be told to trust when loading ``model`` (XGBoost, LightGBM,
    the project's wrappers). Finding them means serialising the model once more, so the
    answer is kept per pipeline structure (the classes of every step and parameter):
    models of one family and task share it."""

    def name(obj: Any) -> str:
        return f"{type(obj).__module__}.{type(obj).__qualname__}"

    structure = (name(model), *sorted({name(v) for v in model.get_params(deep=True).values()}))
    if structure not in _TRUSTED:
        _TRUSTED[structure] = sio.get_untrusted_types(data=sio.dumps(model))
    return _TRUSTED[structure]


def log_sklearn_model(model: Any, input_example: Any, name: str = "model") -> str:
    """Log a fitted Pipeline with signature and input example (skops format, with the
    project's own estimator types declared trusted) as the logged model ``name``.
    Returns the model URI."""
    import mlflow
    import skops.io as sio
    from mlflow.models import infer_signature

    trusted = _trusted_types(model, sio)
    if hasattr(model, "predict_proba"):
        output = model.predict_proba(input_example)[:, 1]
    else:
        output = model.predict(input_example)
    info = mlflow.sklearn.log_model(
        model,
        name=name,
        signature=infer_signature(input_example, output),
        input_example=input_example,
        pip_requirements=pip_requirements(),
        skops_trusted_types=trusted,
        pyfunc_predict_fn="predict_proba" if hasattr(model, "predict_proba") else "predict",
    )
    return info.model_uri


@contextlib.contextmanager
def _closing_runs() -> Iterator[None]:
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


# -- runs whose process died ---------------------------------------------------------------
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


# -- the train stage's runs ---------------------------------------------------------------
def log_train(
    tracker: Tracker, result: TrainResult, figures: dict[str, Path], model_dir: Path
) -> dict[str, Any]:
    """A child run per target x family; the champions registered; parent-run summaries.

    ``figures``: the train stage's PNGs by file name; ``model_dir``: where the models (and
    interval models) were saved. Returns the run ids and registered versions (for
    reports/tracking.json)."""
    runs: dict[str, dict[str, str]] = defaultdict(dict)
    registered: dict[str, str | None] = {}
    if not tracker.enabled:
        return {"runs": runs, "registered": registered}
    with tempfile.TemporaryDirectory(prefix="lbp-mlflow-train-") as tmp:
        for data in result.datasets:
            for family in result.cv[data.name].families:
                logged = _log_pair(tracker, result, data, family, figures, model_dir, Path(tmp))
                runs[data.name][family] = logged.get("run_id", "")
                if family == result.champion(data.name):
                    registered[data.name] = _register_champion(tracker, result, data, logged)
    _log_selected(tracker, result)
    tracker.share_view()
    return {"runs": dict(runs), "registered": registered}


def _log_selected(tracker: Tracker, result: TrainResult) -> None:
    """The honest (selection-included) estimate per target, with its CI, on the parent run:
    ``<target>.selected_<metric>`` (+ ``_ci_low``/``_ci_high``)."""
    for target, entry in result.cv.items():
        sel = entry.selected
        if sel is not None:
            name = f"{target}.selected_{sel.metric}"
            tracker.log_metrics(
                {name: sel.mean, f"{name}_ci_low": sel.ci[0], f"{name}_ci_high": sel.ci[1]}
            )


def _log_pair(
    tracker: Tracker,
    result: TrainResult,
    data: Any,
    family: str,
    figures: dict[str, Path],
    model_dir: Path,
    tmp: Path,
) -> dict[str, str]:
    """One target x family child run: params, CV metrics (fold values as steps), tables,
    the figure, the final model (and the champion's interval model)."""
    config = tracker.params.model_dump(mode="json")
    summary = result.cv[data.name].families[family]
    final = result.final(data.name, family)
    champion = result.champion(data.name)
    pair = tmp / f"{data.name}__{family}"
    pair.mkdir()
    oof, folds = result.oof, result.folds
    oof[(oof["target"] == data.name) & (oof["family"] == family)].drop(columns="target").to_csv(
        pair / "oof_predictions.csv", index=False
    )
    fold_part = folds[(folds["target"] == data.name) & (folds["family"] == family)]
    fold_part.to_csv(pair / "fold_metrics.csv", index=False)
    run_params = {
        # Training params only (the data config is logged once, on the parent run).
        "seed": str(tracker.params.seed),
        **flatten(config["cv"], "cv."),
        **flatten(config["tuning"], "tuning."),
        **flatten(config["model"][family], f"model.{family}."),
        "target": data.name,
        "family": family,
        "task": data.task,
        **{f"final.{k}": str(v) for k, v in final.params.items()},
    }
    artifacts = {
        "cv": pair / "oof_predictions.csv",
        "": pair / "fold_metrics.csv",
        "plots": figures[f"{slug(data.name)}.png"],
    }
    conformal = result.manifest.targets[data.name].conformal
    if family == champion and conformal is not None:
        artifacts["conformal"] = model_dir / conformal.file
    return tracker.log_child(
        name=f"{data.name} | {family}",
        params=run_params,
        tags={
            "target": data.name,
            "family": family,
            "task": data.task,
            "champion": str(family == champion).lower(),
            "distributed": str(final.task.distributed).lower(),
        },
        summary={f"{m}_{k}": v for m, stats in summary.items() for k, v in stats},
        folds={
            f"{m}_fold": fold_part[fold_part["metric"] == m]
            .sort_values(["repeat", "fold"])["value"]
            .tolist()
            for m in summary
        },
        artifacts=artifacts,
        model=final.model,
        input_example=result.example,
        seconds=result.seconds(data.name, family),
        description=child_description(result, data, family),
    )


def _register_champion(
    tracker: Tracker, result: TrainResult, data: Any, logged: dict[str, str]
) -> str | None:
    """Register the champion's logged model; its CV metrics become version tags."""
    family = result.champion(data.name)
    summary = result.cv[data.name].families[family]
    primary = PRIMARY[data.task]
    version = tracker.register(
        data.name,
        logged.get("model_uri", ""),
        run_id=logged.get("run_id", ""),
        description=child_description(result, data, family),
        tags={
            "family": family,
            "task": data.task,
            "data_config": tracker.params.data.name,
            **{f"cv_{m}": f"{s.mean:.4f}" for m, s in summary.items() if s.mean is not None},
        },
    )
    tracker.log_metrics({f"{data.name}.champion_{primary}": summary[primary].mean})
    label = result.labels[family]
    print(f"{data.name}: champion {label} ({primary} {summary[primary].mean:.3f})")
    return version


def child_description(result: TrainResult, data: Any, family: str) -> str:
    """One line for the MLflow run / model version: what it is and how well it did."""
    primary = PRIMARY[data.task]
    champion = result.champion(data.name)
    stats = result.cv[data.name].families[family].get(primary)
    mean, low, high = (
        (None, None, None) if stats is None else (stats.mean, stats.ci_low, stats.ci_high)
    )
    score = "n/a" if mean is None else f"{mean:.3f}"
    if low is not None and high is not None:
        score += f" [{low:.3f}, {high:.3f}]"
    role = "champion" if family == champion else f"not the champion ({champion} is)"
    return (
        f"{family} for {data.name} ({data.task}, n = {len(data.y)}): cross-validated "
        f"{primary} {score}; {role}."
    )
