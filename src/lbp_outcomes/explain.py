"""Explanation stage: SHAP values for each target's champion model.

Inputs: models/manifest.json and models/<target>/<champion>.joblib (train stage),
data/features/development.parquet (features stage), params.explain, params.seed and
params.data (features, derived features) and params.reference (the published results).
Output: one folder,
reports/shap/, replaced as a whole:

- importance.json: per target, the champion family, the explainer, the unit of the SHAP
  values, mean |SHAP| per input column and the ranking, the same for *groups* of related
  columns (a derived feature together with its source columns), and, when the data config
  has a published reference, our top five compared with the paper's top predictors.
- importance.csv and groups.csv: the same rankings as long tables.
- <target>_bar.png and <target>_beeswarm.png: the ``explain.top_k`` most important inputs.

Nothing with patient ids is written. The patients explained are those the champion was
fitted on (outcome known), a seeded sample of ``explain.max_rows`` when there are more.

Explainers, all in the model's own output units:

- tree ensembles (random forest, XGBoost, LightGBM): ``shap.TreeExplainer``, exact
  (path-dependent) and fast. Binary: log-odds for boosters, probability for random forests.
- linear models: ``shap.LinearExplainer`` with a background sample (exact for a linear
  model under feature independence). Binary: log-odds.
- anything else (the MLP): ``shap.PermutationExplainer`` on the pipeline's prediction, with
  the *input columns* as players and a background sample as the masker. Binary: probability.
- a recalibrated binary model (conf/calibration/): the explainer of the model inside, on
  that model's own score (the unit then says "before recalibration"); the recalibration is
  an increasing function of that score (see :func:`explain_pipeline`).

Every input column gets one SHAP value per patient. Tree pipelines encode each input as one
column, so values map one to one. Dense pipelines expand an input into several columns
(one-hot levels, a missing-value indicator); their SHAP values are summed per patient, which
for a linear model *is* the input's Shapley value (it is additive over columns). The
permutation explainer masks whole input columns, so one-hot levels never take impossible
combinations and no summing is needed.

Cost on 431 patients x 15 inputs: tree and linear explainers well under a second per
target; the permutation explainer about 1.2 s per target, plus a one-off ~6 s while numba
compiles shap's masking code (once per process, only when a champion needs it).
"""

from __future__ import annotations

import contextlib
import textwrap
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes import catalog, paths
from lbp_outcomes.atomic import Outputs
from lbp_outcomes.catalog import Manifest, ManifestTarget
from lbp_outcomes.config import FamilyConfig, Params
from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.errors import UserError
from lbp_outcomes.expressions import parse
from lbp_outcomes.expressions.scopes import derived_scope
from lbp_outcomes.models.calibrated import RecalibratedClassifier, base_estimator
from lbp_outcomes.models.families import predict
from lbp_outcomes.models.preprocess import FeatureSpec, source_feature
from lbp_outcomes.seeds import derive_seed
from lbp_outcomes.tracking import Tracker, read_parent_run

TOP_N = 5  # the paper reports its five most influential predictors
DECIMALS = 6
DPI = 200  # sharp in print (the report checks >= 200)
# Antithetic permutations per patient for the model-agnostic explainer (max_evals =
# PERMUTATIONS x (2 x n_inputs + 1)). One forward+backward pass is already exact for models
# with up to pairwise interactions; a second one halves the noise that inflates small mean
# |SHAP| values (on an MLP: within 1.1% of a 8-permutation run instead of 2.5%) for
# 1.2 s instead of 0.75 s per target (431 patients, 15 inputs, 100 background rows).
PERMUTATIONS = 2

UNITS = {"log_odds": "log-odds", "probability": "probability"}
# appended to the unit of a recalibrated champion explained on its own model's score
BEFORE_RECALIBRATION = "(model score before recalibration)"


@dataclass(frozen=True)
class Attribution:
    """SHAP values of one champion on the explained patients, per input column.

    ``values`` and ``data`` have shape (n_explained, n_inputs), columns in
    ``FeatureSpec.columns`` order; ``data`` holds the inputs as numbers (categories as their
    position in the config's ``values``, NaN when missing); ``values`` are in ``unit``
    (``base_value`` + row sum = the model's output for that patient).
    """

    values: np.ndarray
    data: np.ndarray
    base_value: float
    kind: str  # "tree" | "linear" | "permutation" | "ensemble" (weighted over members)
    unit: str  # "log-odds", "probability", or the outcome's unit for regression
    n_background: int | None  # background rows behind the masker (None: tree explainer)


# -- inputs as numbers ---------------------------------------------------------------------
def input_matrix(X: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """(n_patients, n_inputs) floats: numbers as they are, a category as its position in
    the config's ``values`` (the order the tree pipelines encode it in), NaN when missing."""
    levels = spec.categorical | spec.ordinal
    out = np.empty((len(X), len(spec.columns)), dtype=float)
    for j, col in enumerate(spec.columns):
        if col in levels:
            codes = pd.Categorical(X[col].to_numpy(dtype=object), categories=levels[col]).codes
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = pd.to_numeric(X[col], errors="coerce").to_numpy(dtype=float)
    return out


def to_inputs(values: np.ndarray, encoded: list[str], spec: FeatureSpec) -> np.ndarray:
    """Sum SHAP values of encoded columns (n, n_encoded) into input columns (n, n_inputs)."""
    position = {col: j for j, col in enumerate(spec.columns)}
    onto = np.zeros((len(encoded), len(spec.columns)))
    for i, name in enumerate(encoded):
        source = source_feature(name, spec)
        if source not in position:
            raise RuntimeError(f"encoded column {name!r} maps to no input column ({source!r})")
        onto[i, position[source]] = 1.0
    return values @ onto


# -- explainers ----------------------------------------------------------------------------
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
    return _permutation(pipeline, X, background, task, spec, seed, outcome_unit)


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
        return _permutation(pipeline, X, background, task, spec, seed, outcome_unit)
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


def _permutation(
    pipeline: Any,
    X: pd.DataFrame,
    background: pd.DataFrame,
    task: str,
    spec: FeatureSpec,
    seed: int,
    outcome_unit: str,
) -> Attribution:
    """Permutation SHAP with the input columns as players.

    shap masks a column by swapping in a background patient's value. We hand it *row
    numbers* instead of values (column j of a made-up patient says which real patient that
    column comes from), so it never has to encode text categories and the model sees only
    real input values; :func:`_row_model` turns the row numbers into predictions.
    """
    import shap

    n, n_bg, n_inputs = len(X), len(background), len(spec.columns)
    pool = pd.concat([X, background], ignore_index=True)
    model_output = _row_model(pipeline, pool, task, spec, seed)
    own_rows = np.repeat(np.arange(n, dtype=float)[:, None], n_inputs, axis=1)
    bg_rows = np.repeat(np.arange(n, n + n_bg, dtype=float)[:, None], n_inputs, axis=1)

    max_evals = PERMUTATIONS * (2 * n_inputs + 1)
    masker = shap.maskers.Independent(bg_rows, max_samples=n_bg)
    with _global_numpy_seed(seed):  # shap draws permutations from NumPy's global RNG
        explainer = shap.PermutationExplainer(model_output, masker, seed=seed)
        explanation = explainer(own_rows, max_evals=max_evals, batch_size=max_evals, silent=True)
    base = np.atleast_1d(np.asarray(explanation.base_values, dtype=float))
    return Attribution(
        values=np.asarray(explanation.values, dtype=float),
        data=input_matrix(X, spec),
        base_value=float(base[0]),
        kind="permutation",
        unit=outcome_unit if task == "regression" else "probability",
        n_background=n_bg,
    )


def _row_model(
    pipeline: Any, pool: pd.DataFrame, task: str, spec: FeatureSpec, seed: int
) -> Callable[[np.ndarray], np.ndarray]:
    """f(rows) -> predictions (regression) or P(event) (binary), shape (k,), for k made-up
    patients whose input column j is taken from patient ``rows[:, j]`` of ``pool``.

    Fast path: the pool is preprocessed once and each encoded column is picked from the
    row its input column comes from. That equals preprocessing the made-up patient because
    every fitted step (imputation, scaling, one-hot, indicators) works column by column;
    checked on 64 random mixtures, and a preprocessor that mixes columns gets the slow path
    (the whole pipeline on the assembled raw rows: same numbers, over ten times slower).
    """
    prep, model = pipeline[0], pipeline[-1]
    raw = [pool[c].to_numpy() for c in spec.columns]
    dtypes = [pool[c].dtype for c in spec.columns]

    def via_pipeline(rows: np.ndarray) -> np.ndarray:
        rows = rows.astype(np.intp)
        frame = pd.DataFrame(
            {c: pd.Series(raw[j][rows[:, j]], dtype=dtypes[j]) for j, c in enumerate(spec.columns)}
        )
        return predict(pipeline, frame, task)

    position = {c: j for j, c in enumerate(spec.columns)}
    sources = [source_feature(name, spec) for name in prep.get_feature_names_out()]
    if any(s not in position for s in sources):
        return via_pipeline
    owner = np.array([position[s] for s in sources], dtype=np.intp)
    encoded = np.asarray(prep.transform(pool), dtype=float)
    columns = np.arange(encoded.shape[1])

    def via_blocks(rows: np.ndarray) -> np.ndarray:
        return predict(model, encoded[rows.astype(np.intp)[:, owner], columns], task)

    probe = np.random.default_rng(seed).integers(0, len(pool), size=(64, len(spec.columns)))
    if np.allclose(via_blocks(probe), via_pipeline(probe), rtol=1e-9, atol=1e-9):
        return via_blocks
    return via_pipeline


@contextlib.contextmanager
def _global_numpy_seed(seed: int) -> Iterator[None]:
    """Seed NumPy's global RNG for a block and restore the caller's state afterwards."""
    # shap uses the legacy global RNG (no Generator argument), hence the legacy calls
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed % 2**32)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


# -- groups --------------------------------------------------------------------------------
def derived_sources(cfg: DataConfig, name: str) -> list[str]:
    """The columns a derived feature is computed from: its ``args`` (function) or the
    columns its ``expr`` reads that are feature or derived columns."""
    spec = cfg.derived[name]
    known = set(cfg.features) | set(cfg.derived)
    if spec.expr is None:
        return [c for c in spec.args.values() if c in known]
    used = parse(spec.expr, derived_scope(cfg, name)).columns  # checked at validation
    return [c for c in used if c in known and c != name]


def feature_groups(cfg: DataConfig, columns: list[str]) -> dict[str, list[str]]:
    """Groups of related input columns, {group name: members}.

    Each derived feature is linked to its sources; linked columns form one group
    (connected components, so groups sharing a column merge); an unlinked column is a group
    of its own. Members are listed sources first, then derived features, each in config
    order; a group's name is its member list (a lone column keeps its name).
    """
    parent = {c: c for c in columns}

    def root(c: str) -> str:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for name in cfg.derived:
        if name not in parent:
            continue
        for source in derived_sources(cfg, name):
            if source in parent:
                parent[root(source)] = root(name)

    order = [c for c in cfg.model_features if c in parent]
    order += [c for c in columns if c not in order]
    members: dict[str, list[str]] = {}
    for c in order:
        members.setdefault(root(c), []).append(c)
    groups = {}
    for group in members.values():
        ordered = [c for c in group if c not in cfg.derived] + [
            c for c in group if c in cfg.derived
        ]
        groups[", ".join(ordered)] = ordered
    return groups


# -- importance ----------------------------------------------------------------------------
def _round(value: float) -> float:
    return round(float(value), DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _ranking(importance: dict[str, float], order: list[str]) -> list[str]:
    """Names by importance (rounded, as reported), ties in ``order``."""
    return sorted(importance, key=lambda k: (-importance[k], order.index(k)))


def summarise(
    attribution: Attribution,
    columns: list[str],
    groups: dict[str, list[str]],
    reference: list[str] | None,
) -> dict[str, Any]:
    """Mean |SHAP| per input column and per group, rankings, and the reference comparison."""
    values = attribution.values
    features = {c: _round(np.mean(np.abs(values[:, j]))) for j, c in enumerate(columns)}
    ranking = _ranking(features, columns)
    position = {c: j for j, c in enumerate(columns)}
    group_importance = {}
    for name, members in groups.items():
        summed = values[:, [position[m] for m in members]].sum(axis=1)
        group_importance[name] = _round(np.mean(np.abs(summed)))
    group_ranking = _ranking(group_importance, list(groups))
    out: dict[str, Any] = {
        "shap_unit": attribution.unit,
        "explainer": attribution.kind,
        "base_value": _round(attribution.base_value),
        "n_explained": int(values.shape[0]),
        "n_background": attribution.n_background,
        "features": features,
        "ranking": ranking,
        "groups": {
            name: {"members": members, "importance": group_importance[name]}
            for name, members in groups.items()
        },
        "group_ranking": group_ranking,
    }
    if reference:
        out["reference"] = compare(reference, ranking, group_ranking, groups, columns)
    return out


def compare(
    reference: list[str],
    ranking: list[str],
    group_ranking: list[str],
    groups: dict[str, list[str]],
    columns: list[str],
) -> dict[str, Any]:
    """Our top five inputs (and groups) against the paper's top predictors.

    ``shared``: reference predictors among our top five inputs. ``group_shared``: reference
    predictors whose group is among our top five groups (fit type found through LL, say).
    ``not_inputs``: reference names that are no input column here (never found).
    """
    top = ranking[:TOP_N]
    top_groups = group_ranking[:TOP_N]
    group_of = {m: name for name, members in groups.items() for m in members}
    shared = [r for r in reference if r in top]
    group_shared = [r for r in reference if group_of.get(r) in top_groups]
    return {
        "top_predictors": list(reference),
        "top5": top,
        "shared": shared,
        "overlap": len(shared),
        "top5_groups": top_groups,
        "group_shared": group_shared,
        "group_overlap": len(group_shared),
        "not_inputs": [r for r in reference if r not in columns],
    }


# -- figures -------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def unit_caption(unit: str, task: str, outcome: str) -> str:
    """What a SHAP value measures, for axis labels and titles (``outcome``: its label,
    which carries the unit of a regression target)."""
    if task == "binary":
        return f"change in {unit} of {outcome}"
    return f"change in predicted {outcome}"


def _wrap(text: str, width: int = 88) -> str:
    return "\n".join(textwrap.wrap(text, width))


def bar_plot(
    entry: dict[str, Any], labels: dict[str, str], title: str, caption: str, top_k: int, path: Path
) -> None:
    """Horizontal bars of mean |SHAP| for the ``top_k`` input columns, most important on
    top, each with its value (3 significant digits: probabilities are small numbers)."""
    plt = _plt()
    shown = entry["ranking"][:top_k]
    values = [entry["features"][c] for c in shown]
    fig, ax = plt.subplots(figsize=(8, 0.36 * len(shown) + 1.8))
    ys = np.arange(len(shown))[::-1]
    ax.barh(ys, values, color="#1E88E5", height=0.7)
    ax.set_yticks(ys, [labels[c] for c in shown], fontsize=9)
    for y, value in zip(ys, values, strict=True):
        ax.text(value, y, f" {value:.3g}", va="center", fontsize=8)
    ax.set_xlim(0, 1.15 * max(values) if max(values) > 0 else 1)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(_wrap(f"mean |SHAP value| over patients: {caption}"), fontsize=9)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def beeswarm_plot(
    attribution: Attribution,
    labels: list[str],
    title: str,
    caption: str,
    top_k: int,
    seed: int,
    path: Path,
) -> None:
    """shap's beeswarm: one dot per patient and input column (``top_k`` columns, the rest
    summed in one row), coloured by the input's value (categories by their position in the
    data config's ``values``; missing values grey)."""
    import shap

    plt = _plt()
    explanation = shap.Explanation(
        values=attribution.values,
        base_values=np.full(len(attribution.values), attribution.base_value),
        data=attribution.data,
        feature_names=labels,
    )
    shown = min(top_k, len(labels))
    rows = shown + (shown < len(labels))  # shap sums the columns not shown in one extra row
    fig, ax = plt.subplots(figsize=(8, 0.42 * rows + 2.0))
    # the beeswarm jitters dots with NumPy's global RNG: seed it for identical bytes
    with _global_numpy_seed(seed):
        shap.plots.beeswarm(explanation, max_display=rows, ax=ax, show=False, plot_size=None)
    ax.tick_params(axis="y", labelsize=9)
    ax.set_xlabel(
        _wrap(f"SHAP value: {caption}") + "\ncolour: the input's value "
        "(categories in the data config's order; missing in grey)",
        fontsize=9,
    )
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    # bbox "tight": long labels and the colour bar are never cut off; fixed metadata so
    # identical figures give identical bytes (DVC sees no change)
    fig.savefig(path, dpi=DPI, metadata={"Software": None}, bbox_inches="tight", pad_inches=0.15)
    _plt().close(fig)


# -- stage ---------------------------------------------------------------------------------
def _load_manifest(root: Path, spec: FeatureSpec) -> Manifest:
    manifest: Manifest = catalog.MANIFEST.read(root)
    if manifest.features != spec.columns:
        raise UserError(
            f"{catalog.MANIFEST.path}: the models were trained on inputs "
            f"{manifest.features} but the data config now gives {spec.columns}; "
            "run the train stage again"
        )
    return manifest


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted row positions: all ``n`` rows, or a seeded sample of ``size`` of them."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


# A regression target's SHAP values are in its unit; the unit is display text (data config
# `display:`), read by the report only, so that a relabel does not rerun this stage.
OUTCOME_UNITS = "outcome units"


def explain_target(
    params: Params,
    root: Path,
    frame: pd.DataFrame,
    spec: FeatureSpec,
    target: str,
    entry: ManifestTarget,
) -> tuple[Attribution, str]:
    """SHAP values of one target's champion on its (sampled) patients; also the family."""
    import joblib

    family = entry.champion
    model_file = root / paths.MODELS / entry.families[family].file
    if not model_file.is_file():
        raise UserError(f"{model_file.relative_to(root)}: not found; run the train stage again")
    pipeline = joblib.load(model_file)
    model = pipeline[-1]
    inner = base_estimator(model)
    if "n_jobs" in inner.get_params(deep=False):
        # TreeExplainer on XGBoost/LightGBM runs the booster's own threads: one, as in train
        inner.set_params(n_jobs=1)
    rows = frame[target].notna().to_numpy()
    X = frame.loc[rows, spec.columns].reset_index(drop=True)
    cfg = params.explain
    explained = X.iloc[_sample(len(X), cfg.max_rows, derive_seed(params.seed, "explain", target))]
    background = X.iloc[
        _sample(len(X), cfg.background_rows, derive_seed(params.seed, "background", target))
    ]
    kind = explainer_kind(model, params.model.get(family))
    attribution = explain_pipeline(
        pipeline,
        explained.reset_index(drop=True),
        background.reset_index(drop=True),
        entry.task,
        spec,
        kind,
        derive_seed(params.seed, "permutation", target),
        OUTCOME_UNITS,
    )
    return attribution, family


def run(params: Params, root: Path) -> dict[str, Any]:
    cfg = params.data
    spec = FeatureSpec.from_config(cfg)
    manifest = _load_manifest(root, spec)
    data_file = paths.cohort_file(root / paths.FEATURES, "development")
    if not data_file.is_file():
        raise UserError(f"{paths.FEATURES}/development.parquet: not found; run features first")
    frame = pd.read_parquet(data_file)
    groups = feature_groups(cfg, spec.columns)
    reference = list(params.reference.top_predictors) if params.reference is not None else []

    report: dict[str, Any] = {}
    attributions: dict[str, Attribution] = {}
    for target, entry in manifest.targets.items():
        attribution, family = explain_target(params, root, frame, spec, target, entry)
        attributions[target] = attribution
        report[target] = {
            "family": family,
            **summarise(attribution, spec.columns, groups, reference),
        }
    unknown = [r for r in reference if r not in spec.columns]
    if unknown:
        print(f"warning: the reference's top predictors {unknown} are no input column here")

    tracker = Tracker(params, root)
    with tracker.pipeline_run("explain", resume=read_parent_run(root)), Outputs() as out:
        folder = out.directory(root / catalog.SHAP_DIR)
        catalog.IMPORTANCE.save(folder / catalog.IMPORTANCE.path.name, report)
        _tables(report, cfg).to_csv(folder / "importance.csv", index=False)
        _group_tables(report).to_csv(folder / "groups.csv", index=False)
        _figures(folder, report, attributions, params, manifest)
        tracker.log_artifacts({"shap": folder})
        tracker.log_metrics(
            {
                f"explain.{target}.{key}": entry["reference"][key]
                for target, entry in report.items()
                if "reference" in entry
                for key in ("overlap", "group_overlap")
            }
        )

    for target, entry in report.items():
        line = f"explain: {target} ({entry['family']}, {entry['explainer']}): top {TOP_N} "
        line += ", ".join(entry["ranking"][:TOP_N])
        if "reference" in entry:
            ref = entry["reference"]
            n_ref = len(ref["top_predictors"])
            line += f"; paper's top predictors found {ref['overlap']}/{n_ref}"
            line += f" (by group {ref['group_overlap']}/{n_ref})"
        print(line)
    return {
        target: {
            "family": entry["family"],
            "top5": entry["ranking"][:TOP_N],
            **({"overlap": entry["reference"]["overlap"]} if "reference" in entry else {}),
        }
        for target, entry in report.items()
    }


def _figures(
    folder: Path,
    report: dict[str, Any],
    attributions: dict[str, Attribution],
    params: Params,
    manifest: Manifest,
) -> None:
    """<target>_bar.png and <target>_beeswarm.png for every explained target."""
    cfg = params.data
    columns = FeatureSpec.from_config(cfg).columns
    labels = list(columns)  # by name: display labels are the report's
    for target, attribution in attributions.items():
        entry = report[target]
        family = entry["family"]
        family_label = family  # by key: display names are the report's
        outcome = target
        caption = unit_caption(attribution.unit, manifest.targets[target].task, outcome)
        title = _wrap(
            f"{outcome}: SHAP values of the {family_label} champion, in {attribution.unit}"
        )
        top_k = params.explain.top_k
        bar_plot(
            entry,
            dict(zip(columns, labels, strict=True)),
            title,
            caption,
            top_k,
            folder / f"{paths.slug(target)}_bar.png",
        )
        beeswarm_plot(
            attribution,
            labels,
            title,
            caption,
            top_k,
            derive_seed(params.seed, "plot", target),
            folder / f"{paths.slug(target)}_beeswarm.png",
        )


def _tables(report: dict[str, Any], cfg: DataConfig) -> pd.DataFrame:
    """Long table: one row per target and input column, by rank."""
    rows = [
        {
            "target": target,
            "feature": feature,
            "mean_abs_shap": entry["features"][feature],
            "rank": rank,
            "shap_unit": entry["shap_unit"],
        }
        for target, entry in report.items()
        for rank, feature in enumerate(entry["ranking"], start=1)
    ]
    return pd.DataFrame(rows)


def _group_tables(report: dict[str, Any]) -> pd.DataFrame:
    """Long table: one row per target and group, by rank (members joined by ';')."""
    rows = [
        {
            "target": target,
            "group": group,
            "members": ";".join(entry["groups"][group]["members"]),
            "mean_abs_shap": entry["groups"][group]["importance"],
            "rank": rank,
            "shap_unit": entry["shap_unit"],
        }
        for target, entry in report.items()
        for rank, group in enumerate(entry["group_ranking"], start=1)
    ]
    return pd.DataFrame(rows)
