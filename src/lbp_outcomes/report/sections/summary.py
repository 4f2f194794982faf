"""Summary: one bullet per outcome, the plain-language flags, how to read the numbers."""

from __future__ import annotations

from typing import Any

from lbp_outcomes.catalog import CV_METRICS, CVStats, Estimate
from lbp_outcomes.report import prose
from lbp_outcomes.report.context import Context
from lbp_outcomes.report.document import (
    DASH,
    METRICS,
    Bullets,
    Note,
    Paragraph,
    Section,
    is_number,
    metric_value,
    num,
)
from lbp_outcomes.report.sections.common import amount, ci_level, cohort_text, missing_input
from lbp_outcomes.report.sections.common import primary as primary_metric

# Thresholds for the plain-language flags. They only choose which sentence to print; every
# number is shown regardless.
DROP = {"r2": 0.10, "auroc": 0.05}  # external below CV by more than this: "performance fell"
# Calibration slope outside this: "too extreme" / "too modest"; below 0: "ranking reversed"
SLOPE_OK = (0.8, 1.2)
GAIN = 0.10  # updating lowers the Brier score / RMSE by more than this share: "recalibrate"


def summary(ctx: Context) -> Section:
    section = Section("summary", "Summary")
    if not ctx.inputs.cv:
        return section.add(missing_input(CV_METRICS, "train"))
    families = {f for t in ctx.targets for f in ctx.inputs.families(t)}
    intro = prose.text(
        "summary/intro",
        when=ctx.cfg.prediction.predictors_known,
        outcomes=len(ctx.targets),
        dev_n=ctx.inputs.analysed("development"),
        cohort=cohort_text(ctx),
        families=len(families),
        external=ctx.inputs.external_available,
    )
    section.add(Paragraph(intro))
    section.add(Bullets([_line(ctx, t) for t in ctx.targets]))
    flags = [f for t in ctx.targets for f in _flags(ctx, t)]
    if flags:
        section.add(Paragraph("**What stands out.**"), Bullets(flags))
    tasks = {ctx.task(t) for t in ctx.targets}
    meanings = prose.blocks("summary/meanings", tasks=tasks, ci_level=ci_level(ctx))
    section.add(Paragraph("**How to read these numbers.**"), Bullets(meanings))
    if ctx.synthetic:
        text = prose.text("summary/synthetic", reference=ctx.reference is not None)
        section.add(Note(text, tone="warning"))
    return section


def _line(ctx: Context, target: str) -> str:
    """One outcome's bullet: the champion in CV, externally, and against the paper."""
    entry = ctx.cv_entry(target)
    champion = entry.champion if entry else None
    task = ctx.task(target)
    stats = entry.families.get(champion or "", {}) if entry else {}
    primary = primary_metric(task)
    values: dict[str, Any] = {
        "label": ctx.label(target),
        "family": ctx.family(champion or DASH),
        "metric": METRICS[primary].label,
        "cv": metric_value(primary, stats.get(primary)),
        "ci_level": ci_level(ctx),
        **_errors(ctx, target, task, stats),
        **_external(ctx, target, primary, champion),
        **_published(ctx, target, stats.get("r2")),
    }
    return prose.text("summary/line", **values)


def _errors(ctx: Context, target: str, task: str, stats: dict[str, CVStats]) -> dict[str, Any]:
    """A regression champion's MAE in the outcome's unit and the cohort's oracle R²."""
    if task != "regression":
        return {"mae": None, "oracle": None}
    mae = stats["mae"].mean if "mae" in stats else None
    oracle = ctx.inputs.oracle_r2("development", target)
    return {
        "mae": amount(mae, ctx.unit(target)) if is_number(mae) else None,
        "oracle": num(oracle, 3) if oracle is not None else None,
    }


def _external(ctx: Context, target: str, primary: str, champion: str | None) -> dict[str, Any]:
    ext = ctx.external_entry(target)
    stats = ext.families.get(ext.champion or champion or "", {}) if ext else {}
    slope = stats.get("calibration_slope")
    return {
        "ext": metric_value(primary, stats[primary], "estimate") if primary in stats else None,
        "ext_n": ext.n if ext else None,
        "slope": metric_value("calibration_slope", slope, "estimate") if slope else None,
    }


def _published(ctx: Context, target: str, r2: CVStats | None) -> dict[str, Any]:
    """The paper's best R² and whether it lies inside our champion's CI."""
    best = ctx.reference.best_r2(target) if ctx.reference is not None else None
    if best is None or r2 is None or not is_number(r2.mean):
        return {"published": None, "published_family": None, "inside": False}
    family, value = best
    inside = is_number(r2.ci_low) and is_number(r2.ci_high) and r2.ci_low <= value <= r2.ci_high
    return {"published": num(value, 3), "published_family": ctx.family(family), "inside": inside}


def _flags(ctx: Context, target: str) -> list[str]:
    """Plain-language warnings: external performance drop, miscalibration, what updating did
    (the thresholds choose the sentences of templates/prose/summary/flags.j2)."""
    ext = ctx.external_entry(target)
    if ext is None:
        return []
    task = ctx.task(target)
    primary = primary_metric(task)
    cv_entry = ctx.cv_entry(target)
    champion = ext.champion or (cv_entry.champion if cv_entry else "")
    ext_stats = ext.families.get(champion, {})
    cv_stats = cv_entry.families.get(champion, {}).get(primary) if cv_entry else None
    cv_mean = cv_stats.mean if cv_stats else None
    ext_est = ext_stats[primary].estimate if primary in ext_stats else None
    spec = METRICS[primary]
    fell = is_number(cv_mean) and is_number(ext_est) and cv_mean - ext_est > DROP.get(primary, 0.1)
    slope = _slope_kind(ext_stats.get("calibration_slope"))
    loss = "brier" if task == "binary" else "rmse"
    recal = ext.recalibration or {}
    before = (recal.get("original") or {}).get(loss)
    after = (recal.get("intercept_slope") or {}).get(loss)
    recalibrate = (
        is_number(before) and is_number(after) and before > 0 and after < (1 - GAIN) * before
    )
    return prose.blocks(
        "summary/flags",
        name=ctx.label(target),
        metric=spec.label,
        fell=fell,
        cv=num(cv_mean, spec.digits) if fell else None,
        ext=num(ext_est, spec.digits) if fell else None,
        slope_kind=slope[0],
        slope=slope[1],
        recalibrate=recalibrate,
        loss=METRICS[loss].label,
        before=num(before, 3) if recalibrate else None,
        after=num(after, 3) if recalibrate else None,
    )


def _slope_kind(stats: Estimate | None) -> tuple[str | None, str | None]:
    """("reversed" | "extreme" | "modest" | None, the slope to 2 decimals)."""
    slope = stats.estimate if stats is not None else None
    if not is_number(slope):
        return None, None
    if slope < 0:
        kind = "reversed"
    elif slope < SLOPE_OK[0]:
        kind = "extreme"
    elif slope > SLOPE_OK[1]:
        kind = "modest"
    else:
        return None, None
    return kind, num(slope, 2)
