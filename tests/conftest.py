"""Shared fixtures: throw-away project folders with a params.yaml and source files."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

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
