"""Every config in conf/ composes, validates and builds; params.yaml never drifts from conf/."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from lbp_outcomes.config import compose, group_options, validate_params
from lbp_outcomes.errors import UserError
from lbp_outcomes.models.families import check_family

GROUPS = [
    "data",
    "model",
    "cv",
    "tuning",
    "conformal",
    "external",
    "explain",
    "report",
    "executor",
    "tracking",
]


def test_params_yaml_equals_composed_conf():
    """`dvc repro` reads params.yaml without composing (treeverse/dvc#10750), so the
    committed params.yaml must be exactly what conf/ composes to."""
    committed = yaml.safe_load((REPO / "params.yaml").read_text())
    assert committed == compose([], root=REPO), (
        "params.yaml differs from conf/: run `lbp-outcomes compose` and commit params.yaml"
    )


@pytest.mark.parametrize(
    "group,option",
    [(g, o) for g in GROUPS for o in group_options(g, REPO)],
)
def test_every_config_option_composes_and_validates(group, option):
    params = validate_params(compose([f"{group}={option}"], root=REPO))
    assert params is not None


@pytest.mark.parametrize("family", [o for o in group_options("model", REPO) if o != "all"])
@pytest.mark.parametrize("task", ["regression", "binary"])
def test_every_family_instantiates_and_fits(family, task):
    params = validate_params(compose([f"model={family}"], root=REPO))
    check_family(family, params.model[family], task)


def test_default_trains_all_five_families():
    params = validate_params(compose([], root=REPO))
    assert set(params.model) == {"random_forest", "xgboost", "lightgbm", "mlp", "linear"}


@pytest.mark.parametrize(
    "override,fragment",
    [
        (["cv.folds=abc"], "cv.folds: Input should be a valid integer"),
        (["cv.foldz=3"], "Could not override 'cv.foldz'"),
        (["+cv.foldz=3"], "cv.foldz: unknown key"),
        (["model=xgbost"], "Could not find 'model/xgbost'"),
        (["tuning.n_trials=0"], "n_trials < 1"),
        (["model.xgboost.search_space.max_depth.low=9"], "search_space.max_depth"),
        (["+data.features.age.rnage=[1,2]"], "features.age.rnage: unknown key"),
    ],
)
def test_bad_overrides_fail_with_one_line(override, fragment):
    with pytest.raises(UserError) as err:
        validate_params(compose(override, root=REPO))
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "override,fragment",
    [
        (
            "+model.xgboost.params.max_depthh=3",
            "no hyperparameter 'max_depthh' (did you mean 'max_depth'?)",
        ),
        ("model.xgboost.params.max_depth=-2", "rejects its parameters"),
        ("+model.lightgbm.params.num_leafs=4", "no hyperparameter 'num_leafs'"),
        ("model.random_forest.params.max_features=7.5", "rejects its parameters"),
        ("model.mlp.regression._target_=sklearn.neural_network.MLPRegresor", "cannot import"),
    ],
)
def test_invalid_hyperparameters_are_caught_before_training(override, fragment):
    params = validate_params(compose([override], root=REPO))
    with pytest.raises(UserError) as err:
        for name, family in params.model.items():
            check_family(name, family, "regression")
    assert fragment in str(err.value)
