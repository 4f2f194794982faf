"""The TRIPOD+AI checklist: which reporting items this report covers, and where.

Items and their numbers follow the TRIPOD+AI statement (Collins et al., BMJ
2024;385:e078378). Each item is claimed only as far as the generated report really covers
it, and the claim depends on what this run produced (no external cohort: items on
external evaluation are not covered). Items only the study's authors can answer (ethics,
funding, registration, patient involvement) are marked "no": the report cannot know them.
"""

from __future__ import annotations

from dataclasses import dataclass

from lbp_outcomes.report.context import Context
from lbp_outcomes.report.document import Note, Paragraph, Section, Table

YES, PARTLY, NO = "yes", "partly", "no"

# Section ids -> titles, for the "where" column (links inside the report).
WHERE = {
    "top": "Title and run details",
    "summary": "Summary",
    "methods": "Methods in brief",
    "methods-outcomes": "Outcomes",
    "methods-predictors": "Predictors",
    "methods-analysis": "Analysis",
    "methods-settings": "Settings",
    "cohort": "Cohort and data flow",
    "characteristics": "Table 1",
    "cv": "Cross-validated performance",
    "published": "Published vs reproduced",
    "external": "External validation",
    "external-case-mix": "Case mix",
    "external-updating": "Model updating",
    "external-intervals": "Prediction intervals",
    "explanations": "Explanations",
    "limitations": "Limitations",
}


@dataclass
class Item:
    number: str
    topic: str
    status: str
    where: list[str]
    comment: str


def items(ctx: Context, present: set[str]) -> list[Item]:
    """The checklist for this run; ``present``: ids of the sections the report contains."""
    ext = ctx.inputs.external_available
    synthetic = ctx.synthetic
    has = present.__contains__
    cv_done = has("cv") and bool(ctx.inputs.cv)

    def where(*ids: str) -> list[str]:
        return [i for i in ids if has(i)]

    out = [
        Item(
            "1",
            "Title",
            PARTLY,
            where("top"),
            "Title from the report config; subtitle names the outcomes and the validation done.",
        ),
        Item(
            "2",
            "Abstract",
            PARTLY,
            where("summary"),
            "A plain-language summary, not a structured TRIPOD+AI abstract.",
        ),
        Item(
            "3",
            "Background",
            PARTLY if ctx.reference is not None else NO,
            where("published"),
            (
                "The published study this reproduces is cited; "
                if ctx.reference is not None
                else "No published study is configured (`reference`); "
            )
            + "healthcare context, intended use and known health inequalities are for the "
            "authors to write.",
        ),
        Item(
            "4",
            "Objectives",
            PARTLY,
            where("summary", "methods"),
            "States that models are developed and validated internally"
            + (" and externally" if ext else "")
            + "; no clinical objective.",
        ),
        Item(
            "5",
            "Data",
            PARTLY,
            where("methods", "cohort"),
            "Sources of the development"
            + (" and external" if ext else "")
            + " data named"
            + (" (synthetic generator and settings)" if synthetic else "")
            + "; dates of data collection are not recorded.",
        ),
        Item(
            "6",
            "Participants",
            PARTLY,
            where("cohort", "characteristics"),
            "Cohort sizes, exclusions and characteristics; setting, eligibility criteria and "
            "interventions beyond the data config are not described.",
        ),
        Item(
            "7",
            "Data preparation",
            YES,
            where("cohort", "methods-predictors", "methods-analysis"),
            "Cleaning rules, exclusions with reasons, derived predictors, preprocessing "
            "inside the folds.",
        ),
        Item(
            "8",
            "Outcome",
            PARTLY,
            where("methods-outcomes"),
            "Outcomes defined with units and responder (MCIC) thresholds; time horizon and "
            "assessment methods are not part of the data config.",
        ),
        Item(
            "9",
            "Predictors",
            PARTLY,
            where("methods-predictors", "characteristics"),
            "Every predictor listed with type and unit; how and when measured is not described.",
        ),
        Item(
            "10",
            "Sample size",
            PARTLY,
            where("cohort", "cv", "limitations"),
            "Numbers of patients and events per analysis are given; no sample-size calculation.",
        ),
        Item(
            "11",
            "Missing data",
            YES,
            where("cohort", "characteristics", "methods-analysis"),
            "Missing values per column and cohort, and how they were handled.",
        ),
        Item(
            "12",
            "Analytical methods",
            PARTLY,
            where("methods-analysis", "methods-settings"),
            "Data use, predictor handling, model types, tuning, internal validation, "
            "performance measures"
            + (", external evaluation and updating" if ext else "")
            + "; heterogeneity across centres (12d) is not examined.",
        ),
        Item(
            "13",
            "Class imbalance",
            YES,
            where("methods-analysis"),
            "No class-imbalance methods were used; this is stated.",
        ),
        Item(
            "14",
            "Fairness",
            PARTLY if has("clinical-subgroups") else NO,
            where("clinical-subgroups") or where("limitations"),
            "Performance with CIs by site and by the subgroups the data config declares; "
            "no fairness criterion or mitigation."
            if has("clinical-subgroups")
            else "Not assessed (stated as a limitation).",
        ),
        Item(
            "15",
            "Model output",
            YES,
            where("methods-analysis"),
            "Predicted values and probabilities; no classification threshold.",
        ),
        Item(
            "16",
            "Training versus evaluation",
            YES if ext else NO,
            where("characteristics", "external-case-mix"),
            "Development vs external characteristics and case-mix diagnostics."
            if ext
            else "No external evaluation data.",
        ),
        Item(
            "17",
            "Ethical approval",
            NO,
            [],
            "Synthetic data: no patients involved." if synthetic else "For the authors.",
        ),
        Item("18a", "Funding", NO, [], "For the authors."),
        Item("18b", "Conflicts of interest", NO, [], "For the authors."),
        Item(
            "18c",
            "Protocol",
            NO,
            where("methods-settings"),
            "No protocol; the full analysis configuration is params.yaml at the commit shown.",
        ),
        Item("18d", "Registration", NO, [], "For the authors."),
        Item(
            "18e",
            "Data sharing",
            YES if synthetic else NO,
            where("top"),
            "The synthetic cohort is regenerated from the seed by the code."
            if synthetic
            else "Data availability is for the authors; data hashes are given.",
        ),
        Item(
            "18f",
            "Code sharing",
            YES,
            where("top"),
            "Open-source pipeline; the git commit that produced this report is given.",
        ),
        Item("19", "Patient and public involvement", NO, [], "For the authors."),
        Item(
            "20",
            "Participants (results)",
            YES if has("cohort") and has("characteristics") else PARTLY,
            where("cohort", "characteristics"),
            "Flow diagram with exclusions and outcomes; characteristics per cohort"
            + (" compared between development and external data." if ext else "."),
        ),
        Item(
            "21",
            "Model development",
            YES if cv_done else NO,
            where("cv", "cohort"),
            "Patients (and events) per outcome and analysis.",
        ),
        Item(
            "22",
            "Model specification",
            PARTLY,
            where("methods-settings"),
            "The fitted models are files (models/) and MLflow registry entries, not printed "
            "here; `lbp-outcomes predict` applies them to new patients.",
        ),
        Item(
            "23",
            "Model performance",
            PARTLY if cv_done else NO,
            where("cv", "external", "clinical"),
            "Discrimination, accuracy and calibration with CIs"
            + (", internal and external" if ext else ", internal only")
            + (
                "; calibration curves, decision curves and subgroup performance"
                if has("clinical")
                else "; no subgroup performance."
            ),
        ),
        Item(
            "24",
            "Model updating",
            YES if ext and has("external-updating") else NO,
            where("external-updating"),
            "Intercept and intercept-plus-slope recalibration in the external cohort."
            if ext
            else "No external data to update on.",
        ),
        Item(
            "25",
            "Interpretation",
            PARTLY,
            where("summary", "published"),
            "Plain-language reading of the results and comparison with the published study; "
            "the clinical interpretation is for the authors.",
        ),
        Item("26", "Limitations", YES, where("limitations"), "Listed."),
        Item(
            "27", "Usability of the model in the context of current care", NO, [], "Not assessed."
        ),
    ]
    return out


def checklist(ctx: Context, present: set[str]) -> Section:
    section = Section("tripod", "TRIPOD+AI checklist")
    section.add(
        Paragraph(
            "Which items of the TRIPOD+AI reporting guideline (Collins et al., BMJ 2024;"
            "385:e078378) this generated report covers. *Yes*: fully covered here; *partly*: "
            "some of the item's elements; *no*: not covered (most of these only the study's "
            "authors can supply)."
        )
    )
    rows, classes = [], []
    for item in items(ctx, present):
        links = ", ".join(f"[{WHERE.get(i, i)}](#{i})" for i in item.where) or "–"
        rows.append([item.number, item.topic, item.status, links, item.comment])
        classes.append(f"status-{item.status}")
    counts = {s: sum(r[2] == s for r in rows) for s in (YES, PARTLY, NO)}
    section.add(
        Table(
            "TRIPOD+AI items covered by this report",
            ["Item", "Topic", "Covered", "Where in this report", "Comment"],
            rows,
            classes=classes,
            numeric=[False] * 5,
            notes=[
                f"{counts[YES]} items covered, {counts[PARTLY]} partly, {counts[NO]} not "
                f"covered, of {len(rows)}."
            ],
        )
    )
    if not ctx.inputs.external_available:
        section.add(Note("Without external data, items 16 and 24 cannot be covered."))
    return section
