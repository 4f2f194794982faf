"""Comparison with the truth of a synthetic trial (data/raw/truth/, docs/treatment.md §3).

Only this module reads the truth files, and only to score estimates that were made
without them: ATE coverage, PEHE (RMSE of per-patient effects, also over the SD of the
true effects), and the learned rule's true value against the best single arm and the
oracle rule (regret, and the share of the oracle's gain it recovers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lbp_outcomes.effects.estimate import ArmEffect
from lbp_outcomes.effects.validate import sign

TRUTH = Path("data/raw/truth")


@dataclass(frozen=True)
class Truth:
    """Expected outcomes E[Y(a) | x] per patient (rows aligned with the cohort frame)
    and the true average effects per target and arm (population.json's ``population``:
    the super-population a trial's CI is about)."""

    expected: pd.DataFrame  # columns "<target>@<arm>"
    ate: dict[str, dict[str, float]]  # target -> arm -> E[Y(a) - Y(reference)]

    def effects(self, target: str, arms: list[str]) -> np.ndarray:
        """True per-patient effects of arms[1:] vs arms[0]: (n, K-1)."""
        e = self.expected
        ref = e[f"{target}@{arms[0]}"].to_numpy(float)
        return np.column_stack([e[f"{target}@{a}"].to_numpy(float) - ref for a in arms[1:]])

    def outcomes(self, target: str, arms: list[str]) -> np.ndarray:
        return np.column_stack([self.expected[f"{target}@{a}"].to_numpy(float) for a in arms])


def load(root: Path, cohort: str, ids: pd.Series | None) -> Truth | None:
    """The cohort's truth (the generator's typed reader, lbp_outcomes.cohort.truth), rows
    matched to ``ids`` (the id column after cleaning, which may have dropped patients;
    None: same rows in the same order); None when the cohort has no truth files."""
    from lbp_outcomes.cohort import truth as generated

    if not (root / TRUTH / cohort / "population.json").is_file():
        return None
    found = generated.load(root, cohort)
    expected = found.expected
    if ids is not None and "patient_id" in expected:
        keyed = expected.set_index(expected["patient_id"].astype(str))
        expected = keyed.loc[ids.astype(str).to_numpy()].reset_index(drop=True)
    ate = {t: dict(v.population.ate) for t, v in found.population.targets.items()}
    return Truth(expected, ate)


def ate_coverage(effects: list[ArmEffect], truth: Truth, target: str) -> dict:
    """Per arm: the true population ATE, and whether the AIPW 95% CI holds it."""
    ate = truth.ate[target]
    return {
        e.arm: {
            "true": float(ate[e.arm]),
            "estimate": e.dr.estimate,
            "covered": e.dr.covers(float(ate[e.arm])),
        }
        for e in effects
    }


def pehe(tau: np.ndarray, true_tau: np.ndarray, arms: list[str]) -> dict:
    """RMSE of per-patient effects per arm and pooled over arms; ``fraction``: over the
    SD of the true effects (None when they do not vary: the null setting)."""
    per_arm = {}
    for j, arm in enumerate(arms[1:]):
        rmse = float(np.sqrt(np.mean((tau[:, j] - true_tau[:, j]) ** 2)))
        sd = float(np.std(true_tau[:, j]))
        per_arm[arm] = {"abs": rmse, "true_sd": sd, "fraction": rmse / sd if sd > 1e-9 else None}
    pooled = float(np.sqrt(np.mean((tau - true_tau) ** 2)))
    pooled_sd = float(np.sqrt(np.mean(np.var(true_tau, axis=0))))
    return {
        "abs": pooled,
        "true_sd": pooled_sd,
        "fraction": pooled / pooled_sd if pooled_sd > 1e-9 else None,
        "arms": per_arm,
    }


def policy(rule: np.ndarray, best: np.ndarray, expected: np.ndarray, better: str) -> dict:
    """True values (mean expected outcome) of the learned rule, the best single arm (as
    the pipeline chose it) and the oracle rule, for this cohort's patients."""
    s = sign(better)
    rows = np.arange(len(rule))
    v_rule = float(expected[rows, rule].mean())
    v_best = float(expected[rows, best].mean())
    v_true_best = float((s * expected.mean(axis=0)).max() * s)
    v_oracle = float((s * expected).max(axis=1).mean() * s)
    oracle_gain = s * (v_oracle - v_true_best)
    return {
        "learned": v_rule,
        "best_single_arm": v_true_best,
        "chosen_single_arm": v_best,
        "oracle": v_oracle,
        "regret": s * (v_oracle - v_rule),
        "gain_fraction": s * (v_rule - v_true_best) / oracle_gain if oracle_gain > 1e-9 else None,
    }
