"""The synthetic source: development and external cohorts from the LET generator, or the
multi-arm trial built on it (with its counterfactual truth, :mod:`.truth`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from lbp_outcomes.cohort.ingest import ROW
from lbp_outcomes.dataconfig import SyntheticExternal, SyntheticSource


def _shifts(ext: SyntheticExternal):
    from lbp_outcomes.cohort.synthetic import CaseMixShift, OutcomeShift

    cm = ext.case_mix_shift
    case_mix = None
    if cm.enabled:
        frequency = None
        if cm.frequency is not None:
            frequency = dict(zip(cm.frequency.sessions, cm.frequency.weights, strict=True))
        case_mix = CaseMixShift(
            age=cm.age, bmi=cm.bmi, compliance=cm.compliance, frequency=frequency
        )
    om = ext.outcome_shift
    outcome = OutcomeShift(response_scale=om.response_scale) if om.enabled else None
    return case_mix, outcome


def synthetic_cohorts(src: SyntheticSource) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Generate the cohorts; the manifest records settings and each outcome's oracle R2."""
    from lbp_outcomes.cohort import synthetic as let

    frames = {"development": let.generate(src.n, src.seed, site=src.site)}
    manifest: dict[str, Any] = {
        "cohorts": {
            "development": {"source": f"synthetic LET generator (seed {src.seed})", "rows": src.n}
        },
        "synthetic": {
            "generator": src.generator,
            "development": {
                "n": src.n,
                "seed": src.seed,
                "site": src.site,
                "oracle_r2": _rounded(let.oracle_r2()),
            },
        },
    }
    if src.external is not None:
        ext = src.external
        seed = src.seed + ext.seed_offset
        case_mix, outcome = _shifts(ext)
        frames["external"] = let.generate(
            ext.n, seed, site=ext.site, case_mix=case_mix, outcome_shift=outcome
        )
        manifest["cohorts"]["external"] = {
            "source": f"synthetic LET generator (seed {seed}, site {ext.site})",
            "rows": ext.n,
        }
        manifest["synthetic"]["external"] = {
            "n": ext.n,
            "seed": seed,
            "site": ext.site,
            "case_mix_shift": ext.case_mix_shift.model_dump(),
            "outcome_shift": ext.outcome_shift.model_dump(),
            "oracle_r2": _rounded(let.oracle_r2(case_mix=case_mix, outcome_shift=outcome)),
        }
    for frame in frames.values():
        frame.insert(0, ROW, range(1, len(frame) + 1))
    return frames, manifest


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in scores.items()}


def trial_cohorts(
    src: SyntheticSource,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any], dict[str, tuple[Any, dict[str, Any]]]]:
    """The ``let_trial`` cohorts: frames, manifest, and per cohort (Trial, population truths)."""
    from lbp_outcomes.cohort import trial, truth

    settings = src.trial
    assert settings is not None
    plan = {"development": (src.n, src.seed, settings.sites, None, "TRIAL")}
    if src.external is not None:
        ext = src.external
        case_mix, _ = _shifts(ext)
        plan["external"] = (ext.n, src.seed + ext.seed_offset, [ext.site], case_mix, "TRIALX")
    frames, truths = {}, {}
    manifest: dict[str, Any] = {"cohorts": {}, "synthetic": {"generator": src.generator}}
    for cohort, (n, seed, sites, case_mix, prefix) in plan.items():
        made = trial.generate(
            n,
            seed,
            sites=sites,
            heterogeneity=settings.heterogeneity,
            id_prefix=prefix,
            case_mix=case_mix,
        )
        frames[cohort] = made.frame
        population = truth.population_truths(made.expected, settings.heterogeneity, case_mix)
        truths[cohort] = (made, population)
        manifest["cohorts"][cohort] = {
            "source": f"synthetic multi-arm trial (seed {seed}, sites {', '.join(sites)})",
            "rows": n,
        }
        manifest["synthetic"][cohort] = {
            "n": n,
            "seed": seed,
            "sites": sites,
            "heterogeneity": settings.heterogeneity,
        }
    for frame in frames.values():
        frame.insert(0, ROW, range(1, len(frame) + 1))
    return frames, manifest, truths
