"""The checks of the "Which treatment, for whom" section: the external cohort, the
synthetic truth, and the limits (split from report/effects.py to keep modules short)."""

from __future__ import annotations

from typing import Any

from lbp_outcomes.report import prose
from lbp_outcomes.report.document import DASH, Bullets, Paragraph, Section, Table, interval, num

PHRASES = "effects/phrases"


def say(name: str, /, **values: object) -> str:
    return prose.phrase(PHRASES, name, **values)


def p_text(p: float) -> str:
    """ "p = 0.012", or "p < 0.001"."""
    return say("p_value", p=p)


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
    sub.add(Paragraph(prose.text("effects/external")))
    sub.add(
        Table(
            say("external_caption"),
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
                say("covered", n=covered, of=len(t["ate"])),
                num(t["pehe"]["abs"], 3),
                num(t["pehe"]["fraction"], 2),
                num(pol["gain_fraction"], 2),
                num(pol["regret"], 3),
            ]
        )
    sub.add(Paragraph(prose.text("effects/truth")))
    sub.add(
        Table(
            say("truth_caption"),
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
    randomized = res["assignment"] == "randomized"
    share = None
    if not randomized:  # overlap is the observational effects' assumption
        first = next(iter(res["targets"].values()))
        share = (first.get("overlap") or {}).get("share_below_threshold")
    items = prose.blocks("effects/limits", randomized=randomized, poor_overlap=num(share, 3))
    return sub.add(Bullets(items))
