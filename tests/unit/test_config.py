"""Every config in conf/ composes, validates and builds; params.yaml never drifts from conf/."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from lbp_outcomes.config import compose, group_options, validate_params
from lbp_outcomes.errors import UserError
from lbp_outcomes.models.families import check_family

GROUPS = ["data", "model", "tuning", "executor"]


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


def test_default_trains_every_family_and_their_ensemble():
    params = validate_params(compose([], root=REPO))
    fitted = {"random_forest", "xgboost", "lightgbm", "catboost", "mlp", "linear"}
    assert list(params.model)[-1] == "ensemble" and set(params.model) == fitted | {"ensemble"}


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
        # out-of-range values: seeds must fit NumPy/scikit-learn (0 .. 2**32-1), every fold
        # count must leave each fold at least 2 patients (the synthetic n is known here)
        (["seed=-1"], "params.yaml: seed: Input should be greater than or equal to 0"),
        (["seed=4294967296"], "seed: Input should be less than or equal to 4294967295"),
        (["seed=99999999999999999999999"], "seed: Input should be less than or equal to"),
        (["seed=abc"], "params.yaml: seed: Input should be a valid integer"),
        (["seed=4294967000"], "seed 4294967000 + seed_offset 1000 is outside"),
        (["data.source.synthetic.external.seed_offset=-100"], "seed_offset -100 is outside"),
        (["cv.folds=1"], "cv.folds: Input should be greater than or equal to 2"),
        (["cv.folds=216"], "cv.folds=216 is too many for data.source.synthetic.n=431 patients"),
        (["cv.repeats=0"], "cv.repeats: Input should be greater than or equal to 1"),
        (["tuning.inner_folds=1"], "tuning.inner_folds: Input should be greater than or equal"),
        (["tuning.inner_folds=200"], "tuning.inner_folds=200 is too many for"),
        (["conformal.folds=500"], "conformal.folds=500 is too many for"),
        (["executor.n_jobs=0"], "executor.n_jobs: Input should be greater than or equal to 1"),
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


def _param_paths() -> list[str]:
    """Every parameter path dvc.yaml lists for a stage (e.g. ``data.site_column``)."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return sorted({p for stage in stages.values() for p in stage.get("params", [])})


@pytest.mark.parametrize("data", group_options("data", REPO))
def test_every_parameter_dvc_tracks_exists_for_every_data_config(data):
    """DVC stops with "Parameters ... are missing from 'params.yaml'" when a stage lists a
    key the composed params lack, e.g. `site_column` or `mcic` of a cohort without them."""
    params = compose([f"data={data}"], root=REPO)
    for path in _param_paths():
        node = params
        for key in path.split("."):
            assert isinstance(node, dict) and key in node, f"data={data}: no {path!r}"
            node = node[key]


@pytest.mark.parametrize(
    "override,fragment",
    [
        ("cv.folds=abc", "cv.folds: Input should be a valid integer"),
        ("cv.foldz=3", "Could not override 'cv.foldz'"),
        ("+tuning.n_trialz=3", "tuning.n_trialz: unknown key"),
        ("data=example_trail", "Could not find 'data/example_trail'"),
        (
            "+data.mcic.x={baseline:nope,outcome:nope,min_improvement:1,direction:decrease}",
            "'nope'",
        ),
        ("model.xgboost.params.max_depth=-3", "conf/model/xgboost.yaml"),
        ("+model.random_forest.params.n_trees=5", "has no hyperparameter 'n_trees'"),
        ("seed=-1", "seed: Input should be greater than or equal to 0"),
        ("cv.folds=500", "cv.folds=500 is too many"),
    ],
)
def test_compose_rejects_bad_overrides_before_writing(tmp_path, capsys, override, fragment):
    """`lbp-outcomes compose` with a bad override: one line, exit 2, params.yaml untouched."""
    import shutil

    from lbp_outcomes.cli import main

    root = tmp_path / "repo"
    shutil.copytree(REPO / "conf", root / "conf")
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    before = (root / "params.yaml").read_bytes()
    assert main(["-C", str(root), "compose", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err
    assert (root / "params.yaml").read_bytes() == before
