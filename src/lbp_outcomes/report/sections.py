"""The report's sections, each built from the inputs it needs.

Every builder returns a :class:`Section`; when its input is absent the section holds one
line saying which file is missing and which stage writes it, and the rest of the report is
unaffected. Text is written for two readers: a clinician (what the numbers mean, in the
outcome's own units) and a reviewer (how they were obtained, with CIs and settings).
"""

from __future__ import annotations

from typing import Any

from lbp_outcomes.metrics import PRIMARY
from lbp_outcomes.report import tables
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
from lbp_outcomes.report.inputs import (
    CLEANING,
    CV_METRICS,
    EXTERNAL_METRICS,
    SHAP_IMPORTANCE,
)

# Thresholds for the plain-language flags in the summary. They only choose which sentence
# to print; every number is shown regardless.
DROP = {"r2": 0.10, "auroc": 0.05}  # external below CV by more than this: "performance fell"
# Calibration slope outside this: "too extreme" / "too modest"; below 0: "ranking reversed"
SLOPE_OK = (0.8, 1.2)
GAIN = 0.10  # updating lowers the Brier score / RMSE by more than this share: "recalibrate"
TOP_N = 5  # the paper reports its top five predictors


def missing_input(rel: Any, stage: str) -> Note:
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
    outcomes = len(ctx.targets)
    when = ctx.cfg.prediction.predictors_known
    intro = (
        "Models were developed to predict"
        + (f", {when}," if when else "")
        + f" {outcomes} outcome{'s' if outcomes != 1 else ''} from "
        + (f"{dev_n} patients" if dev_n else "the patients")
        + f" in the development cohort ({_cohort_text(ctx)})."
    )
    families = sorted({f for t in ctx.targets for f in ctx.inputs.families(t)})
    intro += (
        f" For each outcome {len(families)} model families were compared by cross-validation "
        "and the best one (the *champion*) is reported below"
    )
    if ctx.inputs.external_available:
        intro += ", together with its performance in an external cohort it never saw."
    else:
        intro += "; there was no external validation."
    section.add(Paragraph(intro))
    section.add(Bullets([_summary_line(ctx, t) for t in ctx.targets]))

    flags = [f for t in ctx.targets for f in _flags(ctx, t)]
    meaning = _meanings(ctx)
    if flags:
        section.add(Paragraph("**What stands out.**"), Bullets(flags))
    section.add(Paragraph("**How to read these numbers.**"), Bullets(meaning))
    if ctx.synthetic:
        shows = (
            "that the method reproduces the published analysis"
            if ctx.reference is not None
            else "that the method runs"
        )
        section.add(
            Note(
                f"These patients are synthetic: the numbers show {shows}, not how well it "
                "would predict for real patients.",
                tone="warning",
            )
        )
    return section


def _primary(task: str) -> str:
    return PRIMARY.get(task, "r2")


def _summary_line(ctx: Context, target: str) -> str:
    entry = ctx.cv_entry(target)
    champion = entry.get("champion")
    task = ctx.task(target)
    stats = entry.get(champion) or {}
    primary = _primary(task)
    line = f"**{ctx.label(target)}**: best model {ctx.family(champion or DASH)}"
    line += (
        f", cross-validated {METRICS[primary].label} {metric_value(primary, stats.get(primary))}"
    )
    if task == "regression":
        mae = (stats.get("mae") or {}).get("mean")
        if is_number(mae):
            line += f"; predictions are off by {amount(mae, ctx.unit(target))} on average"
        oracle = ctx.inputs.oracle_r2("development", target)
        if oracle is not None:
            line += f" (best R² achievable on this synthetic cohort: {num(oracle, 3)})"
    line += "."
    ext = ctx.external_entry(target)
    ext_stats = (ext.get("families") or {}).get(ext.get("champion") or champion) or {}
    if ext_stats.get(primary):
        line += (
            f" External cohort (n = {ext.get('n', DASH)}): {METRICS[primary].label} "
            f"{metric_value(primary, ext_stats[primary], 'estimate')}"
        )
        slope = ext_stats.get("calibration_slope")
        if slope:
            line += f", calibration slope {metric_value('calibration_slope', slope, 'estimate')}"
        line += "."
    best = ctx.reference.best_r2(target) if ctx.reference is not None else None
    r2 = stats.get("r2") or {}
    if best is not None and is_number(r2.get("mean")):
        family, value = best
        inside = (
            is_number(r2.get("ci_low"))
            and is_number(r2.get("ci_high"))
            and r2["ci_low"] <= value <= r2["ci_high"]
        )
        line += (
            f" Published R² {num(value, 3)} ({ctx.family(family)}): "
            f"{'inside' if inside else 'outside'} the {_ci_level(ctx)} CI of our best model."
        )
    return line


def amount(value: float, unit: str) -> str:
    """An error in the outcome's unit: "2.00 degrees", "0.35 points on the NRS 0-10 scale"."""
    if not unit:
        return f"{num(value, 2)} outcome units"
    if any(ch.isdigit() for ch in unit) or "/" in unit:  # a score scale, not a physical unit
        return f"{num(value, 2)} points on the {unit} scale"
    return f"{num(value, 2)} {unit}"


def _flags(ctx: Context, target: str) -> list[str]:
    """Plain-language warnings: external performance drop, miscalibration, what updating did."""
    ext = ctx.external_entry(target)
    if not ext:
        return []
    task = ctx.task(target)
    primary = _primary(task)
    champion = ext.get("champion") or ctx.cv_entry(target).get("champion")
    ext_stats = (ext.get("families") or {}).get(champion) or {}
    cv_mean = ((ctx.cv_entry(target).get(champion) or {}).get(primary) or {}).get("mean")
    ext_est = (ext_stats.get(primary) or {}).get("estimate")
    out = []
    name = ctx.label(target)
    spec = METRICS[primary]
    if is_number(cv_mean) and is_number(ext_est) and cv_mean - ext_est > DROP.get(primary, 0.1):
        out.append(
            f"{name}: {spec.label} fell from {num(cv_mean, spec.digits)} in cross-validation "
            f"to {num(ext_est, spec.digits)} in the external cohort."
        )
    slope = (ext_stats.get("calibration_slope") or {}).get("estimate")
    if is_number(slope) and slope < 0:
        out.append(
            f"{name}: calibration slope {num(slope, 2)} in the external cohort: the ranking "
            "is reversed there (patients predicted higher tend to have lower observed "
            "outcomes); the model does not transfer, and recalibration cannot fix that."
        )
    elif is_number(slope) and slope < SLOPE_OK[0]:
        out.append(
            f"{name}: calibration slope {num(slope, 2)} in the external cohort: predictions are "
            "too extreme there (high predictions too high, low ones too low)."
        )
    elif is_number(slope) and slope > SLOPE_OK[1]:
        out.append(
            f"{name}: calibration slope {num(slope, 2)} in the external cohort: predictions are "
            "too modest there (they vary less than the outcomes do)."
        )
    recal = ext.get("recalibration") or {}
    loss = "brier" if task == "binary" else "rmse"
    before = (recal.get("original") or {}).get(loss)
    after = (recal.get("intercept_slope") or {}).get(loss)
    if is_number(before) and is_number(after) and before > 0 and after < (1 - GAIN) * before:
        out.append(
            f"{name}: updating the model's intercept and slope on part of the external cohort "
            f"lowered the {METRICS[loss].label} from {num(before, 3)} to {num(after, 3)}: "
            "recalibrate before local use."
        )
    return out


def _meanings(ctx: Context) -> list[str]:
    tasks = {ctx.task(t) for t in ctx.targets}
    out = []
    if "regression" in tasks:
        out.append(
            "R² is the share of the differences between patients' outcomes that the "
            "predictions explain: 0 is no better than predicting the cohort average for "
            "everyone, 1 is perfect."
        )
    if "binary" in tasks:
        out.append(
            "AUROC is the chance that a patient who reaches the outcome gets a higher predicted "
            "probability than one who does not: 0.5 is a coin toss, 1 is perfect."
        )
    out.append(
        "Calibration slope: 1 means predictions are as spread out as the outcomes; between 0 "
        "and 1 they are too extreme, above 1 too modest; below 0 the ranking is reversed "
        "(higher predictions go with lower outcomes)."
    )
    out.append(
        f"Square brackets hold {_ci_level(ctx)} confidence intervals: the range of values "
        "compatible with the data."
    )
    return out


# -- methods ---------------------------------------------------------------------------------
def methods(ctx: Context) -> Section:
    cfg, params = ctx.cfg, ctx.params
    section = Section("methods", "Methods in brief")
    source = (
        "generated by the project's synthetic LET generator"
        if ctx.synthetic
        else "read from the team's files"
    )
    design = (
        f"Data: {_cohort_text(ctx)} (data config `{cfg.name}`), {source}. "
        "The pipeline validates and cleans the data, derives features, cross-validates every "
        "model family on the development cohort, refits each on the whole cohort"
    )
    design += (
        ", applies the final models unchanged to the external cohort"
        if ctx.inputs.external_available
        else ""
    )
    design += " and explains each outcome's best model with SHAP."
    section.add(Paragraph(design))

    outcomes = []
    for target in cfg.regression_targets:
        spec = cfg.targets[target]
        rng = f", valid range {spec.range[0]:g} to {spec.range[1]:g}" if spec.range else ""
        outcomes.append(f"{ctx.label(target)}: a number (regression){rng}.")
    for target in cfg.binary_targets:
        if target in cfg.mcic:
            m = cfg.mcic[target]
            sign = "decrease" if m.direction == "decrease" else "increase"
            outcomes.append(
                f"{ctx.label(target)}: yes/no (binary), reached when "
                f"{ctx.label(m.outcome)} shows a {sign} of at least {m.min_improvement:g} from "
                f"{ctx.label(m.baseline)} (minimal clinically important change)."
            )
        else:
            spec = cfg.targets[target]
            outcomes.append(f"{ctx.label(target)}: yes/no (binary), event = {spec.positive!s}.")
    section.sub("methods-outcomes", "Outcomes").add(Bullets(outcomes))

    predictors = []
    for name, spec in cfg.features.items():
        what = (
            spec.type
            if spec.type == "numeric"
            else f"{spec.type}: {', '.join(map(str, spec.values or []))}"
        )
        predictors.append(f"{ctx.label(name)} ({what})")
    for name, spec in cfg.derived.items():
        how = (
            f"`{spec.expr}`"
            if spec.expr
            else f"`{spec.function}` of {', '.join(spec.args.values())}"
        )
        predictors.append(f"{ctx.label(name)}: derived, {how}")
    known = cfg.prediction.predictors_known  # no timing claim unless the config makes it
    section.sub("methods-predictors", "Predictors").add(
        Paragraph(
            f"{len(cfg.features) + len(cfg.derived)} predictors"
            + (f", all known {known}" if known else "")
            + ": "
            f"{len(cfg.features)} recorded and {len(cfg.derived)} derived row by row (nothing "
            "fitted, so no information crosses between patients)."
        ),
        Bullets(predictors),
    )

    analysis = section.sub("methods-analysis", "Analysis")
    families = ", ".join(ctx.family(f) for f in params.model)
    cv = params.cv
    tuning = params.tuning
    text = [
        f"Model families: {families}.",
        f"Internal validation: {cv.folds}-fold cross-validation repeated {cv.repeats} "
        f"time{'s' if cv.repeats != 1 else ''} (stratified by outcome for binary outcomes); "
        f"each metric is the mean over the {cv.folds * cv.repeats} test folds with a "
        f"{cv.ci_level:.0%} CI from a t-interval with the Nadeau-Bengio correction for "
        "overlapping training sets.",
        (
            f"Tuning: {tuning.n_trials} Optuna trials ({tuning.sampler} sampler) per training "
            f"fold, each scored by {tuning.inner_folds}-fold inner cross-validation (nested, so "
            "test folds never influence tuning)."
            if tuning.enabled
            else "Tuning: none; every family used its fixed hyperparameters."
        ),
        "Preprocessing inside every training fold: tree ensembles take numbers as they are "
        "(splitting on missingness) and categories as codes; the MLP and linear models get "
        "median imputation with missing-value indicators, standardisation and one-hot "
        "categories. Rows with a missing outcome are left out for that outcome only.",
        "Champion: the family with the best mean R² (regression) or AUROC (binary).",
        "Class imbalance: no resampling or class weights; their calibration is reported.",
        _calibration_method(params),
        "Model output: a predicted value in the outcome's unit (regression), or a predicted "
        "probability (binary); no classification threshold is applied.",
    ]
    if params.conformal.enabled:
        text.append(
            f"Prediction intervals: {params.conformal.level:.0%} cross-conformal (CV+) "
            f"intervals around each regression champion ({params.conformal.folds} folds)."
        )
    if ctx.inputs.external_available:
        ext = params.external
        text.append(
            f"External validation: {ext.ci_level:.0%} CIs from {ext.n_boot} bootstrap "
            "replicates; calibration slope and intercept from regressing observed on predicted "
            "(logistic for binary outcomes); case mix by standardised mean differences and a "
            f"{ext.membership_folds}-fold cross-validated membership model; model updating "
            f"(intercept, or intercept and slope) fitted on {ext.recalibration.fit_fraction:.0%} "
            f"of the external cohort and scored on the rest, averaged over "
            f"{ext.recalibration.repeats} random splits."
        )
    text.append(
        f"Explanations: SHAP values of each champion on up to {params.explain.max_rows} "
        "development patients."
    )
    if ctx.reference is None:
        text.append(
            "No published results are configured for this cohort (`reference`), so "
            "there is no published-vs-reproduced comparison."
        )
    analysis.add(Bullets(text))

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
    cal = params.calibration
    clipped = "reported probabilities are kept within [0.001, 0.999]"
    if not cal.enabled:
        return f"Probabilities (binary): as each model estimates them; {clipped}."
    how = "Platt scaling, a logistic model" if cal.method == "sigmoid" else "isotonic regression"
    return (
        f"Probabilities (binary): recalibrated inside every training fold ({how} of the "
        f"outcome on the model's score, fitted on training rows the model did not see; "
        f"{cal.folds} stratified parts, their calibrated probabilities averaged); {clipped}."
    )


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
        text = (
            f"{title}: {flow.get('rows_in', DASH)} records received from {source}; "
            f"{flow.get('excluded_total', 0)} excluded"
        )
        if excluded:
            text += " (" + "; ".join(f"{why}: {n}" for why, n in excluded) + ")"
        text += f"; {flow.get('rows_out', DASH)} patients analysed."
        gaps = {c: n for c, n in sorted((flow.get("missing") or {}).items()) if n}
        gaps.pop(ctx.cfg.id_column, None)
        if gaps:
            text += (
                " Missing values kept for imputation or per-outcome exclusion: "
                + ", ".join(f"{ctx.label(c)} {n}" for c, n in gaps.items())
                + "."
            )
        else:
            text += " No missing values."
        texts.append(text)
    section.add(
        Flow(
            columns,
            "Flow of patients from the source files to the analysis, per cohort (CONSORT-style): "
            "records received, excluded by the cleaning rules (with reasons), analysed, and "
            "patients with each outcome recorded.",
        )
    )
    section.add(Bullets(texts))
    section.add(
        Paragraph(
            "Cleaning rules come from the data config: values outside a declared range, "
            "non-whole numbers in whole-number scores and unknown categories either stop the "
            "pipeline or exclude the row (counted above), up to "
            f"{ctx.cfg.cleaning.max_dropped_fraction:.0%} of a cohort; rows with no outcome at "
            "all are excluded. Identifiers are checked for uniqueness and never leave the data "
            "folder."
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
    section.add(
        Paragraph(
            f"Each model family was trained and tested {p.cv.folds * p.cv.repeats} times "
            f"({p.cv.folds}-fold cross-validation, {p.cv.repeats} repeat"
            f"{'s' if p.cv.repeats != 1 else ''}); every patient is predicted by models that "
            "never saw them. Cells show the mean over test folds and its "
            f"{_ci_level(ctx)} CI (Nadeau-Bengio corrected). The champion, the family with the "
            "best mean R² or AUROC, is marked; it is the model used in the external validation "
            "and the explanations."
        )
    )
    skipped = (ctx.inputs.cv_notes or {}).get("skipped_targets") or {}
    for target, why in sorted(skipped.items()):
        section.add(Note(f"{ctx.label(target)} was not modelled: {why}.", tone="warning"))
    for target in ctx.targets:
        sub = section.sub(f"cv-{slug(target)}", ctx.label(target))
        sub.add(cv_table(ctx, target))
        task = ctx.task(target)
        if task == "regression":
            caption = (
                f"{ctx.label(target)}: observed vs out-of-fold predicted values, one panel per "
                "model family (each patient's prediction averaged over the CV repeats); the "
                "dashed line is perfect prediction."
            )
        else:
            caption = (
                f"{ctx.label(target)}: calibration of out-of-fold predicted probabilities, one "
                "line per model family (patients grouped by predicted risk); the dashed "
                "diagonal is perfect calibration."
            )
        sub.add(
            ctx.figure(
                f"plots/cv/{slug(target)}.png", caption, f"{ctx.label(target)}: CV predictions"
            )
        )
    return section


def cv_table(ctx: Context, target: str) -> Table:
    entry = ctx.cv_entry(target)
    task = ctx.task(target)
    champion = entry.get("champion")
    families = ctx.family_order(ctx.inputs.families(target))
    present = {m for f in families for m in entry[f]}
    order = metric_order(task, present)
    header = ["Model family", *(metric_header(m, task, ctx.unit(target)) for m in order)]
    rows, classes, notes = [], [], []
    for family in families:
        name = ctx.family(family) + (" (champion)" if family == champion else "")
        rows.append([name, *(metric_value(m, entry[family].get(m)) for m in order)])
        classes.append("champion" if family == champion else "")
    honest = entry.get("selected")
    if isinstance(honest, dict) and honest.get("metric") in order:
        # The headline: the choice of family cross-validated too (lbp_outcomes.selection).
        ci = honest.get("ci") or [None, None]
        stats = {"mean": honest.get("mean"), "ci_low": ci[0], "ci_high": ci[1]}
        rows.append(
            [
                "Honest estimate (family chosen inside each training fold)",
                *(metric_value(m, stats) if m == honest["metric"] else DASH for m in order),
            ]
        )
        classes.append("summary")
        notes.append(
            "The honest estimate is the headline: in each outer fold the family with the best "
            "inner-CV score was chosen and scored on that fold, so the choice is part of what "
            "is cross-validated; the family rows (and the champion, the best of them) are "
            "each scored on the folds they were chosen on, so the best row is optimistic."
        )
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
    if entry.get("n") is not None:
        line = f"n = {entry['n']} patients with this outcome"
        events = ctx.events(target) if task == "binary" else None
        if events is not None and events[1]:
            line += f", {events[0]} ({events[0] / events[1]:.1%}) with the event"
        notes.append(line + ".")
    if oracle is not None:
        notes.append(
            f"Oracle R² {num(oracle, 3)}: the share of variance the generator's true outcome "
            "model explains; no model can exceed it on this synthetic cohort."
        )
    capped = (ctx.inputs.cv_notes or {}).get("subsampled") or {}
    for family in families:
        if f"{target}/{family}" in capped:
            notes.append(
                f"{ctx.family(family)}: each fit used a random sample of "
                f"{capped[f'{target}/{family}']:,} of the training patients "
                f"(`model.{family}.max_train_rows`), to bound its training time on a large "
                "cohort; its test folds are whole."
            )
    notes.append(_metric_note(order, ctx.unit(target)))
    notes.append(
        "CI limits beyond a metric's possible range (e.g. R² above 1) are shown at that limit."
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
    intro = f"Published study: {ref.study.strip()}"
    if ref.doi:
        intro += f" (doi: {ref.doi})"
    intro += "."
    if ref.n:
        intro += f" {ref.n} patients."
    if ref.validation:
        intro += f" Validation in the paper: {ref.validation}."
    intro += (
        " All published numbers below come from the reference config "
        "(`reference`), not from code. The paper's R² is a single held-out estimate; ours "
        "is the cross-validated mean with its CI, so a published value inside our CI means "
        "the two agree within the uncertainty of our estimate."
    )
    section.add(Paragraph(intro))
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
            stats = (entry.get(family) or {}).get("r2") if family in ours else None
            mean = (stats or {}).get("mean")
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
            if family == entry.get("champion"):
                marks.append("our champion")
            if marks:
                name += f" ({', '.join(marks)})"
            rows.append([ctx.label(target) if first else "", name, num(value, 3), reproduced, diff])
            classes.append("highlight" if best is not None and family == best[0] else "")
            first = False
        champion = entry.get("champion")
        champ_mean = ((entry.get(champion) or {}).get("r2") or {}).get("mean")
        if best is not None and is_number(champ_mean):
            rows.append(
                [
                    "",
                    "Best vs best",
                    f"{num(best[1], 3)} ({ctx.family(best[0])})",
                    f"{metric_value('r2', entry[champion]['r2'])} ({ctx.family(champion)})",
                    num(champ_mean - best[1], 3),
                ]
            )
            classes.append("summary")
    notes = [
        "Published R²: as reported (– = not reported for that family). Reproduced R²: "
        f"cross-validated mean [{_ci_level(ctx)} CI] on this cohort. Difference: reproduced "
        "minus published.",
    ]
    if ctx.synthetic:
        oracle = {t: ctx.inputs.oracle_r2("development", t) for t in ref.r2}
        given = {t: v for t, v in oracle.items() if v is not None}
        if given:
            notes.append(
                "Oracle R² of the synthetic generator (the ceiling for any model here): "
                + ", ".join(f"{ctx.label(t)} {num(v, 3)}" for t, v in given.items())
                + "."
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
    if not report.get("available"):
        reason = report.get("reason") or "no external cohort"
        return section.add(Paragraph(f"Not performed: {reason}."))
    ext = ctx.params.external
    n = report.get("n", DASH)
    source = (
        ((ctx.inputs.raw_manifest or {}).get("cohorts") or {}).get("external", {}).get("source")
    )
    intro = (
        f"The final models, fitted on the whole development cohort, were applied unchanged to "
        f"{n} external patients"
    )
    intro += f" ({source})." if source else "."
    intro += (
        f" Cells show the estimate and its {ext.ci_level:.0%} bootstrap CI ({ext.n_boot} "
        "replicates)."
    )
    section.add(Paragraph(intro))
    shift = _shift_text(ctx)
    if shift:
        section.add(Paragraph(shift))

    given = report.get("targets") or {}
    targets = {t: given[t] for t in ctx.ordered(given) if isinstance(given[t], dict)}
    perf = section.sub("external-performance", "Discrimination and accuracy")
    perf.add(_external_summary(ctx, targets))
    for target, entry in targets.items():
        if entry.get("note"):
            perf.add(Note(f"{ctx.label(target)}: {entry['note']}.", tone="warning"))
        if entry.get("families"):
            perf.add(_external_table(ctx, target, entry))

    cal = section.sub("external-calibration", "Calibration")
    cal.add(
        Paragraph(
            "Calibration: do predicted values match observed ones? For a continuous outcome, "
            "observed is regressed on predicted (slope 1 and intercept 0 are ideal; "
            "calibration-in-the-large is the mean observed minus the mean predicted). For a "
            "yes/no outcome the same is done on the log-odds scale."
        )
    )
    for target, entry in targets.items():
        if not entry.get("families"):
            continue
        if entry.get("task", ctx.task(target)) == "regression":
            caption = (
                f"{ctx.label(target)}: observed vs predicted for the champion "
                f"({ctx.family(entry.get('champion', ''))}) in the external cohort; dashed: "
                "perfect calibration; solid: fitted calibration line; dots joined: mean "
                "observed per group of predicted values."
            )
        else:
            caption = (
                f"{ctx.label(target)}: calibration of predicted probabilities in the external "
                "cohort, one line per model family (patients grouped by predicted risk); "
                "dashed: perfect calibration."
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
    parts = []
    mix = ext.get("case_mix_shift") or {}
    if mix.get("enabled"):
        shifts = []
        for key, value in sorted(mix.items()):
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
        parts.append(
            "case mix shifted (" + "; ".join(shifts) + ")" if shifts else "case mix shifted"
        )
    else:
        parts.append("same case mix as the development cohort")
    outcome = ext.get("outcome_shift") or {}
    if outcome.get("enabled"):
        parts.append(
            f"treatment response scaled by {outcome.get('response_scale', DASH)} (a different "
            "outcome mechanism)"
        )
    else:
        parts.append("same outcome mechanism")
    site = f" at site `{ext['site']}`" if ext.get("site") else ""
    return f"The synthetic external cohort{site} was generated with: " + "; ".join(parts) + "."


def _external_summary(ctx: Context, targets: dict[str, Any]) -> Table:
    rows = []
    has_oracle = False
    for target, entry in targets.items():
        task = entry.get("task") or ctx.task(target)
        primary = _primary(task)
        champion = entry.get("champion") or ctx.cv_entry(target).get("champion")
        cv_stats = (ctx.cv_entry(target).get(champion) or {}).get(primary)
        ext_stats = (entry.get("families") or {}).get(champion) or {}
        oracle = ctx.inputs.oracle_r2("external", target) if task == "regression" else None
        has_oracle |= oracle is not None
        rows.append(
            [
                ctx.label(target),
                ctx.family(champion or DASH),
                str(entry.get("n", DASH)),
                METRICS[primary].label,
                metric_value(primary, cv_stats) if cv_stats else DASH,
                metric_value(primary, ext_stats.get(primary), "estimate")
                if ext_stats.get(primary)
                else DASH,
                metric_value("calibration_slope", ext_stats.get("calibration_slope"), "estimate")
                if ext_stats.get("calibration_slope")
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
    notes = [
        "Development: cross-validated mean [CI]; external: estimate [bootstrap CI] of the final "
        "model. A drop from development to external shows how much performance depends on "
        "the development cohort."
    ]
    if has_oracle:
        notes.append("Oracle R²: the best achievable in the synthetic external cohort.")
    return Table(
        "Champion per outcome: development vs external performance",
        header,
        rows,
        notes=notes,
        numeric=[False, False, True, False, True, True, True, True][: len(header)],
    )


def _external_table(ctx: Context, target: str, entry: dict[str, Any]) -> Table:
    task = entry.get("task") or ctx.task(target)
    families = entry.get("families") or {}
    champion = entry.get("champion")
    present = {m for stats in families.values() for m in stats}
    order = metric_order(task, present)
    rows, classes = [], []
    for family in ctx.family_order(list(families)):
        name = ctx.family(family) + (" (champion)" if family == champion else "")
        rows.append([name, *(metric_value(m, families[family].get(m), "estimate") for m in order)])
        classes.append("champion" if family == champion else "")
    return Table(
        f"{ctx.label(target)}: performance of every final model in the external cohort "
        f"(n = {entry.get('n', DASH)}), estimate [{ctx.params.external.ci_level:.0%} CI]",
        ["Model family", *(metric_header(m, task, ctx.unit(target)) for m in order)],
        rows,
        notes=[_metric_note(order, ctx.unit(target))],
        classes=classes,
    )


def _case_mix(ctx: Context, report: dict[str, Any]) -> Section:
    section = Section("external-case-mix", "Case mix: how the external patients differ")
    mix = report.get("case_mix") or {}
    auroc = mix.get("membership_auroc") or {}
    if auroc:
        section.add(
            Paragraph(
                "A model trained to tell external from development patients using the "
                "predictors reaches a cross-validated AUROC of "
                f"{metric_value('auroc', auroc, 'estimate')}: "
                "0.5 means the two cohorts are indistinguishable, values towards 1 mean a "
                "different case mix (and predictions that may transport less well)."
            )
        )
    smd = mix.get("smd") or {}
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
                notes=[
                    "SMD: difference in means divided by the pooled SD; for a categorical "
                    "predictor, the largest over its categories (signed). |SMD| ≥ 0.1 is "
                    "commonly read as a meaningful difference."
                ],
            )
        )
    section.add(
        ctx.figure(
            "plots/external/case_mix.png",
            "Standardised mean differences of the predictors between the external and the "
            "development cohort; dashed lines at ±0.1, larger differences in red.",
            "Case-mix differences between cohorts",
        )
    )
    return section


def _updating(ctx: Context, targets: dict[str, Any]) -> Section | None:
    entries = {t: e for t, e in targets.items() if isinstance(e.get("recalibration"), dict)}
    if not entries:
        return None
    section = Section("external-updating", "Model updating (recalibration)")
    first = next(iter(entries.values()))["recalibration"]
    fraction = first.get("fit_fraction", ctx.params.external.recalibration.fit_fraction)
    splits = first.get("splits", ctx.params.external.recalibration.repeats)
    section.add(
        Paragraph(
            "Could a clinic fix the champion's calibration with a little local data? The "
            f"champion was updated on a random {pct(fraction, 0)} of the external cohort and "
            f"scored on the remaining patients; results are averaged over {splits} random "
            "splits. *Intercept*: predictions shifted by a constant (on the log-odds scale for "
            "yes/no outcomes). *Intercept and slope*: predictions re-scaled as well. "
            "Discrimination (AUROC) cannot change; calibration and overall accuracy can."
        )
    )
    labels = {
        "original": "As developed",
        "intercept": "Intercept updated",
        "intercept_slope": "Intercept and slope updated",
    }
    for target, entry in entries.items():
        task = entry.get("task") or ctx.task(target)
        recal = entry["recalibration"]
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
                f"{ctx.label(target)}: champion ({ctx.family(entry.get('champion', ''))}) before "
                "and after updating, evaluated on the held-back external patients",
                ["Model", *(metric_header(m, task, ctx.unit(target)) for m in order)],
                rows,
                notes=["Means over the random splits (no CI)."],
            )
        )
    return section


def _intervals(ctx: Context, targets: dict[str, Any]) -> Section | None:
    rows = []
    for target, entry in targets.items():
        info = entry.get("interval")
        if not isinstance(info, dict):
            continue
        rows.append(
            [
                ctx.label(target),
                ctx.family(entry.get("champion", "")),
                pct(info.get("level"), 0),
                pct(info.get("coverage")),
                f"{num(info.get('mean_width'), 2)} ({ctx.unit(target)})"
                if ctx.unit(target)
                else num(info.get("mean_width"), 2),
            ]
        )
    if not rows:
        return None
    section = Section("external-intervals", "Prediction intervals")
    section.add(
        Paragraph(
            "Each regression champion gives, with its prediction, an interval meant to contain "
            "the patient's actual outcome with the stated probability (cross-conformal CV+, "
            "calibrated on the development cohort). In a new cohort the share of patients "
            "whose outcome falls inside (coverage) should be close to that level."
        ),
        Table(
            "Prediction-interval coverage in the external cohort",
            ["Outcome", "Champion", "Nominal level", "Coverage", "Mean width"],
            rows,
            notes=[
                "Coverage: share of external patients whose observed outcome lies inside their "
                "interval. Mean width in the outcome's unit. Coverage is marginal (over all "
                "patients), not guaranteed for every kind of patient."
            ],
            numeric=[False, False, True, True, True],
        ),
    )
    return section


# -- explanations -------------------------------------------------------------------------------
def explanations(ctx: Context) -> Section:
    section = Section("explanations", "Explanations (SHAP)")
    shap = ctx.inputs.shap
    if shap is None:
        return section.add(missing_input(SHAP_IMPORTANCE, "explain"))
    section.add(
        Paragraph(
            "SHAP values split each prediction into contributions of the predictors: how much "
            "each moved this patient's prediction away from the average prediction. The mean "
            "absolute SHAP value ranks predictors by how much they move predictions overall. "
            "They describe the model, not causes: a predictor can matter to the model because "
            "it travels with the real cause, and correlated predictors share credit."
        )
    )
    top_k = ctx.params.explain.top_k
    comparisons = []
    for target in ctx.ordered(shap):
        entry = shap[target]
        if not isinstance(entry, dict):
            continue
        sub = section.sub(f"shap-{slug(target)}", ctx.label(target))
        unit = entry.get("shap_unit") or "model output units"
        family = ctx.family(entry.get("family", ""))
        sub.add(
            Paragraph(
                f"Champion: {family}; explainer: {entry.get('explainer', DASH)}; "
                f"{entry.get('n_explained', DASH)} development patients explained; SHAP values "
                f"in {unit}."
            )
        )
        features = entry.get("features") or {}
        ranking = entry.get("ranking") or sorted(features, key=lambda c: -features[c])
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
        sub.add(
            ctx.figure(
                f"shap/{slug(target)}_bar.png",
                f"{ctx.label(target)}: mean absolute SHAP value per predictor (top {top_k}), "
                f"in {unit}.",
                f"{ctx.label(target)}: SHAP importance",
            ),
            ctx.figure(
                f"shap/{slug(target)}_beeswarm.png",
                f"{ctx.label(target)}: SHAP value of every explained patient per predictor "
                "(top {k}); colour shows the predictor's value (high or low), position its effect "
                "on the prediction.".replace("{k}", str(top_k)),
                f"{ctx.label(target)}: SHAP beeswarm",
            ),
        )
        ref = entry.get("reference")
        if isinstance(ref, dict) and ref.get("top_predictors"):
            sub.add(_shap_reference(ctx, target, entry, ref))
            comparisons.append((target, ref))
    if comparisons:
        section.add(
            Paragraph(
                "Overlap with the paper's top five predictors: "
                + "; ".join(
                    f"{ctx.label(t)} {r.get('overlap', len(r.get('shared', [])))}/"
                    f"{len(r['top_predictors'])}"
                    for t, r in comparisons
                )
                + " (counted among our top five inputs)."
            )
        )
    return section


def _shap_reference(ctx: Context, target: str, entry: dict[str, Any], ref: dict[str, Any]) -> Table:
    ranking = entry.get("ranking") or []
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
        notes=[
            "Group: a derived predictor together with the columns it is computed from (e.g. a "
            "ratio and its two parts), so a predictor found through a close relative counts."
        ],
        numeric=[True, False, True, False, False],
    )


# -- limitations ---------------------------------------------------------------------------------
def limitations(ctx: Context) -> Section:
    section = Section("limitations", "Limitations")
    items = []
    if ctx.synthetic:
        shows = "runs and reproduces the published pattern" if ctx.reference else "runs"
        items.append(
            "All patients are synthetic, generated to match published summary statistics. "
            f"The results show that the analysis {shows}; they do not show clinical "
            "performance, and the generator's assumptions (see the project's synthetic-cohort "
            "documentation) shape every result, including the external cohort's."
        )
    if ctx.reference is not None:
        items.append(
            "The published study validated on a single held-out split; this reproduction uses "
            "repeated cross-validation. The two estimates answer slightly different questions, "
            "and the published values come without CIs."
        )
    n = (ctx.inputs.cleaning or {}).get("development", {}).get("rows_out")
    predictors = len(ctx.cfg.features) + len(ctx.cfg.derived)
    if n:
        items.append(
            f"Sample size: {n} development patients for {predictors} predictors; no formal "
            "sample-size calculation was made, and CIs from few folds and repeats are wide."
        )
    if not ctx.inputs.external_available:
        items.append(
            "No external validation: how the models perform in another clinic or population "
            "is unknown."
        )
    else:
        items.append(
            "External validation used one external cohort; recalibration results are averaged "
            "over random halves of it and carry no CI."
        )
    if not (ctx.inputs.clinical or {}).get("cv", {}).get("subgroups"):
        items.append(
            "Performance was not examined in subgroups (e.g. by sex or age), so fairness "
            "across patient groups is not assessed."
        )
    else:
        items.append(
            "Subgroup performance covers only the site and the subgroups the data config "
            "declares; small groups get a caution, not a number, and no fairness criterion "
            "is applied."
        )
    items.append(
        "Missing predictor values were imputed once (median or mode) or handled natively by "
        "tree models; no multiple imputation."
    )
    shap = (
        "SHAP values explain the models' behaviour, not causal effects; correlated "
        "predictors share credit"
    )
    explainers = {
        e.get("explainer") for e in (ctx.inputs.shap or {}).values() if isinstance(e, dict)
    }
    if "permutation" in explainers:
        shap += "; permutation-based explanations (model-agnostic, for the MLP) are approximate"
    items.append(shap + ".")
    skipped = (ctx.inputs.cv_notes or {}).get("skipped_targets") or {}
    if skipped:
        items.append(
            "Not modelled for lack of data: "
            + ", ".join(ctx.label(t) for t in sorted(skipped))
            + "."
        )
    return section.add(Bullets(items))
