"""Executors: Dask fan-out runs on the workers, in task order, with the same metrics as
local; the LocalCluster stays on loopback; a bad scheduler address fails fast; distributed
boosting trains across the workers and leaves plain in-memory boosters."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import joblib
import numpy as np
import pytest
import yaml

from conftest import REPO, Project, pipeline_params, small_config, toy_cohort, write_params
from lbp_outcomes.cli import main
from lbp_outcomes.config import ExecutorConfig

FAST = ["cv.folds=3", "cv.repeats=1", "tuning=none"]


@pytest.fixture(scope="module")
def cluster():
    """A 2-worker LocalCluster shared by this module's tests (start-up paid once)."""
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    ) as local:
        yield local


@pytest.fixture
def client(cluster):
    from dask.distributed import Client

    with Client(cluster) as c, c.as_current():
        yield c


def on_cluster(cluster, **dask) -> ExecutorConfig:
    return ExecutorConfig(kind="dask", dask={"address": cluster.scheduler_address, **dask})


def where(index: int, delay: float, payload) -> tuple[int, str, int, int]:
    """(index, worker name, process id, payload size) after sleeping ``delay`` seconds."""
    from dask.distributed import get_worker

    time.sleep(delay)
    return index, str(get_worker().name), os.getpid(), len(payload)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- fan-out ---------------------------------------------------------------------------------
def test_tasks_run_on_the_workers_and_results_come_back_in_task_order(cluster):
    from lbp_outcomes.executor import Executor

    payload = np.zeros(50_000)  # shared by every task: scattered once, not per task
    n = 8
    # Earlier tasks sleep longer, so they finish after later ones.
    calls = [(i, 0.05 * (n - i), payload) for i in range(n)]
    with Executor(on_cluster(cluster)) as executor:
        assert executor.n_workers == 2
        results = executor.map(where, calls, progress=False)
    assert [r[0] for r in results] == list(range(n))
    assert {r[1] for r in results} == {"0", "1"}, "both workers take tasks"
    assert os.getpid() not in {r[2] for r in results}, "tasks ran in the driver"
    assert {r[3] for r in results} == {len(payload)}


def _after(signal: str, index: int, delay: float) -> tuple[int, int]:
    """Wait until the file ``signal`` exists (the caller creates it after start()
    returned), then ``delay`` seconds; (index, this process's id)."""
    deadline = time.monotonic() + 60
    while not os.path.exists(signal):
        if time.monotonic() > deadline:
            raise TimeoutError("start() did not return before its tasks ran")
        time.sleep(0.01)
    time.sleep(delay)
    return index, os.getpid()


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_started_tasks_run_while_the_caller_works_and_come_back_in_order(n_jobs, tmp_path):
    """Executor.start: the pool computes while the stage does its own work (train saves its
    models while the figures are drawn); results in task order, errors at collection."""
    from lbp_outcomes.executor import Executor, apply

    signal = str(tmp_path / "go")
    n = 6
    calls = [(signal, i, 0.05 * (n - i)) for i in range(n)]  # earlier tasks finish later
    with Executor(ExecutorConfig(kind="local", n_jobs=n_jobs)) as executor:
        pending = executor.start(_after, calls)
        Path(signal).touch()  # the tasks wait for this: start() must have returned
        results = pending()
        mixed = executor.start(apply, [(divmod, (7, 2)), (_after, (signal, 9, 0.0))])()
        failing = executor.start(divmod, [(1, 1), (1, 0)])
        with pytest.raises(ZeroDivisionError):
            failing()
    assert [r[0] for r in results] == list(range(n))
    assert mixed[0] == (3, 1) and mixed[1][0] == 9
    pids = {r[1] for r in results}
    if n_jobs == 1:
        assert pids == {os.getpid()}, "n_jobs 1: in this process, when collected"
    else:
        assert os.getpid() not in pids, "the pool's processes ran them"


def test_shared_arguments_are_scattered_once(client):
    from lbp_outcomes.executor import _scatter_shared

    big, once = np.ones(1000), np.ones(1000)
    futures = _scatter_shared(client, [(1, big, once, "x"), (2, big, [1, 2], "x")])
    assert set(futures) == {id(big)}  # not the single-use array, scalars or containers
    assert np.array_equal(futures[id(big)].result(), big)


def test_task_error_propagates_with_its_type(cluster):
    from lbp_outcomes.executor import Executor

    with Executor(on_cluster(cluster)) as executor, pytest.raises(ZeroDivisionError):
        executor.map(divmod, [(1, 1), (1, 0)], progress=False)


def test_workers_with_other_library_versions_are_refused():
    """Metrics must not depend on which worker ran a task: a worker with another
    scikit-learn (or any model library) is an error before any task runs."""
    from lbp_outcomes.errors import UserError
    from lbp_outcomes.executor import _check_workers, _versions

    class Client:
        def __init__(self, versions):
            self.versions = versions

        def run(self, fn):
            return {"tcp://10.0.0.7:40000": self.versions}

    cfg = ExecutorConfig(kind="dask", dask={"address": "tcp://10.0.0.5:8786"})
    _check_workers(Client(_versions()), cfg)
    with pytest.raises(UserError, match="worker tcp://10.0.0.7:40000 runs sklearn 0.1"):
        _check_workers(Client({**_versions(), "sklearn": "0.1"}), cfg)


def test_local_cluster_listens_on_loopback_only_and_has_no_dashboard():
    import psutil

    from lbp_outcomes.executor import dask_client

    with dask_client(ExecutorConfig(kind="dask", dask={"n_workers": 2})) as c:
        pids = [os.getpid(), *c.run(os.getpid).values()]
        listening = {
            (conn.laddr.ip, pid)
            for pid in pids
            for conn in psutil.Process(pid).net_connections("inet")
            if conn.status == psutil.CONN_LISTEN
        }
        http = c.scheduler_info()["services"]["dashboard"]
        assert http != 8787, "the scheduler's HTTP endpoint takes a free port, not 8787"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/status", timeout=10)
        assert missing.value.code == 404, "the dashboard is off"
    assert len(pids) == 3 and listening
    assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening


def test_bad_scheduler_address_fails_fast_in_one_line_and_leaves_no_run(project, capsys):
    from test_faults import runs

    project.root.joinpath("data/source").mkdir(parents=True)
    toy_cohort(n=60).to_csv(project.root / "data/source/small.csv", index=False)
    params = pipeline_params(small_config(), [*FAST, "model=linear"], tracking=True)
    address = f"tcp://127.0.0.1:{closed_port()}"
    params["executor"] = {"kind": "dask", "dask": {"address": address, "connect_timeout": 1}}
    write_params(project, params)
    for stage in ("cohort", "clean", "features"):
        assert main(["-C", str(project.root), stage]) == 0
    capsys.readouterr()
    started = time.perf_counter()
    assert main(["-C", str(project.root), "train"]) == 2
    assert time.perf_counter() - started < 15
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: executor.dask.address={address}: cannot connect")
    assert "\n" not in err
    assert not any(r.info.status == "RUNNING" for r in runs(project))
    assert not project.exists("models") and not project.exists("reports/metrics/cv.json")


# -- same numbers --------------------------------------------------------------------------
def train(project: Project, executor: dict, overrides=FAST, frame=None) -> dict:
    project.root.joinpath("data/source").mkdir(parents=True, exist_ok=True)
    (toy_cohort() if frame is None else frame).to_csv(
        project.root / "data/source/small.csv", index=False
    )
    params = pipeline_params(small_config(), overrides)
    params["executor"] = executor
    write_params(project, params)
    for stage in ("cohort", "clean", "features", "train"):
        assert main(["-C", str(project.root), stage]) == 0, stage
    return json.loads((project.root / "reports/metrics/cv.json").read_text())


def test_same_seed_gives_identical_cv_metrics_on_local_and_dask(tmp_path, cluster):
    """A 2-worker cluster against in-process execution: every metric, byte for byte.

    The families: the boosters (they have Dask counterparts) and linear, fitted on the
    workers, and the ensemble, assembled in the driver from what comes back. Each family's
    own run-to-run determinism (all seven) is test_train.py's second-run test: here the
    point is the executor (seeds by task, results in task order)."""
    local = Project(tmp_path / "local")
    dask = Project(tmp_path / "dask")
    frame = toy_cohort(n=80, seed=4)
    # no intervals keep this in the fast suite
    families = "model=[linear,xgboost,lightgbm,ensemble]"
    quick = [*FAST, families, "conformal.enabled=false"]
    train(local, {"kind": "local", "n_jobs": 1}, quick, frame)
    train(dask, {"kind": "dask", "dask": {"address": cluster.scheduler_address}}, quick, frame)
    for rel in ("reports/metrics/cv.json", "reports/cv/folds.csv", "models/manifest.json"):
        assert (local.root / rel).read_bytes() == (dask.root / rel).read_bytes(), rel


# -- distributed boosting ------------------------------------------------------------------
def booster(library: str, task: str):
    import lightgbm
    import xgboost

    if library == "xgboost":
        cls = xgboost.XGBClassifier if task == "binary" else xgboost.XGBRegressor
        return cls(n_estimators=60, max_depth=3, learning_rate=0.1, n_jobs=1, random_state=3)
    cls = lightgbm.LGBMClassifier if task == "binary" else lightgbm.LGBMRegressor
    return cls(
        n_estimators=60, num_leaves=7, learning_rate=0.1, n_jobs=1, random_state=3, verbose=-1
    )


def data(task: str, n: int = 800):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    X[rng.random(X.shape) < 0.05] = np.nan  # boosters split on missing values
    signal = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) ** 2
    y = signal + rng.normal(0, 0.5, n)
    return X, ((y > np.median(y)).astype(float) if task == "binary" else y)


def output(model, X, task):
    return model.predict_proba(X)[:, 1] if task == "binary" else model.predict(X)


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
@pytest.mark.parametrize("task", ["regression", "binary"])
def test_distributed_booster_trains_on_the_workers_predicts_and_round_trips(client, library, task):
    from dask.distributed import get_task_stream
    from sklearn.base import clone

    from lbp_outcomes.models.distributed import wrap

    X, y = data(task)
    model = wrap(booster(library, task), task)
    assert clone(model).get_params()["estimator__random_state"] == 3
    with get_task_stream(client) as stream:
        model.fit(X, y)
    # the per-worker training tasks: xgboost.dask's `fn`, lightgbm.dask's `_train_part`
    training = [t for t in stream.data if str(t["key"]).startswith(("fn-", "_train_part-"))]
    workers = {t["worker"] for t in training}
    assert len(workers) == 2, "the booster trained across both workers"
    assert type(model.estimator_) is type(booster(library, task)), "a plain in-memory booster"
    assert model.estimator_.get_params()["n_jobs"] == 1

    predicted = output(model, X, task)
    in_memory = output(clone(booster(library, task)).fit(X, y), X, task)
    assert predicted.shape == (len(y),)
    assert np.corrcoef(predicted, in_memory)[0, 1] > 0.95, "the same model, up to binning"

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    assert np.array_equal(output(joblib.load(buffer), X, task), predicted)


def test_distributed_fit_needs_a_client_from_the_driver():
    from lbp_outcomes.models.distributed import wrap

    X, y = data("regression", 50)
    with pytest.raises(RuntimeError, match="needs an active dask.distributed Client"):
        wrap(booster("xgboost", "regression"), "regression").fit(X, y)
    with pytest.raises(ValueError, match="no Dask counterpart"):
        from sklearn.linear_model import Ridge

        wrap(Ridge(), "regression")


def test_big_cohort_boosters_distribute_only_on_a_cluster_address(capsys):
    """Which tasks train across the cluster: XGBoost/LightGBM of targets at or above the
    threshold, and only when the executor is a cluster at an address."""
    from lbp_outcomes.config import validate_params
    from lbp_outcomes.cv import TargetData
    from lbp_outcomes.models.preprocess import FeatureSpec
    from lbp_outcomes.train import cv_calls

    raw = pipeline_params(small_config(), FAST)
    raw["executor"] = {"kind": "dask", "dask": {"distributed_min_rows": 30}}
    params = validate_params(raw)
    spec = FeatureSpec.from_config(params.data)
    frame = toy_cohort(n=40)[spec.columns]
    big = TargetData("pain_post", "regression", frame, np.zeros(40))
    small = TargetData("responder", "binary", frame.iloc[:20], np.arange(20) % 2.0)

    class Stub:
        def __init__(self, distributes: bool) -> None:
            self.distributes_boosting = distributes

    families = list(params.model)
    spread = cv_calls(params, Stub(True), spec, families, [big, small])
    distributed = {(c[0].target, c[0].family) for c in spread if c[0].distributed}
    assert distributed == {("pain_post", "xgboost"), ("pain_post", "lightgbm")}
    assert all(c[0].threads == 1 for c in spread)
    capsys.readouterr()
    kept = cv_calls(params, Stub(False), spec, families, [big, small])
    assert not any(c[0].distributed for c in kept)
    assert "needs a cluster at executor.dask.address" in capsys.readouterr().out


@pytest.mark.slow  # ~30 s: a dozen distributed fits, one after another
def test_train_stage_with_distributed_boosting_saves_plain_models(tmp_path, cluster):
    """A cohort above a (lowered) threshold on a cluster at an address: boosters train
    across the workers, the saved pipelines hold plain boosters, metrics stay close to
    in-memory training."""
    import lightgbm
    import xgboost

    overrides = ["cv.folds=2", "cv.repeats=1", "tuning=none", "model=[xgboost,lightgbm]"]
    dask = {"address": cluster.scheduler_address, "distributed_min_rows": 50}
    spread = Project(tmp_path / "spread")
    cv = train(spread, {"kind": "dask", "dask": dask}, overrides)
    local = train(Project(tmp_path / "local"), {"kind": "local", "n_jobs": 1}, overrides)
    manifest = json.loads((spread.root / "models/manifest.json").read_text())
    for target, metric in (("pain_post", "r2"), ("responder", "auroc")):
        for family, cls in (("xgboost", xgboost.XGBModel), ("lightgbm", lightgbm.LGBMModel)):
            assert manifest["targets"][target]["families"][family]["distributed"]
            saved = joblib.load(spread.root / "models" / target / f"{family}.joblib")
            assert isinstance(saved[-1], cls), type(saved[-1])
            difference = cv[target][family][metric]["mean"] - local[target][family][metric]["mean"]
            assert abs(difference) < 0.1, (target, family, difference)
    assert (spread.root / "models/pain_post/conformal.skops").is_file()


# -- benchmark hook ------------------------------------------------------------------------
def test_time_cv_reports_workers_tasks_and_seconds(tmp_path, capsys):
    project = Project(tmp_path / "bench")
    shutil.rmtree(project.root / "conf")
    shutil.copytree(REPO / "conf", project.root / "conf")
    (project.root / "conf/data/small.yaml").write_text(yaml.safe_dump(small_config()))
    overrides = ["data=small", *FAST, "model=linear"]
    train(project, {"kind": "local", "n_jobs": 1}, [*FAST, "model=linear"])
    capsys.readouterr()
    args = [*overrides, "executor=dask", "executor.dask.n_workers=1"]
    assert main(["-C", str(project.root), "time-cv", *args]) == 0
    timing = json.loads(capsys.readouterr().out)
    assert timing["executor"] == "dask" and timing["workers"] == 1
    assert timing["tasks"] == 2 * (3 + 1)  # 2 targets x (3 folds + final refit) x 1 family
    assert timing["cv_seconds"] > 0 and timing["startup_seconds"] > 0


@pytest.mark.parametrize(
    "dask,expected",
    [
        ({"address": "tcp://10.0.0.5:8786"}, True),
        ({}, False),  # LocalCluster: boosters stay in memory, workers stay on loopback
        ({"local_distributed_boosting": True}, True),  # ...unless the user opts in
    ],
)
def test_distributed_boosting_needs_a_real_cluster_or_an_explicit_opt_in(dask, expected):
    from lbp_outcomes.executor import Executor

    executor = Executor(ExecutorConfig(kind="dask", dask=dask))
    assert executor.distributes_boosting is False  # no client yet: nothing to distribute on
    executor.client = object()  # as inside `with Executor(...)`
    assert executor.distributes_boosting is expected
