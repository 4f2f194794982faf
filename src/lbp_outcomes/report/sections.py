"""The report's sections, each built from the inputs it needs.

Every builder returns a :class:`Section`; when its input is absent the section holds one
line saying which file is missing and which stage writes it, and the rest of the report is
unaffected. Text is written for two readers: a clinician (what the numbers mean, in the
outcome's own units) and a reviewer (how they were obtained, with CIs and settings).
Prose moves into Jinja partials under templates/prose/ (rendered by :mod:`.prose`): the
methods, the limitations and the summary's reading guide so far; the other builders still
assemble their sentences here.
"""

from __future__ import annotations

from typing import Any

from lbp_outcomes.catalog import (
    CLEANING,
    CV_METRICS,
    EXTERNAL_METRICS,
    IMPORTANCE,
    ExternalMetrics,
    ExternalTarget,
    TargetImportance,
)
from lbp_outcomes.metricinfo import PRIMARY
from lbp_outcomes.report import prose, tables
from lbp_outcomes.report.context import Context, slug
from lbp_outcomes.report.document import (
    DASH,
    METRICS,
    Bullets,
    Flow,
    FlowCohort,
    KeyValues,
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
    sig,
)

# Thresholds for the plain-language flags in the summary. They only choose which sentence
# to print; every number is shown regardless.
DROP = {"r2": 0.10, "auroc": 0.05}  # external below CV by more than this: "performance fell"
# Calibration slope outside this: "too extreme" / "too modest"; below 0: "ranking reversed"
SLOPE_OK = (0.8, 1.2)
GAIN = 0.10  # updating lowers the Brier score / RMSE by more than this share: "recalibrate"
TOP_N = 5  # the paper reports its top five predictors


def missing_input(rel: Any, stage: str) -> Note:
    """``rel``: a catalog entry or a path relative to the project root."""
    rel = getattr(rel, "path", rel)
    return Note(f"Not available: `{rel}` was not found (written by the {stage} stage).")


def _cohort_text(ctx: Context) -> str:
    return ctx.cfg.description or f"the `{ctx.cfg.name}` cohort"


def _ci_level(ctx: Context) -> str:
    return f"{ctx.params.cv.ci_level:.0%}"


# -- summary ---------------------------------------------------------------------------------
def summary(ctx: Context) -> Section:
    section = Section("summary", "Summary")
    cv = ctx.inputs.cv
    if not cv:
        return section.add(missing_input(CV_METRICS, "train"))
    dev_n = (ctx.inputs.cleaning or {}).get("development", {}).get("rows_out")
    families = {f for t in ctx.targets for f in ctx.inputs.families(t)}
    intro = prose.text(
        "summary/intro",
        when=ctx.cfg.prediction.predictors_known,
        outcomes=len(ctx.targets),
        dev_n=dev_n,
        cohort=_cohort_text(ctx),
        families=len(families),
        external=ctx.inputs.external_available,
    )
    section.add(Paragraph(intro))
    section.add(Bullets([_summary_line(ctx, t) for t in ctx.targets]))

    flags = [f for t in ctx.targets for f in _flags(ctx, t)]
    meaning = _meanings(ctx)
    if flags:
        section.add(Paragraph("**What stands out.**"), Bullets(flags))
    section.add(Paragraph("**How to read these numbers.**"), Bullets(meaning))
    if ctx.synthetic:
        text = prose.text("summary/synthetic", reference=ctx.reference is not None)
        section.add(Note(text, tone="warning"))
    return section


def _primary(task: str) -> str:
    return PRIMARY.get(task, "r2")


def _summary_line(ctx: Context, target: str) -> str:
    entry = ctx.cv_entry(target)
    champion = entry.champion if entry else None
    task = ctx.task(target)
    stats = entry.families.get(champion or "", {}) if entry else {}
    primary = _primary(task)
    values: dict[str, Any] = {
        "label": ctx.label(target),
        "family": ctx.family(champion or DASH),
        "metric": METRICS[primary].label,
        "cv": metric_value(primary, stats.get(primary)),
        "ci_level": _ci_level(ctx),
        "mae": None,
        "oracle": None,
    }
    if task == "regression":
        mae = stats["mae"].mean if "mae" in stats else None
        if is_number(mae):
            values["mae"] = amount(mae, ctx.unit(target))
        oracle = ctx.inputs.oracle_r2("development", target)
        values["oracle"] = num(oracle, 3) if oracle is not None else None
    ext = ctx.external_entry(target)
    ext_stats = ext.families.get(ext.champion or champion or "", {}) if ext else {}
    shown = ext is not None and primary in ext_stats
    slope = ext_stats.get("calibration_slope")
    values.update(
        ext=metric_value(primary, ext_stats[primary], "estimate") if shown else None,
        ext_n=ext.n if ext else None,
        slope=metric_value("calibration_slope", slope, "estimate") if slope else None,
    )
    best = ctx.reference.best_r2(target) if ctx.reference is not None else None
    r2 = stats.get("r2")
    values.update(published=None, published_family=None, inside=False)
    if best is not None and r2 is not None and is_number(r2.mean):
        family, value = best
        values.update(
            published=num(value, 3),
            published_family=ctx.family(family),
            inside=is_number(r2.ci_low)
            and is_number(r2.ci_high)
            and r2.ci_low <= value <= r2.ci_high,
        )
    return prose.text("summary/line", **values)


def amount(value: float, unit: str) -> str:
    """An error in the outcome's unit: "2.00 degrees", "0.35 points on the NRS 0-10 scale"."""
    if not unit:
        return f"{num(value, 2)} outcome units"
    if any(ch.isdigit() for ch in unit) or "/" in unit:  # a score scale, not a physical unit
        return f"{num(value, 2)} points on the {unit} scale"
    return f"{num(value, 2)} {unit}"


def _flags(ctx: Context, target: str) -> list[str]:
    """Plain-language warnings: external performance drop, miscalibration, what updating did
    (the thresholds choose the sentences of templates/prose/summary/flags.j2)."""
    ext = ctx.external_entry(target)
    if ext is None:
        return []
    task = ctx.task(target)
    primary = _primary(task)
    cv_entry = ctx.cv_entry(target)
    champion = ext.champion or (cv_entry.champion if cv_entry else "")
    ext_stats = ext.families.get(champion, {})
    cv_stats = cv_entry.families.get(champion, {}).get(primary) if cv_entry else None
    cv_mean = cv_stats.mean if cv_stats else None
    ext_est = ext_stats[primary].estimate if primary in ext_stats else None
    spec = METRICS[primary]
    fell = is_number(cv_mean) and is_number(ext_est) and cv_mean - ext_est > DROP.get(primary, 0.1)
    slope = ext_stats["calibration_slope"].estimate if "calibration_slope" in ext_stats else None
    slope_kind = None
    if is_number(slope):
        if slope < 0:
            slope_kind = "reversed"
        elif slope < SLOPE_OK[0]:
            slope_kind = "extreme"
        elif slope > SLOPE_OK[1]:
            slope_kind = "modest"
    recal = ext.recalibration or {}
    loss = "brier" if task == "binary" else "rmse"
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
        slope_kind=slope_kind,
        slope=num(slope, 2) if slope_kind else None,
        recalibrate=recalibrate,
        loss=METRICS[loss].label,
        before=num(before, 3) if recalibrate else None,
        after=num(after, 3) if recalibrate else None,
    )


def _meanings(ctx: Context) -> list[str]:
    tasks = {ctx.task(t) for t in ctx.targets}
    return prose.blocks("summary/meanings", tasks=tasks, ci_level=_ci_level(ctx))


# -- methods ---------------------------------------------------------------------------------
def methods(ctx: Context) -> Section:
    cfg, params = ctx.cfg, ctx.params
    section = Section("methods", "Methods in brief")
    external = ctx.inputs.external_available
    values = {"cfg": cfg, "label": ctx.label, "external": external}
    section.add(
        Paragraph(
            prose.text(
                "methods/design", cohort=_cohort_text(ctx), synthetic=ctx.synthetic, **values
            )
        )
    )
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
        calibration=_calibration_method(params),
        recalibrated=params.calibration.enabled,
        conformal=params.conformal,
        ext=params.external,
        explain=params.explain,
        reference=ctx.reference is not None,
        **values,
    )
    section.sub("methods-analysis", "Analysis").add(Bullets(analysis))
    cv, tuning = params.cv, params.tuning

    settings = [
        ("Seed", str(params.seed)),
        (
            "Cross-validation",
            f"{cv.folds} folds x {cv.repeats} repeat{'s' if cv.repeats != 1 else ''}, "
            f"CI level {cv.ci_level:g}",
        ),
        (
            "Tuning",
            f"{tuning.n_trials} trials, {tuning.inner_folds} inner folds, {tuning.sampler}, "
            f"metric {tuning.metric.regression} / {tuning.metric.binary}"
            if tuning.enabled
            else "off",
        ),
        ("Model families", ", ".join(params.model)),
        (
            "Prediction intervals",
            f"level {params.conformal.level:g}, {params.conformal.folds} folds"
            if params.conformal.enabled
            else "off",
        ),
        (
            "External validation",
            f"{params.external.n_boot} bootstrap replicates; recalibration fit fraction "
            f"{params.external.recalibration.fit_fraction:g}, "
            f"{params.external.recalibration.repeats} splits"
            if ctx.inputs.external_available
            else "not run (no external cohort)",
        ),
        (
            "SHAP",
            f"up to {params.explain.max_rows} patients, "
            f"background {params.explain.background_rows}, "
            f"top {params.explain.top_k} shown",
        ),
    ]
    section.sub("methods-settings", "Settings").add(KeyValues(settings))
    return section


# -- cohort flow -------------------------------------------------------------------------------
def _calibration_method(params: Any) -> str:
    return prose.text("methods/calibration", cal=params.calibration)


def cohort(ctx: Context) -> Section:
    section = Section("cohort", "Cohort and data flow")
    cleaning = ctx.inputs.cleaning
    if not cleaning:
        return section.add(missing_input(CLEANING, "clean"))
    manifest = (ctx.inputs.raw_manifest or {}).get("cohorts") or {}
    columns, texts = [], []
    for name in ("development", "external"):
        flow = cleaning.get(name)
        if not isinstance(flow, dict):
            continue
        title = f"{name.capitalize()} cohort"
        source = flow.get("source") or (manifest.get(name) or {}).get("source") or ""
        excluded = sorted((flow.get("excluded") or {}).items(), key=lambda kv: (-kv[1], kv[0]))
        outcomes = _outcome_counts(ctx, name, flow)
        columns.append(
            FlowCohort(
                title=title,
                source=str(source),
                received=flow.get("rows_in"),
                excluded=[(str(k), int(v)) for k, v in excluded],
                excluded_total=flow.get("excluded_total"),
                analysed=flow.get("rows_out"),
                outcomes=outcomes,
            )
        )
        gaps = {c: n for c, n in sorted((flow.get("missing") or {}).items()) if n}
        gaps.pop(ctx.cfg.id_column, None)
        texts.append(
            prose.text(
                "cohort/flow_line",
                title=title,
                received=flow.get("rows_in", DASH),
                source=source,
                excluded_total=flow.get("excluded_total", 0),
                reasons="; ".join(f"{why}: {n}" for why, n in excluded),
                analysed=flow.get("rows_out", DASH),
                gaps=", ".join(f"{ctx.label(c)} {n}" for c, n in gaps.items()),
            )
        )
    section.add(Flow(columns, prose.text("cohort/flow_caption")))
    section.add(Bullets(texts))
    section.add(
        Paragraph(
            prose.text("cohort/cleaning_rules", max_dropped=ctx.cfg.cleaning.max_dropped_fraction)
        )
    )
    return section


def _outcome_counts(ctx: Context, cohort_name: str, flow: dict[str, Any]) -> list[tuple[str, str]]:
    """Patients with each outcome: declared targets from cleaning, MCIC targets from the
    feature files."""
    counts: list[tuple[str, str]] = []
    available = flow.get("targets_available") or {}
    frame = ctx.inputs.development if cohort_name == "development" else ctx.inputs.external_frame
    for target in ctx.cfg.all_targets:
        if target in available:
            counts.append((ctx.label(target), str(available[target])))
        elif frame is not None and target in frame.columns:
            counts.append((ctx.label(target), str(int(frame[target].notna().sum()))))
    return counts


# -- Table 1 -------------------------------------------------------------------------------------
def characteristics(ctx: Context) -> Section:
    section = Section("characteristics", "Patient characteristics (Table 1)")
    dev = ctx.inputs.development
    if dev is None:
        return section.add(missing_input("data/features/development.parquet", "features"))
    try:
        table = tables.characteristics(ctx.cfg, dev, ctx.inputs.external_frame)
    except Exception as exc:  # tableone rejects some degenerate columns; say so, go on
        return section.add(Note(f"Table 1 could not be computed: {exc}", tone="warning"))
    if ctx.inputs.external_frame is None:
        section.add(
            Paragraph("There is no external cohort; the table describes the development cohort.")
        )
    return section.add(table)


# -- cross-validation ------------------------------------------------------------------------
def cross_validation(ctx: Context) -> Section:
    section = Section("cv", "Cross-validated performance")
    cv = ctx.inputs.cv
    if not cv:
        return section.add(missing_input(CV_METRICS, "train"))
    p = ctx.params
    section.add(Paragraph(prose.text("cv/intro", cv=p.cv, ci_level=_ci_level(ctx))))
    skipped = ctx.inputs.cv_notes.skipped_targets if ctx.inputs.cv_notes else {}
    for target, why in sorted(skipped.items()):
        section.add(Note(f"{ctx.label(target)} was not modelled: {why}.", tone="warning"))
    for target in ctx.targets:
        sub = section.sub(f"cv-{slug(target)}", ctx.label(target))
        sub.add(cv_table(ctx, target))
        caption = prose.text("cv/figure_caption", label=ctx.label(target), task=ctx.task(target))
        sub.add(
            ctx.figure(
                f"plots/cv/{slug(target)}.png", caption, f"{ctx.label(target)}: CV predictions"
            )
        )
    return section


def cv_table(ctx: Context, target: str) -> Table:
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
        name = ctx.family(family) + (" (champion)" if family == champion else "")
        rows.append([name, *(metric_value(m, entry.families[family].get(m)) for m in order)])
        classes.append("champion" if family == champion else "")
    honest = entry.selected
    if honest is not None and honest.metric in order:
        # The headline: the choice of family cross-validated too (lbp_outcomes.selection).
        stats = {"mean": honest.mean, "ci_low": honest.ci[0], "ci_high": honest.ci[1]}
        rows.append(
            [
                "Honest estimate (family chosen inside each training fold)",
                *(metric_value(m, stats) if m == honest.metric else DASH for m in order),
            ]
        )
        classes.append("summary")
    oracle = ctx.inputs.oracle_r2("development", target)
    if oracle is not None and "r2" in order:
        rows.append(
            [
                "Oracle (ceiling for any model)",
                *(num(oracle, 3) if m == "r2" else DASH for m in order),
            ]
        )
        classes.append("summary")
    caption = f"{ctx.label(target)}: cross-validated performance, mean [{_ci_level(ctx)} CI]"
    events = ctx.events(target) if task == "binary" else None
    capped = ctx.inputs.cv_notes.subsampled if ctx.inputs.cv_notes else {}
    notes = prose.blocks(
        "cv/table_notes",
        honest=honest is not None and honest.metric in order,
        n=entry.n,
        events=events[0] if events else None,
        total=events[1] if events else 0,
        oracle=num(oracle, 3) if oracle is not None else None,
        capped=[
            (ctx.family(f), f, capped[f"{target}/{f}"])
            for f in families
            if f"{target}/{f}" in capped
        ],
        metrics=_metric_note(order, ctx.unit(target)),
    )
    return Table(caption, header, rows, notes=notes, classes=classes)


def _metric_note(order: list[str], unit: str) -> str:
    parts = [f"{METRICS[m].label}: {METRICS[m].meaning}" for m in order if m in METRICS]
    text = "; ".join(parts) + "."
    if unit and any(METRICS.get(m) and METRICS[m].unit for m in order):
        text += f" Errors are in {unit}."
    return text


# -- published vs reproduced -----------------------------------------------------------------
def published(ctx: Context) -> Section | None:
    ref = ctx.reference
    if ref is None:
        return None
    section = Section("published", "Published vs reproduced")
    section.add(Paragraph(prose.text("published/intro", ref=ref)))
    if ref.r2:
        section.add(_r2_table(ctx))
    else:
        section.add(Note("The reference gives no R² values."))
    if ref.descriptives:
        table = _descriptives_table(ctx)
        section.add(
            table if table else missing_input("data/features/development.parquet", "features")
        )
    if ref.mcic_share:
        table = _mcic_table(ctx)
        if table:
            section.add(table)
    if ref.fit_type_counts:
        table = _fit_type_table(ctx)
        if table:
            section.add(table)
    return section


def _r2_table(ctx: Context) -> Table:
    ref = ctx.reference
    rows, classes = [], []
    for target, published_r2 in ref.r2.items():
        entry = ctx.cv_entry(target)
        ours = ctx.inputs.families(target)
        families = list(published_r2) + [f for f in ctx.family_order(ours) if f not in published_r2]
        best = ref.best_r2(target)
        first = True
        for family in families:
            value = published_r2.get(family)
            stats = entry.families[family].get("r2") if entry and family in ours else None
            mean = stats.mean if stats else None
            reproduced = (
                metric_value("r2", stats)
                if stats
                else ("not run" if entry else "not a target here")
            )
            diff = num(mean - value, 3) if is_number(mean) and is_number(value) else DASH
            name = ctx.family(family)
            marks = []
            if best is not None and family == best[0]:
                marks.append("paper's best")
            if entry and family == entry.champion:
                marks.append("our champion")
            if marks:
                name += f" ({', '.join(marks)})"
            rows.append([ctx.label(target) if first else "", name, num(value, 3), reproduced, diff])
            classes.append("highlight" if best is not None and family == best[0] else "")
            first = False
        champion = entry.champion if entry else ""
        champ_r2 = entry.families.get(champion, {}).get("r2") if entry else None
        champ_mean = champ_r2.mean if champ_r2 else None
        if best is not None and is_number(champ_mean):
            rows.append(
                [
                    "",
                    "Best vs best",
                    f"{num(best[1], 3)} ({ctx.family(best[0])})",
                    f"{metric_value('r2', champ_r2)} ({ctx.family(champion)})",
                    num(champ_mean - best[1], 3),
                ]
            )
            classes.append("summary")
    given = {}
    if ctx.synthetic:
        oracle = {t: ctx.inputs.oracle_r2("development", t) for t in ref.r2}
        given = {t: v for t, v in oracle.items() if v is not None}
    notes = prose.blocks(
        "published/r2_notes",
        ci_level=_ci_level(ctx),
        oracle=", ".join(f"{ctx.label(t)} {num(v, 3)}" for t, v in given.items()),
    )
    return Table(
        "Published vs reproduced R² per outcome and model family",
        [
            "Outcome",
            "Model family",
            "Published R²",
            f"Reproduced R² [{_ci_level(ctx)} CI]",
            "Difference",
        ],
        rows,
        notes=notes,
        classes=classes,
        numeric=[False, False, True, True, True],
    )


def _descriptives_table(ctx: Context) -> Table | None:
    frame = ctx.inputs.development
    if frame is None:
        return None
    ours_name = "Generated" if ctx.synthetic else "This cohort"
    rows, absent = [], []
    for column, pub in ctx.reference.descriptives.items():
        if column not in frame.columns:
            absent.append(column)
            continue
        ours = tables.describe(frame[column])
        # Our numbers at the paper's precision (so they compare at a glance), never coarser
        # than one decimal for a continuous measure.
        whole = _is_integer(ctx, column)
        moments = max(1, _decimals(pub.mean, pub.sd))
        spread = max(0 if whole else 1, _decimals(pub.q1, pub.median, pub.q3, pub.min, pub.max))

        def fmt(stats: dict[str, float], digits: int, *keys: str) -> list[str]:
            return [num(stats.get(k), digits) for k in keys]

        p_mean, p_sd = fmt(pub.model_dump(), moments, "mean", "sd")
        o_mean, o_sd = fmt(ours, moments, "mean", "sd")
        p_q = fmt(pub.model_dump(), spread, "median", "q1", "q3", "min", "max")
        o_q = fmt(ours, spread, "median", "q1", "q3", "min", "max")
        rows.append(
            [
                ctx.label(column),
                f"{p_mean} ({p_sd})",
                f"{o_mean} ({o_sd})",
                f"{p_q[0]} [{p_q[1]}, {p_q[2]}]",
                f"{o_q[0]} [{o_q[1]}, {o_q[2]}]",
                f"{p_q[3]} to {p_q[4]}",
                f"{o_q[3]} to {o_q[4]}",
            ]
        )
    if not rows:
        return None
    n_pub = f" (N = {ctx.reference.n})" if ctx.reference.n else ""
    notes = [
        f"Published: the paper's descriptive table{n_pub}. {ours_name}: the development cohort "
        f"of this run (N = {len(frame)}). Quartiles by linear interpolation; the paper's method "
        "is not stated."
    ]
    if absent:
        notes.append("Not in this cohort: " + ", ".join(f"`{c}`" for c in absent) + ".")
    return Table(
        f"Published vs {ours_name.lower()} descriptive statistics (development cohort)",
        [
            "Variable",
            "Published mean (SD)",
            f"{ours_name} mean (SD)",
            "Published median [Q1, Q3]",
            f"{ours_name} median [Q1, Q3]",
            "Published range",
            f"{ours_name} range",
        ],
        rows,
        notes=notes,
    )


def _decimals(*values: float) -> int:
    """Decimals the paper printed (at most 2): 11.5 -> 1, 3.31 -> 2, 8 -> 0."""
    out = 0
    for value in values:
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        out = max(out, len(text.split(".")[1]) if "." in text else 0)
    return out


def _is_integer(ctx: Context, column: str) -> bool:
    spec = (ctx.cfg.features | ctx.cfg.targets).get(column)
    return bool(spec is not None and getattr(spec, "integer", False))


def _mcic_table(ctx: Context) -> Table | None:
    frame = ctx.inputs.development
    rows = []
    for target, share in ctx.reference.mcic_share.items():
        if frame is None or target not in frame.columns:
            ours = DASH
        else:
            values = frame[target].dropna()
            ours = (
                f"{pct(float(values.mean()))} ({int(values.sum())}/{len(values)})"
                if len(values)
                else DASH
            )
        rows.append([ctx.label(target), pct(share), ours])
    if not rows:
        return None
    ours_name = "Generated" if ctx.synthetic else "This cohort"
    return Table(
        "Share of patients reaching the minimal clinically important change (MCIC)",
        ["Responder outcome", "Published", f"{ours_name} (n/N)"],
        rows,
    )


def _fit_type_table(ctx: Context) -> Table | None:
    counts = ctx.reference.fit_type_counts
    column = _category_column(ctx, set(counts))
    frame = ctx.inputs.development
    if column is None or frame is None or column not in frame.columns:
        return None
    ours = frame[column].dropna().astype(str).value_counts()
    total_pub = sum(counts.values())
    total_ours = int(ours.sum())
    rows = [
        [
            str(level),
            f"{n} ({pct(n / total_pub)})" if total_pub else str(n),
            f"{int(ours.get(level, 0))} ({pct(ours.get(level, 0) / total_ours)})"
            if total_ours
            else DASH,
        ]
        for level, n in counts.items()
    ]
    ours_name = "Generated" if ctx.synthetic else "This cohort"
    return Table(
        f"{ctx.label(column)}: patients per category, published vs {ours_name.lower()}",
        ["Category", "Published n (%)", f"{ours_name} n (%)"],
        rows,
    )


def _category_column(ctx: Context, levels: set[str]) -> str | None:
    """The categorical column whose categories are the reference's fit-type levels (the
    derived `fit_type` in the LET config), found by its values rather than a fixed name."""
    candidates = [
        name
        for name, spec in ctx.cfg.model_features.items()
        if spec.type != "numeric" and levels <= {str(v) for v in spec.values or []}
    ]
    candidates.sort(key=lambda name: (name != "fit_type", name))
    return candidates[0] if candidates else None


# -- external validation ------------------------------------------------------------------------
def external(ctx: Context) -> Section:
    section = Section("external", "External validation")
    report = ctx.inputs.external
    if report is None:
        return section.add(missing_input(EXTERNAL_METRICS, "external"))
    if not report.available:
        reason = report.reason or "no external cohort"
        return section.add(Paragraph(f"Not performed: {reason}."))
    source = (
        ((ctx.inputs.raw_manifest or {}).get("cohorts") or {}).get("external", {}).get("source")
    )
    intro = prose.text(
        "external/intro",
        n=report.n if report.n is not None else DASH,
        source=source,
        ext=ctx.params.external,
    )
    section.add(Paragraph(intro))
    shift = _shift_text(ctx)
    if shift:
        section.add(Paragraph(shift))

    given = report.targets
    targets = {t: given[t] for t in ctx.ordered(given)}
    perf = section.sub("external-performance", "Discrimination and accuracy")
    perf.add(_external_summary(ctx, targets))
    for target, entry in targets.items():
        if entry.note:
            perf.add(Note(f"{ctx.label(target)}: {entry.note}.", tone="warning"))
        if entry.families:
            perf.add(_external_table(ctx, target, entry))

    cal = section.sub("external-calibration", "Calibration")
    cal.add(Paragraph(prose.text("external/calibration")))
    for target, entry in targets.items():
        if not entry.families:
            continue
        caption = prose.text(
            "external/figure_caption",
            label=ctx.label(target),
            task=entry.task,
            family=ctx.family(entry.champion),
        )
        cal.add(
            ctx.figure(
                f"plots/external/{slug(target)}.png",
                caption,
                f"{ctx.label(target)}: external calibration",
            )
        )

    section.subsections.append(_case_mix(ctx, report))
    updating = _updating(ctx, targets)
    if updating is not None:
        section.subsections.append(updating)
    intervals = _intervals(ctx, targets)
    if intervals is not None:
        section.subsections.append(intervals)
    return section


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
            shifts.append(f"{ctx.label(key)} {value:+g}")
        elif isinstance(value, dict) and {"sessions", "weights"} <= set(value):
            dist = ", ".join(
                f"{s}: {pct(w, 0)}"
                for s, w in zip(value["sessions"], value["weights"], strict=False)
            )
            shifts.append(f"{ctx.label(key)} distributed as {{{dist}}}")
    outcome = ext.get("outcome_shift") or {}
    return prose.text(
        "external/shift",
        site=ext.get("site"),
        mix=bool(mix.get("enabled")),
        shifts="; ".join(shifts),
        outcome=bool(outcome.get("enabled")),
        scale=outcome.get("response_scale", DASH),
    )


def _external_summary(ctx: Context, targets: dict[str, ExternalTarget]) -> Table:
    rows = []
    has_oracle = False
    for target, entry in targets.items():
        task = entry.task
        primary = _primary(task)
        cv_entry = ctx.cv_entry(target)
        champion = entry.champion or (cv_entry.champion if cv_entry else "")
        cv_stats = cv_entry.families.get(champion, {}).get(primary) if cv_entry else None
        ext_stats = entry.families.get(champion, {})
        oracle = ctx.inputs.oracle_r2("external", target) if task == "regression" else None
        has_oracle |= oracle is not None
        rows.append(
            [
                ctx.label(target),
                ctx.family(champion or DASH),
                str(entry.n),
                METRICS[primary].label,
                metric_value(primary, cv_stats) if cv_stats else DASH,
                metric_value(primary, ext_stats[primary], "estimate")
                if primary in ext_stats
                else DASH,
                metric_value("calibration_slope", ext_stats["calibration_slope"], "estimate")
                if "calibration_slope" in ext_stats
                else DASH,
                num(oracle, 3) if oracle is not None else DASH,
            ]
        )
    header = [
        "Outcome",
        "Champion",
        "External n",
        "Metric",
        "Development (CV)",
        "External",
        "External calibration slope",
        "Oracle R² (external)",
    ]
    if not has_oracle:
        header = header[:-1]
        rows = [r[:-1] for r in rows]
    notes = prose.blocks("external/summary_notes", oracle=has_oracle)
    return Table(
        "Champion per outcome: development vs external performance",
        header,
        rows,
        notes=notes,
        numeric=[False, False, True, False, True, True, True, True][: len(header)],
    )


def _external_table(ctx: Context, target: str, entry: ExternalTarget) -> Table:
    task = entry.task
    families = entry.families
    champion = entry.champion
    present = {m for stats in families.values() for m in stats}
    order = metric_order(task, present)
    rows, classes = [], []
    for family in ctx.family_order(list(families)):
        name = ctx.family(family) + (" (champion)" if family == champion else "")
        rows.append([name, *(metric_value(m, families[family].get(m), "estimate") for m in order)])
        classes.append("champion" if family == champion else "")
    return Table(
        f"{ctx.label(target)}: performance of every final model in the external cohort "
        f"(n = {entry.n}), estimate [{ctx.params.external.ci_level:.0%} CI]",
        ["Model family", *(metric_header(m, task, ctx.unit(target)) for m in order)],
        rows,
        notes=[_metric_note(order, ctx.unit(target))],
        classes=classes,
    )


def _case_mix(ctx: Context, report: ExternalMetrics) -> Section:
    section = Section("external-case-mix", "Case mix: how the external patients differ")
    mix = report.case_mix
    auroc = mix.membership_auroc if mix else None
    if auroc is not None:
        section.add(
            Paragraph(
                prose.text("external/case_mix", auroc=metric_value("auroc", auroc, "estimate"))
            )
        )
    smd = mix.smd if mix else {}
    if smd:
        items = sorted(smd.items(), key=lambda kv: (-abs(kv[1]) if is_number(kv[1]) else 0, kv[0]))
        rows = [
            [ctx.label(k), num(v, 2), "yes" if is_number(v) and abs(v) >= 0.1 else "no"]
            for k, v in items
        ]
        section.add(
            Table(
                "Standardised mean differences of the predictors, external minus development",
                ["Predictor", "SMD", "|SMD| ≥ 0.1"],
                rows,
                notes=[prose.text("external/smd_note")],
            )
        )
    section.add(
        ctx.figure(
            "plots/external/case_mix.png",
            prose.text("external/case_mix_caption"),
            "Case-mix differences between cohorts",
        )
    )
    return section


def _updating(ctx: Context, targets: dict[str, ExternalTarget]) -> Section | None:
    entries = {t: e for t, e in targets.items() if e.recalibration is not None}
    if not entries:
        return None
    section = Section("external-updating", "Model updating (recalibration)")
    first = next(iter(entries.values())).recalibration or {}
    fraction = first.get("fit_fraction", ctx.params.external.recalibration.fit_fraction)
    splits = first.get("splits", ctx.params.external.recalibration.repeats)
    section.add(
        Paragraph(prose.text("external/updating", fraction=pct(fraction, 0), splits=splits))
    )
    labels = {
        "original": "As developed",
        "intercept": "Intercept updated",
        "intercept_slope": "Intercept and slope updated",
    }
    for target, entry in entries.items():
        task = entry.task
        recal = entry.recalibration or {}
        kinds = [k for k in labels if isinstance(recal.get(k), dict)]
        kinds += sorted(k for k, v in recal.items() if isinstance(v, dict) and k not in labels)
        present = {m for k in kinds for m in recal[k]}
        order = metric_order(task, present)
        rows = [
            [labels.get(k, k.replace("_", " ")), *(metric_value(m, recal[k].get(m)) for m in order)]
            for k in kinds
        ]
        section.add(
            Table(
                f"{ctx.label(target)}: champion ({ctx.family(entry.champion)}) before "
                "and after updating, evaluated on the held-back external patients",
                ["Model", *(metric_header(m, task, ctx.unit(target)) for m in order)],
                rows,
                notes=["Means over the random splits (no CI)."],
            )
        )
    return section


def _intervals(ctx: Context, targets: dict[str, ExternalTarget]) -> Section | None:
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
                f"{num(info.mean_width, 2)} ({ctx.unit(target)})"
                if ctx.unit(target)
                else num(info.mean_width, 2),
            ]
        )
    if not rows:
        return None
    section = Section("external-intervals", "Prediction intervals")
    section.add(
        Paragraph(prose.text("external/intervals")),
        Table(
            "Prediction-interval coverage in the external cohort",
            ["Outcome", "Champion", "Nominal level", "Coverage", "Mean width"],
            rows,
            notes=[prose.text("external/intervals_note")],
            numeric=[False, False, True, True, True],
        ),
    )
    return section


# -- explanations -------------------------------------------------------------------------------
def explanations(ctx: Context) -> Section:
    section = Section("explanations", "Explanations (SHAP)")
    shap = ctx.inputs.shap
    if shap is None:
        return section.add(missing_input(IMPORTANCE, "explain"))
    section.add(Paragraph(prose.text("explanations/intro")))
    top_k = ctx.params.explain.top_k
    comparisons = []
    for target in ctx.ordered(shap):
        entry = shap[target]
        sub = section.sub(f"shap-{slug(target)}", ctx.label(target))
        unit = entry.shap_unit or "model output units"
        family = ctx.family(entry.family)
        sub.add(
            Paragraph(prose.text("explanations/champion", family=family, entry=entry, unit=unit))
        )
        features = entry.features
        ranking = entry.ranking or sorted(features, key=lambda c: -features[c])
        rows = [
            [str(i), ctx.label(c), sig(features.get(c))] for i, c in enumerate(ranking[:top_k], 1)
        ]
        if rows:
            sub.add(
                Table(
                    f"{ctx.label(target)}: the {len(rows)} most influential predictors of the "
                    f"{family} champion",
                    ["Rank", "Predictor", f"Mean |SHAP| ({unit})"],
                    rows,
                    numeric=[True, False, True],
                )
            )
        words = {"label": ctx.label(target), "top_k": top_k, "unit": unit}
        sub.add(
            ctx.figure(
                f"shap/{slug(target)}_bar.png",
                prose.text("explanations/bar_caption", **words),
                f"{ctx.label(target)}: SHAP importance",
            ),
            ctx.figure(
                f"shap/{slug(target)}_beeswarm.png",
                prose.text("explanations/beeswarm_caption", **words),
                f"{ctx.label(target)}: SHAP beeswarm",
            ),
        )
        ref = entry.reference
        if ref is not None and ref.get("top_predictors"):
            sub.add(_shap_reference(ctx, target, entry, ref))
            comparisons.append((target, ref))
    if comparisons:
        rows = [
            (ctx.label(t), r.get("overlap", len(r.get("shared", []))), len(r["top_predictors"]))
            for t, r in comparisons
        ]
        section.add(Paragraph(prose.text("explanations/overlap", comparisons=rows)))
    return section


def _shap_reference(
    ctx: Context, target: str, entry: TargetImportance, ref: dict[str, Any]
) -> Table:
    ranking = entry.ranking
    top = ref.get("top5") or ranking[:TOP_N]
    group_shared = set(ref.get("group_shared") or [])
    not_inputs = set(ref.get("not_inputs") or [])
    rows = []
    for i, name in enumerate(ref["top_predictors"], 1):
        rank = str(ranking.index(name) + 1) if name in ranking else DASH
        rows.append(
            [
                str(i),
                ctx.label(name),
                "not an input here" if name in not_inputs else rank,
                "yes" if name in top else "no",
                ("yes" if name in group_shared else "no") if "group_shared" in ref else DASH,
            ]
        )
    return Table(
        f"{ctx.label(target)}: the paper's top predictors and where they rank here",
        ["Paper's rank", "Predictor", "Our rank", "In our top five", "Its group in our top five"],
        rows,
        notes=[prose.text("explanations/group_note")],
        numeric=[True, False, True, False, False],
    )


# -- limitations ---------------------------------------------------------------------------------
def limitations(ctx: Context) -> Section:
    section = Section("limitations", "Limitations")
    explainers = {e.explainer for e in (ctx.inputs.shap or {}).values()}
    skipped = ctx.inputs.cv_notes.skipped_targets if ctx.inputs.cv_notes else {}
    items = prose.blocks(
        "limitations",
        synthetic=ctx.synthetic,
        reference=ctx.reference is not None,
        n=(ctx.inputs.cleaning or {}).get("development", {}).get("rows_out"),
        predictors=len(ctx.cfg.features) + len(ctx.cfg.derived),
        external=ctx.inputs.external_available,
        subgroups=bool((ctx.inputs.clinical or {}).get("cv", {}).get("subgroups")),
        permutation="permutation" in explainers,
        skipped=[ctx.label(t) for t in sorted(skipped)],
    )
    return section.add(Bullets(items))
