"""Assembling the report: title and run details, then the sections in reading order."""

from __future__ import annotations

from lbp_outcomes.config import Params
from lbp_outcomes.report import clinical, effects, prose, sections, tripod
from lbp_outcomes.report.context import Context
from lbp_outcomes.report.document import DASH, KeyValues, Note, Report, Section
from lbp_outcomes.report.inputs import Inputs


def build(params: Params, inputs: Inputs) -> Report:
    ctx = Context(params, inputs)
    body: list[Section] = [
        sections.summary(ctx),
        sections.methods(ctx),
        sections.cohort(ctx),
        sections.characteristics(ctx),
        sections.cross_validation(ctx),
    ]
    published = sections.published(ctx)
    if published is not None:  # no reference: no comparison (Methods says so)
        body.append(published)
    # No external cohort: no section (the subtitle, summary and settings say there was no
    # external validation). A missing external.json still gets its one-line section.
    if ctx.inputs.external is None or ctx.inputs.external.available:
        body.append(sections.external(ctx))
    usefulness = clinical.section(ctx)
    if usefulness is not None:
        body.append(usefulness)
    treatments = effects.section(ctx)  # cohorts with a treatment block only
    if treatments is not None:
        body.append(treatments)
    body.append(sections.explanations(ctx))
    limitations = sections.limitations(ctx)
    present = {"top"} | _ids([*body, limitations])
    body += [tripod.checklist(ctx, present), limitations]

    report = Report(
        title=params.report.title or _title(ctx),
        subtitle=_subtitle(ctx),
        author=params.report.author,
        meta=KeyValues(_meta(ctx)),
        banner=_banner(ctx),
        sections=body,
        footer=_footer(ctx),
    )
    return report.number()


def _ids(sections_: list[Section]) -> set[str]:
    out: set[str] = set()
    for section in sections_:
        out.add(section.id)
        out |= _ids(section.subsections)
    return out


PHRASES = "report/phrases"


def say(name: str, /, **values: object) -> str:
    return prose.phrase(PHRASES, name, **values)


def _title(ctx: Context) -> str:
    """The default title, from the data config; "reproduction" only against a reference."""
    return say(
        "title",
        outcomes=ctx.cfg.prediction.outcomes,
        cohort=ctx.cfg.name,
        reproduction=ctx.reference is not None,
    )


def _subtitle(ctx: Context) -> str:
    wording = ctx.cfg.prediction
    return say(
        "subtitle",
        outcomes=wording.outcomes,
        n=len(ctx.targets) or len(ctx.cfg.all_targets),
        when=wording.predictors_known,
        external=ctx.inputs.external_available,
        cohort=ctx.cfg.description or ctx.cfg.name,
    )


def _meta(ctx: Context) -> list[tuple[str, str]]:
    cfg, inputs = ctx.cfg, ctx.inputs
    items = [("Data config", say("data_config", name=cfg.name, description=cfg.description))]
    cohorts = (inputs.raw_manifest or {}).get("cohorts") or {}
    for name in ("development", "external"):
        info = cohorts.get(name)
        if isinstance(info, dict):
            data = say("cohort_data", source=info.get("source", DASH), rows=info.get("rows", DASH))
            items.append((f"{name.capitalize()} data", data))
    if "external" not in cohorts:
        items.append(("External data", "none"))
    items.append(("Seed", str(ctx.params.seed)))
    prefix = "data_md5."
    files = [
        (k.removeprefix(prefix), v) for k, v in inputs.provenance.items() if k.startswith(prefix)
    ]
    if files:
        items.append(("Model-ready data (md5)", say("hashes", files=files)))
    if ctx.reference is not None:
        items.append(("Compared with", ctx.reference.study.strip()))
    return items


def _banner(ctx: Context) -> list[Note]:
    return [Note(say("synthetic_banner"), tone="warning")] if ctx.synthetic else []


def _footer(ctx: Context) -> list[str]:
    return prose.blocks("report/footer", files=ctx.inputs.read)
