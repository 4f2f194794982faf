"""External validation: the champions in the external cohort, beside their CV results."""

from __future__ import annotations

from lbp_outcomes.catalog import EXTERNAL_METRICS, ExternalTarget
from lbp_outcomes.report import prose
from lbp_outcomes.report.context import Context, slug
from lbp_outcomes.report.document import (
    DASH,
    METRICS,
    Note,
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
from lbp_outcomes.report.sections import external_detail as detail
from lbp_outcomes.report.sections.common import metric_note, missing_input, primary

PHRASES = "external/phrases"


def say(name: str, /, **values: object) -> str:
    return prose.phrase(PHRASES, name, **values)


def external(ctx: Context) -> Section:
    section = Section("external", "External validation")
    report = ctx.inputs.external
    if report is None:
        return section.add(missing_input(EXTERNAL_METRICS, "external"))
    if not report.available:
        return section.add(Paragraph(say("not_performed", reason=report.reason)))
    intro = prose.text(
        "external/intro",
        n=report.n if report.n is not None else DASH,
        source=ctx.inputs.source("external"),
        ext=ctx.params.external,
    )
    section.add(Paragraph(intro))
    shift = _shift_text(ctx)
    if shift:
        section.add(Paragraph(shift))

    given = report.targets
    targets = {t: given[t] for t in ctx.ordered(given)}
    perf = section.sub("external-performance", "Discrimination and accuracy")
    perf.add(_summary(ctx, targets))
    for target, entry in targets.items():
        if entry.note:
            perf.add(Note(say("target_note", label=ctx.label(target), note=entry.note), "warning"))
        if entry.families:
            perf.add(_table(ctx, target, entry))
    section.subsections.append(_calibration(ctx, targets))
    section.subsections.append(detail.case_mix(ctx, report))
    for part in (detail.updating(ctx, targets), detail.intervals(ctx, targets)):
        if part is not None:
            section.subsections.append(part)
    return section


def _calibration(ctx: Context, targets: dict[str, ExternalTarget]) -> Section:
    cal = Section("external-calibration", "Calibration")
    cal.add(Paragraph(prose.text("external/calibration")))
    for target, entry in targets.items():
        if not entry.families:
            continue
        label = ctx.label(target)
        caption = prose.text(
            "external/figure_caption",
            label=label,
            task=entry.task,
            family=ctx.family(entry.champion),
        )
        alt = say("figure_alt", label=label)
        cal.add(ctx.figure(f"plots/external/{slug(target)}.png", caption, alt))
    return cal


def _shift_text(ctx: Context) -> str:
    """How the synthetic external cohort was made to differ (from the cohort manifest)."""
    ext = (ctx.inputs.synthetic or {}).get("external")
    if not isinstance(ext, dict):
        return ""
    mix = ext.get("case_mix_shift") or {}
    shifts = []
    for key, value in sorted(mix.items()) if mix.get("enabled") else []:
        if key == "enabled" or value is None:
            continue
        if is_number(value) and value:
            shifts.append(say("shift_by", label=ctx.label(key), value=value))
        elif isinstance(value, dict) and {"sessions", "weights"} <= set(value):
            weights = [pct(w, 0) for w in value["weights"]]
            parts = list(zip(value["sessions"], weights, strict=False))
            shifts.append(say("shift_to", label=ctx.label(key), parts=parts))
    outcome = ext.get("outcome_shift") or {}
    return prose.text(
        "external/shift",
        site=ext.get("site"),
        mix=bool(mix.get("enabled")),
        shifts="; ".join(shifts),
        outcome=bool(outcome.get("enabled")),
        scale=outcome.get("response_scale", DASH),
    )


def _summary(ctx: Context, targets: dict[str, ExternalTarget]) -> Table:
    """Champion per outcome: development (CV) vs external, with the oracle when known."""
    rows = [_summary_row(ctx, target, entry) for target, entry in targets.items()]
    has_oracle = any(
        ctx.inputs.oracle_r2("external", t) is not None
        for t, e in targets.items()
        if e.task == "regression"
    )
    header = prose.blocks("external/summary_header")
    if not has_oracle:
        header = header[:-1]
        rows = [r[:-1] for r in rows]
    return Table(
        say("summary_caption"),
        header,
        rows,
        notes=prose.blocks("external/summary_notes", oracle=has_oracle),
        numeric=[False, False, True, False, True, True, True, True][: len(header)],
    )


def _summary_row(ctx: Context, target: str, entry: ExternalTarget) -> list[str]:
    metric = primary(entry.task)
    cv_entry = ctx.cv_entry(target)
    champion = entry.champion or (cv_entry.champion if cv_entry else "")
    cv_stats = cv_entry.families.get(champion, {}).get(metric) if cv_entry else None
    stats = entry.families.get(champion, {})
    slope = stats.get("calibration_slope")
    oracle = ctx.inputs.oracle_r2("external", target) if entry.task == "regression" else None
    return [
        ctx.label(target),
        ctx.family(champion or DASH),
        str(entry.n),
        METRICS[metric].label,
        metric_value(metric, cv_stats) if cv_stats else DASH,
        metric_value(metric, stats[metric], "estimate") if metric in stats else DASH,
        metric_value("calibration_slope", slope, "estimate") if slope is not None else DASH,
        num(oracle, 3) if oracle is not None else DASH,
    ]


def _table(ctx: Context, target: str, entry: ExternalTarget) -> Table:
    """Every final model of one target in the external cohort, the champion marked."""
    task, families, champion = entry.task, entry.families, entry.champion
    present = {m for stats in families.values() for m in stats}
    order = metric_order(task, present)
    rows, classes = [], []
    for family in ctx.family_order(list(families)):
        name = prose.phrase(
            "cv/phrases", "family", name=ctx.family(family), champion=family == champion
        )
        rows.append([name, *(metric_value(m, families[family].get(m), "estimate") for m in order)])
        classes.append("champion" if family == champion else "")
    caption = say(
        "table_caption",
        label=ctx.label(target),
        n=entry.n,
        ci=f"{ctx.params.external.ci_level:.0%}",
    )
    return Table(
        caption,
        ["Model family", *(metric_header(m, task, ctx.unit(target)) for m in order)],
        rows,
        notes=[metric_note(order, ctx.unit(target))],
        classes=classes,
    )
