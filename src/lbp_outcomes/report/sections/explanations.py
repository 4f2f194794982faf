"""Explanations (SHAP) per target's champion, beside the paper's top predictors; and the
limitations, which depend on what the run did."""

from __future__ import annotations

from typing import Any

from lbp_outcomes.catalog import IMPORTANCE, TargetImportance
from lbp_outcomes.report import prose
from lbp_outcomes.report.context import Context, slug
from lbp_outcomes.report.document import DASH, Bullets, Paragraph, Section, Table, sig
from lbp_outcomes.report.sections.common import missing_input

PHRASES = "explanations/phrases"
TOP_N = 5  # the paper reports its top five predictors


def say(name: str, /, **values: object) -> str:
    return prose.phrase(PHRASES, name, **values)


def explanations(ctx: Context) -> Section:
    section = Section("explanations", "Explanations (SHAP)")
    shap = ctx.inputs.shap
    if shap is None:
        return section.add(missing_input(IMPORTANCE, "explain"))
    section.add(Paragraph(prose.text("explanations/intro")))
    comparisons = []
    for target in ctx.ordered(shap):
        entry = shap[target]
        section.subsections.append(_target(ctx, target, entry))
        ref = entry.reference
        if ref is not None and ref.get("top_predictors"):
            overlap = ref.get("overlap", len(ref.get("shared", [])))
            comparisons.append((ctx.label(target), overlap, len(ref["top_predictors"])))
    if comparisons:
        section.add(Paragraph(prose.text("explanations/overlap", comparisons=comparisons)))
    return section


def _target(ctx: Context, target: str, entry: TargetImportance) -> Section:
    """One target's champion: its top predictors, the bar and beeswarm plots, the paper's."""
    label = ctx.label(target)
    sub = Section(f"shap-{slug(target)}", label)
    unit = entry.shap_unit or "model output units"
    family = ctx.family(entry.family)
    sub.add(Paragraph(prose.text("explanations/champion", family=family, entry=entry, unit=unit)))
    top_k = ctx.params.explain.top_k
    features = entry.features
    ranking = entry.ranking or sorted(features, key=lambda c: -features[c])
    rows = [[str(i), ctx.label(c), sig(features.get(c))] for i, c in enumerate(ranking[:top_k], 1)]
    if rows:
        caption = say("top_caption", label=label, n=len(rows), family=family)
        header = ["Rank", "Predictor", say("shap_header", unit=unit)]
        sub.add(Table(caption, header, rows, numeric=[True, False, True]))
    words = {"label": label, "top_k": top_k, "unit": unit}
    for kind in ("bar", "beeswarm"):
        caption = prose.text(f"explanations/{kind}_caption", **words)
        alt = say("figure_alt", label=label, kind=kind)
        sub.add(ctx.figure(f"shap/{slug(target)}_{kind}.png", caption, alt))
    ref = entry.reference
    if ref is not None and ref.get("top_predictors"):
        sub.add(_paper(ctx, target, entry, ref))
    return sub


def _paper(ctx: Context, target: str, entry: TargetImportance, ref: dict[str, Any]) -> Table:
    """The paper's top predictors and where they rank here."""
    ranking = entry.ranking
    top = ref.get("top5") or ranking[:TOP_N]
    group_shared = set(ref.get("group_shared") or [])
    not_inputs = set(ref.get("not_inputs") or [])
    rows = []
    for i, name in enumerate(ref["top_predictors"], 1):
        rank = str(ranking.index(name) + 1) if name in ranking else DASH
        group = say("yes_no", flag=name in group_shared) if "group_shared" in ref else DASH
        rows.append(
            [
                str(i),
                ctx.label(name),
                say("not_an_input") if name in not_inputs else rank,
                say("yes_no", flag=name in top),
                group,
            ]
        )
    return Table(
        say("paper_caption", label=ctx.label(target)),
        prose.blocks("explanations/paper_header"),
        rows,
        notes=[prose.text("explanations/group_note")],
        numeric=[True, False, True, False, False],
    )


def limitations(ctx: Context) -> Section:
    section = Section("limitations", "Limitations")
    explainers = {e.explainer for e in (ctx.inputs.shap or {}).values()}
    skipped = ctx.inputs.cv_notes.skipped_targets if ctx.inputs.cv_notes else {}
    items = prose.blocks(
        "limitations",
        synthetic=ctx.synthetic,
        reference=ctx.reference is not None,
        n=ctx.inputs.analysed("development"),
        predictors=len(ctx.cfg.features) + len(ctx.cfg.derived),
        external=ctx.inputs.external_available,
        subgroups=bool((ctx.inputs.clinical or {}).get("cv", {}).get("subgroups")),
        permutation="permutation" in explainers,
        skipped=[ctx.label(t) for t in sorted(skipped)],
    )
    return section.add(Bullets(items))
