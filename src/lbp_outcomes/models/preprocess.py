"""Preprocessing that is *fitted* (imputation, encoding, scaling), as ColumnTransformers.

These transformers are the first step of every model Pipeline, so cross-validation fits
them on the training folds only. Two recipes:

- ``trees``: numbers pass through (missing values stay NaN: random forests, XGBoost and
  LightGBM split on missingness natively); categorical and ordinal columns become integer
  codes in the config's order (unknown or missing categories become NaN).
- ``dense``: numbers are median-imputed (with missing-value indicators) and standardised;
  categorical columns are mode-imputed and one-hot encoded; ordinal columns become their
  rank, imputed and standardised. For the MLP and the linear baseline.

Output is a float numpy array (n_patients, n_encoded_columns).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from lbp_outcomes.dataconfig import DataConfig


@dataclass(frozen=True)
class FeatureSpec:
    """The model inputs by type; category lists are the config's allowed values (as text)."""

    numeric: list[str] = field(default_factory=list)
    categorical: dict[str, list[str]] = field(default_factory=dict)
    ordinal: dict[str, list[str]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical, *self.ordinal]

    @classmethod
    def from_config(cls, cfg: DataConfig) -> FeatureSpec:
        from lbp_outcomes.schema import as_text

        numeric, categorical, ordinal = [], {}, {}
        for name, spec in cfg.model_features.items():
            if spec.type == "numeric":
                numeric.append(name)
            elif spec.type == "categorical":
                categorical[name] = [as_text(v) for v in spec.values or []]
            else:
                ordinal[name] = [as_text(v) for v in spec.values or []]
        return cls(numeric, categorical, ordinal)


def make_preprocessor(kind: str, spec: FeatureSpec) -> ColumnTransformer:
    parts = []
    cats = list(spec.categorical) + list(spec.ordinal)
    levels = list(spec.categorical.values()) + list(spec.ordinal.values())
    if kind == "trees":
        if spec.numeric:
            parts.append(("num", "passthrough", spec.numeric))
        if cats:
            encoder = OrdinalEncoder(
                categories=levels,
                handle_unknown="use_encoded_value",
                unknown_value=np.nan,
                encoded_missing_value=np.nan,
                dtype=float,
            )
            parts.append(("cat", encoder, cats))
    elif kind == "dense":
        if spec.numeric:
            parts.append(
                (
                    "num",
                    make_pipeline(
                        SimpleImputer(
                            strategy="median", add_indicator=True, keep_empty_features=True
                        ),
                        StandardScaler(),
                    ),
                    spec.numeric,
                )
            )
        if spec.categorical:
            parts.append(
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="most_frequent", keep_empty_features=True),
                        OneHotEncoder(
                            categories=list(spec.categorical.values()),
                            handle_unknown="ignore",
                            sparse_output=False,
                        ),
                    ),
                    list(spec.categorical),
                )
            )
        if spec.ordinal:
            parts.append(
                (
                    "ord",
                    make_pipeline(
                        OrdinalEncoder(
                            categories=list(spec.ordinal.values()),
                            handle_unknown="use_encoded_value",
                            unknown_value=np.nan,
                            encoded_missing_value=np.nan,
                            dtype=float,
                        ),
                        SimpleImputer(strategy="median", keep_empty_features=True),
                        StandardScaler(),
                    ),
                    list(spec.ordinal),
                )
            )
    else:
        raise ValueError(f"unknown preprocessing {kind!r}")
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=True)


def source_feature(encoded_name: str, spec: FeatureSpec) -> str:
    """The input column an encoded column comes from (``cat__fit_type_low`` -> ``fit_type``;
    ``num__missingindicator_bmi`` -> ``bmi``)."""
    _, _, rest = encoded_name.partition("__")
    rest = rest.removeprefix("missingindicator_")
    if rest in spec.columns:
        return rest
    for name in sorted(spec.columns, key=len, reverse=True):
        if rest.startswith(name + "_"):
            return name
    return rest
