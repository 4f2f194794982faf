"""The effects stage: reads data/features, writes reports/effects/ (effects.json, the
per-patient table patients.parquet without identifiers; the report stage logs a child run
per target to MLflow from it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes import paths
from lbp_outcomes.atomic import Outputs, write_json
from lbp_outcomes.config import Params
from lbp_outcomes.effects import analysis, data, nuisance, truth
from lbp_outcomes.effects.availability import OUT_DIR, RESULTS, not_available, unavailable
from lbp_outcomes.errors import UserError
from lbp_outcomes.seeds import derive_seed

MODEL = OUT_DIR / "model.pkl"  # per target: forest + reference-arm model (predict reads it)


def run(params: Params, root: Path) -> dict[str, Any]:
    """The stage when there is something to estimate (:func:`lbp_outcomes.effects.run`
    writes the "not available" case without this module)."""
    with Outputs() as out:
        folder = out.directory(root / OUT_DIR)
        report, patients, bundle = evaluate(params, root)
        if patients is not None:
            patients.to_parquet(folder / "patients.parquet", index=False)
            from lbp_outcomes.effects import plots

            plots.write(report, folder)
            from lbp_outcomes.canonical import dump_pickle

            dump_pickle(bundle, folder / MODEL.name)
        write_json(folder / RESULTS.name, report)
        _print(report)
    return report


def load_cohort(root: Path, params: Params, arms: data.Arms, cohort: str) -> analysis.Cohort:
    source = paths.cohort_file(root / paths.FEATURES, cohort)
    if not source.is_file():
        raise UserError(f"{source.relative_to(root)}: not found; run the features stage first")
    frame = pd.read_parquet(source)
    where = str(source.relative_to(root))
    if arms.column not in frame:
        raise UserError(f"{where}: treatment column {arms.column!r} is missing")
    arm = arms.codes(frame[arms.column])
    if (arm < 0).any():
        bad = np.flatnonzero(arm < 0)[:5].tolist()
        raise UserError(f"{where}: column {arms.column!r}: rows {bad} hold no declared arm")
    ids = frame.get(params.data.id_column) if params.data.id_column else None
    return analysis.Cohort(
        data.encode(frame, params.data), arm, frame, truth.load(root, cohort, ids), where
    )


def evaluate(params: Params, root: Path) -> tuple[dict[str, Any], pd.DataFrame | None, Any]:
    """effects.json's content, the per-patient table and the fitted models for predict
    (both None when not available)."""
    reason = unavailable(params)
    if reason is not None:
        return not_available(reason), None, None
    settings, arms = params.effects, data.Arms.from_config(params.data)
    dev = load_cohort(root, params, arms, "development")
    outcomes = data.outcomes(params.data)
    if settings.targets is not None:
        unknown = sorted(set(settings.targets) - {o.name for o in outcomes})
        if unknown:
            raise UserError(f"effects.targets: {unknown} are not targets of the data config")
        outcomes = [o for o in outcomes if o.name in settings.targets]
    chosen = data.policy_outcome(outcomes, params.data, settings.policy_target)
    fold = nuisance.make_folds(dev.arm, settings.folds, derive_seed(params.seed, "effects"))
    results = {
        o.name: analysis.analyse(dev, o, arms, settings, params.seed, fold) for o in outcomes
    }
    ext_file = paths.cohort_file(root / paths.FEATURES, "external")
    if ext_file.is_file():  # the development models, judged in the external cohort
        ext = load_cohort(root, params, arms, "external")
        for o in outcomes:
            results[o.name].summary["external"] = analysis.analyse_external(
                ext, o, arms, settings, params.seed, results[o.name].final
            )
    mode, best = analysis.deployed_rule(results[chosen.name], chosen.better, arms)
    report = {
        "available": True,
        "n": len(dev.frame),
        "reference": arms.values[0],
        "assignment": "randomized" if arms.randomized else "observational",
        "arms": dict(zip(arms.values, arms.labels, strict=True)),
        "learner": nuisance.family(settings)[0],
        "final": settings.final,
        "folds": settings.folds,
        "ci_level": settings.ci_level,
        "policy_target": chosen.name,
        "recommendation": {"mode": mode, "best_on_average": best},
        "targets": {name: r.summary for name, r in results.items()},
    }
    if dev.truth is not None:  # the rule actually recommended, against the truth
        r = results[chosen.name]
        pick = r.rule if mode == "personalised" else np.full(len(r.rows), arms.values.index(best))
        expected = dev.truth.outcomes(chosen.name, arms.values)[r.rows]
        report["targets"][chosen.name]["truth"]["deployed_policy"] = truth.policy(
            pick, pick, expected, chosen.better
        )
    bundle = {
        "arms": arms,
        "columns": list(dev.X.columns),
        "level": settings.ci_level,
        "policy_target": chosen.name,
        "mode": mode,
        "best_on_average": best,
        "outcomes": {o.name: o for o in outcomes},
        "models": {n: (r.final, r.reference_model) for n, r in results.items()},
    }
    table = patient_table(results, outcomes, chosen, arms, mode, best, len(dev.frame))
    return report, table, bundle


def patient_table(
    results: dict[str, analysis.TargetResult], outcomes, chosen, arms, mode: str, best: str, n: int
) -> pd.DataFrame:
    """Per development patient (row order of data/features, no identifiers): predicted
    outcome under every arm with the effect's interval (out of fold), the recommended
    arm and its expected gain over the reference with its interval."""
    table = pd.DataFrame({"row": np.arange(n)})
    for o in outcomes:
        r = results[o.name]
        for a, arm in enumerate(arms.values):
            col = np.full(n, np.nan)
            lo, hi = col.copy(), col.copy()
            shift = (r.tau[:, a - 1], r.low[:, a - 1], r.high[:, a - 1]) if a else (0, 0, 0)
            col[r.rows], lo[r.rows], hi[r.rows] = (r.mu_ref + x for x in shift)
            if o.kind == "binary":
                col, lo, hi = (np.clip(v, 0, 1) for v in (col, lo, hi))
            table[f"{o.name}@{arm}"] = col
            if a:  # the reference's own prediction carries no effect interval
                table[f"{o.name}@{arm}_low"], table[f"{o.name}@{arm}_high"] = lo, hi
    r = results[chosen.name]
    pick = np.full(n, arms.values.index(best))
    if mode == "personalised":
        pick[r.rows] = r.rule
    table["recommended"] = [arms.values[i] for i in pick]
    for name, src in (("gain", r.tau), ("gain_low", r.low), ("gain_high", r.high)):
        full = np.zeros((n, len(arms.values)))
        full[r.rows, 1:] = src
        table[name] = full[np.arange(n), pick]
    return table


def _print(report: dict[str, Any]) -> None:
    if not report.get("available"):
        return
    for target, entry in report["targets"].items():
        het = entry["heterogeneity"]
        arms = ", ".join(
            f"{a} {e['dr']['estimate']:+.3f} [{e['dr']['ci_low']:+.3f}, {e['dr']['ci_high']:+.3f}]"
            for a, e in entry["arms"].items()
        )
        print(f"  {target}: {arms}; heterogeneity p={het['p_value']:.3f}")
