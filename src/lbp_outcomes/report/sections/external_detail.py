"""External validation, continued: case mix, model updating and prediction intervals."""

from __future__ import annotations

from lbp_outcomes.catalog import ExternalMetrics, ExternalTarget
from lbp_outcomes.report import prose
from lbp_outcomes.report.context import Context
from lbp_outcomes.report.document import (
    Paragraph,
    Section,
    Table,
    is_number,
    metric_header,
    metric_order,
    metric_value,
    num,
    pct,
)

PHRASES = "external/phrases"
SMD_FLAG = 0.1  # |SMD| at or above this is commonly read as a meaningful imbalance
UPDATES = {  # recalibration.json kinds, in reading order, and their row names
    "original": "As developed",
    "intercept": "Intercept updated",
    "intercept_slope": "Intercept and slope updated",
}


def say(name: str, /, **values: object) -> str:
    return prose.phrase(PHRASES, name, **values)


def case_mix(ctx: Context, report: ExternalMetrics) -> Section:
    section = Section("external-case-mix", "Case mix: how the external patients differ")
    mix = report.case_mix
    auroc = mix.membership_auroc if mix else None
    if auroc is not None:
        value = metric_value("auroc", auroc, "estimate")
        section.add(Paragraph(prose.text("external/case_mix", auroc=value)))
    smd = mix.smd if mix else {}
    if smd:
        items = sorted(smd.items(), key=lambda kv: (-abs(kv[1]) if is_number(kv[1]) else 0, kv[0]))
        rows = [
            [ctx.label(k), num(v, 2), say("yes_no", flag=is_number(v) and abs(v) >= SMD_FLAG)]
            for k, v in items
        ]
        section.add(
            Table(
                say("case_mix_caption"),
                ["Predictor", "SMD", "|SMD| ≥ 0.1"],
                rows,
                notes=[prose.text("external/smd_note")],
            )
        )
    caption = prose.text("external/case_mix_caption")
    return section.add(
        ctx.figure("plots/external/case_mix.png", caption, "Case-mix differences between cohorts")
    )


def updating(ctx: Context, targets: dict[str, ExternalTarget]) -> Section | None:
    """Each champion as developed and with its intercept (and slope) updated."""
    entries = {t: e for t, e in targets.items() if e.recalibration is not None}
    if not entries:
        return None
    section = Section("external-updating", "Model updating (recalibration)")
    first = next(iter(entries.values())).recalibration or {}
    fraction = first.get("fit_fraction", ctx.params.external.recalibration.fit_fraction)
    splits = first.get("splits", ctx.params.external.recalibration.repeats)
    text = prose.text("external/updating", fraction=pct(fraction, 0), splits=splits)
    section.add(Paragraph(text))
    for target, entry in entries.items():
        task = entry.task
        recal = entry.recalibration or {}
        kinds = [k for k in UPDATES if isinstance(recal.get(k), dict)]
        kinds += sorted(k for k, v in recal.items() if isinstance(v, dict) and k not in UPDATES)
        order = metric_order(task, {m for k in kinds for m in recal[k]})
        rows = [
            [
                UPDATES.get(k, k.replace("_", " ")),
                *(metric_value(m, recal[k].get(m)) for m in order),
            ]
            for k in kinds
        ]
        caption = say(
            "updating_caption", label=ctx.label(target), family=ctx.family(entry.champion)
        )
        header = ["Model", *(metric_header(m, task, ctx.unit(target)) for m in order)]
        section.add(Table(caption, header, rows, notes=[say("updating_note")]))
    return section


def intervals(ctx: Context, targets: dict[str, ExternalTarget]) -> Section | None:
    """Conformal prediction-interval coverage of the regression champions."""
    rows = []
    for target, entry in targets.items():
        info = entry.interval
        if info is None:
            continue
        rows.append(
            [
                ctx.label(target),
                ctx.family(entry.champion),
                pct(info.level, 0),
                pct(info.coverage),
                say("width", value=num(info.mean_width, 2), unit=ctx.unit(target)),
            ]
        )
    if not rows:
        return None
    section = Section("external-intervals", "Prediction intervals")
    section.add(
        Paragraph(prose.text("external/intervals")),
        Table(
            say("intervals_caption"),
            ["Outcome", "Champion", "Nominal level", "Coverage", "Mean width"],
            rows,
            notes=[prose.text("external/intervals_note")],
            numeric=[False, False, True, True, True],
        ),
    )
    return section
