"""What several section builders share: the missing-input line, the cohort's name, the CI
level, each task's primary metric, the metric glossary under a table, errors in units."""

from __future__ import annotations

from typing import Any

from lbp_outcomes.metricinfo import PRIMARY
from lbp_outcomes.report import prose
from lbp_outcomes.report.context import Context
from lbp_outcomes.report.document import METRICS, Note, num

PHRASES = "phrases"  # templates/prose/phrases.j2: texts several sections use


def missing_input(rel: Any, stage: str) -> Note:
    """``rel``: a catalog entry or a path relative to the project root."""
    rel = getattr(rel, "path", rel)
    return Note(prose.phrase(PHRASES, "missing_input", rel=str(rel), stage=stage))


def cohort_text(ctx: Context) -> str:
    return ctx.cfg.description or prose.phrase(PHRASES, "cohort_name", name=ctx.cfg.name)


def ci_level(ctx: Context) -> str:
    """The CV CI level as a percentage ("95%")."""
    return f"{ctx.params.cv.ci_level:.0%}"


def primary(task: str) -> str:
    return PRIMARY.get(task, "r2")


def metric_note(order: list[str], unit: str) -> str:
    """The glossary under a metrics table: each metric's meaning, then the errors' unit."""
    meanings = [(METRICS[m].label, METRICS[m].meaning) for m in order if m in METRICS]
    in_unit = bool(unit) and any(METRICS.get(m) and METRICS[m].unit for m in order)
    return prose.phrase(PHRASES, "metric_note", meanings=meanings, unit=unit if in_unit else "")


def amount(value: float, unit: str) -> str:
    """An error in the outcome's unit: "2.00 degrees", "0.35 points on the NRS 0-10 scale"."""
    scale = any(ch.isdigit() for ch in unit) or "/" in unit  # a score scale, not a unit
    return prose.phrase(PHRASES, "amount", value=num(value, 2), unit=unit, scale=scale)
