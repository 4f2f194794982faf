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

    def params(self, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
        params = {
            "seed": 7,
            "data": copy.deepcopy(data),
            "tracking": {"enabled": False, "experiment": f"test/{data['name']}"},
            **extra,
        }
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
