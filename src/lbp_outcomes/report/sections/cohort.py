"""Cohort and data flow (the cleaning stage's flow per cohort) and Table 1."""

from __future__ import annotations

from typing import Any

from lbp_outcomes.catalog import CLEANING, CleaningFlow
from lbp_outcomes.report import prose, tables
from lbp_outcomes.report.context import Context
from lbp_outcomes.report.document import (
    DASH,
    Bullets,
    Flow,
    FlowCohort,
    Note,
    Paragraph,
    Section,
)
from lbp_outcomes.report.sections.common import missing_input

PHRASES = "cohort/phrases"


def cohort(ctx: Context) -> Section:
    section = Section("cohort", "Cohort and data flow")
    cleaning = ctx.inputs.cleaning
    if not cleaning:
        return section.add(missing_input(CLEANING, "clean"))
    columns, texts = [], []
    for name in ("development", "external"):
        flow = cleaning.get(name)
        if flow is None:
            continue
        title = prose.phrase(PHRASES, "title", name=name)
        source = flow.source or ctx.inputs.source(name) or ""
        excluded = sorted(flow.excluded.items(), key=lambda kv: (-kv[1], kv[0]))
        columns.append(
            FlowCohort(
                title=title,
                source=str(source),
                received=flow.rows_in,
                excluded=excluded,
                excluded_total=flow.excluded_total,
                analysed=flow.rows_out,
                outcomes=_outcome_counts(ctx, name, flow),
            )
        )
        texts.append(_flow_line(ctx, title, source, flow, excluded))
    section.add(Flow(columns, prose.text("cohort/flow_caption")))
    section.add(Bullets(texts))
    rules = prose.text("cohort/cleaning_rules", max_dropped=ctx.cfg.cleaning.max_dropped_fraction)
    return section.add(Paragraph(rules))


def _flow_line(
    ctx: Context, title: str, source: Any, flow: CleaningFlow, excluded: list[tuple[str, int]]
) -> str:
    """One cohort's flow in words (the diagram's twin)."""
    gaps = {c: n for c, n in sorted(flow.missing.items()) if n and c != ctx.cfg.id_column}
    return prose.text(
        "cohort/flow_line",
        title=title,
        received=_or_dash(flow.rows_in),
        source=source,
        excluded_total=flow.excluded_total or 0,
        excluded=excluded,
        analysed=_or_dash(flow.rows_out),
        gaps=[(ctx.label(c), n) for c, n in gaps.items()],
    )


def _or_dash(value: int | None) -> Any:
    return DASH if value is None else value


def _outcome_counts(ctx: Context, cohort_name: str, flow: CleaningFlow) -> list[tuple[str, str]]:
    """Patients with each outcome: declared targets from cleaning, MCIC targets from the
    feature files."""
    counts: list[tuple[str, str]] = []
    available = flow.targets_available
    frame = ctx.inputs.development if cohort_name == "development" else ctx.inputs.external_frame
    for target in ctx.cfg.all_targets:
        if target in available:
            counts.append((ctx.label(target), str(available[target])))
        elif frame is not None and target in frame.columns:
            counts.append((ctx.label(target), str(int(frame[target].notna().sum()))))
    return counts


def characteristics(ctx: Context) -> Section:
    """Table 1 (tables.characteristics), development vs external cohort."""
    section = Section("characteristics", "Patient characteristics (Table 1)")
    dev = ctx.inputs.development
    if dev is None:
        return section.add(missing_input("data/features/development.parquet", "features"))
    try:
        table = tables.characteristics(ctx.cfg, dev, ctx.inputs.external_frame)
    except Exception as exc:  # tableone rejects some degenerate columns; say so, go on
        return section.add(Note(prose.phrase(PHRASES, "table1_failed", error=exc), tone="warning"))
    if ctx.inputs.external_frame is None:
        section.add(Paragraph(prose.phrase(PHRASES, "table1_development_only")))
    return section.add(table)
