"""Report section "Which treatment, for whom" (reports/effects/, the effects stage).

Reads reports/effects/effects.json itself, so the rest of the report code only calls
:func:`section`. No section for a cohort without a treatment block."""

from __future__ import annotations

import json
from typing import Any

from lbp_outcomes.report import effects_checks as checks
from lbp_outcomes.report import prose
from lbp_outcomes.report.context import Context, slug
from lbp_outcomes.report.document import (
    Bullets,
    Note,
    Paragraph,
    Section,
    Table,
    interval,
)

RESULTS = "effects/effects.json"
PHRASES = "effects/phrases"


def say(name: str, /, **values: object) -> str:
    return prose.phrase(PHRASES, name, **values)


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
        why = (res or {}).get("reason", say("missing", rel=f"reports/{RESULTS}"))
        return out.add(Note(say("not_available", why=why)))
    for name, entry in res["targets"].items():
        entry["label"] = ctx.label(name)  # display text is the report's (data config display:)
    labels, ref = res["arms"], res["arms"][res["reference"]]
    intro = prose.text("effects/intro", res=res, ref=ref, final=res.get("final", "forest"))
    out.add(Paragraph(intro))
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
    """Per outcome, whether the effects differ between patients; then the advice."""
    verdicts = [
        (e["label"], e["heterogeneity"]["found"], checks.p_text(e["heterogeneity"]["p_value"]))
        for e in res["targets"].values()
    ]
    rec = res["recommendation"]
    personalised = rec["mode"] == "personalised"
    advice = prose.text(
        "effects/advice",
        personalised=personalised,
        target=res["targets"][res["policy_target"]]["label"],
        best=None if personalised else labels[rec["best_on_average"]],
    )
    return [Bullets(prose.blocks("effects/verdicts", verdicts=verdicts)), Note(advice)]


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
        say("averages_caption", reference=labels[res["reference"]]),
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
                    say("validation_row", label=e["label"], arm=labels[arm]),
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
    sub.add(Paragraph(prose.text("effects/validation")))
    sub.add(
        Table(
            say("validation_caption"),
            ["Outcome and treatment", "Calibration slope", "p (slope > 0)", "AUTOC"],
            rows,
        )
    )
    target = res["policy_target"]
    e = res["targets"][target]
    sub.add(_policy(e, checks.digits(e["kind"])))
    label = e["label"]
    for kind in ("groups", "toc"):
        rel = f"effects/{slug(target)}_{kind}.png"
        sub.add(
            ctx.figure(rel, say(f"{kind}_caption", label=label), say(f"{kind}_alt", label=label))
        )
    return sub


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
        say("policy_caption", label=e["label"]),
        ["Rule", "Value"],
        rows,
        notes=[say("policy_note")],
    )
