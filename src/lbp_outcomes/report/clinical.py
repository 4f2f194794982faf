"""Report section: calibration curves, decision curves and subgroup performance (written by
the train and external stages through :mod:`lbp_outcomes.clinical`). The wording lives in
templates/prose/clinical/."""

from __future__ import annotations

from typing import Any

from lbp_outcomes.report import prose
from lbp_outcomes.report.context import Context, slug
from lbp_outcomes.report.document import (
    DASH,
    Note,
    Paragraph,
    Section,
    Table,
    metric_header,
    metric_value,
    num,
    pct,
)
from lbp_outcomes.subgroups import SHOWN

WHERE = {"cv": "cross-validation (out-of-fold)", "external": "external cohort"}
PHRASES = "clinical/phrases"


def say(name: str, /, **values: object) -> str:
    return prose.phrase(PHRASES, name, **values)


def section(ctx: Context) -> Section | None:
    """The section, or None when neither stage wrote its clinical results."""
    found = ctx.inputs.clinical or {}
    if not any(found.get(w) for w in WHERE):
        return None
    out = Section("clinical", "Calibration curves, decision curves and subgroups")
    out.subsections.append(_calibration(ctx))
    decision = _decision(ctx)
    if decision is not None:
        out.subsections.append(decision)
    out.subsections.append(_subgroups(ctx))
    return out


def _calibration(ctx: Context) -> Section:
    sub = Section("clinical-calibration", "Flexible calibration curves")
    sub.add(Paragraph(prose.text("clinical/calibration")))
    for target in ctx.targets:
        label = ctx.label(target)
        for where, title in WHERE.items():
            rel = f"plots/{where}/{slug(target)}_calibration.png"
            if not (ctx.inputs.root / "reports" / rel).is_file():
                continue
            caption = say("calibration_caption", label=label, where=title)
            sub.add(ctx.figure(rel, caption, say("calibration_alt", label=label, where=title)))
    return sub


def _decision(ctx: Context) -> Section | None:
    results = {w: (ctx.inputs.clinical or {}).get(w, {}).get("decision") or {} for w in WHERE}
    targets = [t for t in ctx.targets if any(t in r for r in results.values())]
    if not targets:
        return None
    sub = Section("clinical-decision", "Decision curves")
    sub.add(Paragraph(prose.text("clinical/decision")))
    for target in targets:
        label = ctx.label(target)
        for where, title in WHERE.items():
            entry = results[where].get(target)
            if not entry:
                continue
            caption = say(
                "decision_caption",
                label=label,
                where=title,
                n=entry["n"],
                prevalence=pct(entry["prevalence"]),
            )
            alt = say("decision_alt", label=label, where=title)
            sub.add(ctx.figure(f"plots/{where}/{slug(target)}_decision.png", caption, alt))
        sub.add(_decision_table(ctx, target, results))
    return sub


def _decision_table(ctx: Context, target: str, results: dict[str, Any]) -> Table:
    """Net benefit of the champion and of treat all at the summary thresholds, per cohort."""
    header, columns, cohorts = ["Threshold probability"], [], []
    for where, title in WHERE.items():
        entry = results[where].get(target)
        if not entry:
            continue
        family = ctx.family(entry["champion"])
        header += [
            say("model_column", family=family, where=title),
            say("treat_all_column", where=title),
        ]
        columns.append({row["threshold"]: row for row in entry["summary"]})
        cohorts.append((title, entry.get("useful"), entry.get("thresholds", DASH)))
    thresholds = sorted({t for col in columns for t in col})
    rows = []
    for t in thresholds:
        row = [pct(t, 0)]
        for col in columns:
            cell = col.get(t)
            row += [num(cell["model"], 3), num(cell["treat_all"], 3)] if cell else [DASH, DASH]
        rows.append(row)
    notes = prose.blocks("clinical/decision_notes", cohorts=cohorts)
    caption = say("decision_table_caption", label=ctx.label(target))
    return Table(caption, header, rows, notes)


def _subgroups(ctx: Context) -> Section:
    sub = Section("clinical-subgroups", "Performance in subgroups")
    found = {w: (ctx.inputs.clinical or {}).get(w, {}).get("subgroups") or {} for w in WHERE}
    settings = next((f["settings"] for f in found.values() if f.get("settings")), {})
    text = prose.text(
        "clinical/subgroups",
        min_patients=settings.get("min_patients", DASH),
        min_events=settings.get("min_events", DASH),
    )
    sub.add(Paragraph(text))
    shown = False
    for target in ctx.targets:
        entries = {w: (found[w].get("targets") or {}).get(target) for w in WHERE}
        entries = {w: e for w, e in entries.items() if e and e.get("groups")}
        if entries:
            sub.add(_subgroup_table(ctx, target, entries))
            shown = True
    if not shown:
        sub.add(Note(say("no_subgroups")))
    return sub


def _subgroup_table(ctx: Context, target: str, entries: dict[str, Any]) -> Table:
    task = ctx.task(target)
    order = list(SHOWN[task])
    binary = task == "binary"
    header = [
        "Group",
        say("n_header", binary=binary),
        say("observed_header", binary=binary),
        *(metric_header(m, task, ctx.unit(target)) for m in order),
    ]
    rows, classes, cautions = [], [], []
    for where, entry in entries.items():
        family = ctx.family(entry["champion"])
        rows.append([say("cohort_row", where=WHERE[where], family=family)])
        rows[-1] += [""] * (len(header) - 1)
        classes.append("group")
        for g in entry["groups"]:
            # subgroup columns go by name in the stage outputs; their display label is ours
            label = ctx.label(g["column"]) if g["label"] == g.get("column") else g["label"]
            name = say("level", label=label, level=g["level"])
            n = say("n_events", n=g["n"], events=g.get("events"), binary=binary)
            fmt = pct if binary else (lambda v: num(v, 2))
            ratio = say("ratio", observed=fmt(g["observed"]), predicted=fmt(g["predicted"]))
            if g.get("caution"):
                cells = ["caution"] + [""] * (len(order) - 1)
                cautions.append(say("caution", where=WHERE[where], name=name, why=g["caution"]))
            else:
                cells = [metric_value(m, g["metrics"].get(m), "estimate") for m in order]
            rows.append([name, n, ratio, *cells])
            classes.append("level")
    caption = say("subgroup_caption", label=ctx.label(target))
    return Table(caption, header, rows, notes=cautions, classes=classes)
