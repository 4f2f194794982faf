"""Methods in brief: design, outcomes, predictors, analysis, and the settings used."""

from __future__ import annotations

from lbp_outcomes.config import Params
from lbp_outcomes.report import prose
from lbp_outcomes.report.context import Context
from lbp_outcomes.report.document import Bullets, KeyValues, Paragraph, Section
from lbp_outcomes.report.sections.common import cohort_text

PHRASES = "methods/phrases"


def methods(ctx: Context) -> Section:
    cfg, params = ctx.cfg, ctx.params
    section = Section("methods", "Methods in brief")
    external = ctx.inputs.external_available
    values = {"cfg": cfg, "label": ctx.label, "external": external}
    design = prose.text(
        "methods/design", cohort=cohort_text(ctx), synthetic=ctx.synthetic, **values
    )
    section.add(Paragraph(design))
    section.sub("methods-outcomes", "Outcomes").add(
        Bullets(prose.blocks("methods/outcomes", **values))
    )
    section.sub("methods-predictors", "Predictors").add(
        Paragraph(prose.text("methods/predictors", **values)),
        Bullets(prose.blocks("methods/predictor_list", **values)),
    )
    analysis = prose.blocks(
        "methods/analysis",
        families=", ".join(ctx.family(f) for f in params.model),
        cv=params.cv,
        tuning=params.tuning,
        calibration=prose.text("methods/calibration", cal=params.calibration),
        recalibrated=params.calibration.enabled,
        conformal=params.conformal,
        ext=params.external,
        explain=params.explain,
        reference=ctx.reference is not None,
        **values,
    )
    section.sub("methods-analysis", "Analysis").add(Bullets(analysis))
    section.sub("methods-settings", "Settings").add(KeyValues(_settings(params, external)))
    return section


def _settings(params: Params, external: bool) -> list[tuple[str, str]]:
    """The run's settings as (label, value) pairs; the values are worded in the phrases."""

    def say(name: str) -> str:
        return prose.phrase(PHRASES, name, p=params, external=external)

    return [
        ("Seed", str(params.seed)),
        ("Cross-validation", say("cv")),
        ("Tuning", say("tuning")),
        ("Model families", ", ".join(params.model)),
        ("Prediction intervals", say("intervals")),
        ("External validation", say("external")),
        ("SHAP", say("shap")),
    ]
