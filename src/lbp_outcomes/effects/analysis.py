"""One target's analysis: scores, averages, out-of-fold effects, validation, truth."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from lbp_outcomes.effects import estimate, nuisance, truth, validate
from lbp_outcomes.effects.data import Arms, Outcome
from lbp_outcomes.effects.settings import EffectsSettings
from lbp_outcomes.seeds import derive_seed


@dataclass
class Cohort:
    """The development (or external) trial: encoded modifiers X (n, p), arm index (n,),
    the features frame (for outcomes), and the truth when synthetic."""

    X: pd.DataFrame
    arm: np.ndarray
    frame: pd.DataFrame
    truth: truth.Truth | None
    where: str  # for messages: the features file


@dataclass
class TargetResult:
    """What one target's analysis hands on: the JSON entry and per-patient arrays
    (rows of the cohort with a known outcome)."""

    summary: dict
    rows: np.ndarray  # (m,) positions in the cohort
    tau: np.ndarray  # (m, K-1) out-of-fold effects
    low: np.ndarray
    high: np.ndarray
    mu_ref: np.ndarray  # (m,) predicted outcome under the reference (out of fold)
    rule: np.ndarray  # (m,) recommended arm index by the learned rule
    final: estimate.CateModel  # fitted on every patient, for new patients (predict)
    reference_model: object  # outcome under the reference arm, fitted on its patients


def analyse(
    cohort: Cohort,
    outcome: Outcome,
    arms: Arms,
    settings: EffectsSettings,
    seed: int,
    fold: np.ndarray,
    overlap: bool = True,
) -> TargetResult:
    """Everything the effects stage says about one target of the development cohort."""
    y_all = cohort.frame[outcome.name].to_numpy(float)
    rows = np.flatnonzero(~np.isnan(y_all))
    X, arm, y, f = cohort.X.iloc[rows], cohort.arm[rows], y_all[rows], fold[rows]
    _, family = nuisance.family(settings)
    s = derive_seed(seed, "effects", outcome.name)
    scores = nuisance.dr_scores(
        X, arm, y, outcome.kind, arms, family, f, s, settings.overlap.min_propensity
    )
    diag = nuisance.check_overlap(scores.propensity, arms, cohort.where, settings.overlap)
    tau, low, high = estimate.out_of_fold_effects(X, arm, y, outcome.kind, arms, settings, f, s)
    summary, rule = _summary(cohort, outcome, arms, settings, s, rows, scores, arm, y, tau)
    if overlap:
        summary["overlap"] = diag
    final = estimate.fit_cate(
        X.to_numpy(float),
        estimate.pseudo_outcomes(scores.psi),
        settings,
        derive_seed(s, "final"),
    )
    reference = nuisance.fit(family, outcome.kind, X[arm == 0], y[arm == 0], derive_seed(s, "ref"))
    return TargetResult(summary, rows, tau, low, high, scores.mu[:, 0], rule, final, reference)


def _summary(
    cohort: Cohort,
    outcome: Outcome,
    arms: Arms,
    settings: EffectsSettings,
    s: int,
    rows: np.ndarray,
    scores: nuisance.Scores,
    arm: np.ndarray,
    y: np.ndarray,
    tau: np.ndarray,
) -> tuple[dict, np.ndarray]:
    """Averages, validation, policy values and truth from scores and predicted effects."""
    level, f = settings.ci_level, scores.fold
    effects = estimate.average_effects(scores.psi, arm, y, arms, level)
    summary = {
        "label": outcome.label,
        "kind": outcome.kind,
        "better": outcome.better,
        "n": len(y),
        "arms": {
            e.arm: {"n": e.n, "dr": asdict(e.dr), "difference": asdict(e.difference)}
            for e in effects
        },
        **validation(scores.psi, tau, f, outcome.better, arms, settings, s),
    }
    pol = validate.policy(scores.psi, tau, f, outcome.better, level)
    rule = pol.pop("rule")
    summary["policy"] = pol
    if cohort.truth is not None:
        best = validate.best_single(scores.psi, f, outcome.better)
        summary["truth"] = against_truth(
            cohort.truth, outcome, arms, effects, tau, rows, rule, best
        )
    return summary, rule


def analyse_external(
    cohort: Cohort,
    outcome: Outcome,
    arms: Arms,
    settings: EffectsSettings,
    seed: int,
    final: estimate.CateModel,
) -> dict:
    """The development model's per-patient effects judged in the external cohort: its
    own AIPW scores (nuisances cross-fitted within it), the same tests and policy values,
    and the truth when synthetic. Needs every arm with 2 patients per fold."""
    y_all = cohort.frame[outcome.name].to_numpy(float)
    rows = np.flatnonzero(~np.isnan(y_all))
    X, arm, y = cohort.X.iloc[rows], cohort.arm[rows], y_all[rows]
    need = 2 * settings.folds
    if np.bincount(arm, minlength=len(arms.values)).min() < need:
        return {
            "available": False,
            "reason": f"some arm has fewer than {need} external patients with this outcome",
        }
    s = derive_seed(seed, "effects-external", outcome.name)
    fold = nuisance.make_folds(arm, settings.folds, s)
    _, family = nuisance.family(settings)
    scores = nuisance.dr_scores(
        X, arm, y, outcome.kind, arms, family, fold, s, settings.overlap.min_propensity
    )
    tau, _, _ = final.effects(X.to_numpy(float), settings.ci_level)
    summary, _ = _summary(cohort, outcome, arms, settings, s, rows, scores, arm, y, tau)
    return {"available": True, **summary}


def validation(
    psi: np.ndarray,
    tau: np.ndarray,
    fold: np.ndarray,
    better: str,
    arms: Arms,
    settings: EffectsSettings,
    seed: int,
) -> dict:
    """Heterogeneity test, groups and TOC/Qini per non-reference arm."""
    level, per_arm, blps = settings.ci_level, {}, []
    for j, arm in enumerate(arms.values[1:]):
        score = psi[:, j + 1] - psi[:, 0]
        blp = validate.blp_test(score, tau[:, j], level)
        blps.append(blp)
        per_arm[arm] = {
            "blp": asdict(blp),
            "groups": validate.groups(score, tau[:, j], settings.groups, level),
            "toc": validate.toc(
                score, tau[:, j], better, settings.n_boot, level, derive_seed(seed, "toc", arm)
            ),
            "predicted_sd": float(np.std(tau[:, j])),
        }
    return {
        "heterogeneity": validate.heterogeneity(blps, settings.test_level),
        "validation": per_arm,
    }


def against_truth(
    t: truth.Truth,
    outcome: Outcome,
    arms: Arms,
    effects,
    tau: np.ndarray,
    rows: np.ndarray,
    rule: np.ndarray,
    best: np.ndarray,
) -> dict:
    true_tau = t.effects(outcome.name, arms.values)[rows]
    expected = t.outcomes(outcome.name, arms.values)[rows]
    coverage = truth.ate_coverage(effects, t, outcome.name)
    return {
        "ate": coverage,
        "ate_covered_all": all(c["covered"] for c in coverage.values()),
        "pehe": truth.pehe(tau, true_tau, arms.values),
        "policy": truth.policy(rule, best, expected, outcome.better),
    }


def deployed_rule(result: TargetResult, better: str, arms: Arms) -> tuple[str, str]:
    """("personalised" | "best on average", best-on-average arm): the learned rule only
    when the heterogeneity test found something, else everyone gets the best arm."""
    dr = [0.0] + [result.summary["arms"][a]["dr"]["estimate"] for a in arms.values[1:]]
    best = arms.values[int(np.argmax(validate.sign(better) * np.asarray(dr)))]
    found = result.summary["heterogeneity"]["found"]
    return ("personalised" if found else "best on average"), best
