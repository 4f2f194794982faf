"""Report section "Which treatment, for whom" (reports/effects/, the effects stage).

Reads reports/effects/effects.json itself, so the rest of the report code only calls
:func:`section`. No section for a cohort without a treatment block."""

from __future__ import annotations

import json
from typing import Any

from lbp_outcomes.report import effects_checks as checks
from lbp_outcomes.report.context import Context
from lbp_outcomes.report.document import (
    Bullets,
    Note,
    Paragraph,
    Section,
    Table,
    interval,
)

RESULTS = "effects/effects.json"
FINAL = {
    "forest": "an honest causal forest",
    "linear": "a linear model per treatment (effects linear in the baseline features, a "
    "step for each category)",
}


def _load(ctx: Context) -> dict[str, Any] | None:
    path = ctx.inputs.root / "reports" / RESULTS
    if not path.is_file():
        return None
    ctx.inputs.read.append(f"reports/{RESULTS}")
    return json.loads(path.read_text(encoding="utf-8"))


def section(ctx: Context) -> Section | None:
    if getattr(ctx.cfg, "treatment", None) is None:
        return None
    out = Section("effects", "Which treatment, for whom")
    res = _load(ctx)
    if res is None or not res.get("available"):
        why = (res or {}).get("reason", f"reports/{RESULTS} is missing (run the effects stage)")
        return out.add(Note(f"No treatment comparison: {why}."))
    for name, entry in res["targets"].items():
        entry["label"] = ctx.label(name)  # display text is the report's (data config display:)
    labels, ref = res["arms"], res["arms"][res["reference"]]
    final = res.get("final", "forest")
    out.add(
        Paragraph(
            f"Each treatment is compared with {ref} ({res['assignment']} allocation, "
            f"{res['n']} patients). Average effects are doubly robust (AIPW: an outcome model "
            f"per arm, {res['learner']}, and the allocation probabilities, cross-fitted in "
            f"{res['folds']} folds), shown beside the plain difference of arm means. "
            f"Per-patient effects come from a DR-learner whose final stage is {FINAL[final]}; "
            "every check below uses predictions for patients the model was not fitted on. "
            "Yes/no outcomes are differences in the probability of success."
        )
    )
    out.add(*_verdicts(res, labels))
    out.add(_averages(res, labels))
    out.subsections.append(_validation(ctx, res, labels))
    external = checks.external(res)
    if external is not None:
        out.subsections.append(external)
    if any("truth" in e for e in res["targets"].values()):
        out.subsections.append(checks.truth(res))
    out.subsections.append(checks.limits(res))
    return out


def _verdicts(res: dict[str, Any], labels: dict[str, str]) -> list[Any]:
    items = []
    for e in res["targets"].values():
        het = e["heterogeneity"]
        if het["found"]:
            text = (
                f"{e['label']}: the predicted differences between patients are real "
                f"(heterogeneity test {checks.p_text(het['p_value'])})."
            )
        else:
            text = (
                f"{e['label']}: no evidence that the best treatment differs between "
                f"patients (heterogeneity test {checks.p_text(het['p_value'])})."
            )
        items.append(text)
    rec = res["recommendation"]
    target = res["targets"][res["policy_target"]]["label"]
    if rec["mode"] == "personalised":
        advice = (
            f"Recommendations ({target}) are personalised: each patient gets the arm "
            "with the best predicted outcome."
        )
    else:
        advice = (
            f"Recommendation ({target}): {labels[rec['best_on_average']]} for everyone, "
            "the best arm on average, since the test found no difference between "
            "patients to act on."
        )
    return [Bullets(items), Note(advice)]


def _averages(res: dict[str, Any], labels: dict[str, str]) -> Table:
    rows, classes = [], []
    for e in res["targets"].values():
        rows.append([e["label"], "", "", ""])
        classes.append("group")
        d = checks.digits(e["kind"])
        for arm, a in e["arms"].items():
            dr, diff = a["dr"], a["difference"]
            rows.append(
                [
                    labels[arm],
                    str(a["n"]),
                    interval(dr["estimate"], dr["ci_low"], dr["ci_high"], d, landmarks=(0,)),
                    interval(diff["estimate"], diff["ci_low"], diff["ci_high"], d, landmarks=(0,)),
                ]
            )
            classes.append("level")
    return Table(
        f"Average effect of each treatment vs {labels[res['reference']]} (95% CI)",
        ["Treatment", "n", "Doubly robust (AIPW)", "Difference of means"],
        rows,
        classes=classes,
    )


def _validation(ctx: Context, res: dict[str, Any], labels: dict[str, str]) -> Section:
    sub = Section("effects-validation", "Are the per-patient predictions worth acting on?")
    rows = []
    for e in res["targets"].values():
        for arm, v in e["validation"].items():
            s, a = v["blp"]["slope"], v["toc"]["autoc"]
            rows.append(
                [
                    f"{e['label']}: {labels[arm]}",
                    interval(s["estimate"], s["ci_low"], s["ci_high"], 2, landmarks=(0, 1)),
                    checks.p_text(v["blp"]["p_value"]).removeprefix("p = "),
                    interval(
                        a["estimate"],
                        a["ci_low"],
                        a["ci_high"],
                        checks.digits(e["kind"]),
                        landmarks=(0,),
                    ),
                ]
            )
    sub.add(
        Paragraph(
            "Calibration slope: the observed (doubly robust) effect regressed on the predicted "
            "effect; above 0, the predictions separate patients who gain more from those who "
            "gain less; near 1, they are also the right size. AUTOC: the average extra benefit "
            "among the patients predicted to gain most (0: the ranking is no better than chance)."
        )
    )
    sub.add(
        Table(
            "Heterogeneity of the predicted effects (95% CI)",
            ["Outcome and treatment", "Calibration slope", "p (slope > 0)", "AUTOC"],
            rows,
        )
    )
    target = res["policy_target"]
    e = res["targets"][target]
    sub.add(_policy(e, checks.digits(e["kind"])))
    slug = ctx_slug(target)
    sub.add(
        ctx.figure(
            f"effects/{slug}_groups.png",
            f"{e['label']}: observed vs predicted effect by predicted-effect group "
            "(fifths of patients, lowest predicted effect first).",
            f"{e['label']}: effects by predicted-benefit group",
        )
    )
    sub.add(
        ctx.figure(
            f"effects/{slug}_toc.png",
            f"{e['label']}: targeting operator characteristic (TOC) with 95% "
            "bootstrap bands; a curve above 0 means the top-ranked patients gain "
            "more than average.",
            f"{e['label']}: TOC curve",
        )
    )
    return sub


def ctx_slug(target: str) -> str:
    from lbp_outcomes.paths import slug

    return slug(target)


def _policy(e: dict[str, Any], d: int) -> Table:
    p = e["policy"]
    rows = [
        [name, interval(v["estimate"], v["ci_low"], v["ci_high"], d)]
        for name, v in (
            ("Learned rule (best predicted arm)", p["value"]["learned"]),
            ("Best single arm for everyone", p["value"]["best_single_arm"]),
            ("Random assignment", p["value"]["random"]),
        )
    ]
    gain = p["gain_vs_best_single_arm"]
    rows.append(
        [
            "Gain of the learned rule over the best single arm",
            interval(gain["estimate"], gain["ci_low"], gain["ci_high"], d, landmarks=(0,)),
        ]
    )
    return Table(
        f"Policy value, {e['label']}: mean outcome if every patient followed the "
        "rule (doubly robust, held-out folds, 95% CI)",
        ["Rule", "Value"],
        rows,
        notes=["A gain whose CI includes 0 is no evidence that personalising helps."],
    )
