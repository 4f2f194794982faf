"""Counterfactual truth of a synthetic trial cohort, for evaluating treatment effects only.

Written under data/raw/truth/<cohort>/ (docs/treatment.md, section 3): every patient's
realised and expected outcome under every arm, and the population truths (average effects,
the spread of individual effects, the best single arm and the optimal assignment). No
training stage reads these files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from lbp_outcomes import paths
from lbp_outcomes.atomic import to_json_text
from lbp_outcomes.cohort import trial
from lbp_outcomes.cohort.synthetic import CaseMixShift

TRUTH = Path("truth")  # under data/raw
FILES = {
    "potential_outcomes": "potential_outcomes.csv",
    "expected_outcomes": "expected_outcomes.csv",
    "population": "population.json",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetTruth(_Frozen):
    """One target's truths over a set of patients (see :func:`summarise`)."""

    mean: dict[str, float]  # E[Y(a)] per arm
    ate: dict[str, float]  # E[Y(a) - Y(reference)] per non-reference arm
    effect_sd: dict[str, float]  # SD over patients of E[Y(a) - Y(reference) | x]
    best_single_arm: str
    best_single_arm_value: float
    optimal_value: float  # mean over patients of the best arm's E[Y(a) | x]
    optimal_share: dict[str, float]  # share of patients each arm is optimal for


class TargetTruths(_Frozen):
    better: Literal["lower", "higher"]
    population: TargetTruth  # over the calibration population
    sample: TargetTruth  # over the cohort's own patients


class PopulationTruth(_Frozen):
    """population.json (docs/treatment.md, section 3)."""

    reference: str
    arms: list[str]
    heterogeneity: bool
    population_n: int
    population_seed: int
    targets: dict[str, TargetTruths]


@dataclass(frozen=True)
class CohortTruth:
    """A cohort's truth files as read back: ``potential``/``expected`` have the id column
    then ``<target>@<arm>`` columns, one row per patient in the cohort's raw order."""

    population: PopulationTruth
    potential: pd.DataFrame
    expected: pd.DataFrame


def load(root: Path, cohort: str = "development") -> CohortTruth:
    """Read ``data/raw/truth/<cohort>/`` under the project ``root``."""
    folder = root / paths.RAW / TRUTH / cohort
    text = (folder / FILES["population"]).read_text(encoding="utf-8")
    return CohortTruth(
        PopulationTruth.model_validate_json(text),
        pd.read_csv(folder / FILES["potential_outcomes"]),
        pd.read_csv(folder / FILES["expected_outcomes"]),
    )


def better(target: str) -> str:
    """ "lower" for the scores after treatment (less pain), "higher" for MCIC success."""
    return "higher" if target.endswith("_mcic") else "lower"


def summarise(expected: pd.DataFrame, arms: list[str], reference: str) -> dict[str, Any]:
    """Truths per target from expected outcomes (one row per patient, ``<target>@<arm>``
    columns): mean per arm, average effect and SD of the individual effects per arm vs the
    reference, the best single arm and its value, the optimal assignment's value and the
    share of patients each arm is optimal for (ties go to the earlier arm)."""
    out: dict[str, Any] = {}
    for target in trial.target_names():
        values = expected[[f"{target}@{a}" for a in arms]].to_numpy(dtype=float)
        sign = 1.0 if better(target) == "higher" else -1.0
        means = values.mean(axis=0)
        ref = values[:, arms.index(reference)]
        effects = {a: values[:, j] - ref for j, a in enumerate(arms) if a != reference}
        best = int(np.argmax(sign * means))  # argmax takes the first of equal values
        choice = np.argmax(sign * values, axis=1)
        out[target] = {
            "mean": {a: _r(m) for a, m in zip(arms, means, strict=True)},
            "ate": {a: _r(e.mean()) for a, e in effects.items()},
            "effect_sd": {a: _r(e.std()) for a, e in effects.items()},
            "best_single_arm": arms[best],
            "best_single_arm_value": _r(means[best]),
            "optimal_value": _r(values[np.arange(len(values)), choice].mean()),
            "optimal_share": {a: _r(np.mean(choice == j)) for j, a in enumerate(arms)},
        }
    return out


def _r(value: float) -> float:
    return round(float(value), 6)


def population_truths(
    expected: pd.DataFrame, heterogeneity: bool, case_mix: CaseMixShift | None
) -> PopulationTruth:
    """population.json: the truths over the calibration population (``population_n``
    patients at the calibration seed, with the cohort's case mix) and over the cohort's own
    patients (``expected``)."""
    arms, reference = trial.model()["arms"], trial.model()["reference"]
    n, seed = trial.model()["calibration"]["n"], trial.model()["calibration"]["seed"]
    x = trial.patients(seed, n, case_mix)
    population = trial.truth_columns(x, heterogeneity, None)
    sample = summarise(expected, arms, reference)
    pop = summarise(population, arms, reference)
    return PopulationTruth.model_validate(
        {
            "reference": reference,
            "arms": arms,
            "heterogeneity": heterogeneity,
            "population_n": n,
            "population_seed": seed,
            "targets": {
                t: {"better": better(t), "population": pop[t], "sample": sample[t]} for t in pop
            },
        }
    )


def write(folder: Path, cohort: trial.Trial, population: PopulationTruth) -> dict[str, str]:
    """Write the three truth files into ``folder`` (created); returns {kind: file name}."""
    folder.mkdir(parents=True, exist_ok=True)
    realised = cohort.potential.copy()
    number = realised.columns[1:]
    realised[number] = realised[number].astype(np.int64)  # whole scores, 0/1 success
    realised.to_csv(folder / FILES["potential_outcomes"], index=False)
    cohort.expected.to_csv(folder / FILES["expected_outcomes"], index=False, float_format="%.6f")
    text = to_json_text(population.model_dump(mode="json"))
    (folder / FILES["population"]).write_text(text, encoding="utf-8")
    return dict(FILES)
