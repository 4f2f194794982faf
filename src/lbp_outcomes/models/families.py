"""Model family name -> scikit-learn Pipeline (preprocessing + estimator).

A family is pure configuration (conf/model/<name>.yaml, validated as
:class:`lbp_outcomes.config.FamilyConfig`): the estimator class per task as a Hydra
``_target_``, fixed hyperparameters, a search space, and which constructor arguments take
the seed and the thread count. Every family therefore goes through the same code for
cross-validation, tuning, logging, saving and explanation.
"""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline

from lbp_outcomes.config import FamilyConfig
from lbp_outcomes.models.preprocess import FeatureSpec, make_preprocessor

ENSEMBLE = "lbp_outcomes.models.ensemble."  # estimator paths of the ensemble family


def estimator_kwargs(
    family: FamilyConfig, task: str, seed: int, threads: int = 1, overrides: dict | None = None
) -> tuple[str, dict[str, Any]]:
    """The estimator's import path and constructor arguments for one fit."""
    spec = dict(getattr(family, task))
    target = spec.pop("_target_")
    kwargs = {**spec, **family.params, **(overrides or {})}
    if family.seed_param:
        kwargs[family.seed_param] = seed
    if family.threads_param:
        kwargs[family.threads_param] = threads
    if isinstance(kwargs.get("hidden_layer_sizes"), list):
        kwargs["hidden_layer_sizes"] = tuple(kwargs["hidden_layer_sizes"])
    return target, kwargs


def make_estimator(
    family: FamilyConfig,
    task: str,
    seed: int,
    threads: int = 1,
    overrides: dict | None = None,
    distributed: bool = False,
):
    """The unfitted estimator; ``distributed=True`` wraps it to train across the active
    Dask cluster (:mod:`lbp_outcomes.models.distributed`, XGBoost and LightGBM only)."""
    from hydra.utils import get_class

    target, kwargs = estimator_kwargs(family, task, seed, threads, overrides)
    estimator = get_class(target)(**kwargs)
    if distributed:
        from lbp_outcomes.models.distributed import wrap

        return wrap(estimator, task)
    return estimator


def can_distribute(family: FamilyConfig, task: str) -> bool:
    """Whether the family's estimator for ``task`` has a Dask counterpart (XGBoost and
    LightGBM), so it can train across a cluster on a big cohort."""
    from hydra.utils import get_class

    from lbp_outcomes.models.distributed import supports

    target, _ = estimator_kwargs(family, task, seed=0)
    return supports(get_class(target))


def make_pipeline(
    family: FamilyConfig,
    task: str,
    spec: FeatureSpec,
    seed: int,
    threads: int = 1,
    overrides: dict | None = None,
    distributed: bool = False,
) -> Pipeline:
    """An unfitted Pipeline([("prep", ColumnTransformer), ("model", estimator)]).

    ``threads``: the estimator's thread count (per worker when ``distributed``).
    """
    return Pipeline(
        [
            ("prep", make_preprocessor(family.preprocessing, spec)),
            ("model", make_estimator(family, task, seed, threads, overrides, distributed)),
        ]
    )


def predict(pipeline: Pipeline, X, task: str):
    """Point predictions (regression) or P(outcome = 1) (binary), shape (n_patients,).

    Probabilities are clipped to [PROB_EPS, 1 - PROB_EPS] (never exactly 0 or 1; see
    :mod:`lbp_outcomes.models.calibrated`)."""
    if task == "binary":
        from lbp_outcomes.models.calibrated import clip

        return clip(pipeline.predict_proba(X)[:, 1])
    return pipeline.predict(X)


def _known_params(cls) -> set[str]:
    import inspect

    known = set(cls().get_params())
    # CatBoost's get_params lists only the parameters that were set: read the signature.
    signature = inspect.signature(cls.__init__).parameters.values()
    known |= {p.name for p in signature if p.kind is p.POSITIONAL_OR_KEYWORD} - {"self"}
    if cls.__module__.startswith("lightgbm"):
        # LightGBM passes any booster parameter through **kwargs; ask the library which
        # names (and aliases) it knows, so a typo is still caught.
        try:
            from lightgbm.basic import _ConfigAliases

            if _ConfigAliases.aliases is None:
                _ConfigAliases.aliases = _ConfigAliases._get_all_param_aliases()
            known |= {alias for names in _ConfigAliases.aliases.values() for alias in names}
        except Exception:  # private API: if it moves, fall back to the sklearn names
            pass
    return known


def check_family(name: str, family: FamilyConfig, task: str) -> None:
    """Fail fast on a family whose estimator cannot be built or rejects its parameters:
    import the class, check every parameter and search-space name, and fit 40 made-up
    rows. Raises UserError naming conf/model/<name>.yaml."""
    import warnings

    import numpy as np
    from hydra.utils import get_class

    from lbp_outcomes.errors import UserError, did_you_mean

    where = f"conf/model/{name}.yaml ({task})"
    target, kwargs = estimator_kwargs(family, task, seed=0)
    try:
        cls = get_class(target)
    except Exception as exc:
        raise UserError(f"{where}: cannot import estimator {target!r}: {exc}") from None
    known = _known_params(cls)
    names = list(kwargs) + [f"{p}" for p in family.space(task)]
    for param in names:
        if param not in known:
            raise UserError(
                f"{where}: {target} has no hyperparameter {param!r}{did_you_mean(param, known)}"
            )
    # the ensemble family (models/ensemble.py, which imports this module: checked by name)
    if str((family.regression or {}).get("_target_", "")).startswith(ENSEMBLE):
        return  # its members are the other families, each checked on its own
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(float) if task == "binary" else X[:, 0] + rng.normal(size=40)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls(**kwargs).fit(X, y)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{where}: {target} rejects its parameters: {message}") from None
