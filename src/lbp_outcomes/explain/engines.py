"""Which SHAP explainer for which fitted model, and the exact ones: tree, linear, and a
weighted ensemble through its members (the model-agnostic one: :mod:`.permutation`)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes.config import FamilyConfig
from lbp_outcomes.explain.attribution import (
    BEFORE_RECALIBRATION,
    UNITS,
    Attribution,
    input_matrix,
    to_inputs,
)
from lbp_outcomes.explain.permutation import explain_by_permutation
from lbp_outcomes.models.calibrated import RecalibratedClassifier, base_estimator
from lbp_outcomes.models.preprocess import FeatureSpec


def explainer_kind(estimator: Any, family: FamilyConfig | None) -> str:
    """The explainer for a fitted estimator: "tree", "linear" or "permutation".

    Decided by the estimator's type (what the explainer actually needs), so models trained
    with a family that is no longer in params.model are still explained correctly. A family
    that declares tree preprocessing but whose type is not recognised gets "tree" too and
    falls back to "permutation" if shap cannot read it (see :func:`explain_pipeline`).
    """
    from lbp_outcomes.models.ensemble import is_ensemble

    if is_ensemble(estimator):
        return "ensemble"  # through its members: see _ensemble
    # A recalibrated binary model (conf/calibration/) is explained through its own model:
    # see :func:`explain_pipeline`.
    estimator = base_estimator(estimator)
    module = type(estimator).__module__
    tree_modules = (
        "xgboost",
        "lightgbm",
        "catboost",
        "sklearn.tree",
        "sklearn.ensemble._forest",
        "sklearn.ensemble._gb",
        "sklearn.ensemble._hist_gradient_boosting",
    )
    if module.startswith(tree_modules):
        return "tree"
    if module.startswith("sklearn.linear_model") and hasattr(estimator, "coef_"):
        return "linear"
    if family is not None and family.preprocessing == "trees":
        return "tree"
    return "permutation"


def explain_pipeline(
    pipeline: Any,
    X: pd.DataFrame,
    background: pd.DataFrame,
    task: str,
    spec: FeatureSpec,
    kind: str,
    seed: int,
    outcome_unit: str,
) -> Attribution:
    """SHAP values of a fitted Pipeline([prep, model]) for the rows of ``X``.

    ``background`` (n_background rows of the same columns) is the masker data of the
    linear and permutation explainers. ``outcome_unit`` names the unit of a regression
    target (binary units follow from the explainer).

    A recalibrated binary model (:class:`RecalibratedClassifier`) with a tree or linear
    model inside is explained on that model's own score (log-odds margin of a booster or a
    logistic model, vote fraction of a random forest) by the exact tree or linear explainer:
    the recalibration is one increasing function of that score, so it orders patients and
    signs every attribution the same way, and the probability is a monotone transform of
    the explained output. Permutation SHAP through the whole calibrated pipeline costs
    over 100 times more (random forest champions, 431 patients: 0.06-0.14 CPU-s by the tree
    path, 18-92 CPU-s by permutation; the explain stage took 176 s with it).
    """
    if kind in ("tree", "linear") and isinstance(pipeline[-1], RecalibratedClassifier):
        from sklearn.pipeline import Pipeline

        inner = explain_pipeline(
            Pipeline([*pipeline.steps[:-1], ("model", pipeline[-1].estimator_)]),
            *(X, background, task, spec, kind, seed, outcome_unit),
        )
        return replace(inner, unit=f"{inner.unit} {BEFORE_RECALIBRATION}")
    if kind == "tree":
        try:
            return _tree(pipeline, X, task, spec, outcome_unit)
        except Exception as exc:  # a model shap's tree code cannot read: explain it anyway
            print(f"warning: TreeExplainer failed ({type(exc).__name__}); using permutation")
    if kind == "linear":
        return _linear(pipeline, X, background, task, spec, outcome_unit)
    if kind == "ensemble":
        return _ensemble(pipeline, X, background, task, spec, seed, outcome_unit)
    return explain_by_permutation(pipeline, X, background, task, spec, seed, outcome_unit)


def _tree(
    pipeline: Any, X: pd.DataFrame, task: str, spec: FeatureSpec, outcome_unit: str
) -> Attribution:
    import shap

    prep, model = pipeline[0], pipeline[-1]
    encoded = prep.transform(X)
    with warnings.catch_warnings():
        # shap notes once that LightGBM binary output changed shape; handled below
        warnings.simplefilter("ignore", UserWarning)
        explainer = shap.TreeExplainer(model)
        values = explainer.shap_values(encoded)
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    if isinstance(values, list):  # older layout: one array per class
        values = values[-1]
    values = np.asarray(values, dtype=float)
    if values.ndim == 3:  # (n, columns, classes): keep the event class (or the only output)
        values = values[:, :, -1]
    unit = outcome_unit
    if task == "binary":
        unit = UNITS.get(getattr(explainer.model, "tree_output", None) or "", "model output")
    return Attribution(
        values=to_inputs(values, list(prep.get_feature_names_out()), spec),
        data=input_matrix(X, spec),
        base_value=float(base[-1]),
        kind="tree",
        unit=unit,
        n_background=None,
    )


def _ensemble(
    pipeline: Any,
    X: pd.DataFrame,
    background: pd.DataFrame,
    task: str,
    spec: FeatureSpec,
    seed: int,
    outcome_unit: str,
) -> Attribution:
    """SHAP values of a weighted ensemble (:mod:`lbp_outcomes.models.ensemble`): each member
    explained its own way, the values and base values weighted like the predictions (SHAP
    values are linear in the model, so the weighted sum explains the weighted mean). When
    the members' attributions are on different scales (a binary booster's log-odds beside a
    probability), the ensemble is explained as a whole by permutation instead."""
    model = pipeline[-1]
    parts = [
        (
            weight,
            explain_pipeline(
                member,
                X,
                background,
                task,
                spec,
                explainer_kind(member[-1], None),
                seed,
                outcome_unit,
            ),
        )
        for (_, member), weight in zip(model.members_, model.weights_, strict=True)
    ]
    units = {attribution.unit for _, attribution in parts}
    if len(units) > 1:
        return explain_by_permutation(pipeline, X, background, task, spec, seed, outcome_unit)
    sizes = [a.n_background for _, a in parts if a.n_background is not None]
    return Attribution(
        values=np.sum([w * a.values for w, a in parts], axis=0),
        data=parts[0][1].data,
        base_value=float(sum(w * a.base_value for w, a in parts)),
        kind="ensemble",
        unit=units.pop(),
        n_background=max(sizes) if sizes else None,
    )


def _linear(
    pipeline: Any,
    X: pd.DataFrame,
    background: pd.DataFrame,
    task: str,
    spec: FeatureSpec,
    outcome_unit: str,
) -> Attribution:
    import shap

    prep, model = pipeline[0], pipeline[-1]
    bg = prep.transform(background)
    explainer = shap.LinearExplainer(model, shap.maskers.Independent(bg, max_samples=len(bg)))
    values = np.asarray(explainer.shap_values(prep.transform(X)), dtype=float)
    if values.ndim == 3:
        values = values[:, :, -1]
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    # a linear classifier is explained on its decision function, which is the log-odds for
    # the logistic models a binary family uses (they need predict_proba)
    unit = outcome_unit if task == "regression" else "log-odds"
    return Attribution(
        values=to_inputs(values, list(prep.get_feature_names_out()), spec),
        data=input_matrix(X, spec),
        base_value=float(base[-1]),
        kind="linear",
        unit=unit,
        n_background=len(bg),
    )
