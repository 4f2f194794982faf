"""Report section: calibration curves, decision curves and subgroup performance (written by
the train and external stages through :mod:`lbp_outcomes.clinical`)."""

from __future__ import annotations

from typing import Any

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
    sub.add(
        Paragraph(
            "Each curve is the observed outcome smoothed against the predicted value (LOWESS, "
            "two thirds of the patients in each local fit): on the dashed diagonal, predictions "
            "mean what they say; above it, the model under-predicts; below it, it "
            "over-predicts. The champion's curve is bold, with a 95% pointwise bootstrap band "
            "(200 resamples of patients); under it, the distribution of its predictions (for a "
            "yes/no outcome, patients with the outcome above the axis, without below). "
            "Cross-validation curves use each patient's out-of-fold prediction averaged over "
            "the repeats."
        )
    )
    for target in ctx.targets:
        for where, title in WHERE.items():
            rel = f"plots/{where}/{slug(target)}_calibration.png"
            if not (ctx.inputs.root / "reports" / rel).is_file():
                continue
            sub.add(
                ctx.figure(
                    rel,
                    f"{ctx.label(target)}: flexible calibration curve, {title}.",
                    f"{ctx.label(target)}: calibration curve, {title}",
                )
            )
    return sub


def _decision(ctx: Context) -> Section | None:
    results = {w: (ctx.inputs.clinical or {}).get(w, {}).get("decision") or {} for w in WHERE}
    targets = [t for t in ctx.targets if any(t in r for r in results.values())]
    if not targets:
        return None
    sub = Section("clinical-decision", "Decision curves")
    sub.add(
        Paragraph(
            "Would acting on the model's predictions do more good than treating every patient "
            "or no one? A decision curve plots the net benefit, TP/n - FP/n x pt/(1 - pt) (true "
            "positives per patient, with false positives weighted by the odds of the threshold "
            "probability pt), against pt, the predicted probability at which one would act. "
            "The model is useful where its curve lies above both treat all and treat none "
            "(net benefit 0). Computed with dcurves on the out-of-fold predictions and in the "
            "external cohort."
        )
    )
    for target in targets:
        for where, title in WHERE.items():
            entry = results[where].get(target)
            if not entry:
                continue
            sub.add(
                ctx.figure(
                    f"plots/{where}/{slug(target)}_decision.png",
                    f"{ctx.label(target)}: decision curves, {title} ({entry['n']} patients, "
                    f"{pct(entry['prevalence'])} with the outcome).",
                    f"{ctx.label(target)}: decision curves, {title}",
                )
            )
        sub.add(_decision_table(ctx, target, results))
    return sub


def _decision_table(ctx: Context, target: str, results: dict[str, Any]) -> Table:
    header, columns, notes = ["Threshold probability"], [], []
    for where, title in WHERE.items():
        entry = results[where].get(target)
        if not entry:
            continue
        champion = ctx.family(entry["champion"])
        header += [f"{champion}, {title}", f"Treat all, {title}"]
        columns.append({row["threshold"]: row for row in entry["summary"]})
        useful = entry.get("useful")
        notes.append(
            f"{title.capitalize()}: the champion beats both treat all and treat none at "
            f"{useful['count']} of {entry.get('thresholds', DASH)} thresholds (1% steps), "
            f"between {pct(useful['from'], 0)} and {pct(useful['to'], 0)}."
            if useful
            else f"{title.capitalize()}: the champion never beats both treat all and treat none."
        )
    thresholds = sorted({t for col in columns for t in col})
    rows = []
    for t in thresholds:
        row = [pct(t, 0)]
        for col in columns:
            cell = col.get(t)
            row += [num(cell["model"], 3), num(cell["treat_all"], 3)] if cell else [DASH, DASH]
        rows.append(row)
    notes.append("Net benefit in true positives per patient; treat none is 0 throughout.")
    return Table(f"{ctx.label(target)}: net benefit at selected thresholds", header, rows, notes)


def _subgroups(ctx: Context) -> Section:
    sub = Section("clinical-subgroups", "Performance in subgroups")
    found = {w: (ctx.inputs.clinical or {}).get(w, {}).get("subgroups") or {} for w in WHERE}
    settings = next((f["settings"] for f in found.values() if f.get("settings")), {})
    sub.add(
        Paragraph(
            "Does the champion work equally well across sites and the subgroups the data "
            "config declares (`subgroups`)? Estimates with 95% bootstrap CIs within each "
            "group; cross-validation uses each patient's out-of-fold prediction averaged "
            "over the repeats. A group with fewer than "
            f"{settings.get('min_patients', DASH)} patients, or (yes/no outcomes) fewer than "
            f"{settings.get('min_events', DASH)} in its smaller outcome class, gets a caution "
            "instead of numbers."
        )
    )
    shown = False
    for target in ctx.targets:
        entries = {w: (found[w].get("targets") or {}).get(target) for w in WHERE}
        entries = {w: e for w, e in entries.items() if e and e.get("groups")}
        if entries:
            sub.add(_subgroup_table(ctx, target, entries))
            shown = True
    if not shown:
        sub.add(Note("No subgroups: the data config names no site column and no `subgroups`."))
    return sub


def _subgroup_table(ctx: Context, target: str, entries: dict[str, Any]) -> Table:
    task = ctx.task(target)
    order = list(SHOWN[task])
    binary = task == "binary"
    observed = "Observed / predicted risk" if binary else "Mean observed / predicted"
    header = ["Group", "n" + (" (events)" if binary else ""), observed]
    header += [metric_header(m, task, ctx.unit(target)) for m in order]
    rows, classes, cautions = [], [], []
    for where, entry in entries.items():
        rows.append([f"{WHERE[where].capitalize()}: {ctx.family(entry['champion'])}"])
        rows[-1] += [""] * (len(header) - 1)
        classes.append("group")
        for g in entry["groups"]:
            # subgroup columns go by name in the stage outputs; their display label is ours
            label = ctx.label(g["column"]) if g["label"] == g.get("column") else g["label"]
            name = f"{label}: {g['level']}"
            n = f"{g['n']} ({g['events']})" if binary else str(g["n"])
            fmt = (lambda v: pct(v)) if binary else (lambda v: num(v, 2))
            ratio = f"{fmt(g['observed'])} / {fmt(g['predicted'])}"
            if g.get("caution"):
                cells = ["caution"] + [""] * (len(order) - 1)
                cautions.append(f"{WHERE[where]}, {name}: {g['caution']}.")
            else:
                cells = [metric_value(m, g["metrics"].get(m), "estimate") for m in order]
            rows.append([name, n, ratio, *cells])
            classes.append("level")
    return Table(
        f"{ctx.label(target)}: champion performance by subgroup",
        header,
        rows,
        notes=cautions,
        classes=classes,
    )
