"""Benchmark of the effects stage ("Which treatment, for whom"), on the synthetic trial.

    .venv/bin/python bench/effects.py                 # about 30 min on 2 cores
    .venv/bin/python bench/effects.py --null-seeds 5 --sizes 2000

1. let_trial at the default seed through cohort, clean, features and effects: every arm's
   average-effect CI against the true population effect (ate_covered), PEHE per target
   (absolute and over the SD of the true effects), and the share of the oracle rule's
   gain over the best single arm that the learned rule recovers (policy_gain_fraction).
2. The null setting (let_trial_null: same average effects, no effect modifiers) over
   --null-seeds seeds: the effects estimation alone on nrs_post (where the null is exact),
   with fixed lighter settings: how often the heterogeneity test rejects (null_rejections)
   and how often the learned rule is claimed better than the best single arm (CI > 0).
3. The effects stage's wall time and peak memory at each of --sizes patients.

Runs in its own copy of the repository (bench/out/effects/), MLflow off; writes only the
``effects`` section of bench/results.json and prints its table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import REPO, lbp, machine, measure, table, workspace

BASE = ["tracking.enabled=false"]
NULL_TEST = "nrs_post"  # the exact null (docs/treatment.md §4): effect_sd 0
# Fixed, lighter settings for the 20 null fits (the issue allows it): 3 folds, LightGBM
# with 100 trees, a forest of 100 trees.
NULL_SETTINGS = [
    "effects.folds=3",
    "effects.nuisance.lightgbm.params.n_estimators=100",
    "effects.forest.n_estimators=100",
    "effects.n_boot=20",
]


def cpu_seconds() -> float:
    """CPU time (user + system) of the finished child processes so far: unlike wall
    time, not inflated by other work on a shared machine."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def effects_run(repo: Path, overrides: list[str]) -> tuple[Any, dict[str, Any]]:
    """compose, cohort, clean, features, effects; returns (the effects stage's Measured,
    effects.json)."""
    measure(lbp("compose", *BASE, *overrides), repo)
    for stage in ("cohort", "clean", "features"):
        measure(lbp(stage), repo)
    before = cpu_seconds()
    stage = measure(lbp("effects"), repo)
    stage.cpu_seconds = cpu_seconds() - before
    return stage, json.loads((repo / "reports/effects/effects.json").read_text())


def truth_numbers(report: dict[str, Any]) -> dict[str, Any]:
    targets = report["targets"]
    covered = {
        t: {a: v["covered"] for a, v in e["truth"]["ate"].items()} for t, e in targets.items()
    }
    policy = report["policy_target"]
    return {
        "ate_covered": covered,
        "ate_covered_all": all(all(c.values()) for c in covered.values()),
        "pehe": {
            t: {
                "abs": e["truth"]["pehe"]["abs"],
                "fraction": e["truth"]["pehe"]["fraction"],
                "true_sd": e["truth"]["pehe"]["true_sd"],
            }
            for t, e in targets.items()
        },
        "policy_target": policy,
        "policy_gain_fraction": targets[policy]["truth"]["policy"]["gain_fraction"],
        # the rule recommended (best on average when the heterogeneity test found nothing)
        "recommendation": report["recommendation"]["mode"],
        "policy_gain_fraction_deployed": (
            targets[policy]["truth"].get("deployed_policy", {}).get("gain_fraction")
        ),
        "policy": {
            t: {
                "truth": e["truth"]["policy"],
                "estimated_gain_vs_best": e["policy"]["gain_vs_best_single_arm"],
            }
            for t, e in targets.items()
        },
        "heterogeneity": {t: e["heterogeneity"] for t, e in targets.items()},
    }


def null_runs(repo: Path, seeds: int) -> dict[str, Any]:
    """The effects estimation alone, in this process, on --null-seeds fresh draws of the
    null trial (the let_trial generator with heterogeneity off), on NULL_TEST with fixed,
    lighter settings (NULL_SETTINGS): the heterogeneity test's false rejections and the
    learned rule's claimed gains over the best single arm."""
    from lbp_outcomes.cohort import trial
    from lbp_outcomes.config import compose, validate_params
    from lbp_outcomes.effects import analysis, data, nuisance
    from lbp_outcomes.features import build

    params = validate_params(compose(["data=let_trial_null", *NULL_SETTINGS], repo))
    cfg, settings = params.data, params.effects
    arms = data.Arms.from_config(cfg)
    outcome = next(o for o in data.outcomes(cfg) if o.name == NULL_TEST)
    spec = cfg.source.synthetic
    rejections, claimed, p_values = 0, 0, []
    for seed in range(1, seeds + 1):
        frame = build(
            trial.generate(spec.n, seed, sites=spec.trial.sites, heterogeneity=False).frame, cfg
        )
        cohort = analysis.Cohort(
            data.encode(frame, cfg),
            arms.codes(frame[arms.column]),
            frame,
            None,
            f"null seed {seed}",
        )
        fold = nuisance.make_folds(cohort.arm, settings.folds, seed)
        out = analysis.analyse(cohort, outcome, arms, settings, seed, fold).summary
        rejections += out["heterogeneity"]["found"]
        claimed += out["policy"]["gain_vs_best_single_arm"]["ci_low"] > 0
        p_values.append(round(out["heterogeneity"]["p_value"], 4))
        print(f"null seed {seed}: heterogeneity p = {p_values[-1]}", flush=True)
    return {
        "null_seeds": seeds,
        "null_rejections": rejections,
        "null_target": NULL_TEST,
        "null_p_values": p_values,
        "null_policy_claimed_better": claimed,
        "null_settings": NULL_SETTINGS,
    }


def effects(out: Path, sizes: list[int], null_seeds: int, save) -> None:
    """The three parts, the null setting first; ``save(part)`` after each, so a long run
    that is stopped keeps what it measured."""
    repo = workspace(out / "effects")
    if null_seeds:
        save(null_runs(repo, null_seeds))
    for n in sizes:
        stage, report = effects_run(repo, ["data=let_trial", f"data.source.synthetic.n={n}"])
        part: dict[str, Any] = {
            "stage": {
                str(n): {
                    "seconds": round(stage.seconds, 1),
                    "cpu_seconds": round(stage.cpu_seconds, 1),
                    "peak_mb": round(stage.peak_mb),
                }
            }
        }
        if n == 2000:
            part.update(truth_numbers(report))
        else:  # the same truth numbers at other sizes, in their own entry
            part[f"truth_at_{n}"] = truth_numbers(report)
        save(part)


def render(res: dict[str, Any]) -> str:
    rows = [
        [
            t,
            ", ".join(f"{a}: {'yes' if c else 'NO'}" for a, c in cov.items()),
            f"{res['pehe'][t]['abs']:.3f}",
            "-" if res["pehe"][t]["fraction"] is None else f"{res['pehe'][t]['fraction']:.2f}",
            _fraction(res["policy"][t]["truth"]["gain_fraction"]),
        ]
        for t, cov in res.get("ate_covered", {}).items()
    ]
    lines = [
        "Effects (let_trial, default seed)",
        table(["target", "true ATE in 95% CI", "PEHE", "PEHE / SD", "oracle gain recovered"], rows),
    ]
    if "recommendation" in res:
        lines.append(
            f"recommendation on {res['policy_target']}: {res['recommendation']}; oracle gain "
            f"recovered by the learned rule {_fraction(res['policy_gain_fraction'])}, by the "
            f"recommended rule {_fraction(res['policy_gain_fraction_deployed'])}"
        )
    if "null_seeds" in res:
        lines.append(
            f"null setting: heterogeneity test rejected in {res['null_rejections']} of "
            f"{res['null_seeds']} seeds ({res['null_target']}); rule claimed better than the best "
            f"single arm in {res['null_policy_claimed_better']}"
        )
    lines += [
        f"stage at {n} patients: {s['seconds']} s wall, {s.get('cpu_seconds', '-')} s CPU, "
        f"peak {s['peak_mb']} MB"
        for n, s in res["stage"].items()
    ]
    return "\n".join(lines)


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000")
    parser.add_argument("--null-seeds", type=int, default=20)
    parser.add_argument("--out", default=str(REPO / "bench" / "out"))
    parser.add_argument("--results", default=str(REPO / "bench" / "results.json"))
    args = parser.parse_args(argv)
    path = Path(args.results)

    def save(part: dict[str, Any]) -> None:
        """Merge ``part`` into the effects section (a partial run keeps the rest)."""
        results = json.loads(path.read_text()) if path.exists() else {}
        old = results.get("effects", {})
        stage = {**old.get("stage", {}), **part.get("stage", {})}
        results["effects"] = {**old, **part, "stage": stage, "measured": machine()}
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")

    sizes = [int(s) for s in args.sizes.split(",") if s]
    effects(Path(args.out).resolve(), sizes, args.null_seeds, save)
    res = json.loads(path.read_text())["effects"]
    print(render(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
