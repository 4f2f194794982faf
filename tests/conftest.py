"""Shared fixtures: throw-away project folders with a params.yaml and source files, and
the test tiers (each test's tier is the folder it lives in)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from lbp_outcomes import lifecycle  # standard library only

# As every stage does, before numpy loads (OpenBLAS reads its settings then): tests that run
# stages in this process must compute with the same BLAS kernels as the processes they start
# (Dask workers, loky workers, `dvc repro`), or results differ in the last bit on a CPU whose
# own kernels are not the pinned ones (seen: local vs Dask, ensemble calibration slope
# 1.0039367792235194 vs ...196 on an Intel AVX-512 machine).
lifecycle.configure_environment()

import pytest  # noqa: E402
import yaml  # noqa: E402

from lbp_outcomes import devtools  # noqa: E402

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
TIERS = ("unit", "integration", "e2e")
# What `pytest` runs when given neither paths nor -m (CI): every unit and integration test
# and the one end-to-end smoke run.
DEFAULT_TIERS = "unit or integration or smoke"


def pytest_configure(config: pytest.Config) -> None:
    """Without paths or -m, select the default tiers. Done here, not at collection, because
    pytest-xdist hands the options (not the "no paths given" fact) to its workers."""
    if not config.option.markexpr and config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        config.option.markexpr = DEFAULT_TIERS


@pytest.hookimpl(tryfirst=True)  # before pytest applies -m
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its folder's tier; select the tiers to run.

    Without paths or -m, the default tiers run (see pytest_configure). `slow` tests (full-size runs) run only when
    the -m expression names them (`-m slow`, `-m "e2e or slow"`), even inside a tier.
    """
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(
                f"{item.path.relative_to(REPO)}: a test lives in the folder of its tier, "
                f"tests/{{{','.join(TIERS)}}}/ (see README, Tests)"
            )
        item.add_marker(tier)
    if "slow" not in config.option.markexpr:
        slow = [item for item in items if item.get_closest_marker("slow")]
        if slow:
            config.hook.pytest_deselected(items=slow)
            items[:] = [item for item in items if not item.get_closest_marker("slow")]
    items.sort(key=lambda item: _pole_rank(item.path.relative_to(TESTS).as_posix()))


# The longest test files (their module fixtures included), longest first, from a
# `--durations=0` run. `tasks.py test` hands whole files to its two xdist workers in
# collection order: starting the long poles first lets the many short files fill the gaps,
# instead of the smoke run starting last while the other worker idles. Other files follow
# in their usual order. Update when the slowest-tests list in a CI log changes a lot.
LONG_POLES = (
    "e2e/test_smoke.py",
    "integration/test_train.py",
    "integration/test_executor.py",
    "integration/test_report.py",
    "integration/test_explain.py",
    "integration/test_train_controls.py",
    "integration/test_ensemble.py",
    "integration/test_external.py",
    "integration/test_predict.py",
    "integration/test_tracking.py",
)


def _pole_rank(path: str) -> int:
    return LONG_POLES.index(path) if path in LONG_POLES else len(LONG_POLES)


CSV = """pid,site,age,bmi,sex,grade,pain_post,responder
p01,A,30,22.5,F,mild,3.5,yes
p02,A,45,,M,severe,4,no
p03,B,33,30,M,mild,5,yes
p04,B,50,28,M,moderate,,
p05,A,61,31,F,mild,7,no
p06,A,38,24,F,moderate,2,yes
p07,B,52,27.5,M,severe,6,no
p08,A,29,21,F,mild,3,yes
p09,A,44,26,M,moderate,4.5,no
p10,B,57,33,F,severe,6.5,no
"""


def small_config(**changes: Any) -> dict[str, Any]:
    """A small bring-your-own-cohort data config matching :data:`CSV`."""
    cfg = {
        "name": "small",
        "source": {"development": "data/source/small.csv"},
        "id_column": "pid",
        "site_column": "site",
        "features": {
            "age": {"type": "numeric", "range": [18, 90], "integer": True},
            "bmi": {"type": "numeric", "range": [12, 60]},
            "sex": {"type": "categorical", "values": ["F", "M"]},
            "grade": {"type": "ordinal", "values": ["mild", "moderate", "severe"]},
        },
        "targets": {
            "pain_post": {"kind": "regression", "range": [0, 10]},
            "responder": {"kind": "binary", "values": ["no", "yes"], "positive": "yes"},
        },
    }
    for dotted, value in changes.items():
        node = cfg
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return cfg


class Project:
    """A minimal lbp-outcomes project folder (enough for stage entry points)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "conf").mkdir(parents=True)
        (root / "conf" / "config.yaml").write_text("defaults: []\n")
        (root / "dvc.yaml").write_text("stages: {}\n")

    def params(self, data: dict[str, Any], overrides: list[str] | None = None) -> dict[str, Any]:
        """Write params.yaml: the repo's conf/ (with overrides) around this data config."""
        params = pipeline_params(data, overrides)
        (self.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        return params

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def exists(self, relpath: str) -> bool:
        return (self.root / relpath).exists()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")


def toy_cohort(n: int = 120, seed: int = 0, shuffle_targets: bool = False):
    """A small cohort for :func:`small_config` with real signal in both targets."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "pid": [f"P{seed}-{i:04d}" for i in range(n)],
            "site": rng.choice(["A", "B"], n),
            "age": rng.integers(20, 80, n),
            "bmi": rng.normal(26, 4, n).round(1).clip(13, 59),
            "sex": rng.choice(["F", "M"], n),
            "grade": rng.choice(["mild", "moderate", "severe"], n),
        }
    )
    severe = (frame["grade"] == "severe").to_numpy()
    pain = (
        4
        + 0.06 * (frame["age"] - 50)
        + 2.0 * severe
        + 0.8 * (frame["bmi"] > 28)
        + rng.normal(0, 0.7, n)
    )
    frame["pain_post"] = pain.clip(0, 10).round(1)
    logit = (frame["bmi"] - 26) / 2 - 1.5 * severe
    frame["responder"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    frame.loc[rng.choice(n, n // 10, replace=False), "bmi"] = np.nan  # missing features stay
    if shuffle_targets:
        for col in ("pain_post", "responder"):
            frame[col] = rng.permutation(frame[col].to_numpy())
    return frame


def pipeline_params(data: dict, overrides: list[str] | None = None, tracking: bool = False) -> dict:
    """Full params: the repo's composed conf/ with a test data config and tracking."""
    from lbp_outcomes.config import compose

    params = compose(overrides or [], root=REPO)
    params["data"] = copy.deepcopy(data)
    # Published results sit beside the data config (top-level `reference`), not in it.
    params["reference"] = params["data"].pop("reference", None)
    params["tracking"] = {
        "enabled": tracking,
        "experiment": f"test/{data['name']}",
        "uri": "sqlite:///mlruns/mlflow.db",
        "artifact_root": "mlruns/artifacts",
    }
    params["executor"] = {"kind": "local", "n_jobs": 1}
    return params


def write_params(project: Project, params: dict) -> None:
    (project.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


# -- the repository as a user has it: copies, DVC, the example cohorts -------------------------
# Small but complete settings for running the whole DVC pipeline in tests: every family,
# every stage, MLflow on; tuning off and few folds, bootstrap replicates and SHAP rows.
PIPELINE_FAST = [
    "tuning=none",
    "cv.folds=3",
    "cv.repeats=1",
    "conformal.folds=3",
    "external.n_boot=20",
    "external.membership_folds=3",
    "external.recalibration.repeats=5",
    "explain.max_rows=40",
    "explain.background_rows=20",
    # the effects stage (cohorts with a treatment block): fewer folds, trees, resamples
    "effects.folds=3",
    "effects.forest.n_estimators=40",
    "effects.n_boot=20",
]

COMMITTER = "lbp-outcomes tests"  # git identity of the commits tests make (DVC makes some)


def tool_env() -> dict[str, str]:
    """Environment for dvc/git/lbp-outcomes subprocesses: this interpreter's bin folder
    first on PATH, no telemetry, a fixed git identity (see :func:`devtools.tool_env`)."""
    return devtools.tool_env(Path(sys.executable).parent, COMMITTER)


def sh(root: Path, *cmd: str, check: bool = True, timeout: float = 900):
    """Run a command in ``root``; on failure the assertion shows its output."""
    import subprocess

    if cmd[0] == "dvc":
        cmd = (sys.executable, "-m", "dvc", *cmd[1:])
    done = subprocess.run(
        list(cmd), cwd=root, env=tool_env(), capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert done.returncode == 0, (
            f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done


def copy_repo(dest: Path) -> Path:
    """A fresh clone-like copy of this repository (its git files, committed or not) with a
    git history of one commit: what a user has after `git clone`."""
    return devtools.copy_repo(REPO, dest, COMMITTER, "copy of the repository under test")


class PipelineRun:
    """A repository copy after `dvc exp run -S data=<example>` (results committed)."""

    def __init__(self, root: Path, output: str) -> None:
        self.root = root
        self.output = output

    def json(self, rel: str) -> Any:
        import json

        return json.loads((self.root / rel).read_text())

    def text(self, rel: str) -> str:
        return (self.root / rel).read_text()

    def mlflow(self):
        import mlflow

        store = f"sqlite:///{self.root / 'mlruns/mlflow.db'}"
        return mlflow.MlflowClient(store, registry_uri=store)  # not a global set elsewhere


@pytest.fixture(scope="session")
def example_run(tmp_path_factory):
    """``example_run(name)``: the whole pipeline run once per session on an example data
    config, as a user runs it (`dvc exp run -S data=<name>` in a fresh repository copy)."""
    cache: dict[str, PipelineRun] = {}

    def run(name: str) -> PipelineRun:
        if name not in cache:
            root = copy_repo(tmp_path_factory.mktemp(name) / "repo")
            sets = [arg for o in [f"data={name}", *PIPELINE_FAST] for arg in ("-S", o)]
            done = sh(root, "dvc", "exp", "run", *sets)
            sh(root, "git", "add", "-A")
            sh(root, "git", "commit", "-q", "-m", f"results for {name}")
            cache[name] = PipelineRun(root, done.stdout + done.stderr)
        return cache[name]

    return run


# -- faults (tests/e2e/test_faults.py, tests/integration/test_faults_inprocess.py) ---------------
FAULT_OVERRIDES = [
    "cv.folds=3",
    "cv.repeats=2",
    "tuning.n_trials=3",
    "tuning.inner_folds=2",
    "model=[xgboost,linear]",
]


def fault_project(root: Path, overrides: list[str] = FAULT_OVERRIDES, n_jobs: int = 2) -> Project:
    """A toy project (150 patients, MLflow on) run up to the features stage, its MLflow
    store created up front, so a test's own reads never race a stage's first open."""
    from lbp_outcomes.cli import main
    from lbp_outcomes.config import load_params
    from lbp_outcomes.tracking import ensure_experiment

    project = Project(root)
    project.root.joinpath("data/source").mkdir(parents=True)
    toy_cohort(n=150, seed=21).to_csv(project.root / "data/source/small.csv", index=False)
    params = pipeline_params(small_config(), overrides, tracking=True)
    params["executor"]["n_jobs"] = n_jobs
    write_params(project, params)
    for stage in ("cohort", "clean", "features"):
        assert main(["-C", str(project.root), stage]) == 0
    ensure_experiment(load_params(project.root).tracking, project.root)
    return project


def store_runs(project: Project) -> list[Any]:
    """Every MLflow run in the project's store (none when there is no store yet)."""
    import mlflow

    db = project.root / "mlruns/mlflow.db"
    if not db.exists():
        return []
    client = mlflow.MlflowClient(f"sqlite:///{db}")
    experiments = client.search_experiments()
    return client.search_runs([e.experiment_id for e in experiments]) if experiments else []


# -- training (tests/integration/test_train.py, test_train_controls.py) ------------------------
TRAIN_FAST = ["cv.folds=3", "cv.repeats=1", "tuning.n_trials=2", "tuning.inner_folds=2"]
ALL_FAMILIES = {"random_forest", "xgboost", "lightgbm", "catboost", "mlp", "linear", "ensemble"}


def train_toy(project: Project, frame, overrides=TRAIN_FAST, tracking=False, data=None) -> dict:
    """cohort, clean, features and train in-process on ``frame``; the cv.json it wrote."""
    import json

    from lbp_outcomes.cli import main

    project.root.joinpath("data/source").mkdir(parents=True, exist_ok=True)
    frame.to_csv(project.root / "data/source/small.csv", index=False)
    write_params(project, pipeline_params(data or small_config(), overrides, tracking))
    for stage in ("cohort", "clean", "features", "train"):
        assert main(["-C", str(project.root), stage]) == 0, stage
    return json.loads((project.root / "reports/metrics/cv.json").read_text())
