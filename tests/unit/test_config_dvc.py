"""A mistake in a data config is reported by the project, naming the YAML file and key, also
under `dvc exp run`, where DVC composes conf/ itself and checks every parameter dvc.yaml
lists before any stage runs (issue 10 item 4)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from conftest import REPO
from lbp_outcomes.config import compose, validate_params
from lbp_outcomes.errors import UserError


def _dvc_data_keys() -> list[str]:
    """Every `data...` parameter some stage in dvc.yaml lists."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    listed = {p for stage in stages.values() for p in stage.get("params", [])}
    return sorted(p for p in listed if p == "data" or p.startswith("data."))


def _conf_with(tmp_path, name: str, text: str):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "conf", root / "conf")
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    (root / "conf" / "data" / f"{name}.yaml").write_text(text)
    return root


def test_a_bare_data_config_still_has_every_key_dvc_checks(tmp_path):
    """DVC stops with "Parameters 'data.x' are missing from 'params.yaml'" for any listed
    key the composed params lack; conf/config.yaml must provide each one."""
    root = _conf_with(tmp_path, "bare", "name: bare\n")
    params = compose(["data=bare"], root=root)
    for path in _dvc_data_keys():
        node = params
        for key in path.split("."):
            assert isinstance(node, dict) and key in node, f"no {path!r} for a bare config"
            node = node[key]
    with pytest.raises(UserError) as err:
        validate_params(params)
    message = str(err.value)
    assert message.startswith("data config conf/data/bare.yaml: ")
    assert "source: Field required" in message and "features: Field required" in message


def test_a_data_config_without_a_name_is_named_by_its_group(tmp_path):
    root = _conf_with(tmp_path, "anon", "features: {a: {type: numeric}}\n")
    with pytest.raises(UserError) as err:
        validate_params(compose(["data=anon"], root=root))
    assert "the conf/data/ file given as data=" in str(err.value)
    assert "name: Field required" in str(err.value)
