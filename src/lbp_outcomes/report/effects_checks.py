"""The checks of the "Which treatment, for whom" section: the external cohort, the
synthetic truth, and the limits (split from report/effects.py to keep modules short)."""

from __future__ import annotations

from typing import Any

from lbp_outcomes.report.document import DASH, Bullets, Paragraph, Section, Table, interval, num


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {num(p, 3)}"


def digits(kind: str) -> int:
    """Decimals: probabilities get three, scores two."""
    return 3 if kind == "binary" else 2


def external(res: dict[str, Any]) -> Section | None:
    found = {t: e["external"] for t, e in res["targets"].items() if "external" in e}
    if not found:
        return None
    sub = Section("effects-external", "In the external cohort")
    rows = []
    for target, x in found.items():
        label = res["targets"][target]["label"]
        if not x.get("available"):
            rows.append([label, DASH, x.get("reason", ""), DASH, DASH])
            continue
        g = x["policy"]["gain_vs_best_single_arm"]
        pehe = x.get("truth", {}).get("pehe", {}).get("abs")
        rows.append(
            [
                label,
                str(x["n"]),
                p_text(x["heterogeneity"]["p_value"]),
                interval(
                    g["estimate"], g["ci_low"], g["ci_high"], digits(x["kind"]), landmarks=(0,)
                ),
                num(pehe, 3),
            ]
        )
    sub.add(
        Paragraph(
            "The development cohort's per-patient model applied unchanged to the external "
            "patients, judged by their own doubly robust scores (nuisances cross-fitted within "
            "the external cohort)."
        )
    )
    sub.add(
        Table(
            "Per-patient effects in the external cohort (95% CI)",
            [
                "Outcome",
                "n",
                "Heterogeneity test",
                "Gain of the learned rule over the best single arm",
                "PEHE (synthetic truth)",
            ],
            rows,
        )
    )
    return sub


def truth(res: dict[str, Any]) -> Section:
    sub = Section("effects-truth", "Against the simulator's truth")
    rows = []
    for e in res["targets"].values():
        t = e["truth"]
        covered = sum(c["covered"] for c in t["ate"].values())
        pol = t["policy"]
        rows.append(
            [
                e["label"],
                f"{covered} of {len(t['ate'])}",
                num(t["pehe"]["abs"], 3),
                num(t["pehe"]["fraction"], 2),
                num(pol["gain_fraction"], 2),
                num(pol["regret"], 3),
            ]
        )
    sub.add(
        Paragraph(
            "Synthetic data only: every patient's expected outcome under every arm is known. "
            "PEHE: root mean squared error of the per-patient effects (and over the SD of the true "
            "effects: 1 is no better than giving everyone the average effect). Oracle gain "
            "recovered: the learned rule's true gain over the best single arm as a share of the "
            "best possible rule's; regret: the outcome lost against that best possible rule."
        )
    )
    sub.add(
        Table(
            "Estimates against the truth",
            [
                "Outcome",
                "True average effect in 95% CI",
                "PEHE",
                "PEHE / SD",
                "Oracle gain recovered",
                "Regret",
            ],
            rows,
        )
    )
    return sub


def limits(res: dict[str, Any]) -> Section:
    sub = Section("effects-limits", "Limits")
    items = [
        "Randomised allocation makes the average effects unbiased by design; with "
        "observational data they rest on no unmeasured confounding and on overlap "
        "(the stage refuses cohorts where too many patients had almost no chance of an arm)."
        if res["assignment"] == "randomized"
        else "Observational data: the effects assume every confounder is among the features, "
        f"and overlap (share of patients with a poor propensity: "
        f"{num(next(iter(res['targets'].values())).get('overlap', {}).get('share_below_threshold'), 3)}).",
        "Patients without the outcome are left out of that outcome's analysis (complete cases).",
        "Per-patient intervals are pointwise: about 1 in 20 patients' true effects lie "
        "outside theirs; the heterogeneity test is the guard against acting on noise.",
        "A trial powered for average effects is rarely large enough to find who benefits "
        "most; a null heterogeneity test is not proof that everyone responds alike.",
    ]
    return sub.add(Bullets(items))
