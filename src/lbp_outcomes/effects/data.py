"""The trial as the effects stage sees it: arms, outcomes and encoded effect modifiers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.effects.settings import Better


@dataclass(frozen=True)
class Arms:
    """The treatment block, reduced to what estimation needs. Arm 0 is the reference;
    ``values`` are the arm texts in that order, ``labels`` their report names.
    ``probabilities``: known allocation probabilities (same order) or None (estimated)."""

    column: str
    values: list[str]
    labels: list[str]
    randomized: bool
    probabilities: list[float] | None

    @classmethod
    def from_config(cls, cfg: DataConfig) -> Arms | None:
        """None when the data config has no ``treatment`` block (docs/treatment.md)."""
        treatment = getattr(cfg, "treatment", None)
        if treatment is None:
            return None
        ref = treatment.reference_text
        values = [ref, *treatment.others]
        probs = treatment.probabilities
        return cls(
            column=treatment.column,
            values=values,
            labels=[treatment.label(v) for v in values],
            randomized=treatment.assignment == "randomized",
            probabilities=[probs[v] for v in values] if probs else None,
        )

    def codes(self, column: pd.Series) -> np.ndarray:
        """Arm index per patient (0 = reference), shape (n,); -1 for an undeclared arm."""
        lookup = {v: i for i, v in enumerate(self.values)}
        return np.array([lookup.get(str(v), -1) for v in column], dtype=int)


@dataclass(frozen=True)
class Outcome:
    """One target: ``kind`` regression (units of the target) or binary (probability);
    ``better`` says which direction is a good outcome (for the recommended arm)."""

    name: str
    label: str
    kind: str
    better: Better


def outcomes(cfg: DataConfig) -> list[Outcome]:
    """Every target of the data config, with its direction. MCIC targets are successes
    (higher is better); a score an MCIC is defined on follows that MCIC's direction
    (``decrease``: lower is better); anything else is taken as higher is better."""
    direction = {m.outcome: m.direction for m in cfg.mcic.values()}
    found = []
    for name in cfg.all_targets:
        kind = cfg.target_kind(name)
        better = "lower" if direction.get(name) == "decrease" else "higher"
        # by name: display labels are the report's, so a relabel does not rerun this stage
        found.append(Outcome(name, name, kind, better))
    return found


def policy_outcome(found: list[Outcome], cfg: DataConfig, chosen: str | None) -> Outcome:
    """The target that decides the recommended arm (settings.policy_target)."""
    by_name = {o.name: o for o in found}
    if chosen is not None:
        if chosen not in by_name:
            from lbp_outcomes.errors import UserError

            raise UserError(f"effects.policy_target: {chosen!r} is not an analysed target")
        return by_name[chosen]
    first_mcic = next((n for n in cfg.mcic if n in by_name), None)
    return by_name[first_mcic or found[0].name]


def encode(frame: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    """The model features as numbers, shape (n, n_features): numeric columns as they are,
    categorical/ordinal ones as integer codes in the config's order (missing or unknown:
    NaN). Nothing is fitted (the codes come from the config), so encoding the whole
    cohort at once leaks nothing between folds."""
    from lbp_outcomes.models.preprocess import FeatureSpec, make_preprocessor

    spec = FeatureSpec.from_config(cfg)
    matrix = make_preprocessor("trees", spec).fit_transform(frame[spec.columns])
    return pd.DataFrame(np.asarray(matrix, dtype=float), columns=spec.columns, index=frame.index)


@dataclass(frozen=True)
class Medians:
    """Median imputation of effect modifiers, fitted on training patients only (the
    causal forest takes no missing values)."""

    values: np.ndarray  # shape (n_features,)

    @classmethod
    def fit(cls, X: np.ndarray) -> Medians:
        with np.errstate(all="ignore"):
            med = np.nanmedian(X, axis=0) if len(X) else np.zeros(X.shape[1])
        return cls(np.where(np.isnan(med), 0.0, med))

    def apply(self, X: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(X), self.values, X)
