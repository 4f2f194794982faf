"""Cross-validated performance: per target, every family's metrics and the honest estimate."""

from __future__ import annotations

from lbp_outcomes.catalog import CV_METRICS
from lbp_outcomes.report import prose
from lbp_outcomes.report.context import Context, slug
from lbp_outcomes.report.document import (
    DASH,
    Note,
    Paragraph,
    Section,
    Table,
    metric_header,
    metric_order,
    metric_value,
    num,
)
from lbp_outcomes.report.sections.common import ci_level, metric_note, missing_input

PHRASES = "cv/phrases"


def cross_validation(ctx: Context) -> Section:
    section = Section("cv", "Cross-validated performance")
    if not ctx.inputs.cv:
        return section.add(missing_input(CV_METRICS, "train"))
    section.add(Paragraph(prose.text("cv/intro", cv=ctx.params.cv, ci_level=ci_level(ctx))))
    skipped = ctx.inputs.cv_notes.skipped_targets if ctx.inputs.cv_notes else {}
    for target, why in sorted(skipped.items()):
        text = prose.phrase(PHRASES, "skipped", label=ctx.label(target), why=why)
        section.add(Note(text, tone="warning"))
    for target in ctx.targets:
        label = ctx.label(target)
        sub = section.sub(f"cv-{slug(target)}", label)
        sub.add(cv_table(ctx, target))
        caption = prose.text("cv/figure_caption", label=label, task=ctx.task(target))
        alt = prose.phrase(PHRASES, "figure_alt", label=label)
        sub.add(ctx.figure(f"plots/cv/{slug(target)}.png", caption, alt))
    return section


def cv_table(ctx: Context, target: str) -> Table:
    """One row per family (the champion marked), then the honest estimate and the oracle."""
    entry = ctx.cv_entry(target)
    assert entry is not None  # tables only for cross-validated targets
    task = ctx.task(target)
    champion = entry.champion
    families = ctx.family_order(ctx.inputs.families(target))
    present = {m for f in families for m in entry.families[f]}
    order = metric_order(task, present)
    header = ["Model family", *(metric_header(m, task, ctx.unit(target)) for m in order)]
    rows, classes = [], []
    for family in families:
        name = prose.phrase(PHRASES, "family", name=ctx.family(family), champion=family == champion)
        rows.append([name, *(metric_value(m, entry.families[family].get(m)) for m in order)])
        classes.append("champion" if family == champion else "")
    honest = entry.selected
    if honest is not None and honest.metric in order:
        # The headline: the choice of family cross-validated too (lbp_outcomes.selection).
        stats = {"mean": honest.mean, "ci_low": honest.ci[0], "ci_high": honest.ci[1]}
        cells = [metric_value(m, stats) if m == honest.metric else DASH for m in order]
        rows.append([prose.phrase(PHRASES, "honest_row"), *cells])
        classes.append("summary")
    oracle = ctx.inputs.oracle_r2("development", target)
    if oracle is not None and "r2" in order:
        cells = [num(oracle, 3) if m == "r2" else DASH for m in order]
        rows.append([prose.phrase(PHRASES, "oracle_row"), *cells])
        classes.append("summary")
    caption = prose.phrase(PHRASES, "table_caption", label=ctx.label(target), ci=ci_level(ctx))
    events = ctx.events(target) if task == "binary" else None
    capped = ctx.inputs.cv_notes.subsampled if ctx.inputs.cv_notes else {}
    notes = prose.blocks(
        "cv/table_notes",
        honest=honest is not None and honest.metric in order,
        ensemble_score=ctx.params.tuning.ensemble_score,
        n=entry.n,
        events=events[0] if events else None,
        total=events[1] if events else 0,
        oracle=num(oracle, 3) if oracle is not None else None,
        capped=[
            (ctx.family(f), f, capped[f"{target}/{f}"])
            for f in families
            if f"{target}/{f}" in capped
        ],
        metrics=metric_note(order, ctx.unit(target)),
    )
    return Table(caption, header, rows, notes=notes, classes=classes)
