"""Model-agnostic SHAP: ``shap.PermutationExplainer`` on the pipeline's prediction, with
the *input columns* as players and a background sample as the masker."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes.explain.attribution import Attribution, global_numpy_seed, input_matrix
from lbp_outcomes.models.families import predict
from lbp_outcomes.models.preprocess import FeatureSpec, source_feature

# Antithetic permutations per patient for the model-agnostic explainer (max_evals =
# PERMUTATIONS x (2 x n_inputs + 1)). One forward+backward pass is already exact for models
# with up to pairwise interactions; a second one halves the noise that inflates small mean
# |SHAP| values (on an MLP: within 1.1% of a 8-permutation run instead of 2.5%) for
# 1.2 s instead of 0.75 s per target (431 patients, 15 inputs, 100 background rows).
PERMUTATIONS = 2


@functools.cache  # once per process
def keep_compiled_code() -> None:
    """Ask numba to keep shap's compiled masker code on disk (numba's cache: next to shap's
    modules in the venv, or the user's cache folder if that is read-only).

    shap compiles its masking code with numba (``@njit`` without ``cache=True``) the first
    time a process uses it: about 6 s of the explain stage's 13 s on the default cohort,
    paid by every run. The masker's two functions (shap.maskers._tabular) cache well:
    2.5 s less per run after the first. Not ``_build_fixed_single_output``
    (shap.utils._masked_model): it takes the link function as an argument, whose numba
    type names the function's address, so every process would add a new 109 KB entry.
    numba's cache is keyed by the source file and the CPU, so a changed shap or another
    machine compiles afresh; the machine code and the numbers are the same.
    """
    from numba.core.dispatcher import Dispatcher
    from shap.maskers import _tabular

    for value in vars(_tabular).values():
        if isinstance(value, Dispatcher):
            value.enable_caching()


def explain_by_permutation(
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

    keep_compiled_code()
    n, n_bg, n_inputs = len(X), len(background), len(spec.columns)
    pool = pd.concat([X, background], ignore_index=True)
    model_output = _row_model(pipeline, pool, task, spec, seed)
    own_rows = np.repeat(np.arange(n, dtype=float)[:, None], n_inputs, axis=1)
    bg_rows = np.repeat(np.arange(n, n + n_bg, dtype=float)[:, None], n_inputs, axis=1)

    max_evals = PERMUTATIONS * (2 * n_inputs + 1)
    masker = shap.maskers.Independent(bg_rows, max_samples=n_bg)
    with global_numpy_seed(seed):  # shap draws permutations from NumPy's global RNG
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
