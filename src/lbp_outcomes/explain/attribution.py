"""What an explainer returns (:class:`Attribution`: SHAP values per input column) and
the conversions between a pipeline's encoded columns and the input columns."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lbp_outcomes.models.preprocess import FeatureSpec, source_feature

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


@contextlib.contextmanager
def global_numpy_seed(seed: int) -> Iterator[None]:
    """Seed NumPy's global RNG for a block and restore the caller's state afterwards."""
    # shap uses the legacy global RNG (no Generator argument), hence the legacy calls
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed % 2**32)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002
